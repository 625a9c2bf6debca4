"""Szegedy's pool of adversarial examples, made at the input or at a hidden layer (lesson 05).

Szegedy et al., *Intriguing properties of neural networks* (arXiv 1312.6199) §4.2, trained an
FC100-100-10 network "by keeping a pool of adversarial examples a random subset of which is
continuously replaced by newly generated adversarial examples and which is mixed into the
original training set all the time", and reached a test error below 1.2% (1.6% with weight
decay alone). They made examples "for each layer outputs which were used to train all the
layers above", and remarked that "adversarial examples for the higher layers seemed to be
significantly more useful than those on the input or lower layers" — a remark lesson 05 tests.

Two kinds of pool example:

- **at the input, with a budget ε** (the lesson's CNN ``"pool"`` recipe): PGD in the L∞ ball;
- **at any layer, with a relative L2 radius** (the generalisation study): the output ``z`` of
  the layer (the image itself for ``layer=None``) is pushed up the loss of the layers *above*
  it by L2 PGD within ``rel_eps·‖z‖`` — a size that means the same at every layer — and kept
  within the values the layer can take ([0, 1] pixels; ≥ 0 after a ReLU). Szegedy made
  minimum-distortion examples with L-BFGS; a fixed relative radius is the cheap stand-in.

``training.adversarial_train(method="pool", ...)`` mixes a pool batch into every clean batch;
a hidden-layer pool batch is fed to the layers above only, so it trains those alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import attacks
from .utils import (
    check_generator,
    check_in_range,
    check_labels,
    check_model,
    check_model_input,
    check_positive_int,
    eval_mode,
)

__all__ = ["split_model", "layer_examples", "refresh_pool"]


def split_model(model: nn.Module, layer: str, *, name: str = "layer") -> tuple[nn.Sequential, nn.Sequential]:
    """``(body, head)`` of a named ``nn.Sequential``: ``body`` ends with ``layer``, ``head`` is the rest.

    ``head(body(x))`` equals ``model(x)``; both share the model's parameters (no copy).

    Args:
        model: an ``nn.Sequential`` with named layers (``models.mlp``, ``lenet``, ``small_cnn``).
        layer: the name of a layer that is not the last, e.g. ``"relu1"`` or ``"flatten"``.
        name: what to call ``layer`` in error messages (the caller's parameter name).
    """
    if not isinstance(layer, str):
        raise TypeError(f"{name} must be a layer name (str), got {type(layer).__name__}")
    check_model(model)
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"{name} can only name a layer of an nn.Sequential with named layers; this model is a "
                         f"{type(model).__name__}, got {name}={layer!r}")
    names = [n for n, _ in model.named_children()]
    if layer not in names[:-1]:
        raise ValueError(f"{name} must name one of the model's layers before the last, one of {names[:-1]}, "
                         f"got {layer!r}")
    cut = names.index(layer) + 1
    children = list(model.children())
    return nn.Sequential(*children[:cut]), nn.Sequential(*children[cut:])


def layer_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    rel_eps: float,
    layer: str | None = None,
    steps: int = 10,
) -> torch.Tensor:
    """Adversarial examples of the output of ``layer`` (or of the input), with a relative L2 radius.

    Let ``z`` be the layer's output for ``x`` (``x`` itself when ``layer`` is ``None``). L2 PGD
    from ``z`` — ``steps`` normalised gradient steps of 2.5·r/steps, each projected back into
    the ball ‖δ‖₂ ≤ r = ``rel_eps``·‖z‖₂ (per example) and into the layer's range — raises the
    cross-entropy of the layers above (``split_model``).

    Args:
        model: a classifier; an ``nn.Sequential`` with named layers when ``layer`` is given.
            Its mode and parameters are left as they were.
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64, classes of the model.
        rel_eps: the radius as a share of ‖z‖₂, in [0, 1] (Szegedy's FC100-100-10 examples
            were about 0.058·28 ≈ 1.6 in L2 from digits whose norm is about 9: about 0.17).
        layer: the layer whose output is perturbed; ``None`` for the input. Its outputs must
            be ≥ 0 (a ReLU's), so that "the values the layer can take" is [0, ∞).
        steps: PGD steps (≥ 1).

    Returns:
        (N, ...) detached tensor: adversarial images in [0, 1] for ``layer=None``, else
        adversarial activations of ``layer`` (feed them to ``split_model(model, layer)[1]``),
        on ``x``'s device.
    """
    num_classes = check_model_input(model, x)
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes)
    rel_eps = check_in_range("rel_eps", rel_eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    body, head = (nn.Identity(), model) if layer is None else split_model(model, layer)
    with eval_mode(model), torch.no_grad():
        z0 = body(x).detach()
    if layer is not None and bool((z0 < 0).any()):
        raise ValueError(f"layer must output values ≥ 0 (a ReLU's output, e.g. 'relu1'), but {layer!r} gave "
                         f"{float(z0.min()):.3g}")
    hi = 1.0 if layer is None else math.inf
    shape = (-1,) + (1,) * (z0.dim() - 1)
    radius = rel_eps * z0.flatten(1).norm(dim=1).view(shape)  # (N, 1, ...)
    if rel_eps == 0:
        return z0.clone()
    z = z0.clone()
    with eval_mode(model):
        for _ in range(steps):
            z.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(head(z), y.to(z.device), reduction="sum"), z)
            step = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
            delta = z.detach() + 2.5 * radius / steps * step - z0
            delta = delta * torch.clamp(radius / delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape), max=1.0)
            z = (z0 + delta).clamp(0.0, hi).detach()
    return z


def refresh_pool(pool: tuple[torch.Tensor, torch.Tensor], model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 eps: float, *, size: int, refresh: float, steps: int, generator: torch.Generator | None,
                 rel_eps: float | None = None, layer: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The pool after one more epoch: new examples against the model as it is now (lesson 05).

    Until the pool holds ``size`` examples it grows; then a ``refresh`` share of it, in random
    slots, is replaced; the rest stays as it was made against earlier states of the model.
    New examples are PGD at the input with L∞ budget ``eps`` (step 2.5·ε/steps, random start),
    or, when ``rel_eps`` is given, ``layer_examples`` at ``layer`` with that relative radius.

    Returns the new pool ``(examples, labels)`` on the CPU; the old tensors are not modified.
    """
    size = check_positive_int("size", size)
    refresh = check_in_range("refresh", refresh, 0.0, 1.0)
    generator = check_generator(generator)
    pool_x, pool_y = pool
    n_new = max(1, round(refresh * size)) if len(pool_x) >= size else size - len(pool_x)
    n_new = min(n_new, size, len(x))
    src = torch.randperm(len(x), generator=generator)[:n_new]
    parts = []
    for j in range(0, n_new, 500):
        xb, yb = x[src[j : j + 500]], y[src[j : j + 500]]
        if rel_eps is None:
            parts.append(attacks.pgd(model, xb, yb, eps, steps=steps, alpha=2.5 * eps / steps,
                                     generator=generator).cpu())
        else:
            parts.append(layer_examples(model, xb, yb, rel_eps=rel_eps, layer=layer, steps=steps).cpu())
    new_x, new_y = torch.cat(parts), y[src].cpu()
    if len(pool_x) == 0:  # the first refresh: nothing to keep (and a layer's pool has its own shape)
        return new_x, new_y
    if len(pool_x) < size:
        return torch.cat([pool_x, new_x]), torch.cat([pool_y, new_y])
    slots = torch.randperm(len(pool_x), generator=generator)[:n_new]
    pool_x, pool_y = pool_x.clone(), pool_y.clone()
    pool_x[slots], pool_y[slots] = new_x, new_y
    return pool_x, pool_y
