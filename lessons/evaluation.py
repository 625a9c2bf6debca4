"""Measuring robustness: which examples survive an attack, and robust accuracy as a number.

Introduced in lesson 05, where adversarially trained models are measured with the attacks they
were trained against; lesson 07 adds the course's standard ensemble (``ensemble``: APGD-CE,
APGD-DLR, APGD-T, Square) and the worst case per example over it (``worst_case``). An example
counts as robust only if the model classifies it correctly when clean *and* no attempt fools
it: restarts, or several attacks, are tried one after another, each only on the examples still
standing (the attacker keeps whichever attempt works).

Attacks are **bound attacks** (the protocol of ``lessons.attacks``): callables
``attack(model, x, y) -> x_adv``, e.g. ``functools.partial(attacks.pgd, eps=0.3, steps=40,
alpha=0.01, generator=g)``. A bound generator makes every restart draw fresh random starts.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from . import attacks
from .attacks.common import check_attack_output
from .utils import (
    check_bool,
    check_choice,
    check_generator,
    check_in_range,
    check_labels,
    check_model_input,
    check_pair,
    check_positive_int,
    eval_mode,
    model_device,
)
from .utils import progress as utils_progress

__all__ = ["correct", "robust_mask", "robust_accuracy", "robustness_curve", "check_data", "check_attacks", "ensemble",
           "worst_case", "WorstCase"]

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Per example (N,) bool on the CPU: does ``model`` classify ``x`` as ``y``?"""
    num_classes = check_model_input(model, x)
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes)
    batch_size = check_positive_int("batch_size", batch_size)
    device = model_device(model, x)
    out = []
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            out.append(model(x[i : i + batch_size].to(device)).argmax(1).cpu() == y[i : i + batch_size].cpu())
    return torch.cat(out)


def robust_mask(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack,
    *,
    restarts: int = 1,
    batch_size: int = 500,
    alive: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which examples survive ``attack``: correct when clean *and* after every restart (lesson 05).

    Restarts are independent tries (a bound generator gives each fresh random starts); an
    example fooled by *any* of them is not robust. Each restart only attacks the examples
    still standing, which makes restarts cheap on a weak model.

    Args:
        model: classifier; left as it was.
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64, classes of the model.
        attack: a bound attack ``attack(model, x, y) -> x_adv`` (see the module docstring).
        restarts: how many times to try it (≥ 1).
        batch_size: images per attack call (bounds memory).
        alive: optional boolean (N,): the examples still standing after earlier attacks
            (e.g. a previous ``robust_mask``). Only those are attacked, so more restarts, or a
            stronger attack, continue an earlier run instead of repeating it.

    Returns:
        Boolean tensor (N,) on the CPU: True where the model stayed right (and ``alive``).

    Example:
        >>> pgd40 = functools.partial(attacks.pgd, eps=0.3, steps=40, alpha=0.01, generator=g)
        >>> evaluation.robust_mask(model, x, y, pgd40, restarts=5).float().mean()
    """
    if not callable(attack):
        raise TypeError(f"attack must be a bound attack attack(model, x, y) -> x_adv, got {type(attack).__name__}")
    restarts = check_positive_int("restarts", restarts)
    batch_size = check_positive_int("batch_size", batch_size)
    standing = correct(model, x, y, batch_size=batch_size)  # a digit misread when clean is not robust
    if alive is not None:
        if not isinstance(alive, torch.Tensor):
            raise TypeError(f"alive must be a boolean tensor of shape ({x.shape[0]},), got {type(alive).__name__}")
        if alive.dtype != torch.bool or alive.shape != (x.shape[0],):
            raise ValueError(f"alive must be a boolean tensor of shape ({x.shape[0]},), got {alive.dtype} "
                             f"{tuple(alive.shape)}")
        standing &= alive.detach().cpu()
    y = y.long()
    for _ in range(restarts):
        idx = standing.nonzero().flatten()
        if len(idx) == 0:
            break
        for start in range(0, len(idx), batch_size):
            part = idx[start : start + batch_size].to(x.device)
            xp, yp = x[part], y[part.to(y.device)]
            x_adv = check_attack_output(attack(model, xp, yp), xp)
            standing[part.cpu()] &= correct(model, x_adv, yp, batch_size=batch_size)
    return standing


def check_data(model: nn.Module, data: object, name: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` that ``model`` can take, its labels among the model's classes; errors name ``data``."""
    x, y = check_pair(data, name)
    num_classes = check_model_input(model, x, f"{name}[0]")
    return x, check_labels(y, x.shape[0], f"{name}[1]", num_classes=num_classes)


def robust_accuracy(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], attack: Attack, *,
                    restarts: int = 1, batch_size: int = 500) -> float:
    """Share of ``data`` that survives ``attack`` (``robust_mask``), in [0, 1] (lesson 05)."""
    x, y = check_data(model, data)
    return float(robust_mask(model, x, y, attack, restarts=restarts, batch_size=batch_size).float().mean())


def robustness_curve(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    eps_values: Sequence[float],
    *,
    steps: int = 20,
    generator: torch.Generator | None = None,
    batch_size: int = 500,
) -> list[float]:
    """Accuracy under L∞ PGD (``steps`` steps of 2.5·ε/steps, random start) for each ε (lesson 05).

    Returns:
        One share in [0, 1] per ε, in the order given (ε = 0 gives clean accuracy).
    """
    x, y = check_data(model, data)
    steps = check_positive_int("steps", steps)
    check_generator(generator)
    if isinstance(eps_values, (str, bytes)) or not isinstance(eps_values, Sequence):
        raise TypeError(f"eps_values must be a list of budgets, got {type(eps_values).__name__}")
    if len(eps_values) == 0:
        raise ValueError("eps_values must hold at least one budget, got an empty list")
    eps_values = [check_in_range(f"eps_values[{i}]", e, 0.0, 1.0) for i, e in enumerate(eps_values)]
    out = []
    for eps in eps_values:
        if eps == 0:
            out.append(float(correct(model, x, y, batch_size=batch_size).float().mean()))
            continue
        attack = functools.partial(attacks.pgd, eps=eps, steps=steps, alpha=2.5 * eps / steps, generator=generator)
        out.append(robust_accuracy(model, (x, y), attack, batch_size=batch_size))
    return out


# --------------------------------------------------------------------------- lesson 07


def ensemble(eps: float, *, norm: str = "linf", queries: int = 5000, seed: int = 0, steps: int = 100,
             n_target_classes: int = 9) -> dict[str, Attack]:
    """The course's standard attack ensemble, as bound attacks in the order they run (lesson 07).

    After Croce & Hein's AutoAttack (ICML 2020), less FAB: four attacks that fail in different
    ways, so that what one misses another finds —

    - ``"apgd-ce"``: APGD on cross-entropy (``attacks.apgd``), ``steps`` steps;
    - ``"apgd-dlr"``: APGD on the DLR loss, which no scaling of the logits can flatten;
    - ``"apgd-t"``: APGD-T, targeted DLR toward each of the ``n_target_classes`` likeliest
      wrong classes in turn;
    - ``"square"``: the Square Attack with ``queries`` queries (``attacks.square``): no
      gradient at all, the check on gradient masking. L∞ only; with ``norm="l2"`` the
      ensemble has the three APGD attacks.

    Args:
        eps: the budget (L∞ in [0, 1], or L2).
        norm: ``"linf"`` or ``"l2"``.
        queries: Square's query budget per image (AutoAttack: 5,000).
        seed: seeds one generator per attack, so ``worst_case`` with a fresh ``ensemble``
            gives the same numbers every time.
        steps: APGD's steps per run (AutoAttack: 100).
        n_target_classes: APGD-T's target classes (AutoAttack: 9).

    Returns:
        ``{name: attack(model, x, y) -> x_adv}``, ready for ``worst_case``.
    """
    check_choice("norm", norm, attacks.NORMS)
    eps = check_in_range("eps", eps, 0.0, 1.0 if norm == "linf" else math.inf)  # an L2 ε may exceed 1
    queries = check_positive_int("queries", queries)
    seed = check_positive_int("seed", seed, allow_zero=True)
    steps = check_positive_int("steps", steps)
    n_target_classes = check_positive_int("n_target_classes", n_target_classes)  # ≤ K − 1: checked by apgd

    def gen(k: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed + k)

    apgd = functools.partial(attacks.apgd, eps=eps, norm=norm, steps=steps)
    out: dict[str, Attack] = {
        "apgd-ce": functools.partial(apgd, loss="ce", generator=gen(0)),
        "apgd-dlr": functools.partial(apgd, loss="dlr", generator=gen(1)),
        "apgd-t": functools.partial(apgd, loss="dlr", targeted=True, n_target_classes=n_target_classes,
                                    generator=gen(2)),
    }
    if norm == "linf":
        out["square"] = functools.partial(attacks.square, eps=eps, queries=queries, generator=gen(3))
    return out


@dataclass(frozen=True)
class WorstCase:
    """The worst case per example over an ensemble of attacks (``worst_case``, lesson 07).

    Attributes:
        attacks: the attacks' names, in the order they ran.
        clean: (N,) bool, the model is right on the clean image.
        first: per example, the name of the first attack that fooled the model, or ``None``
            (robust, or already wrong when clean).
        seconds: per attack, the seconds it ran.
    """

    attacks: tuple[str, ...]
    clean: torch.Tensor
    first: tuple[str | None, ...]
    seconds: dict[str, float]

    @property
    def mask(self) -> torch.Tensor:
        """(N,) bool: right when clean and no attack fooled the model."""
        return self.clean & torch.tensor([f is None for f in self.first], dtype=torch.bool)

    @property
    def robust_accuracy(self) -> float:
        """Share of the examples that survived every attack, in [0, 1]."""
        return float(self.mask.float().mean())

    @property
    def broken_by(self) -> dict[str, int]:
        """How many examples each attack broke first (misread clean images are in ``"clean"``)."""
        counts = {"clean": int((~self.clean).sum())}
        counts.update({name: sum(f == name for f in self.first) for name in self.attacks})
        return counts

    def cumulative(self) -> dict[str, float]:
        """Robust accuracy after each attack of the ensemble, in order: how it shrinks as it grows."""
        out, left = {"clean": float(self.clean.float().mean())}, int(self.clean.sum())
        for name in self.attacks:
            left -= self.broken_by[name]
            out[name] = left / len(self.clean)
        return out

    def to_frame(self):
        """A pandas DataFrame, one row per example: clean correctness, first breaking attack, robust."""
        import pandas as pd

        return pd.DataFrame({"clean": self.clean.numpy(), "first broken by": list(self.first),
                             "robust": self.mask.numpy()})


def check_attacks(attacks: object, name: str = "attacks") -> Mapping[str, Attack]:
    """Check a non-empty mapping ``{name (str): bound attack attack(model, x, y)}``; errors name ``name``."""
    if not isinstance(attacks, Mapping):
        raise TypeError(f"{name} must be a dict {{name: bound attack attack(model, x, y)}}, got {type(attacks).__name__}")
    if not attacks:
        raise ValueError(f"{name} must hold at least one attack, got an empty dict")
    for key, attack in attacks.items():
        if not isinstance(key, str) or not callable(attack):
            raise TypeError(f"{name} must map names (str) to bound attacks attack(model, x, y), got {key!r}: "
                            f"{type(attack).__name__}")
    return attacks


def worst_case(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacks: Mapping[str, Attack], *,
               batch_size: int = 500, progress: bool = True) -> WorstCase:
    """Run an ensemble of attacks; an example is robust only if *every* attack fails on it (lesson 07).

    Carlini et al. 2019 ("Report the per-example attack success rate"): report the mean over
    examples of the worst case over attacks, not the best attack's mean. The attacks run in
    order, each only on the examples still standing (``robust_mask(..., alive=...)``), so a
    cheap attack that breaks most examples leaves little work to the expensive ones.

    Args:
        model: classifier; left as it was.
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64, classes of the model.
        attacks: ``{name: bound attack}``, e.g. ``ensemble(0.3)``; run in this order.
        batch_size: images per attack call (bounds memory).
        progress: show a progress bar over the attacks.

    Returns:
        A ``WorstCase``: ``.robust_accuracy``, ``.mask``, ``.first`` (per example),
        ``.broken_by`` (counts), ``.cumulative()``, ``.seconds``, ``.to_frame()``.

    Example:
        >>> result = evaluation.worst_case(model, x, y, evaluation.ensemble(0.3))
        >>> result.robust_accuracy, result.broken_by
    """
    check_attacks(attacks)
    check_positive_int("batch_size", batch_size)
    check_bool("progress", progress)
    clean = correct(model, x, y, batch_size=batch_size)
    standing, first, seconds = clean.clone(), [None] * len(clean), {}
    bar = utils_progress(list(attacks.items()), enabled=progress, desc="worst case", unit="attack")
    for name, attack in bar:
        start = time.perf_counter()
        survived = robust_mask(model, x, y, attack, batch_size=batch_size, alive=standing)
        for i in (standing & ~survived).nonzero().flatten().tolist():
            first[i] = name
        standing, seconds[name] = survived, time.perf_counter() - start
        bar.set_postfix(robust=f"{float(standing.float().mean()):.1%}")
    return WorstCase(tuple(attacks), clean, tuple(first), seconds)
