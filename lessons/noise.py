"""Random perturbations of a given size: the baselines adversarial examples are measured against.

Introduced in lesson 01 ("rare but dense": noise as large as an adversarial change almost never
fools) and used in lesson 02 (Szegedy et al.'s Gaussian-noise rows and the "magnified"
perturbations of Table 4). Distortion is Szegedy's RMS √(Σ(x′−x)²/n) over the n = C·H·W pixel
values of an image in [0, 1] — the standard deviation of the perturbation about zero.
"""

from __future__ import annotations

import torch

from .utils import check_bool, check_generator, check_images, check_in_range

__all__ = ["rms_distortion", "gaussian_noise", "matched_noise", "rescale_perturbation"]


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
