"""Exercise checks of lesson 01, imperceptible perturbations: feedback a learner can act on."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import fgsm, smallest_eps
from ..models import predict
from .feedback import ExerciseError, call_learner, passed, require, require_number, require_tensor

__all__ = ["check_fgsm", "check_rms", "check_smallest_eps"]


def _l01_case(n: int, seed: int):
    """A small seeded classifier on 6×6 images with black and white bands (so clipping matters)."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.rand(n, 1, 6, 6, generator=g)
    x[:, :, :2] = 0.0
    x[:, :, -1] = 1.0
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def check_fgsm(fn, *, n: int = 16, eps: float = 0.1, seed: int = 0) -> None:
    """Lesson 01: ``fn(model, x, y, eps)`` returns FGSM's adversarial images (untargeted)."""


    model, x, y = _l01_case(n, seed)
    x_in, y_in = x.clone(), y.clone()
    out = require_tensor(call_learner(fn, model, x_in, y_in, eps, what="my_fgsm"), "my_fgsm's result", shape=tuple(x.shape))
    require(torch.equal(x_in, x), "my_fgsm changed x in place: build a new tensor (x_adv = x + ..., not x += ...)")
    out_f = out.detach().float()
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)
    expected = fgsm(model, x, y, eps)
    step = eps * grad.sign()
    if not torch.allclose(out_f, expected, atol=1e-5):
        if torch.allclose(out_f, step, atol=1e-5) or torch.allclose(out_f, expected - x, atol=1e-5):
            hint = "my_fgsm returned the perturbation, not the image: add it to x (x + eps * grad.sign())"
        elif torch.allclose(out_f, x + step, atol=1e-5):
            hint = (f"values leave [0, 1] (from {float(out_f.min()):.2f} to {float(out_f.max()):.2f}): "
                    "clamp the result with .clamp(0, 1)")
        elif torch.allclose(out_f, (x - step).clamp(0, 1), atol=1e-5) or torch.allclose(out_f, x - step, atol=1e-5):
            hint = ("you stepped *down* the loss, which makes the true class likelier; untargeted FGSM steps up: "
                    "x + eps * grad.sign()")
        elif torch.allclose(out_f, (x + eps * grad).clamp(0, 1), atol=1e-5):
            hint = "use the *sign* of the gradient (grad.sign()), not the gradient itself: every pixel moves by exactly eps"
        elif float((out_f - x).abs().max()) > eps + 1e-5:
            hint = (f"some pixels moved by {float((out_f - x).abs().max()):.3f} > eps = {eps}: "
                    "each pixel moves by at most eps")
        else:
            hint = ("compute the cross-entropy loss of model(x) against y, its gradient with respect to x "
                    "(torch.autograd.grad(loss, x_var)), then x + eps * grad.sign(), clamped to [0, 1]")
        raise ExerciseError(f"my_fgsm's images differ from FGSM's: {hint}")
    require(not out.requires_grad,
            "my_fgsm's result still carries the autograd graph: return x_adv.detach() so it can be used as plain data")
    zero = require_tensor(call_learner(fn, model, x.clone(), y.clone(), 0.0, what="my_fgsm"), "my_fgsm(..., eps=0)",
                          shape=tuple(x.shape))
    require(torch.allclose(zero.detach().float(), x), "with eps = 0, my_fgsm should return the images unchanged")
    with torch.no_grad():
        fooled = float((model(out_f).argmax(1) != y).float().mean())
    passed(f"my_fgsm matches attacks.fgsm on {n} images (ε = {eps:g}); it changes {fooled:.0%} of the predictions")


def check_rms(fn, *, seed: int = 0) -> None:
    """Lesson 01: ``fn(x, x_adv)`` returns the RMS distortion √(Σ(x′ − x)²/n) of each image, shape (N,)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 1, 5, 5, generator=g)
    x_adv = (x + 0.1 * torch.randn(x.shape, generator=g) * torch.arange(1, 5).view(-1, 1, 1, 1)).clamp(0, 1)
    x_adv[0] = x[0]  # an untouched image: RMS 0
    d = (x_adv - x).flatten(1)
    expected = d.pow(2).mean(1).sqrt()
    out = call_learner(fn, x.clone(), x_adv.clone(), what="my_rms")
    if (isinstance(out, torch.Tensor) and out.numel() == 1) or isinstance(out, float):
        raise ExerciseError("my_rms returned one number for the whole batch: return one value per image, shape (N,) "
                            "(flatten each image with x.flatten(1) and reduce over dim 1)")
    out = require_tensor(out, "my_rms's result", shape=(4,)).detach().float()
    if not torch.allclose(out, expected, atol=1e-5):
        if torch.allclose(out, d.norm(dim=1), atol=1e-5):
            hint = "that is the L2 norm √(Σ d²); the RMS divides by the number of pixel values first: √(Σ d² / n), i.e. .mean(1)"
        elif torch.allclose(out, d.pow(2).mean(1), atol=1e-5):
            hint = "that is the mean square; take its square root"
        elif torch.allclose(out, d.abs().mean(1), atol=1e-5):
            hint = "that is the mean absolute change; square the changes, average, then take the square root"
        elif torch.allclose(out, d.abs().amax(1), atol=1e-5):
            hint = "that is the largest change (L∞); average the squared changes instead, then take the square root"
        else:
            hint = "per image: d = x_adv − x, then √(mean of d²) over its C·H·W values"
        raise ExerciseError(f"my_rms gave {[round(float(v), 4) for v in out]}, expected "
                            f"{[round(float(v), 4) for v in expected]}: {hint}")
    passed("my_rms computes Szegedy's 'average pixel-level distortion' per image")


def check_smallest_eps(value, model, x, y, *, tol: float = 0.01, reference: bool = False) -> None:
    """Lesson 01: ``value`` is the smallest FGSM ε (to ``tol``) that changes the prediction on ``x``.

    Accepted when FGSM at ``value`` changes the label and FGSM at ``value − tol`` does not.
    With ``reference=True`` the value must also be within ``tol`` of ``attacks.smallest_eps``'s
    bisection (which rules out a boundary found far above a smaller one).
    """

    eps = require_number(value, "smallest_eps")
    require(not (1 < eps <= 255), f"smallest_eps is {eps:g}: use pixel units in [0, 1] (divide grey levels by 255)")
    require(0 <= eps <= 1, f"smallest_eps is {eps:g}; FGSM's ε is a pixel change in [0, 1]")
    label = int(y[0])

    def top(e: float) -> tuple[int, float]:
        p = predict(model, fgsm(model, x, y, float(e)))[0]
        return int(p.argmax()), float(p.max())

    k, p = top(eps)
    require(k != label, f"at ε = {eps:.4g}, FGSM does not change the prediction yet (still {label}, {p:.0%}): "
                        "try larger values")
    if eps - tol >= 0:
        k2, _ = top(eps - tol)
        require(k2 == label, f"FGSM already changes the prediction at ε = {eps - tol:.4g} (to {k2}): your ε is not the "
                             f"smallest; search in steps of at most {tol:g} from 0 upward")
    if reference:
        ref, _ = smallest_eps(model, x, y, eps_max=1.0, search_steps=12, progress=False)
        require(abs(eps - float(ref[0])) <= tol, f"attacks.smallest_eps finds a boundary at ε = {float(ref[0]):.4f}, "
                                                 f"yours is {eps:.4f}: scan from 0 upward and stop at the first flip")
    passed(f"ε = {eps:.3f} flips the digit {label} → {k} ({p:.0%}); ε − {tol:g} does not")
