"""Transferability: do adversarial examples made for one model fool another? (lesson 02)

Szegedy et al. (2013, §4.3, Tables 2–4) fed the adversarial examples found for one MNIST
network to other networks — other architectures, other weight decays, and networks trained
on a *disjoint* half of the training set — and found that a large share still fooled them,
far more than Gaussian noise of the same size does. This module rebuilds those tables:

- ``halves`` and ``half_model``: the disjoint training halves P1/P2 and the Table 3 models
  (``CACHED_MODELS``, so ``python -m lessons.warm`` trains them once);
- ``boundary_walk``: cheap examples just across the decision boundary, like Szegedy's
  minimum-distortion ones (``attacks.lbfgs`` is the faithful, slower tool);
- ``craft`` → ``error_matrix`` (or both at once, ``transfer_matrix``): error rate of every
  target model on every set of examples, as a plain ``TransferMatrix`` (``.to_frame()`` for a
  table, ``viz.transfer_heatmap`` for a figure);
- the noise baselines and the "magnified" rows of Table 4 are in ``lessons.noise``;
- ``transfer_report``: one source/target pair in detail (for the widget).

Everything is batched, seeded through ``generator`` arguments and device-agnostic: examples
are made on each model's device and come back on the device of ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from . import cache
from .attacks.common import check_attack, check_attack_output
from .attacks.gradient import pgd
from .data import load_mnist
from .models import accuracy, mlp, train
from .noise import rms_distortion
from .utils import (
    check_choice,
    check_images,
    check_in_range,
    check_labels,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)
from .utils import (
    progress as progress_bar,
)

__all__ = [
    "halves",
    "HALF_MODELS",
    "half_model",
    "CACHED_MODELS",
    "boundary_walk",
    "craft",
    "error_matrix",
    "transfer_matrix",
    "TransferMatrix",
    "transfer_report",
]


# --------------------------------------------------------------------------- the halves P1 / P2


def halves(x: torch.Tensor, y: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Split a training set into two disjoint, class-balanced halves P1 and P2 (lesson 02).

    Szegedy et al. split MNIST's 60,000 training digits into two halves of 30,000 and trained
    networks on each, to ask whether adversarial examples transfer across *training sets*.
    Here each class's examples are split in their stored order: the first half of every
    class goes to P1, the rest to P2 (no randomness, so everyone gets the same halves).

    Args:
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64.

    Returns:
        ``((x1, y1), (x2, y2))``: two disjoint subsets, in the original order, together
        holding every example (P1 gets the smaller half of a class with an odd count).
    """
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    take = torch.zeros(len(y), dtype=torch.bool)
    y_cpu = y.cpu()
    for cls in y_cpu.unique():
        idx = (y_cpu == cls).nonzero().flatten()
        take[idx[: len(idx) // 2]] = True
    take = take.to(y.device)
    return (x[take], y[take]), (x[~take], y[~take])


@dataclass(frozen=True)
class _HalfRecipe:
    hidden: tuple[int, ...]
    half: str  # "p1" or "p2"
    seed: int  # initial weights and shuffling
    description: str


# Szegedy Table 3: FC100-100-10 and FC123-456-10 on P1, FC100-100-10' on P2 (weight decay 1e-5).
# The P2 network also starts from other initial weights (seed 1), as a separately trained
# network would; its architecture equals the first one's, so only data and seed differ.
HALF_MODELS: dict[str, _HalfRecipe] = {
    "p1-fc100": _HalfRecipe((100, 100), "p1", 0, "FC100-100-10 trained on P1 (Szegedy Table 3)"),
    "p1-fc123-456": _HalfRecipe((123, 456), "p1", 0, "FC123-456-10 trained on P1 (Szegedy Table 3)"),
    "p2-fc100": _HalfRecipe((100, 100), "p2", 1, "FC100-100-10' trained on P2 (Szegedy Table 3)"),
}
_HALF_EPOCHS = 20  # 2,000 digits per half: 20 epochs reach ~100% training accuracy, as in the paper
_HALF_WEIGHT_DECAY = 1e-5


def half_model(name: str, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """One of Szegedy's Table 3 networks, trained on half the training digits (lesson 02).

    Trained on first use (about a second each on two CPU cores) and cached (``cache.cached``).

    Args:
        name: ``"p1-fc100"`` (FC100-100-10 on P1), ``"p1-fc123-456"`` or ``"p2-fc100"`` (on P2).
        device, progress: where the model lives; a training progress bar on first use.

    Returns:
        The model in eval mode; ``model.cache_info`` holds its training and test accuracy,
        the half it saw and its training time.
    """
    check_choice("name", name, tuple(HALF_MODELS))
    recipe = HALF_MODELS[name]

    def build() -> nn.Module:
        torch.manual_seed(recipe.seed)  # runs inside cache.cached's forked RNG: no side effect
        return mlp(recipe.hidden)

    def fit(model: nn.Module) -> dict:
        mnist = load_mnist()
        p1, p2 = halves(mnist.x_train, mnist.y_train)
        x, y = p1 if recipe.half == "p1" else p2
        history = train(model, (x, y), epochs=_HALF_EPOCHS, weight_decay=_HALF_WEIGHT_DECAY, seed=recipe.seed,
                        device=model_device(model), progress=progress, desc=f"training {name} (first use only)")
        return {"train_accuracy": history["accuracy"][-1], "test_accuracy": accuracy(model, mnist.x_test, mnist.y_test),
                "half": recipe.half, "train_size": len(y), "description": recipe.description}

    plan = {"hidden": recipe.hidden, "half": recipe.half, "seed": recipe.seed, "epochs": _HALF_EPOCHS,
            "weight_decay": _HALF_WEIGHT_DECAY, "description": recipe.description}
    return cache.cached(name, build, fit, recipe=plan, device=device, progress=progress)


CACHED_MODELS: dict[str, Callable[[], nn.Module]] = {
    name: (lambda name=name: half_model(name, progress=False)) for name in HALF_MODELS
}


def _check_models(models: object, what: str) -> dict[str, nn.Module]:
    if not isinstance(models, Mapping):
        raise TypeError(f"{what} must be a dict of name -> model, got {type(models).__name__}")
    if not models:
        raise ValueError(f"{what} must hold at least one model, got an empty dict")
    for name, model in models.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} must be keyed by non-empty model names (str), got key {name!r}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"{what}[{name!r}] must be a torch.nn.Module, got {type(model).__name__}")
    return dict(models)


# --------------------------------------------------------------------------- examples just across the boundary


def boundary_walk(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float = 5.0,
    *,
    step: float = 0.1,
    targeted: bool = False,
) -> torch.Tensor:
    """Small L2 gradient steps until each image's label flips: an example just across the boundary.

    A cheap stand-in for Szegedy's minimum-distortion L-BFGS examples (lesson 02): each image
    takes steps of L2 length ``step`` up its loss gradient (one step of ``attacks.pgd`` at a
    time) and stops the moment the model misclassifies it, so it ends barely past the
    decision boundary — not the *smallest* change (``attacks.lbfgs`` searches for that), but
    of the same kind, and hundreds of times cheaper. Fixed-budget attacks (``fgsm``, ``pgd``)
    instead push every image as far as ε allows, and such examples transfer more.

    Paper: the iterative method is Kurakin, Goodfellow & Bengio, *Adversarial examples in
    the physical world* (arXiv 1607.02533), here in L2 and stopped at the first success.
    Distance: L2.

    Args:
        model, x, y: as for every attack (``lessons.attacks``): a classifier, images (N, C, H, W)
            in [0, 1], and the true classes (or the targets, ``targeted``).
        eps: the longest walk in L2, in [0, √(C·H·W)]; at most ⌈eps/step⌉ steps are taken,
            so ‖x_adv − x‖₂ ≤ eps. 5.0 ≈ an RMS distortion of 0.18 on MNIST.
        step: L2 length of each step, in (0, eps]: the overshoot past the boundary is below it
            (0.1 ≈ RMS 0.0036 on MNIST).
        targeted: walk towards class ``y`` and stop when it is predicted.

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, in [0, 1], with
        ‖x_adv − x‖₂ ≤ eps. Images already misclassified (or already the target) come back
        unchanged; images that did not flip within ``eps`` come back at the end of their walk.
        Deterministic (no random start).

    Example:
        >>> x_adv = transfer.boundary_walk(model, x, y)   # just across, for every digit
    """
    y, eps, _ = check_attack(model, x, y, targeted=targeted, eps=eps, norm="l2")
    step = check_in_range("step", step, 0.0, math.inf)
    if step == 0:
        raise ValueError(f"step must be > 0, got {step:g}")
    if eps > 0 and step > eps:
        raise ValueError(f"step must be in (0, eps] = (0, {eps:g}], got {step:g}")
    device = model_device(model, x.device)
    x_adv, y = x.detach().to(device).clone(), y.to(device)
    if eps == 0:
        return x_adv.to(x.device)

    def reached(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            pred = model(images).argmax(1)
        return pred == labels if targeted else pred != labels

    with eval_mode(model):
        done = reached(x_adv, y)
        for _ in range(math.ceil(eps / step - 1e-9)):
            active = (~done).nonzero().flatten()
            if len(active) == 0:
                break
            # one normalised gradient step of length `step` (a ball of radius `step` around
            # the current point, so the projection keeps the whole step), clipped to [0, 1]
            moved = pgd(model, x_adv[active], y[active], step, alpha=step, steps=1, norm="l2",
                        targeted=targeted, random_start=False)
            x_adv[active] = moved
            done[active] = reached(moved, y[active])
    return x_adv.to(x.device)


# --------------------------------------------------------------------------- crafting and evaluating


def craft(
    source_models: Mapping[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 250,
    progress: bool = True,
) -> dict[str, torch.Tensor]:
    """Adversarial examples for each source model, in batches (lesson 02).

    Args:
        source_models: name → classifier on [0, 1] images; each is attacked white-box.
        x: images (N, C, H, W) in [0, 1].
        y: true labels (N,) int64.
        attack: a bound attack ``attack(model, x, y) -> x_adv`` (the protocol of
            ``lessons.attacks``): ``transfer.boundary_walk``, or an attack with its budget
            bound, ``functools.partial(attacks.pgd, eps=0.1, generator=g)``. A bound generator
            is consumed in order (source by source, batch by batch), so a seed gives the same examples.
        batch_size: images per attack call (memory vs speed).
        progress: show a ``tqdm`` bar over sources × batches.

    Returns:
        ``{name: x_adv}``: adversarial images of ``x``'s shape and device, one set per source.

    Raises:
        ValueError: the attack returned something that is not an image batch like ``x`` in
            [0, 1] (for example the perturbation instead of the image).
    """
    sources = _check_models(source_models, "source_models")
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    if not callable(attack):
        raise TypeError(f"attack must be a bound attack attack(model, x, y) -> x_adv, got {type(attack).__name__}")
    batch_size = check_positive_int("batch_size", batch_size)
    starts = range(0, len(x), batch_size)
    bar = progress_bar(total=len(sources) * len(starts), enabled=progress, desc="crafting adversarial examples",
                       unit="batch")
    out: dict[str, torch.Tensor] = {}
    try:
        for name, model in sources.items():
            device = model_device(model, x.device)
            parts = []
            for start in starts:
                xb, yb = x[start : start + batch_size].to(device), y[start : start + batch_size].to(device)
                xb_adv = check_attack_output(attack(model, xb, yb), xb, f"the attack (source {name!r})")
                parts.append(xb_adv.detach().to(x.device))
                bar.update(1)
                bar.set_postfix(source=name)
            out[name] = torch.cat(parts)
    finally:
        bar.close()
    return out


@torch.no_grad()
def _predictions(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = model_device(model, x.device)
    with eval_mode(model):
        preds = [model(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(preds)


def _share_wrong(pred: torch.Tensor, y: torch.Tensor) -> float:
    return int((pred != y).sum()) / len(y)  # exact k/N, not a float32 mean


@dataclass(frozen=True)
class TransferMatrix:
    """Error rates of target models on sets of (adversarial or noisy) examples (lesson 02).

    Plain Python values only (no tensors), so it prints, compares and pickles simply.

    Attributes:
        rows: names of the example sets (for adversarial sets: the source model's name).
        cols: names of the target models.
        error: ``error[i][j]`` is the share in [0, 1] of example set ``rows[i]`` that target
            ``cols[j]`` misclassifies (Szegedy's "error"; it includes images the target
            already got wrong unperturbed — see ``clean_error``).
        distortion: mean RMS distortion √(Σ(x′−x)²/n) of each example set (Szegedy's
            "av. distortion" / "stddev").
        clean_error: each target's error on the unperturbed images (the floor).
        n: number of images.
    """

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    error: tuple[tuple[float, ...], ...]
    distortion: tuple[float, ...]
    clean_error: tuple[float, ...]
    n: int

    def __getitem__(self, key: tuple[str, str]) -> float:
        """``m["fc100", "cnn"]``: error of target ``cnn`` on the examples made for ``fc100``."""
        if not isinstance(key, tuple) or len(key) != 2:
            raise KeyError(f"index a TransferMatrix with (row, col), e.g. m[{self.rows[0]!r}, {self.cols[0]!r}]; got {key!r}")
        row, col = key
        if row not in self.rows:
            raise KeyError(f"no row {row!r}; rows are {list(self.rows)}")
        if col not in self.cols:
            raise KeyError(f"no column {col!r}; columns are {list(self.cols)}")
        return self.error[self.rows.index(row)][self.cols.index(col)]

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{row: {col: error}}``."""
        return {r: dict(zip(self.cols, e)) for r, e in zip(self.rows, self.error)}

    def to_frame(self, *, digits: int = 1):
        """A ``pandas.DataFrame``: errors in % (rows = example sets, columns = targets), the
        mean RMS distortion of each set, and a last row with each target's clean error."""
        import pandas as pd

        digits = check_positive_int("digits", digits, allow_zero=True)
        pct = lambda v: f"{100 * v:.{digits}f}%"
        table = {c: [pct(e[j]) for e in self.error] + [pct(self.clean_error[j])] for j, c in enumerate(self.cols)}
        table["av. RMS distortion"] = [f"{d:.3f}" for d in self.distortion] + ["0.000"]
        frame = pd.DataFrame(table, index=[*self.rows, "clean images"])
        frame.index.name = "examples made for ↓ / tested on →"
        return frame

    def __str__(self) -> str:
        return f"{self.to_frame().to_string()}\n({self.n} images; error = share misclassified, clean errors included)"


def error_matrix(
    example_sets: Mapping[str, torch.Tensor],
    target_models: Mapping[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 500,
) -> TransferMatrix:
    """Error of every target model on every set of examples (lesson 02).

    Args:
        example_sets: name → images (N, C, H, W) in [0, 1] derived from ``x`` (adversarial
            examples from ``craft``, noisy images from ``gaussian_noise``, ...). Each becomes
            a row of the matrix, in order.
        target_models: name → classifier; each becomes a column, in order.
        x: the unperturbed images (N, C, H, W) in [0, 1] (for distortion and clean error).
        y: true labels (N,) int64.
        batch_size: images per forward pass.

    Returns:
        A ``TransferMatrix``.
    """
    targets = _check_models(target_models, "target_models")
    num_classes = min(check_model_input(m, x, "x", model_name=f"target_models[{n!r}]") for n, m in targets.items())
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes).cpu()
    if not isinstance(example_sets, Mapping):
        raise TypeError(f"example_sets must be a dict of name -> images, got {type(example_sets).__name__}")
    if not example_sets:
        raise ValueError("example_sets must hold at least one set of images, got an empty dict")
    for name, xs in example_sets.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"example_sets must be keyed by non-empty names (str), got key {name!r}")
        check_images(xs, f"example_sets[{name!r}]")
        if xs.shape != x.shape:
            raise ValueError(f"example_sets[{name!r}] must have the shape of x {tuple(x.shape)}, got {tuple(xs.shape)}")
    batch_size = check_positive_int("batch_size", batch_size)
    clean = tuple(_share_wrong(_predictions(m, x, batch_size), y) for m in targets.values())
    error, distortion = [], []
    for xs in example_sets.values():
        error.append(tuple(_share_wrong(_predictions(m, xs, batch_size), y) for m in targets.values()))
        distortion.append(float(rms_distortion(x, xs).mean()))
    return TransferMatrix(rows=tuple(example_sets), cols=tuple(targets), error=tuple(error),
                          distortion=tuple(distortion), clean_error=clean, n=len(x))


def transfer_matrix(
    source_models: Mapping[str, nn.Module],
    target_models: Mapping[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 250,
    progress: bool = True,
) -> TransferMatrix:
    """Szegedy's cross-model table: make examples on each source, test them on each target.

    Paper: Szegedy et al., *Intriguing properties of neural networks*, ICLR 2014
    (arXiv 1312.6199), §4.3, Tables 2 and 4. Introduced in lesson 02.

    Args:
        source_models: name → classifier attacked white-box; one row each.
        target_models: name → classifier the examples are fed to; one column each. A model
            in both gives a diagonal entry: its white-box error.
        x: images (N, C, H, W) in [0, 1]; y: their true labels (N,) int64.
        attack: a bound attack ``attack(model, x, y) -> x_adv``, e.g.
            ``functools.partial(attacks.fgsm, eps=0.1)`` (see ``craft``).
        batch_size: images per attack call and per forward pass.
        progress: show a progress bar while crafting.

    Returns:
        A ``TransferMatrix`` (rows = sources, cols = targets). Add noise rows by calling
        ``craft`` and ``error_matrix`` yourself.

    Example:
        >>> m = transfer.transfer_matrix(nets, nets, x, y, functools.partial(attacks.fgsm, eps=0.1))
        >>> m["fc100", "cnn"]   # error of the CNN on FGSM examples made for FC100-100-10
    """
    _check_models(target_models, "target_models")
    examples = craft(source_models, x, y, attack, batch_size=batch_size, progress=progress)
    return error_matrix(examples, target_models, x, y, batch_size=max(batch_size, 500))


# --------------------------------------------------------------------------- one pair in detail


def transfer_report(
    source: nn.Module,
    target: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    x_adv: torch.Tensor,
    *,
    batch_size: int = 500,
) -> dict[str, float | int]:
    """How a set of adversarial examples made for ``source`` fares on ``target`` (lesson 02).

    Args:
        source, target: classifiers on [0, 1] images.
        x: originals (N, C, H, W) in [0, 1]; y: true labels (N,) int64.
        x_adv: the adversarial examples made for ``source`` (same shape as ``x``).
        batch_size: images per forward pass.

    Returns:
        A dict of shares in [0, 1] (``nan`` where a share has no images to count):
        ``source_error`` / ``target_error``: error on ``x_adv`` (Szegedy's table entries);
        ``target_clean_error``: the target's error on ``x``;
        ``transfer_rate``: among images that both models classify correctly when clean and
        whose example fools the source, the share that also fools the target — the
        transfer proper, free of the target's own mistakes;
        ``same_label``: among those that fool both, the share where the target picks the
        same wrong class as the source;
        ``n_eligible``: how many images the transfer rate counts over (an int).
    """
    num_classes = min(check_model_input(source, x, "x", model_name="source"),
                      check_model_input(target, x, "x", model_name="target"))
    check_model_input(source, x_adv, "x_adv", model_name="source")
    rms_distortion(x, x_adv)
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes).cpu()
    batch_size = check_positive_int("batch_size", batch_size)
    s_clean, t_clean = _predictions(source, x, batch_size), _predictions(target, x, batch_size)
    s_adv, t_adv = _predictions(source, x_adv, batch_size), _predictions(target, x_adv, batch_size)
    eligible = (s_clean == y) & (t_clean == y) & (s_adv != y)
    both = eligible & (t_adv != y)
    share = lambda a, b: float(a.sum()) / float(b.sum()) if bool(b.any()) else math.nan  # noqa: E731
    return {
        "source_error": _share_wrong(s_adv, y),
        "target_error": _share_wrong(t_adv, y),
        "target_clean_error": _share_wrong(t_clean, y),
        "transfer_rate": share(both, eligible),
        "same_label": share(both & (t_adv == s_adv), both),
        "n_eligible": int(eligible.sum()),
    }
