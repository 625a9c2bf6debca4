"""Carlini & Wagner's L2 attack: the smallest L2 change past the boundary with margin κ (lesson 01).

A minimum-distortion attack (see ``lessons.attacks``): ``cw_l2(model, x, y, *, targeted=False,
kappa=0, ...) -> x_adv``. Three ideas make it strong where L-BFGS on cross-entropy is weak:

- **a change of variables** ``x' = (tanh(w) + 1) / 2``: every ``w`` is an image in [0, 1], so
  the box constraint disappears and plain Adam can optimise ``w``;
- **a margin loss** ``f = max(max_{j≠t} Z_j − Z_t, −κ)`` on the logits ``Z``: it is zero once
  the target leads by κ, so the optimiser stops pushing and spends the rest on shrinking ‖δ‖;
  unlike cross-entropy, its gradient does not vanish on a confident model;
- **a search over c** in ``‖x' − x‖² + c·f(x')``, per image, keeping the smallest success.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..utils import check_bool, check_in_range, check_positive_int, eval_mode, model_device
from ..utils import progress as progress_bar
from .common import check_attack, margin, reached

__all__ = ["cw_l2"]


def cw_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    kappa: float = 0.0,
    c: float = 1.0,
    search_steps: int = 6,
    steps: int = 100,
    lr: float = 0.1,
    progress: bool = True,
) -> torch.Tensor:
    """Carlini–Wagner L2: the smallest L2 change that reaches the goal with margin κ.

    The box is removed by a change of variables, ``x' = (tanh(w) + 1) / 2`` (every ``w``
    gives an image in [0, 1]), and Adam minimises ``‖x' − x‖² + c·f(x')`` over ``w`` with
    ``f = max(max_{j≠t} Z_j − Z_t, −κ)`` on the logits ``Z`` (targeted; untargeted:
    ``max(Z_y − max_{j≠y} Z_j, −κ)``), their objective f6. A binary search over ``c``
    per image (×10 until a success, then bisection) keeps the smallest successful change
    seen at any step.

    Introduced in lesson 01 (the panel, and a cross-check of L-BFGS).

    Paper: Carlini & Wagner, *Towards Evaluating the Robustness of Neural Networks*,
    IEEE S&P 2017 (arXiv 1608.04644). Distance: L2. Their defaults (10,000 Adam steps at
    lr 0.01, 9 search steps) are traded here for speed on a CPU: 6 × 100 steps at lr 0.1.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation belongs inside it. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        targeted: reach class ``y`` instead of leaving it (see ``random_targets``).
        kappa: confidence κ ≥ 0: the logit margin the result must have (0 = just across).
        c: first weight of the classification term, in [1e-10, 1e10]; searched per image.
        search_steps: values of ``c`` tried per image (≥ 1).
        steps: Adam steps per value of ``c`` (≥ 1); a run stops early when the loss stalls.
        lr: Adam's learning rate on ``w`` (> 0).
        progress: show a ``tqdm`` bar over the search steps.

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, in [0, 1]. An image
        that already meets the goal (with margin κ) comes back unchanged, and so does one
        for which no ``c`` succeeded — check with ``measure``. Deterministic.

    Example:
        >>> x_adv = attacks.cw_l2(model, x, y, kappa=0.0)
    """
    y, _, _ = check_attack(model, x, y, targeted=targeted)
    check_bool("progress", progress)
    kappa = check_in_range("kappa", kappa, 0.0, 1e6)
    c = check_in_range("c", c, 1e-10, 1e10)
    search_steps = check_positive_int("search_steps", search_steps)
    steps = check_positive_int("steps", steps)
    lr = check_in_range("lr", lr, 1e-8, 1e3)

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    best = x0.clone()
    with eval_mode(model):
        with torch.no_grad():
            logits = model(x0)
        todo = ((margin(logits, y, targeted) >= kappa) & reached(model, x0, y, targeted)).logical_not().nonzero().flatten()
        if len(todo) == 0:
            return best.to(x.device)
        xa, ya = x0[todo], y[todo]
        w0 = torch.atanh((2 * xa - 1) * (1 - 1e-6))  # shrink a hair: atanh(±1) is infinite
        best_l2 = torch.full((len(todo),), math.inf, device=device)
        lo = torch.zeros(len(todo), device=device)
        hi = torch.full((len(todo),), math.inf, device=device)
        c_now = torch.full((len(todo),), c, device=device)
        bar = progress_bar(total=search_steps, enabled=progress, desc="C&W L2: search over c", leave=False)
        for _ in range(search_steps):
            w = w0.clone().requires_grad_(True)  # our own leaf: Adam never sees the model
            opt = torch.optim.Adam([w], lr=lr)
            found = torch.zeros(len(todo), dtype=torch.bool, device=device)
            previous = math.inf
            for i in range(steps):
                with torch.enable_grad():
                    x_adv = (torch.tanh(w) + 1) / 2
                    logits = model(x_adv)
                    gap = margin(logits, ya, targeted)
                    dist = (x_adv - xa).flatten(1).pow(2).sum(1)  # (M,) ‖x' − x‖²
                    loss = (dist + c_now * (-gap).clamp_min(-kappa)).sum()
                (grad,) = torch.autograd.grad(loss, w)
                with torch.no_grad():  # keep the best success seen, before stepping on
                    ok = (gap >= kappa) & (logits.argmax(1) == ya if targeted else logits.argmax(1) != ya)
                    l2 = dist.sqrt()
                    better = ok & (l2 < best_l2)
                    best[todo[better]] = x_adv[better].detach()
                    best_l2 = torch.where(better, l2, best_l2)
                    found |= ok
                w.grad = grad
                opt.step()
                if i % max(steps // 10, 1) == 0:  # C&W's early abort: the loss has stalled
                    if float(loss.detach()) > previous * 0.9999:
                        break
                    previous = float(loss.detach())
            # Binary search: success → try a smaller c (less push, smaller change).
            hi = torch.where(found, torch.minimum(hi, c_now), hi)
            lo = torch.where(found, lo, torch.maximum(lo, c_now))
            c_now = torch.where(hi.isfinite(), (lo + hi) / 2, c_now * 10)
            bar.update(1)
            bar.set_postfix(success=f"{int(best_l2.isfinite().sum())}/{len(todo)}")
        bar.close()
    return best.to(x.device)
