"""Exercise checks of lesson 02, transferability: feedback a learner can act on."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..transfer import transfer_report
from .feedback import ExerciseError, call_learner, passed, require, require_number, require_tensor

__all__ = ["check_transfer_rate", "check_amplify"]


def _l02_pair(n: int, seed: int):
    """A source and a target classifier (fixed random linear maps), images, labels, examples.

    No training and no cache. The two models share part of their weights, so a perturbation
    made for the source fools the target only sometimes; a few labels are wrong on purpose
    and the target disagrees with the source on some clean images, so that "both models
    right on the clean image" matters.
    """

    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(4, 36, generator=g)

    def linear(weight: torch.Tensor) -> nn.Module:
        layer = nn.Linear(36, 4)
        layer.weight.data.copy_(weight)
        layer.bias.data.copy_(-0.5 * weight.sum(1))  # logits = W (x − 0.5): no class wins everywhere
        return nn.Sequential(nn.Flatten(), layer).eval()

    source = linear(shared + 0.6 * torch.randn(4, 36, generator=g))
    target = linear(shared + 0.6 * torch.randn(4, 36, generator=g))
    x = torch.rand(n, 1, 6, 6, generator=g)
    with torch.no_grad():
        y = source(x).argmax(1)
    wrong = torch.rand(n, generator=g) < 0.15  # the source is wrong on these clean images
    y[wrong] = (y[wrong] + 1) % 4
    # FGSM on the source with a different ε per image: some examples fool it, some do not.
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(source(x_req), y, reduction="sum"), x_req)
    eps = 0.08 * torch.rand(n, generator=g).view(-1, 1, 1, 1)
    x_adv = (x + eps * grad.sign()).clamp(0, 1)
    return source, target, x, y, x_adv


def check_transfer_rate(fn, *, n: int = 120, seed: int = 0) -> None:
    """Lesson 02: ``fn(source, target, x, y, x_adv)`` returns the transfer rate in [0, 1]."""
    source, target, x, y, x_adv = _l02_pair(n, seed)
    with torch.no_grad():
        s_clean, t_clean = source(x).argmax(1), target(x).argmax(1)
        s_adv, t_adv = source(x_adv).argmax(1), target(x_adv).argmax(1)
    expected = transfer_report(source, target, x, y, x_adv)["transfer_rate"]
    value = require_number(call_learner(fn, source, target, x.clone(), y.clone(), x_adv.clone(), what="my_transfer_rate"),
                       "my_transfer_rate's result")

    def rate(mask: torch.Tensor) -> float:
        return float((mask & (t_adv != y)).sum()) / max(int(mask.sum()), 1)

    require(not (1 < value <= 100 and abs(value / 100 - expected) < 1e-6),
            f"my_transfer_rate returned {value:.4g}, a percentage: return the share in [0, 1] (drop the × 100)")
    require(0 <= value <= 1, f"my_transfer_rate returned {value:.4g}; a rate is a share in [0, 1]")
    if abs(value - expected) > 1e-6:
        if abs(value - float((t_adv != y).float().mean())) < 1e-6:
            hint = ("you counted every image: that is the target's error on x_adv (a cell of Szegedy's table). "
                    "Count only the images both models get right on x and whose x_adv fools the source")
        elif abs(value - rate(s_adv != y)) < 1e-6:
            hint = ("you kept every image that fools the source, including ones a model already gets wrong on the "
                    "clean x; keep only images that source *and* target classify correctly on x")
        elif abs(value - rate((s_clean == y) & (s_adv != y))) < 1e-6:
            hint = "leave out the images the *target* already gets wrong on the clean x, too"
        elif abs(value - rate((s_clean == y) & (t_clean == y))) < 1e-6:
            hint = "among the images both models get right on x, keep only those whose x_adv fools the source"
        else:
            hint = ("keep the images with source(x) == y, target(x) == y and source(x_adv) != y; among them, "
                    "return the share with target(x_adv) != y")
        raise ExerciseError(f"my_transfer_rate returned {value:.4f}, expected {expected:.4f}: {hint}")
    passed(f"transfer rate {value:.1%} over {int(((s_clean == y) & (t_clean == y) & (s_adv != y)).sum())} eligible images "
           "— the examples that fool the source and also fool the target")


def _l02_amplify_case(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    x[:, :, :3] = 0.0  # a black band, like MNIST's background: the box matters
    x[:, :, -1] = 1.0
    sizes = torch.linspace(0.01, 0.06, n).view(-1, 1, 1, 1)  # every image its own perturbation size
    x_adv = (x + sizes * torch.randn(x.shape, generator=g)).clamp(0, 1)
    x_adv[0] = x[0]  # one image was not perturbed at all
    return x, x_adv


def check_amplify(fn, *, n: int = 6, seed: int = 0, rms: float = 0.1) -> None:
    """Lesson 02: ``fn(x, x_adv, rms)`` stretches each perturbation to RMS ``rms``, then clips."""
    x, x_adv = _l02_amplify_case(n, seed)
    x_in, x_adv_in = x.clone(), x_adv.clone()
    out = require_tensor(call_learner(fn, x_in, x_adv_in, rms, what="my_amplify"), "my_amplify's result",
                         shape=tuple(x.shape))
    require(torch.equal(x_in, x) and torch.equal(x_adv_in, x_adv),
            "my_amplify changed its inputs in place: build a new tensor (x + ..., not x += ...)")
    out = out.detach().float()
    d = x_adv - x
    size = d.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1)
    scale = torch.where(size > 0, rms / size.clamp_min(1e-12), torch.zeros_like(size))
    expected = (x + d * scale).clamp(0, 1)
    require(not bool(out.isnan().any()),
            "my_amplify returned NaN: an image with no perturbation (x_adv == x) has RMS 0; leave it unchanged "
            "instead of dividing by 0 (e.g. torch.where(rms_now > 0, rms / rms_now, 0))")
    require(not torch.allclose(out, expected - x, atol=1e-4) or torch.allclose(expected, expected - x),
            "my_amplify returned the perturbation: return the image x + stretched perturbation")
    require(float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6,
            f"values leave [0, 1] (from {float(out.min()):.3f} to {float(out.max()):.3f}): clip with .clamp(0, 1)")
    if not torch.allclose(out, expected, atol=1e-4):
        global_scale = rms / d.flatten().pow(2).mean().sqrt()
        l2_scale = torch.where(size > 0, rms / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1).clamp_min(1e-12), 0.0)
        if torch.allclose(out, (x + d * global_scale).clamp(0, 1), atol=1e-4):
            hint = ("you used one factor for the whole batch; stretch each image by its own factor "
                    "(its RMS: d.flatten(1).pow(2).mean(1).sqrt(), reshaped to (N, 1, 1, 1))")
        elif torch.allclose(out, (x + d * l2_scale).clamp(0, 1), atol=1e-4):
            hint = "RMS is √(mean of d²) over the pixels, not the L2 norm √(sum of d²): use .mean(1), not .sum(1)"
        elif torch.allclose(out, x + d * scale, atol=1e-4):
            hint = "clip the result to [0, 1]"
        else:
            hint = "scale d = x_adv − x per image by rms / RMS(d), add it to x, clip to [0, 1]"
        got = (out - x).flatten(1).pow(2).mean(1).sqrt()
        raise ExerciseError(f"my_amplify's images differ from the expected ones (RMS distortion per image: "
                            f"{[round(float(v), 3) for v in got]}): {hint}")
    passed(f"every perturbation stretched to RMS {rms:g} before clipping, in its own direction")
