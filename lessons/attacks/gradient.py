"""Gradient attacks with a budget ε: FGSM and PGD (L∞ and L2), and the input gradient itself.

Introduced in lesson 00. Both follow the course's attack protocol (see ``lessons.attacks``):
``attack(model, x, y, eps, *, targeted=False, ...) -> x_adv``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import check_bool, check_generator, check_in_range, check_positive_int, eval_mode, model_device
from .common import check_attack, reached

__all__ = ["input_gradient", "fgsm", "pgd"]


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, targeted: bool = False) -> torch.Tensor:
    """∇ₓ of the cross-entropy loss (or minus it when ``targeted``) for a batch, in eval mode.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1].
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64 — the true class, or the target class when ``targeted``.
        targeted: return the gradient of −loss(y), i.e. the direction that makes ``y`` likelier.

    Returns:
        Tensor of ``x``'s shape: the direction of steepest ascent of the attack objective.
        The loss is summed over the batch, so each row is that image's own gradient.
    """
    y, _, _ = check_attack(model, x, y, targeted=targeted)
    device = model_device(model, x)
    with eval_mode(model):
        return _loss_gradient(model, x.to(device), y.to(device), targeted).to(x.device)


def _loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """``input_gradient`` without the mode bookkeeping, for loops that already hold eval mode.

    ``detach()`` is enough (no copy): the graph is built on a new leaf sharing ``x``'s storage,
    and nothing writes to it. On small models per-step overhead dominates PGD's time.
    """
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(-loss if targeted else loss, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, targeted: bool = False) -> torch.Tensor:
    """Fast Gradient Sign Method: one step of size ε along sign(∇ₓ loss).

    Paper: Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*,
    ICLR 2015 (arXiv 1412.6572). Distance: L∞.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation belongs inside it. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        eps: L∞ budget in [0, 1] (0.25 ≈ 64 grey levels; 2/255 is invisible on photos).
        targeted: step *down* the loss of ``y`` instead of up.

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, with
        ``|x_adv − x|∞ ≤ eps`` and values in [0, 1]. ``eps = 0`` returns an equal copy.

    Example:
        >>> x_adv = attacks.fgsm(model, x, y, eps=0.1)
    """
    y, eps, _ = check_attack(model, x, y, targeted=targeted, eps=eps)
    if eps == 0:
        return x.detach().clone()
    device = model_device(model, x)
    x0 = x.detach().to(device)
    with eval_mode(model):
        grad = _loss_gradient(model, x0, y.to(device), targeted)
    return (x0 + eps * grad.sign()).clamp_(0, 1).to(x.device)


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (delta.dim() - 1))
    return delta * torch.clamp(eps / norms, max=1.0)


def _step(grad: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return alpha * grad.sign()
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (grad.dim() - 1))
    return alpha * grad / norms


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    # Drawn on the CPU from the caller's generator, so a seed gives the same start on any device.
    if norm == "linf":
        delta = torch.rand(x.shape, generator=generator, dtype=x.dtype).mul_(2).sub_(1).mul_(eps)
    else:  # uniform in the L2 ball: direction uniform on the sphere, radius ∝ u^(1/d)
        g = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        g /= g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
        r = torch.rand(x.shape[0], generator=generator, dtype=x.dtype) ** (1.0 / x[0].numel())
        delta = g * (eps * r).view(-1, *[1] * (x.dim() - 1))
    return delta.to(x.device)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    alpha: float | None = None,
    steps: int = 10,
    norm: str = "linf",
    targeted: bool = False,
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected Gradient Descent: repeated gradient steps, each projected back into the ε-ball.

    Paper: Madry, Makelov, Schmidt, Tsipras & Vladu, *Towards Deep Learning Models Resistant
    to Adversarial Attacks*, ICLR 2018 (arXiv 1706.06083). Distance: L∞ or L2.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation belongs inside it. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        eps: radius of the ball: in [0, 1] for ``"linf"``; in [0, √(C·H·W)] for ``"l2"``.
        alpha: step size (default: 2.5·ε/steps, Madry et al.'s rule of thumb).
        steps: gradient steps per restart (≥ 1).
        norm: ``"linf"`` (sign steps, clamp) or ``"l2"`` (normalised steps, rescale).
        targeted: make ``y`` the predicted class instead of moving away from it.
        random_start: start from a uniform random point of the ball rather than ``x``.
        restarts: independent random starts; per image, the first that succeeds is kept,
            else the last.
        generator: CPU ``torch.Generator`` for the random starts (reproducible results).

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, within ``eps`` of
        ``x`` in the chosen norm and in [0, 1]. ``eps = 0`` returns an equal copy.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x_adv = attacks.pgd(model, x, y, eps=0.3, steps=40, alpha=0.01, generator=g)
    """
    y, eps, _ = check_attack(model, x, y, targeted=targeted, eps=eps, norm=norm)
    steps = check_positive_int("steps", steps)
    restarts = check_positive_int("restarts", restarts)
    if alpha is None:
        alpha = 2.5 * eps / steps
    alpha = check_in_range("alpha", alpha, 0.0, math.inf)
    check_bool("random_start", random_start)
    generator = check_generator(generator)
    if eps == 0:
        return x.detach().clone()

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    best = x0.clone()
    done = torch.zeros(len(x0), dtype=torch.bool, device=device)
    with eval_mode(model):
        for _ in range(restarts):
            delta = _random_start(x0, eps, norm, generator) if random_start else torch.zeros_like(x0)
            x_adv = (x0 + delta).clamp(0, 1)
            for _ in range(steps):
                grad = _loss_gradient(model, x_adv, y, targeted)
                delta = _project(x_adv + _step(grad, alpha, norm) - x0, eps, norm)
                x_adv = (x0 + delta).clamp_(0, 1)
            if restarts == 1:  # nothing to choose between: skip the extra forward pass
                return x_adv.to(x.device)
            success = reached(model, x_adv, y, targeted)
            take = ~done  # keep the first success; otherwise the latest attempt
            best[take] = x_adv[take]
            done |= success
            if bool(done.all()):
                break
    return best.to(x.device)
