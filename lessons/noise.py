"""Random perturbations of a given size: the baselines adversarial examples are measured against.

Introduced in lesson 01 ("rare but dense": noise as large as an adversarial change almost never
fools) and used in lesson 02 (Szegedy et al.'s Gaussian-noise rows and the "magnified"
perturbations of Table 4). Distortion is Szegedy's RMS √(Σ(x′−x)²/n) over the n = C·H·W pixel
values of an image in [0, 1] — the standard deviation of the perturbation about zero.

Lesson 01 also measures Goodfellow et al.'s *linear explanation* of why noise fails where an
attack succeeds: ``sign_alignment`` (a change of ε per pixel moves wᵀx by ε‖w‖₁ ∝ n when it
follows sign(w), by only about ε‖w‖₂ ∝ √n when its signs are random) and ``logit_path`` (the
logits along one direction, their Figure 4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .utils import check_bool, check_generator, check_images, check_in_range, check_model_input, check_positive_int, eval_mode, model_device

__all__ = ["rms_distortion", "gaussian_noise", "matched_noise", "rescale_perturbation", "sign_alignment", "logit_path",
           "check_eps_values"]


def rms_distortion(x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
    """Szegedy's distortion measure √(Σ(x′−x)²/n) per image, n = pixels per image (lessons 01–02).

    On [0, 1] pixels this is the standard deviation of the perturbation about zero, which is
    why the paper compares it with Gaussian noise of that "stddev" (0.062 ≈ 16/255).

    Args:
        x: originals (N, C, H, W) in [0, 1].
        x_adv: perturbed images, same shape, in [0, 1].

    Returns:
        Tensor (N,) of non-negative floats on ``x``'s device.
    """
    check_images(x, "x")
    check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    diff = (x_adv.to(x.device) - x).flatten(1)
    return diff.pow(2).mean(1).sqrt()


def _rows(shape: torch.Size | tuple[int, ...]) -> tuple[int, ...]:
    return (-1,) + (1,) * (len(shape) - 1)  # broadcast one value per image over (C, H, W)


def _scale_to_rms(x: torch.Tensor, direction: torch.Tensor, rms: torch.Tensor, iters: int = 40) -> torch.Tensor:
    """clip(x + s·direction) with s ≥ 0 per image chosen so the clipped change has RMS ``rms``.

    The clipped RMS grows monotonically with s (every pixel's change does), so a bisection
    finds s. Where even an unbounded s cannot reach ``rms`` (the box stops it), the largest
    reachable change is returned.
    """
    shape = _rows(x.shape)
    size = direction.flatten(1).pow(2).mean(1).sqrt()  # (N,)
    ok = size > 0
    lo = torch.zeros_like(size)
    hi = torch.where(ok, rms / size.clamp_min(1e-12), torch.zeros_like(size))  # unclipped answer: a lower bound

    def clipped_rms(s: torch.Tensor) -> torch.Tensor:
        return ((x + s.view(shape) * direction).clamp(0, 1) - x).flatten(1).pow(2).mean(1).sqrt()

    for _ in range(60):  # grow hi until it overshoots (clipping only shrinks the change)
        short = ok & (clipped_rms(hi) < rms)
        if not bool(short.any()):
            break
        lo = torch.where(short, hi, lo)
        hi = torch.where(short, hi * 2, hi)
    for _ in range(iters):
        mid = (lo + hi) / 2
        below = clipped_rms(mid) < rms
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (x + hi.view(shape) * direction).clamp(0, 1)


def _as_per_image(name: str, value: object, n: int, device: torch.device, hi: float) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.shape != (n,) or not value.is_floating_point():
            raise ValueError(f"{name} must be a number or a float tensor of shape ({n},), got {value.dtype} {tuple(value.shape)}")
        if bool((value < 0).any()) or bool((value > hi).any()) or bool(value.isnan().any()):
            raise ValueError(f"{name} must be in [0, {hi:g}], got values in [{float(value.min()):.4g}, {float(value.max()):.4g}]")
        return value.detach().to(device, torch.float32)
    return torch.full((n,), check_in_range(name, value, 0.0, hi), device=device)


def gaussian_noise(
    x: torch.Tensor,
    sigma: float | torch.Tensor,
    *,
    exact_rms: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """x plus Gaussian noise, clipped to [0, 1]: Szegedy's "random distortion" baseline (lesson 02).

    Args:
        x: images (N, C, H, W) in [0, 1].
        sigma: noise standard deviation in [0, 1], one number or a tensor (N,) per image.
        exact_rms: if ``False`` (the paper's baseline), add σ·z and clip: on MNIST's black
            background half the noise is clipped away, so the actual RMS distortion is
            *below* σ (about 0.7σ). If ``True``, rescale each image's noise so that the RMS
            distortion after clipping is exactly ``sigma`` — a like-for-like comparison with
            an adversarial perturbation of that RMS.
        generator: CPU ``torch.Generator`` for the noise (reproducible results).

    Returns:
        Noisy images, same shape/dtype/device as ``x``, in [0, 1].
    """
    check_images(x, "x")
    sigma = _as_per_image("sigma", sigma, len(x), x.device, 1.0)
    check_bool("exact_rms", exact_rms)
    generator = check_generator(generator)
    # Drawn on the CPU from the caller's generator, so a seed gives the same noise on any device.
    z = torch.randn(x.shape, generator=generator, dtype=torch.float32).to(x.device, x.dtype)
    if exact_rms:
        return _scale_to_rms(x, z, sigma.to(x.dtype))
    return (x + sigma.to(x.dtype).view(_rows(x.shape)) * z).clamp(0, 1)


def matched_noise(x: torch.Tensor, x_adv: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise with, image by image, the RMS distortion of ``x_adv`` (lesson 02).

    The fair baseline for an adversarial example: the same amount of change, in a random
    direction. Szegedy's Table 4 row "Gaussian noise, stddev 0.06" plays this role.

    Args:
        x: originals (N, C, H, W) in [0, 1].
        x_adv: adversarial images of the same shape in [0, 1].
        generator: CPU ``torch.Generator`` for the noise.

    Returns:
        Noisy images like ``x`` whose per-image RMS distortion (after clipping) equals
        ``rms_distortion(x, x_adv)``.
    """
    return gaussian_noise(x, rms_distortion(x, x_adv), exact_rms=True, generator=generator)


def rescale_perturbation(x: torch.Tensor, x_adv: torch.Tensor, rms: float) -> torch.Tensor:
    """Stretch each image's perturbation x_adv − x to a given RMS distortion (lesson 02).

    Szegedy's Table 4 "magnified" rows: the adversarial perturbations, amplified to a
    standard deviation of 0.1, transfer far more often. The direction is kept; the length is
    chosen so that the RMS distortion *after* clipping to [0, 1] equals ``rms`` (or is as
    large as the box allows). Images with no perturbation stay unchanged.

    Args:
        x: originals (N, C, H, W) in [0, 1].
        x_adv: adversarial images of the same shape in [0, 1].
        rms: the target RMS distortion √(Σ(x′−x)²/n), in [0, 1].

    Returns:
        Images like ``x`` in [0, 1].
    """
    rms_distortion(x, x_adv)  # validates both and their shapes
    rms = check_in_range("rms", rms, 0.0, 1.0)
    direction = x_adv.to(x.device) - x
    return _scale_to_rms(x, direction, torch.full((len(x),), rms, device=x.device, dtype=x.dtype))


# --------------------------------------------------------------------------- the linear explanation


def sign_alignment(
    w: torch.Tensor, eps: float = 1.0, *, draws: int = 200, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """How far a change of ε per coordinate moves wᵀx: along sign(w), or with random signs (lesson 01).

    Goodfellow, Shlens & Szegedy (2015, §3): for η = ε·sign(w) the activation wᵀx grows by
    wᵀη = ε‖w‖₁ = ε·m·n (m the mean |wᵢ|) — linearly in the dimension n, although no
    coordinate moves by more than ε. Random signs s give wᵀ(ε·s) = ε·Σ sᵢwᵢ, a sum whose
    terms cancel: its RMS is exactly ε‖w‖₂, which grows only like √n. The ratio of the two
    is ‖w‖₁/‖w‖₂, at most √n (about √(2n/π) for Gaussian weights). On an input gradient w the
    same numbers are the first-order change of the loss.

    Args:
        w: tensor (N, ...) — N weight vectors or input gradients; each row is flattened to n values.
        eps: the change per coordinate, in [0, 1] (pixel units).
        draws: random sign vectors drawn per row (≥ 1) to measure the random case.
        generator: CPU ``torch.Generator`` for the signs (reproducible results).

    Returns:
        ``(aligned, random)``, two float tensors (N,) on ``w``'s device: ε‖w‖₁ per row, and the
        measured RMS of wᵀ(ε·s) over the draws (close to ε‖w‖₂).

    Example:
        >>> aligned, random = noise.sign_alignment(torch.randn(1, 784))
    """
    if not isinstance(w, torch.Tensor) or not w.is_floating_point():
        raise TypeError(f"w must be a float tensor of shape (N, n), got {type(w).__name__}"
                        + (f" of dtype {w.dtype}" if isinstance(w, torch.Tensor) else ""))
    if w.dim() < 2 or w.numel() == 0:
        raise ValueError(f"w must have shape (N, n) (one row per weight vector), got {tuple(w.shape)}")
    if not bool(w.isfinite().all()):
        raise ValueError("w must be finite, got NaN or infinite values")
    eps = check_in_range("eps", eps, 0.0, 1.0)
    draws = check_positive_int("draws", draws)
    generator = check_generator(generator)
    rows = w.detach().flatten(1).float()  # (N, n)
    aligned = eps * rows.abs().sum(1)
    total = torch.zeros(len(rows), device=rows.device)
    for _ in range(draws):  # one draw at a time: n can be 150,528 (a photo)
        # Drawn on the CPU from the caller's generator, so a seed gives the same signs on any device.
        signs = torch.randint(0, 2, rows.shape, generator=generator).mul_(2).sub_(1).to(rows.device, rows.dtype)
        total += (eps * (signs * rows).sum(1)).pow(2)
    return aligned.to(w.dtype), (total / draws).sqrt().to(w.dtype)


def logit_path(
    model: torch.nn.Module,
    x: torch.Tensor,
    direction: torch.Tensor,
    eps_values: Sequence[float],
    *,
    clip: bool = False,
) -> torch.Tensor:
    """The model's logits at x + ε·direction for each ε: Goodfellow et al.'s Figure 4 (lesson 01).

    Their figure follows one MNIST digit along the FGSM direction sign(∇ₓ loss), for negative
    and positive ε, and finds the unnormalised log-probabilities "conspicuously piecewise
    linear" in ε, with the wrong class winning over a wide range of ε. For softmax regression
    the logits are exactly linear in ε (without clipping); a ReLU network is piecewise linear.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1]; its mode
            is left as it was.
        x: images (N, C, H, W) in [0, 1].
        direction: tensor of ``x``'s shape, e.g. ``attacks.input_gradient(model, x, y).sign()``.
        eps_values: the steps ε (a non-empty list of numbers; negative ones go the other way).
        clip: clip x + ε·direction to [0, 1]. Default ``False``, as in the paper's figure, which
            follows the line past the box (pixels outside [0, 1]) to show the model's own shape.

    Returns:
        Float tensor (N, E, K) on ``x``'s device: the logits for each image and each ε.
    """
    num_classes = check_model_input(model, x)
    if not isinstance(direction, torch.Tensor) or not direction.is_floating_point():
        raise TypeError(f"direction must be a float tensor of x's shape, got {type(direction).__name__}")
    if direction.shape != x.shape:
        raise ValueError(f"direction must have x's shape {tuple(x.shape)}, got {tuple(direction.shape)}")
    if not bool(direction.isfinite().all()):
        raise ValueError("direction must be finite, got NaN or infinite values")
    eps_values = check_eps_values(eps_values)
    check_bool("clip", clip)
    device = model_device(model, x)
    x0, d = x.detach().to(device), direction.detach().to(device, x.dtype)
    out = torch.empty(len(x0), len(eps_values), num_classes, device=device)
    with torch.no_grad(), eval_mode(model):
        for i, e in enumerate(eps_values):  # one ε at a time: a photo batch of all ε would be large
            moved = x0 + e * d
            out[:, i] = model(moved.clamp(0, 1) if clip else moved).float()
    return out.to(x.device)


def check_eps_values(values: object, name: str = "eps_values") -> list[float]:
    """Check a non-empty list of finite numbers (steps ε, or any series to plot) and return it as floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a list of numbers, got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one number, got an empty list")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{name} must hold numbers, got {type(v).__name__} {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{name} must hold finite numbers, got {v}")
    return [float(v) for v in values]
