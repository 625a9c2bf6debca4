"""Measuring robustness: which examples survive an attack, and robust accuracy as a number.

Introduced in lesson 05, where adversarially trained models are measured with the attacks they
were trained against. An example counts as robust only if the model classifies it correctly
when clean *and* no attempt fools it: restarts, or several attacks, are tried one after another,
each only on the examples still standing (the attacker keeps whichever attempt works).

Attacks are **bound attacks** (the protocol of ``lessons.attacks``): callables
``attack(model, x, y) -> x_adv``, e.g. ``functools.partial(attacks.pgd, eps=0.3, steps=40,
alpha=0.01, generator=g)``. A bound generator makes every restart draw fresh random starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from torch import nn

from . import attacks
from .attacks.common import check_attack_output
from .utils import (
    check_generator,
    check_in_range,
    check_labels,
    check_model_input,
    check_pair,
    check_positive_int,
    eval_mode,
    model_device,
)

__all__ = ["correct", "robust_mask", "robust_accuracy", "robustness_curve", "check_data"]

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
