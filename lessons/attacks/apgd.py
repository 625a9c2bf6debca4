"""Auto-PGD (APGD): PGD that chooses its own step size, with momentum; untargeted and APGD-T.

Introduced in lesson 07. Paper: Croce & Hein, *Reliable evaluation of adversarial robustness
with an ensemble of diverse parameter-free attacks*, ICML 2020 (arXiv 2003.01690), Algorithm 1;
written after their code (github.com/fra31/auto-attack, ``autopgd_base.py``). PGD needs a step
size and a number of steps, and a bad choice makes a model look robust (lesson 07 §1). APGD
starts with a large step, 2ε, and *halves* it at checkpoints when progress stalls:

- checkpoints after 22% of the steps, then ever closer together (3% less each time, at
  least 6% of the steps apart);
- at a checkpoint, halve the step (and restart from the best point so far) if fewer than
  ρ = 75% of the steps since the last checkpoint raised the loss (condition 1), or if the
  step was not halved last time and the best loss has not moved since (condition 2);
- every step mixes the new gradient step with the previous move (momentum):
  ``x ← P(x + 0.75·(z − x) + 0.25·(x − x_prev))`` where ``z = P(x + η·sign ∇f)``.

APGD can climb any loss of ``lessons.attacks.losses``; ``targeted=True`` is Croce & Hein's
APGD-T: for each of the ``n_target_classes`` classes the model ranks highest after the true
one, a targeted run pushes that class above the true class. ``y`` stays the true labels and
success still means *misclassified* (unlike ``pgd(targeted=True)``, whose ``y`` holds targets).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ..utils import (
    check_bool,
    check_choice,
    check_generator,
    check_in_range,
    check_labels,
    check_positive_int,
    eval_mode,
    model_device,
)
from .common import check_attack
from .gradient import _project, _step
from .losses import _UNCHECKED, LOSSES

__all__ = ["apgd", "apgd_path", "Path", "checkpoints"]


class Path(NamedTuple):
    """One run of (A)PGD, step by step (``apgd_path``).

    Attributes:
        x_adv: (N, C, H, W) the first misclassified iterate where the run fooled the model,
            else the point with the highest loss.
        fooled: (N,) bool, some iterate was misclassified.
        losses: (steps + 1, N) the loss at x⁽⁰⁾ (the start), x⁽¹⁾, ..., x⁽ˢᵗᵉᵖˢ⁾.
        step_sizes: (steps + 1, N) the step size η used to leave each iterate.
        misread: (steps + 1, N) bool, the model misreads each iterate.
    """

    x_adv: torch.Tensor
    fooled: torch.Tensor
    losses: torch.Tensor
    step_sizes: torch.Tensor
    misread: torch.Tensor


def checkpoints(steps: int) -> list[int]:
    """The iterations after which APGD may halve its step (Croce & Hein 2020), for ``steps`` steps.

    The first comes after 22% of the steps; the gaps then shrink by 3% of the steps each time,
    to no less than 6% (the integer version of their code): 100 steps → 22, 41, 57, 70, 80, ...
    """
    steps = check_positive_int("steps", steps)
    gap, shrink, least = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    out, at = [], gap
    while at <= steps:
        out.append(at)
        gap = max(gap - shrink, least)
        at += gap
    return out


def _start(x0: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    # Croce & Hein's start: a random direction scaled to the ball's surface (drawn on the CPU,
    # so a seed gives the same start on any device).
    t = torch.rand(x0.shape, generator=generator, dtype=x0.dtype).mul_(2).sub_(1) if norm == "linf" \
        else torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    size = t.flatten(1).abs().amax(1) if norm == "linf" else t.flatten(1).norm(dim=1)
    t = t / (size.view(-1, *[1] * (t.dim() - 1)) + 1e-12)
    return (x0 + eps * t.to(x0.device)).clamp(0, 1)


def _run(model: nn.Module, x0: torch.Tensor, y: torch.Tensor, eps: float, *, loss: str, target: torch.Tensor | None,
         steps: int, step_size: float | None, rho: float, norm: str, random_start: bool,
         generator: torch.Generator | None, stop_when_fooled: bool = False) -> Path:
    """``apgd_path`` without the checks, for loops that hold eval mode and the device already.

    Every image's run is independent of the others', so with ``stop_when_fooled`` an image
    leaves the batch once fooled (same results, less work; its later losses stay NaN).
    """
    untargeted, targeted = _UNCHECKED[loss]  # inputs checked once, by apgd / apgd_path
    shape = (-1, *[1] * (x0.dim() - 1))

    def project(x: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        return (x0[at] + _project(x - x0[at], eps, norm)).clamp(0, 1)

    def evaluate(x: torch.Tensor, at: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.detach().requires_grad_(True)
        logits = model(x)
        values = untargeted(logits, y[at]) if target is None else targeted(logits, y[at], target[at])
        if values.requires_grad:
            (grad,) = torch.autograd.grad(values.sum(), x)
        else:  # the output does not depend differentiably on x at all: as masked as it gets
            grad = torch.zeros_like(x)
        return values.detach(), grad, logits.detach().argmax(1) != y[at]

    n = len(x0)
    every = torch.arange(n, device=x0.device)
    auto = step_size is None  # APGD's schedule; a number means plain PGD with that fixed step
    eta = torch.full((n,), 2.0 * eps if auto else float(step_size), device=x0.device)
    x = _start(x0, eps, norm, generator) if random_start else x0.clone()
    value, grad, fooled = evaluate(x, every)
    losses = torch.full((steps + 1, n), math.nan, device=x0.device)
    etas = torch.full((steps + 1, n), math.nan, device=x0.device)
    misread = torch.zeros((steps + 1, n), dtype=torch.bool, device=x0.device)
    losses[0], etas[0], misread[0] = value, eta, fooled
    x_adv, x_prev = x.clone(), x.clone()
    best, x_best, grad_best = value.clone(), x.clone(), grad.clone()
    marks = set(checkpoints(steps)) if auto else set()
    last_mark, best_at_mark = 0, best.clone()
    halved_at_mark = torch.ones(n, dtype=torch.bool, device=x0.device)  # condition 2 waits one checkpoint
    for i in range(1, steps + 1):
        at = (~fooled).nonzero().flatten() if stop_when_fooled else every
        if len(at) == 0:
            break
        here = x[at]
        z = project(here + _step(grad[at], eta[at].view(shape), norm), at)
        a = 0.75 if auto and i > 1 else 1.0  # momentum from the second step on (APGD only)
        x[at] = project(here + a * (z - here) + (1 - a) * (here - x_prev[at]), at)
        x_prev[at] = here
        value, grad[at], wrong = evaluate(x[at], at)
        losses[i, at], misread[i, at] = value, wrong
        new = at[wrong & ~fooled[at]]
        x_adv[new], fooled[new] = x[new], True
        up = at[value > best[at]]
        best[up], x_best[up], grad_best[up] = losses[i, up], x[up], grad[up]
        if i in marks:
            rises = (losses[last_mark : i + 1, at].diff(dim=0) > 0).sum(0)  # steps that raised the loss
            stalled = rises <= rho * (i - last_mark)  # condition 1 (their code's ≤)
            stuck = ~halved_at_mark[at] & (best[at] <= best_at_mark[at])  # condition 2
            halve = at[stalled | stuck]
            eta[halve] /= 2
            x[halve], grad[halve] = x_best[halve], grad_best[halve]  # go on from the best point
            halved_at_mark[at] = stalled | stuck
            last_mark, best_at_mark = i, best.clone()
        etas[i, at] = eta[at]
    x_adv[~fooled] = x_best[~fooled]
    return Path(x_adv.detach(), fooled, losses, etas, misread)


def _check_options(loss: object, steps: object, rho: object, norm: object, generator: object) -> tuple:
    check_choice("loss", loss, tuple(LOSSES))
    return (check_positive_int("steps", steps), check_in_range("rho", rho, 0.0, 1.0),
            check_choice("norm", norm, ("linf", "l2")), check_generator(generator))


def apgd_path(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, loss: str = "ce",
              target: torch.Tensor | None = None, steps: int = 100, step_size: float | None = None, rho: float = 0.75,
              norm: str = "linf", random_start: bool = True, generator: torch.Generator | None = None) -> Path:
    """One run of APGD (or of plain PGD with ``step_size``), with the loss at every step (lesson 07).

    Use it to *see* an attack: plot ``path.losses`` against the step. With ``step_size=None`` this
    is Croce & Hein's Algorithm 1 (start at 2ε, halve at checkpoints, momentum 0.75); with a
    number it is PGD with that fixed step and no momentum, climbing the same loss.

    Args:
        model: classifier returning logits (N, K) for images in [0, 1]; left as it was.
        x: images (N, C, H, W) in [0, 1].
        y: true labels (N,) int64.
        eps: radius of the ball (L∞ in [0, 1]; L2 up to √(C·H·W)).
        loss: ``"ce"``, ``"margin"`` or ``"dlr"`` (``lessons.attacks.losses``).
        target: optional (N,) target classes: climb the targeted loss toward them instead.
        steps: gradient steps (≥ 1).
        step_size: ``None`` for APGD's schedule, or a fixed PGD step (e.g. 0.01).
        rho: APGD's condition-1 threshold, the share of steps that must raise the loss.
        norm: ``"linf"`` or ``"l2"``.
        random_start: start from a random point of the ball's surface (else from ``x``).
        generator: CPU ``torch.Generator`` for the start.

    Returns:
        A ``Path`` (x_adv, fooled, losses / step_sizes / misread, each (steps+1, N)) on ``x``'s device.
    """
    y, eps, num_classes = check_attack(model, x, y, eps=eps, norm=norm)
    steps, rho, norm, generator = _check_options(loss, steps, rho, norm, generator)
    if step_size is not None:
        step_size = check_in_range("step_size", step_size, 0.0, math.inf)
    random_start = check_bool("random_start", random_start)
    if target is not None:
        target = check_labels(target, x.shape[0], "target", num_classes=num_classes).to(y.device)
        if bool((target == y).any()):
            raise ValueError("target must differ from the true label y for every example")
    device = model_device(model, x)
    with eval_mode(model):
        path = _run(model, x.detach().to(device), y.to(device), eps, loss=loss,
                    target=None if target is None else target.to(device), steps=steps, step_size=step_size,
                    rho=rho, norm=norm, random_start=random_start, generator=generator)
    return Path(*(t.to(x.device) for t in path))


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    loss: str = "ce",
    targeted: bool = False,
    steps: int = 100,
    restarts: int = 1,
    n_target_classes: int = 9,
    rho: float = 0.75,
    generator: torch.Generator | None = None,
    norm: str = "linf",
) -> torch.Tensor:
    """Auto-PGD: a step-size-free PGD with momentum (Croce & Hein 2020); APGD-T when ``targeted``.

    Paper: Croce & Hein, ICML 2020 (arXiv 2003.01690), Algorithm 1. Distance: L∞ or L2.
    AutoAttack's "standard" ensemble runs APGD-CE (``loss="ce"``) and APGD-T
    (``loss="dlr", targeted=True``), 100 steps each.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation inside. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: the *true* labels (N,) int64, also when ``targeted`` (see below).
        eps: radius of the ball: in [0, 1] for ``"linf"``; in [0, √(C·H·W)] for ``"l2"``.
        loss: ``"ce"`` (cross-entropy), ``"margin"`` (C&W) or ``"dlr"`` (Croce & Hein).
        targeted: APGD-T — one targeted run toward each of the ``n_target_classes`` classes the
            model ranks highest after the true one (on the clean image), each only on the
            images still correctly classified. Success still means misclassified.
        steps: gradient steps per run (≥ 1; the checkpoints scale with it).
        restarts: random restarts per run (per target class when ``targeted``), each only on
            the images not yet fooled.
        n_target_classes: how many target classes APGD-T tries (1 to K − 1).
        rho: APGD's condition-1 threshold (0.75 in the paper).
        generator: CPU ``torch.Generator`` for the random starts.
        norm: ``"linf"`` or ``"l2"``.

    Returns:
        Adversarial images like ``x`` (detached, within ``eps``, in [0, 1]): for each image the
        first iterate that fooled the model, else its highest-loss point; an image the model
        already misclassifies is returned unchanged. ``eps = 0`` returns an equal copy.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x_adv = attacks.apgd(model, x, y, eps=0.3, loss="dlr", targeted=True, generator=g)
    """
    y, eps, num_classes = check_attack(model, x, y, targeted=targeted, eps=eps, norm=norm)
    steps, rho, norm, generator = _check_options(loss, steps, rho, norm, generator)
    restarts = check_positive_int("restarts", restarts)
    least = {"dlr": 4 if targeted else 3}.get(loss, 2)
    if num_classes < least:
        raise ValueError(f"loss={loss!r}{' (targeted)' if targeted else ''} needs at least {least} classes, "
                         f"the model has {num_classes}")
    n_target_classes = check_positive_int("n_target_classes", n_target_classes)
    if targeted:  # the default (9) is more than a small model's K − 1 when no target is wanted
        if n_target_classes > num_classes - 1:
            raise ValueError(f"n_target_classes must be at most K - 1 = {num_classes - 1}, got {n_target_classes}")
    if eps == 0:
        return x.detach().clone()
    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    out = x0.clone()
    with eval_mode(model), torch.no_grad():
        logits = model(x0)
    alive = logits.argmax(1) == y  # images the model gets right and no run has fooled yet
    ranked = logits.argsort(1, descending=True)
    targets = [ranked[:, k] for k in range(1, n_target_classes + 1)] if targeted else [None]
    with eval_mode(model):
        for target in targets:  # on the images attacked (right when clean) the top class is y itself
            for _ in range(restarts):
                idx = alive.nonzero().flatten()
                if len(idx) == 0:
                    return out.to(x.device)
                path = _run(model, x0[idx], y[idx], eps, loss=loss, target=None if target is None else target[idx],
                            steps=steps, step_size=None, rho=rho, norm=norm, random_start=True, generator=generator,
                            stop_when_fooled=True)
                out[idx] = path.x_adv
                alive[idx[path.fooled]] = False
    return out.to(x.device)
