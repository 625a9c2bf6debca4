"""Remedies for robust overfitting on few digits: TRADES, random shifts, weight averaging (lesson 05).

Adversarial training on our 3,500 digits overfits robustly: held-out robust accuracy peaks,
then falls, while the training loss keeps going down (Rice, Wong & Kolter, *Overfitting in
adversarially robust deep learning*, ICML 2020, arXiv 2002.11569, who also found early
stopping on held-out robust accuracy to be the remedy that matters most). Three more remedies
that ``training.adversarial_train`` can switch on, each tried in lesson 05's report:

- **TRADES** (Zhang et al., *Theoretically Principled Trade-off between Robustness and
  Accuracy*, ICML 2019, arXiv 1901.08573): loss = CE(f(x), y) + β·KL(f(x) ‖ f(x′)), x′ the
  point of the ε-ball where the prediction *moves* most (``trades_examples``, ``trades_loss``;
  their code: ``yaodongyu/TRADES``, ``trades.py``);
- **random shifts** of a pixel or two (``random_shift``): more digits for free, a classic
  augmentation (MNIST digits are centred by mass, so small shifts stay digits);
- **weight averaging** (``average_weights``): an exponential moving average of the weights
  along training, measured and kept instead of the last weights — flatter, and it smooths the
  epoch-to-epoch jumps of robust accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .utils import (
    check_generator,
    check_images,
    check_in_range,
    check_model,
    check_model_input,
    check_positive_int,
    eval_mode,
)

__all__ = ["trades_examples", "trades_loss", "random_shift", "average_weights"]


def trades_examples(model: nn.Module, x: torch.Tensor, eps: float, *, steps: int = 5,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """TRADES's inner maximisation: the point of the L∞ ε-ball where the prediction moves most.

    PGD (``steps`` sign steps of 2.5·ε/steps) on KL(f(x) ‖ f(x′)) from x + 0.001·N(0, 1), as
    in Zhang et al.'s code. No label is used: it pushes the prediction away from the model's
    own clean prediction, right or wrong.

    Args:
        model: classifier; its mode and parameters are left as they were.
        x: images (N, C, H, W) in [0, 1].
        eps: L∞ budget in [0, 1].
        steps: PGD steps (≥ 1).
        generator: CPU generator for the small random start.

    Returns:
        Images of ``x``'s shape within ε of ``x`` (L∞) and in [0, 1], detached.
    """
    check_model_input(model, x)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    generator = check_generator(generator)
    x0 = x.detach()
    if eps == 0:
        return x0.clone()
    with eval_mode(model):
        with torch.no_grad():
            clean = F.softmax(model(x0), dim=1)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
        x_adv = (x0 + 0.001 * noise).clamp(0, 1)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), clean, reduction="sum")
            (grad,) = torch.autograd.grad(kl, x_adv)
            x_adv = torch.min(torch.max(x_adv.detach() + 2.5 * eps / steps * grad.sign(), x0 - eps), x0 + eps).clamp(0, 1)
    return x_adv.detach()


def trades_loss(clean_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
    """CE(clean, y) + β·KL(softmax(clean) ‖ softmax(adv)), batch-averaged (Zhang et al. 2019).

    Args:
        clean_logits, adv_logits: (N, K) logits for the clean and the ``trades_examples`` images.
        y: labels (N,) int64.
        beta: the weight of robustness against accuracy, ≥ 0 (their README: 1–10; larger is
            more robust and less accurate).

    Returns:
        A scalar tensor (differentiable through both logits).
    """
    beta = check_in_range("beta", beta, 0.0, 1e3)
    kl = F.kl_div(F.log_softmax(adv_logits, dim=1), F.softmax(clean_logits, dim=1), reduction="batchmean")
    return F.cross_entropy(clean_logits, y) + beta * kl


def random_shift(x: torch.Tensor, max_shift: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image moved by its own random whole-pixel shift, up to ``max_shift`` each way; blank fill.

    Args:
        x: images (N, C, H, W) in [0, 1]; never written to.
        max_shift: the largest shift along each axis, in pixels (0 returns a copy).
        generator: CPU generator for the shifts.

    Returns:
        (N, C, H, W) shifted images; what moves out of the frame is lost, what comes in is 0.
    """
    x = check_images(x)
    max_shift = check_positive_int("max_shift", max_shift, allow_zero=True)
    generator = check_generator(generator)
    if max_shift == 0:
        return x.clone()
    n, _, h, w = x.shape
    s = max_shift
    padded = F.pad(x, (s, s, s, s))  # (N, C, H + 2s, W + 2s)
    dy, dx = torch.randint(0, 2 * s + 1, (2, n), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (N, 1, W)
    return padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


@torch.no_grad()
def average_weights(average: nn.Module, model: nn.Module, decay: float) -> None:
    """One step of an exponential moving average: ``average ← decay·average + (1 − decay)·model``.

    Parameters are averaged; buffers (e.g. a ``Normalize`` layer's) are copied. Both models
    must have the same architecture; ``model`` is not changed.

    Args:
        average: the running average, updated in place.
        model: the model being trained.
        decay: in [0, 1); 0.99 averages over about the last 100 optimiser steps.
    """
    check_model(average, "average")
    check_model(model)
    decay = check_in_range("decay", decay, 0.0, 1.0 - 1e-9)
    if [p.shape for p in average.parameters()] != [p.shape for p in model.parameters()]:
        raise ValueError("average must have model's architecture: their parameters differ in shape")
    for a, p in zip(average.parameters(), model.parameters(), strict=True):
        a.lerp_(p.detach(), 1.0 - decay)
    for a, b in zip(average.buffers(), model.buffers(), strict=True):
        a.copy_(b)
