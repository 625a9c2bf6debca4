"""Off the manifold: how far fooling images lie from real digits (lesson 03).

A common reply to Nguyen, Yosinski & Clune (CVPR 2015, arXiv 1412.1897) is that their images
lie far from anything a network was trained on, where its confidence means nothing. This room
measures "far" three ways, for any images against a set of real ones:

- ``nearest_distance``: the L2 distance from each image to its nearest real image (e.g. the
  4,000 training digits), the plainest measure of "unlike anything in the data";
- ``reconstruction_error``: how badly an autoencoder trained on real digits (Szegedy's
  AE400-10, ``models.pretrained("ae400-10")``) redraws each image; it redraws digits well and
  anything else badly;
- ``noise_confidence``: the probability a model gives its top class on uniform noise, the
  farthest-off images of all; the share above 99% says how often no search is needed at all.

Pure functions of tensors; models are run in eval mode without gradients and left as they were.
"""

from __future__ import annotations

import torch
from torch import nn

from .encodings import check_shape
from .utils import (
    check_generator,
    check_images,
    check_model,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)

__all__ = ["nearest_distance", "reconstruction_error", "noise_confidence"]


def nearest_distance(x: torch.Tensor, reference: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """L2 distance from each image to its nearest neighbour among ``reference`` (lesson 03).

    Args:
        x: images (N, C, H, W) in [0, 1].
        reference: real images (M, C, H, W) in [0, 1] of the same shape per image, e.g. the
            4,000 training digits of ``data.load_mnist()``.
        batch_size: images of ``x`` compared at once (memory: batch_size × M floats).

    Returns:
        Tensor (N,) of distances √Σ(x − r)² over the C·H·W pixel values, on ``x``'s device. For
        28×28 digits, 0 means a copy of a training digit and a uniform-noise image is ≈ 12 away.
    """
    check_images(x, "x")
    check_images(reference, "reference")
    if x.shape[1:] != reference.shape[1:]:
        raise ValueError(f"x and reference must hold images of one shape, got {tuple(x.shape[1:])} and "
                         f"{tuple(reference.shape[1:])}")
    batch_size = check_positive_int("batch_size", batch_size)
    ref = reference.flatten(1).to(x.device, torch.float32)  # (M, D)
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].flatten(1).float()  # (B, D)
        # cdist's fast matrix-product form finds the neighbour; its rounding (~1e-3 near 0) is
        # then removed by measuring the distance to that neighbour directly.
        nearest = torch.cdist(xb, ref).argmin(dim=1)
        out.append((xb - ref[nearest]).norm(dim=1))
    return torch.cat(out)


def reconstruction_error(autoencoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """RMS difference between each image and the autoencoder's redrawing of it (lesson 03).

    An autoencoder trained on digits has learnt to redraw digits; an image far from them comes
    back changed. Szegedy's AE400-10 (``models.pretrained("ae400-10")``) has the method this
    needs.

    Args:
        autoencoder: a module with ``reconstruct(x) -> x_hat`` (same shape, in [0, 1]); its mode
            is left as it was.
        x: images (N, C, H, W) in [0, 1].

    Returns:
        Tensor (N,) of √(mean (x − x̂)²) per image, in [0, 1], on ``x``'s device.
    """
    check_model(autoencoder, "autoencoder")
    if not callable(getattr(autoencoder, "reconstruct", None)):
        raise TypeError(f"autoencoder must have a reconstruct(x) method (e.g. models.pretrained('ae400-10')), "
                        f"got {type(autoencoder).__name__}")
    check_images(x, "x")
    device = model_device(autoencoder)
    with torch.no_grad(), eval_mode(autoencoder):
        x_hat = autoencoder.reconstruct(x.to(device))
    if x_hat.shape != x.shape:
        raise ValueError(f"autoencoder.reconstruct must return images of x's shape {tuple(x.shape)}, "
                         f"got {tuple(x_hat.shape)}")
    return (x_hat.to(x.device) - x).pow(2).flatten(1).mean(1).sqrt()


def noise_confidence(model: nn.Module, n: int, shape: tuple[int, int, int], *, batch_size: int = 500,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """The model's top-class probability on ``n`` images of uniform noise (lesson 03).

    Nguyen et al.'s direct encoding starts from uniform noise. How often is the start already a
    fooling image? ``(noise_confidence(...) >= 0.99).float().mean()`` answers it.

    Args:
        model: classifier returning logits (N, K) for images in [0, 1]; left as it was.
        n: number of noise images (≥ 1).
        shape: image shape (C, H, W), e.g. (1, 28, 28).
        batch_size: images per forward pass.
        generator: CPU ``torch.Generator``; the same seed gives the same images.

    Returns:
        Tensor (n,) of probabilities in [0, 1] on the CPU.
    """
    check_model(model)
    n = check_positive_int("n", n)
    shape = check_shape(shape)
    batch_size = check_positive_int("batch_size", batch_size)
    generator = check_generator(generator, cpu=True)
    check_model_input(model, torch.full((1, *shape), 0.5), "shape", model_name="model")
    device = model_device(model)
    out = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, n, batch_size):
            x = torch.rand((min(batch_size, n - start), *shape), generator=generator)
            out.append(torch.softmax(model(x.to(device)).float(), dim=1).max(dim=1).values.cpu())
    return torch.cat(out)
