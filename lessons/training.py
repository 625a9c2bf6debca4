"""Adversarial training: standard, FGSM, PGD, fast FGSM and a refreshed adversarial pool.

Introduced in lesson 05. One training loop (``adversarial_train``) with interchangeable
ways of making the examples a step trains on (``METHODS``):

- ``"standard"``: clean digits only.
- ``"fgsm"``: Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*,
  ICLR 2015 (arXiv 1412.6572) §6: loss = α·CE(x) + (1 − α)·CE(FGSM(x)), α = 0.5.
- ``"pgd"``: Madry et al., *Towards Deep Learning Models Resistant to Adversarial Attacks*,
  ICLR 2018 (arXiv 1706.06083): loss = CE(PGD(x)), the inner maximisation of a min-max problem.
- ``"fast_fgsm"``: Wong, Rice & Kolter, *Fast is better than free*, ICLR 2020
  (arXiv 2001.03994): FGSM from a uniform random start with step 1.25·ε — PGD with one step.
- ``"pool"``: Szegedy et al., *Intriguing properties of neural networks*, ICLR 2014
  (arXiv 1312.6199) §4.2: a pool of adversarial examples, part of which is regenerated against
  the current model every epoch, mixed into every batch of clean digits. (Szegedy made them
  with box-constrained L-BFGS; here PGD at the training ε makes them, far more cheaply.)

ε can be ramped up from 0 over the first epochs (``ramp``): at a fixed ε = 0.3 from the
first step a CNN on our 4,000 digits can stall at chance. With held-out digits (``val=``)
the loop measures validation robustness every epoch, keeps the most robust epoch (adversarial
training on few digits *overfits robustly*: robustness peaks, then falls), and flags
catastrophic overfitting (``catastrophic_overfitting``): PGD accuracy that collapses while
FGSM accuracy stays high, the failure of FGSM-based training that Wong et al. describe.

``evaluate`` measures clean accuracy and accuracy under a set of attacks; an attack with
restarts counts an example as robust only if *no* restart fools it. The lesson's trained
models go through ``models.cached`` (``robust_model``, ``CACHED_MODELS``) so that
``python -m lessons.warm`` trains them once.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import attacks
from .utils import (
    check_choice,
    check_images,
    check_in_range,
    check_labels,
    check_generator,
    check_model,
    check_positive_int,
    eval_mode,
    get_device,
    model_device,
)

__all__ = [
    "METHODS",
    "ramp",
    "adversarial_examples",
    "training_step",
    "adversarial_train",
    "catastrophic_overfitting",
    "Attack",
    "fgsm_attack",
    "pgd_attack",
    "robust_mask",
    "evaluate",
    "robustness_curve",
    "split_validation",
    "N_VAL",
    "RECIPES",
    "fit_recipe",
    "robust_model",
    "CACHED_MODELS",
]

METHODS = ("standard", "fgsm", "pgd", "fast_fgsm", "pool")


# --------------------------------------------------------------------------- argument checks



def _check_pair(data: object, name: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (x, y) of image and label tensors, got {type(data).__name__}")
    x, y = data
    check_images(x, f"{name}[0]")
    return x, check_labels(y, x.shape[0], f"{name}[1]")




def _progress(iterable, *, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


# --------------------------------------------------------------------------- the pieces


def ramp(epoch: float, eps: float, ramp_epochs: float) -> float:
    """ε at a (fractional) epoch: linear from 0 to ``eps`` over ``ramp_epochs``, then ``eps`` (lesson 05).

    Madry et al.'s MNIST model trains at ε = 0.3 from the start, with 60,000 digits and a
    larger network; on our 4,000 digits a fixed ε = 0.3 can leave a CNN stuck at chance
    (the attack wins every batch before the network has learnt any digit). Growing ε lets
    it learn the digits first.

    Args:
        epoch: training progress in epochs, ≥ 0 (1.5 = half-way through the second epoch).
        eps: the final L∞ budget, in [0, 1].
        ramp_epochs: epochs over which ε grows; 0 means ``eps`` from the start.

    Returns:
        The ε to train with now, in [0, eps].
    """
    epoch = check_in_range("epoch", epoch, 0.0, math.inf)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    ramp_epochs = check_in_range("ramp_epochs", ramp_epochs, 0.0, math.inf)
    if ramp_epochs == 0:
        return eps
    return eps * min(1.0, epoch / ramp_epochs)


def adversarial_examples(
    method: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 7,
    fast_step: float = 1.25,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The adversarial images one training step of ``method`` adds (lesson 05).

    Args:
        method: one of ``METHODS``. ``"standard"`` returns a copy of ``x``; ``"fgsm"``: FGSM;
            ``"pgd"`` and ``"pool"``: PGD with ``steps`` steps of 2.5·ε/steps from a random
            start (Madry et al.); ``"fast_fgsm"``: one step of ``fast_step``·ε from a uniform
            random start (Wong et al. use 1.25), i.e. ``attacks.pgd(..., steps=1, alpha=1.25 * eps)``.
        model: the classifier being trained; its mode and parameters are left as they were.
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64.
        eps: L∞ budget in [0, 1].
        steps: PGD steps for ``"pgd"`` and ``"pool"``.
        fast_step: the step of ``"fast_fgsm"`` as a multiple of ε, in (0, 2].
        generator: CPU ``torch.Generator`` for the random starts.

    Returns:
        Images of ``x``'s shape within ε of ``x`` (L∞) and in [0, 1], detached.
    """
    check_choice("method", method, METHODS)
    steps = check_positive_int("steps", steps)
    fast_step = check_in_range("fast_step", fast_step, 1e-6, 2.0)
    if method == "standard":
        return x.detach().clone()
    if method == "fgsm":
        return attacks.fgsm(model, x, y, eps)
    if method == "fast_fgsm":
        # Wong et al.: the random start is what keeps one step from overfitting at once.
        return attacks.pgd(model, x, y, eps, steps=1, alpha=fast_step * eps, generator=generator)
    return attacks.pgd(model, x, y, eps, steps=steps, alpha=2.5 * eps / steps, generator=generator)


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    method: str,
    eps: float,
    steps: int = 7,
    clean_weight: float = 0.5,
    fast_step: float = 1.25,
    pool: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One optimiser step of ``method`` on a batch; returns the clean and adversarial losses (lesson 05).

    The losses: ``"standard"`` CE(x); ``"fgsm"`` clean_weight·CE(x) + (1 − clean_weight)·CE(x_fgsm)
    (Goodfellow et al. use 0.5); ``"pgd"`` and ``"fast_fgsm"`` CE(x_adv) alone (Madry et al.,
    Wong et al.); ``"pool"`` CE over the clean batch and the ``pool`` batch together (Szegedy
    et al.: the pool's examples were made against an *earlier* state of the model).

    Args:
        model: the classifier, trained in place (left in train mode).
        optimizer: an optimiser over ``model``'s parameters.
        x: images (N, C, H, W) in [0, 1]; never written to.
        y: labels (N,) int64.
        method: one of ``METHODS``.
        eps: L∞ budget in [0, 1] (ignored by ``"standard"`` and ``"pool"``).
        steps: PGD steps for ``"pgd"``.
        clean_weight: α of the ``"fgsm"`` loss, in [0, 1].
        fast_step: the ``"fast_fgsm"`` step as a multiple of ε (Wong et al.: 1.25).
        pool: ``(x_pool, y_pool)`` adversarial examples for ``"pool"`` (required there).
        generator: CPU ``torch.Generator`` for the attacks' random starts.

    Returns:
        ``{"loss": ..., "clean_loss": ..., "adv_loss": ...}`` as floats (``adv_loss`` is the
        clean loss for ``"standard"``, the pool batch's loss for ``"pool"``).
    """
    check_model(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    check_choice("method", method, METHODS)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    clean_weight = check_in_range("clean_weight", clean_weight, 0.0, 1.0)
    generator = check_generator(generator)
    if method == "pool":
        if pool is None:
            raise ValueError("method 'pool' needs pool=(x_pool, y_pool): a batch of adversarial examples")
        x_pool, y_pool = _check_pair(pool, "pool")
    device = model_device(model)
    x, y = x.to(device), y.to(device)

    x_adv = None
    if method in ("fgsm", "pgd", "fast_fgsm"):
        x_adv = adversarial_examples(method, model, x, y, eps, steps=steps, fast_step=fast_step, generator=generator)
    model.train()
    if method == "standard":
        clean = F.cross_entropy(model(x), y)
        loss, adv = clean, clean
    elif method == "fgsm":
        logits = model(torch.cat([x, x_adv]))  # one forward pass for both halves
        clean, adv = F.cross_entropy(logits[: len(x)], y), F.cross_entropy(logits[len(x):], y)
        loss = clean_weight * clean + (1 - clean_weight) * adv
    elif method == "pool":
        x_pool, y_pool = x_pool.to(device), y_pool.to(device)
        logits = model(torch.cat([x, x_pool]))
        clean, adv = F.cross_entropy(logits[: len(x)], y), F.cross_entropy(logits[len(x):], y_pool)
        loss = (len(x) * clean + len(x_pool) * adv) / (len(x) + len(x_pool))
    else:  # pgd, fast_fgsm: train on the adversarial batch only
        adv = loss = F.cross_entropy(model(x_adv), y)
        with torch.no_grad():  # for the progress bar only
            clean = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": float(loss.detach()), "clean_loss": float(clean.detach()), "adv_loss": float(adv.detach())}


# --------------------------------------------------------------------------- evaluation


class Attack(NamedTuple):
    """An attack for ``evaluate``: ``fn(model, x, y, generator) -> x_adv``, tried ``restarts`` times."""

    fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator | None], torch.Tensor]
    restarts: int = 1
    label: str = ""


def fgsm_attack(eps: float) -> Attack:
    """FGSM at ``eps`` as an ``Attack`` for ``evaluate`` (lesson 05)."""
    eps = check_in_range("eps", eps, 0.0, 1.0)
    return Attack(lambda model, x, y, generator: attacks.fgsm(model, x, y, eps), 1, f"FGSM ε={eps:g}")


def pgd_attack(eps: float, *, steps: int = 40, alpha: float = 0.01, restarts: int = 1) -> Attack:
    """L∞ PGD from a random start as an ``Attack`` for ``evaluate`` (lesson 05).

    The default is Madry et al.'s MNIST evaluation: 40 steps of 0.01 from a uniform random
    start; their leaderboard's strongest white-box entry used 100 steps and 50 restarts.
    ``evaluate`` runs the restarts itself, so each restart here is one ``attacks.pgd`` call.
    """
    eps = check_in_range("eps", eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    alpha = check_in_range("alpha", alpha, 0.0, 1.0)
    restarts = check_positive_int("restarts", restarts)

    def fn(model, x, y, generator):
        return attacks.pgd(model, x, y, eps, steps=steps, alpha=alpha, generator=generator)

    label = f"PGD-{steps}" + (f" × {restarts} restarts" if restarts > 1 else "")
    return Attack(fn, restarts, f"{label} ε={eps:g} α={alpha:g}")


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = model_device(model)
    out = []
    with torch.no_grad(), eval_mode(model):
        for i in range(0, len(x), batch_size):
            out.append(model(x[i : i + batch_size].to(device)).argmax(1).cpu() == y[i : i + batch_size].cpu())
    return torch.cat(out)


def robust_mask(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack | Callable,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 500,
    alive: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which examples survive ``attack``: correct when clean *and* after every restart (lesson 05).

    Restarts are independent tries from fresh random starts; an example fooled by *any* of
    them is not robust (the attacker keeps whichever try works). Each restart only attacks
    the examples still standing, which makes restarts cheap on a weak model.

    Args:
        model: classifier; left as it was.
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64.
        attack: an ``Attack`` (or a bare ``fn(model, x, y, generator)``, tried once).
        generator: CPU ``torch.Generator`` shared by the restarts (each draws new starts).
        batch_size: images per attack call (bounds memory).
        alive: optional boolean (N,): the examples still standing after earlier attacks
            (e.g. a previous ``robust_mask``). Only those are attacked, so more restarts can
            continue an earlier run instead of repeating it.

    Returns:
        Boolean tensor (N,) on the CPU: True where the model stayed right (and ``alive``).
    """
    check_model(model)
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    generator = check_generator(generator)
    batch_size = check_positive_int("batch_size", batch_size)
    if not isinstance(attack, Attack):
        if not callable(attack):
            raise TypeError(f"attack must be an Attack or a callable fn(model, x, y, generator), got {type(attack).__name__}")
        attack = Attack(attack)
    restarts = check_positive_int("restarts", attack.restarts)
    if alive is not None:
        if not isinstance(alive, torch.Tensor) or alive.dtype != torch.bool or alive.shape != (x.shape[0],):
            raise ValueError(f"alive must be a boolean tensor of shape ({x.shape[0]},), got "
                             f"{getattr(alive, 'dtype', type(alive).__name__)} {tuple(getattr(alive, 'shape', ()))}")
        alive = alive.detach().cpu().clone()
    else:
        alive = torch.ones(x.shape[0], dtype=torch.bool)
    alive &= _correct(model, x, y, batch_size)  # a digit misread when clean is not robust
    for _ in range(restarts):
        idx = alive.nonzero().flatten()
        if len(idx) == 0:
            break
        for start in range(0, len(idx), batch_size):
            part = idx[start : start + batch_size]
            xp, yp = x[part], y[part]
            x_adv = attack.fn(model, xp, yp, generator)
            if not isinstance(x_adv, torch.Tensor) or x_adv.shape != xp.shape:
                raise ValueError(f"the attack must return images of shape {tuple(xp.shape)}, got "
                                 f"{getattr(x_adv, 'shape', type(x_adv).__name__)}")
            alive[part] &= _correct(model, x_adv, yp, batch_size)
    return alive


def evaluate(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    attacks: Mapping[str, Attack | Callable],
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 500,
    progress: bool = False,
) -> dict[str, float]:
    """Clean accuracy and accuracy under each attack, as one row of a table (lesson 05).

    Args:
        model: classifier taking (N, C, H, W) images in [0, 1]; left as it was.
        data: ``(x, y)``: images in [0, 1] and int64 labels.
        attacks: column name → ``Attack`` (see ``fgsm_attack``, ``pgd_attack``) or a bare
            ``fn(model, x, y, generator)``. With ``restarts > 1`` an example counts as robust
            only if no restart fools it.
        generator: CPU ``torch.Generator`` for the attacks' random starts.
        batch_size: images per forward/attack call.
        progress: a ``tqdm`` bar over the attacks.

    Returns:
        ``{"clean": acc, name: acc, ...}``: shares in [0, 1], in the order given.

    Example:
        >>> training.evaluate(model, (x, y), {"FGSM": training.fgsm_attack(0.3),
        ...                                   "PGD-40": training.pgd_attack(0.3)})
    """
    check_model(model)
    x, y = _check_pair(data)
    if not isinstance(attacks, Mapping):
        raise TypeError(f"attacks must be a mapping of column name → Attack, got {type(attacks).__name__}")
    generator = check_generator(generator)
    row = {"clean": float(_correct(model, x, y, batch_size).float().mean())}
    for name, attack in _progress(attacks.items(), enabled=progress, desc="evaluating", unit="attack"):
        row[name] = float(robust_mask(model, x, y, attack, generator=generator, batch_size=batch_size).float().mean())
    return row


def robustness_curve(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    eps_values: Sequence[float],
    *,
    steps: int = 20,
    generator: torch.Generator | None = None,
    batch_size: int = 500,
) -> list[float]:
    """Accuracy under L∞ PGD (``steps`` steps of 2.5·ε/steps, random start) for each ε (lesson 05)."""
    check_model(model)
    x, y = _check_pair(data)
    steps = check_positive_int("steps", steps)
    eps_values = [check_in_range("eps", e, 0.0, 1.0) for e in eps_values]
    out = []
    for eps in eps_values:
        attack = pgd_attack(eps, steps=steps, alpha=2.5 * eps / steps) if eps > 0 else (lambda m, xb, yb, g: xb)
        out.append(float(robust_mask(model, x, y, attack, generator=generator, batch_size=batch_size).float().mean()))
    return out


# --------------------------------------------------------------------------- the loop


def catastrophic_overfitting(history: Mapping[str, Sequence[float]], *, drop: float = 0.2, gap: float = 0.5) -> int | None:
    """The first epoch showing catastrophic overfitting on held-out digits, or ``None`` (lesson 05).

    Wong et al. (2020) saw FGSM-trained networks suddenly lose their robustness to PGD within
    an epoch, while their accuracy under FGSM itself stays high or even rises: the network
    learns to bend its loss surface so that one gradient step points nowhere useful. Two
    signs, either of which counts:

    - a **collapse**: PGD accuracy falls more than ``drop`` below its best so far;
    - a **gap**: FGSM accuracy exceeds PGD accuracy by ``gap`` or more. A model that has
      learnt to resist PGD resists the weaker FGSM about as well; a large gap means its
      "robustness" is only to the single step it was trained on.

    Args:
        history: ``adversarial_train``'s history; uses ``val_pgd`` and ``val_fgsm`` (NaN for
            epochs that were not measured).
        drop: the collapse threshold (an absolute share, in [0, 1]).
        gap: the gap threshold (an absolute share, in [0, 1]).

    Returns:
        The 0-based epoch where a sign first shows, or ``None``.
    """
    if not isinstance(history, Mapping) or "val_pgd" not in history:
        raise ValueError("history must be adversarial_train's history, with a 'val_pgd' entry (train with val=...)")
    drop = check_in_range("drop", drop, 0.0, 1.0)
    gap = check_in_range("gap", gap, 0.0, 1.0)
    fgsm_accs = history.get("val_fgsm", [math.nan] * len(history["val_pgd"]))
    best = -math.inf
    for epoch, (acc, fgsm_acc) in enumerate(zip(history["val_pgd"], fgsm_accs)):
        if acc != acc:  # NaN: not measured
            continue
        if acc < best - drop or (fgsm_acc == fgsm_acc and fgsm_acc - acc >= gap):
            return epoch
        best = max(best, acc)
    return None


def split_validation(x: torch.Tensor, y: torch.Tensor, n_val: int = 500):
    """Hold out the last ``n_val`` training digits to pick the epoch with (lesson 05).

    Never pick epochs on the test digits: that would make the test accuracy an optimistic
    estimate. The default training set is already shuffled and stratified, so its tail holds
    about ``n_val / 10`` digits of each class.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``.
    """
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    n_val = check_positive_int("n_val", n_val)
    if n_val >= len(x):
        raise ValueError(f"n_val must be smaller than the {len(x)} training digits, got {n_val}")
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


def adversarial_train(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    method: str = "pgd",
    eps: float = 0.3,
    epochs: int = 10,
    ramp_epochs: float = 0.0,
    steps: int = 7,
    clean_weight: float = 0.5,
    fast_step: float = 1.25,
    batch_size: int = 100,
    lr: float = 1e-3,
    anneal: float = 0.0,
    pool_size: int = 1000,
    pool_refresh: float = 0.5,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    val_steps: int = 10,
    val_every_epoch: bool = False,
    select: str = "pgd",
    co_drop: float = 0.2,
    co_gap: float = 0.5,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> dict:
    """Train ``model`` in place with ``method``'s examples; keep the most robust epoch (lesson 05).

    Adam at learning rate ``lr``; over the last ``anneal`` share of the steps the rate falls
    linearly to 0 (a short final descent helps robust accuracy noticeably when there is
    little time). ε follows ``ramp``. With ``val`` the model is measured after each epoch
    (clean, FGSM and PGD-``val_steps`` at the full ε; only once ε has reached it unless
    ``val_every_epoch``) and the state with the best PGD accuracy is restored at the end
    (or the best ``select`` number; for ``"standard"``: the best clean accuracy, and only that
    is measured).

    Args:
        model: classifier taking (N, C, H, W) images in [0, 1]; trained in place on its device.
        data: ``(x, y)`` training images in [0, 1] and int64 labels; never written to.
        method: one of ``METHODS`` (see the module docstring).
        eps: final L∞ training budget in [0, 1].
        epochs: passes over ``data``.
        ramp_epochs: epochs over which ε grows from 0 (``ramp``).
        steps: PGD steps per training example for ``"pgd"`` (and for the pool's examples).
        clean_weight: α of Goodfellow's ``"fgsm"`` loss.
        fast_step: the ``"fast_fgsm"`` step as a multiple of ε (Wong et al.: 1.25).
        batch_size: clean examples per step.
        lr: Adam's learning rate.
        anneal: share of the steps, at the end, over which the rate decays to 0, in [0, 1].
        pool_size: examples in Szegedy's pool (``"pool"``).
        pool_refresh: share of the pool regenerated against the current model each epoch.
        val: ``(x_val, y_val)`` held-out digits to pick the epoch with (never the test set).
        val_steps: PGD steps (α = 2.5·ε/steps, random start) of the validation attack.
        val_every_epoch: also measure while ε is still ramping up.
        select: the validation number that picks the epoch: ``"pgd"`` (robust accuracy, the
            default), ``"fgsm"`` (Goodfellow et al. early-stopped on FGSM error) or ``"clean"``.
            ``"standard"`` training always selects on clean accuracy and measures only that.
        co_drop, co_gap: the thresholds of ``catastrophic_overfitting``; a warning is issued
            when it fires.
        seed: seeds the shuffling and the attacks' random starts.
        progress: ``tqdm`` bar with live clean/adversarial loss and validation accuracy.
        desc: the bar's label (default: the method).

    Returns:
        A history dict: per epoch ``eps``, ``clean_loss``, ``adv_loss``, ``val_clean``,
        ``val_fgsm``, ``val_pgd`` (NaN when not measured), ``seconds``; and ``best_epoch``,
        ``catastrophic_epoch`` (or ``None``), ``train_seconds``, ``cpu_seconds``.
    """
    check_model(model)
    x, y = _check_pair(data)
    check_choice("method", method, METHODS)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    epochs = check_positive_int("epochs", epochs)
    ramp_epochs = check_in_range("ramp_epochs", ramp_epochs, 0.0, epochs)
    steps = check_positive_int("steps", steps)
    clean_weight = check_in_range("clean_weight", clean_weight, 0.0, 1.0)
    fast_step = check_in_range("fast_step", fast_step, 1e-6, 2.0)
    batch_size = check_positive_int("batch_size", batch_size)
    lr = check_in_range("lr", lr, 1e-8, 10.0)
    anneal = check_in_range("anneal", anneal, 0.0, 1.0)
    pool_size = check_positive_int("pool_size", pool_size)
    pool_refresh = check_in_range("pool_refresh", pool_refresh, 0.0, 1.0)
    if val is not None:
        val = _check_pair(val, "val")
    val_steps = check_positive_int("val_steps", val_steps)
    select = check_choice("select", select, ("pgd", "fgsm", "clean"))
    co_drop = check_in_range("co_drop", co_drop, 0.0, 1.0)
    co_gap = check_in_range("co_gap", co_gap, 0.0, 1.0)
    seed = check_positive_int("seed", seed, allow_zero=True)

    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_batches = math.ceil(len(x) / batch_size)
    total_steps = epochs * n_batches
    decay_from = total_steps * (1 - anneal)
    keys = ("eps", "clean_loss", "adv_loss", "val_clean", "val_fgsm", "val_pgd", "seconds")
    history: dict = {k: [] for k in keys}
    best_state, best_score, best_epoch = None, -math.inf, None
    pool_x = torch.empty(0, *x.shape[1:])
    pool_y = torch.empty(0, dtype=torch.long)
    wall0, cpu0 = time.perf_counter(), time.process_time()

    bar = _progress(range(epochs), enabled=progress, desc=desc or method, unit="epoch")
    step = 0
    for epoch in bar:
        start = time.perf_counter()
        if method == "pool" and epoch > 0:
            # Szegedy's pool: regenerate part of it against the model as it is now; the
            # rest stays as it was made against earlier states (epoch 0 trains on clean digits).
            n_new = max(1, round(pool_refresh * pool_size)) if len(pool_x) >= pool_size else pool_size - len(pool_x)
            n_new = min(n_new, pool_size, len(x))
            src = torch.randperm(len(x), generator=gen)[:n_new]
            e = ramp(epoch, eps, ramp_epochs)
            new_x = torch.cat([adversarial_examples("pgd", model, x[src[j : j + 500]], y[src[j : j + 500]], e,
                                                    steps=steps, generator=gen).cpu() for j in range(0, n_new, 500)])
            new_y = y[src]
            if len(pool_x) < pool_size:
                pool_x, pool_y = torch.cat([pool_x, new_x]), torch.cat([pool_y, new_y])
            else:
                slots = torch.randperm(len(pool_x), generator=gen)[:n_new]
                pool_x, pool_y = pool_x.clone(), pool_y.clone()
                pool_x[slots], pool_y[slots] = new_x, new_y
        order = torch.randperm(len(x), generator=gen)
        sums = {"clean_loss": 0.0, "adv_loss": 0.0}
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            for group in opt.param_groups:
                group["lr"] = lr if step < decay_from else lr * (total_steps - step) / max(1.0, total_steps - decay_from)
            e = ramp(epoch + b / n_batches, eps, ramp_epochs)
            step_method, pool_batch = method, None
            if method == "pool":
                if len(pool_x):
                    pick = torch.randint(len(pool_x), (len(idx),), generator=gen)
                    pool_batch = (pool_x[pick], pool_y[pick])
                else:  # the first epoch: no pool yet, train on clean digits
                    step_method = "standard"
            losses = training_step(model, opt, x[idx], y[idx], method=step_method, eps=e, steps=steps,
                                   clean_weight=clean_weight, fast_step=fast_step, pool=pool_batch, generator=gen)
            step += 1
            for k in sums:
                sums[k] += losses[k] * len(idx)
        model.eval()
        history["eps"].append(ramp(epoch + 1, eps, ramp_epochs))
        history["clean_loss"].append(sums["clean_loss"] / len(x))
        history["adv_loss"].append(sums["adv_loss"] / len(x))
        measured = val is not None and (val_every_epoch or epoch + 1 >= ramp_epochs)
        vals = (math.nan,) * 3
        if measured and method == "standard":  # nothing to be robust about: pick by clean accuracy
            vals = (float(_correct(model, *val, 500).float().mean()), math.nan, math.nan)
            score = vals[0]
        elif measured:
            row = evaluate(model, val, {"fgsm": fgsm_attack(eps),
                                        "pgd": pgd_attack(eps, steps=val_steps, alpha=2.5 * eps / val_steps)},
                           generator=torch.Generator().manual_seed(seed + 1))  # same starts every epoch
            vals = (row["clean"], row["fgsm"], row["pgd"])
            score = row[select]
        if measured and score >= best_score:  # ties: the later epoch, which has seen more data
            best_score, best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        for k, v in zip(("val_clean", "val_fgsm", "val_pgd"), vals):
            history[k].append(v)
        history["seconds"].append(time.perf_counter() - start)
        if progress:
            post = {"ε": f"{history['eps'][-1]:.2f}", "clean": f"{history['clean_loss'][-1]:.3f}",
                    "adv": f"{history['adv_loss'][-1]:.3f}"}
            if measured:
                post.update(val_clean=f"{vals[0]:.2f}", val_pgd=f"{vals[2]:.2f}")
            bar.set_postfix(post)

    history["catastrophic_epoch"] = (catastrophic_overfitting(history, drop=co_drop, gap=co_gap)
                                     if val is not None and method != "standard" else None)
    if history["catastrophic_epoch"] is not None:
        e = history["catastrophic_epoch"]
        warnings.warn(
            f"catastrophic overfitting in epoch {e + 1} of {method} training: on the held-out digits PGD accuracy "
            f"was {history['val_pgd'][e]:.0%} while FGSM accuracy was {history['val_fgsm'][e]:.0%} — the model "
            f"resists the single step it trains on, not the attack; keeping epoch "
            f"{(best_epoch if best_epoch is not None else epochs - 1) + 1} (best held-out {select} accuracy)",
            RuntimeWarning, stacklevel=2)
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch if best_epoch is not None else epochs - 1
    history["train_seconds"] = time.perf_counter() - wall0
    history["cpu_seconds"] = time.process_time() - cpu0
    model.eval()
    return history


# --------------------------------------------------------------------------- the lesson's models

N_VAL = 500  # training digits held out to pick the epoch (the 1,000 test digits are never used)

# Every recipe trains a LeNet-style CNN (``models.lenet``) at ε = 0.3 on 3,500 of the 4,000
# default training digits. The budgets are chosen so that training all of them from a cold
# cache takes a few minutes on a 2-core CPU: PGD gets the most (it is the point of the
# lesson); the others get what is enough to show what their method does.
RECIPES: dict[str, dict] = {
    "standard": dict(method="standard", epochs=10, ramp_epochs=0, batch_size=50, anneal=0.0,
                     description="standard training on clean digits"),
    "fgsm": dict(method="fgsm", epochs=8, ramp_epochs=0, batch_size=50, anneal=0.0, select="fgsm",
                 description="Goodfellow et al.: ½·CE(x) + ½·CE(FGSM(x)), ε = 0.3 from the start, "
                             "epoch picked on held-out FGSM accuracy"),
    "pgd": dict(method="pgd", epochs=16, ramp_epochs=4, steps=5, batch_size=32, anneal=0.3,
                description="Madry et al.: CE(PGD-5(x)), ε ramped 0 → 0.3 over 4 epochs"),
    "fast_fgsm": dict(method="fast_fgsm", epochs=8, ramp_epochs=3, fast_step=1.25, batch_size=32, anneal=0.3,
                      description="Wong et al.: CE(FGSM from a random start, step 1.25·ε), ε ramped over 3 epochs"),
    "pool": dict(method="pool", epochs=12, ramp_epochs=3, steps=5, pool_size=1000, pool_refresh=0.5, batch_size=32,
                 anneal=0.3, description="Szegedy et al.: clean batches + a pool of 1,000 PGD-5 examples, half "
                                         "regenerated each epoch; ε ramped over 3 epochs"),
}


def _recipe_version(recipe: Mapping) -> str:
    import hashlib

    # The cache file name carries a digest of the recipe: change a number, get a new model.
    return "1-" + hashlib.sha1(repr(sorted(recipe.items())).encode()).hexdigest()[:8]


def _split_recipe(name: str) -> tuple[dict, int, str, int | None, str]:
    check_choice("model name", name, tuple(RECIPES))
    recipe = dict(RECIPES[name])
    version = _recipe_version(recipe)
    width = recipe.pop("width", 1)
    description = recipe.pop("description", name)
    n_train = recipe.pop("n_train", None)  # a smaller training set (for tests); default all 3,500
    return recipe, width, description, n_train, version


def fit_recipe(name: str, model: nn.Module, *, progress: bool = True) -> dict:
    """Train ``model`` in place with recipe ``name`` of ``RECIPES``; return the facts to keep (lesson 05).

    The recipe trains on the default training digits minus the last ``N_VAL``, which pick the
    epoch. ``robust_model`` calls this once and caches the result; ``benchmarks/training.py``
    calls it directly to time it.

    Returns:
        A dict: ``method``, ``description``, ``epochs``, ``best_epoch``, ``catastrophic_epoch``,
        ``val_clean`` / ``val_fgsm`` / ``val_pgd`` at the chosen epoch, ``train_seconds`` (wall),
        ``cpu_seconds`` (process CPU time, all threads), ``threads`` and the per-epoch ``history``.
    """
    from .data import load_mnist

    recipe, _, description, n_train, _ = _split_recipe(name)
    check_model(model)
    mnist = load_mnist()
    (x, y), val = split_validation(mnist.x_train, mnist.y_train, N_VAL)
    if n_train is not None:
        x, y = x[:n_train], y[:n_train]
    h = adversarial_train(model, (x, y), val=val, progress=progress, desc=f"training '{name}'", **recipe)
    best = h["best_epoch"]
    return {
        "method": recipe["method"], "description": description, "epochs": recipe["epochs"],
        "best_epoch": best, "catastrophic_epoch": h["catastrophic_epoch"],
        "val_clean": h["val_clean"][best], "val_fgsm": h["val_fgsm"][best], "val_pgd": h["val_pgd"][best],
        "train_seconds": h["train_seconds"], "cpu_seconds": h["cpu_seconds"], "threads": torch.get_num_threads(),
        "history": {k: list(h[k]) for k in ("eps", "clean_loss", "adv_loss", "val_clean", "val_fgsm", "val_pgd", "seconds")},
    }


def robust_model(name: str, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """One of the lesson's trained CNNs (``RECIPES``): trained on first use, then cached (lesson 05).

    Args:
        name: ``"standard"``, ``"fgsm"``, ``"pgd"``, ``"fast_fgsm"`` or ``"pool"``.
        device: where the model lives (default ``get_device()``).
        progress: show the training progress bar on first use.

    Returns:
        The model in eval mode. ``model.cache_info`` holds what ``fit_recipe`` returned: the
        recipe's description, the chosen epoch, the validation accuracies (clean / FGSM /
        PGD-10 on the 500 held-out training digits), the per-epoch history, and
        ``train_seconds`` (wall) and ``cpu_seconds`` (process CPU) of the training run.
    """
    from .models import cached, lenet

    _, width, _, _, version = _split_recipe(name)
    return cached(f"l05-{name}", lambda: lenet(width=width), lambda model: fit_recipe(name, model, progress=progress),
                  version=version, device=device, progress=progress)


CACHED_MODELS: dict[str, Callable[[], nn.Module]] = {
    name: (lambda name=name: robust_model(name, progress=False)) for name in RECIPES
}
