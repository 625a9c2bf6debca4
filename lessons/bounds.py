"""Interval bound propagation: bounds on a network's outputs that hold for every input in an L∞ ball.

Introduced in lesson 08. If every pixel of ``x'`` lies in ``[x − ε, x + ε] ∩ [0, 1]``, each layer's
output lies in a box too, and the box can be computed layer by layer with interval arithmetic
(Gowal et al., *On the Effectiveness of Interval Bound Propagation for Training Verifiably
Robust Models*, 2018, arXiv 1810.12715). For an affine layer ``Wz + b`` write the box as a
centre ``c`` and a radius ``r``: the output box has centre ``Wc + b`` and radius ``|W| r``.
Monotone layers (ReLU, max-pool, a normalisation with positive scale) map the two corners.

If the lower bound of ``z_y − z_j`` is positive for every other class ``j``, no input in the
ball changes the answer: the digit is *verified*. The converse does not hold: the boxes grow
layer by layer (each one also contains inputs no real image produces), so a digit IBP cannot
verify may still be robust. ``lessons.verify`` computes the exact answer for small networks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .models import Normalize
from .utils import check_images, check_in_range, check_labels, check_model, check_model_input, eval_mode, model_device

__all__ = ["SUPPORTED", "input_box", "interval_forward", "layer_bounds", "interval_bounds",
           "margin_bounds", "worst_case_logits", "verified"]

# The layers interval arithmetic goes through here. Max-pool is monotone in each input, so its
# box is exact per layer; still, certified-training papers avoid it, and so do our certified nets.
SUPPORTED = (nn.Sequential, Normalize, nn.Flatten, nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d)


def input_box(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The L∞ ball of radius ``eps`` around images ``x`` (N, C, H, W), clipped to the pixel box [0, 1]."""
    return _box(check_images(x, "x"), check_in_range("eps", eps, 0.0, 1.0))


def _box(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    return (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)


def interval_forward(layer: nn.Module, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds on ``layer``'s output for every input between ``lo`` and ``hi`` (same shapes as the input).

    Args:
        layer: one of ``SUPPORTED`` (an ``nn.Sequential`` of them is walked through).
        lo, hi: elementwise lower and upper bounds on the layer's input, ``lo ≤ hi``.

    Returns:
        ``(lo, hi)`` of the layer's output. Differentiable: IBP training backpropagates through it.

    Raises:
        TypeError: a layer interval arithmetic is not written for here (the message names it).
    """
    check_model(layer, "layer")
    for name, bound in (("lo", lo), ("hi", hi)):
        if not isinstance(bound, torch.Tensor) or not bound.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor of bounds, got {type(bound).__name__} "
                            f"{getattr(bound, 'dtype', '')}".rstrip())
    if lo.shape != hi.shape:
        raise ValueError(f"lo and hi must have the same shape, got {tuple(lo.shape)} and {tuple(hi.shape)}")
    if not bool((lo <= hi).all()):  # also false for NaN
        raise ValueError("lo must be at most hi everywhere (and not NaN), got lo > hi somewhere")
    try:
        return _forward(layer, lo, hi)
    except RuntimeError as err:  # a shape the layer cannot take
        raise ValueError(f"layer {type(layer).__name__} cannot take lo and hi of shape {tuple(lo.shape)} "
                         f"({str(err).strip().splitlines()[0]})") from None


def _forward(layer: nn.Module, lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Interval arithmetic through one layer (``interval_forward`` without its checks)."""
    if isinstance(layer, nn.Sequential):
        for sub in layer:
            lo, hi = _forward(sub, lo, hi)
        return lo, hi
    if isinstance(layer, (nn.Linear, nn.Conv2d)):
        centre, radius = (hi + lo) / 2, (hi - lo) / 2
        if isinstance(layer, nn.Linear):
            c, r = layer(centre), F.linear(radius, layer.weight.abs())  # centre W c + b, radius |W| r
        else:
            c = layer(centre)
            r = F.conv2d(radius, layer.weight.abs(), None, layer.stride, layer.padding, layer.dilation, layer.groups)
        return c - r, c + r
    if isinstance(layer, (Normalize, nn.Flatten, nn.ReLU, nn.MaxPool2d)):
        return layer(lo), layer(hi)  # monotone non-decreasing: the corners map to the corners
    raise TypeError(f"layer {type(layer).__name__}: interval bounds through it are not written here; supported: "
                    f"{', '.join(t.__name__ for t in SUPPORTED)}")


def _check(model: nn.Module, x: torch.Tensor, eps: float) -> tuple[float, int]:
    num_classes = check_model_input(model, x)
    unsupported = sorted({type(m).__name__ for m in model.modules() if not isinstance(m, SUPPORTED)})
    if not isinstance(model, nn.Sequential) or unsupported:
        got = type(model).__name__ if not isinstance(model, nn.Sequential) else f"one with {', '.join(unsupported)}"
        raise TypeError(f"model must be an nn.Sequential of {', '.join(t.__name__ for t in SUPPORTED[1:])} "
                        f"for interval bounds, got {got}")
    return check_in_range("eps", eps, 0.0, 1.0), num_classes


def _check_labelled(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> tuple[float, torch.Tensor]:
    """``_check``, and labels ``y`` among the model's classes, on the model's device."""
    eps, num_classes = _check(model, x, eps)
    return eps, check_labels(y, x.shape[0], "y", num_classes=num_classes).to(model_device(model, x))


def layer_bounds(model: nn.Sequential, x: torch.Tensor, eps: float) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """The box after every layer of ``model`` for the ε-ball around ``x``: ``[(name, lo, hi), ...]``.

    The first entry is the input box (name ``"input"``); lesson 08 plots how the boxes widen.
    """
    eps, _ = _check(model, x, eps)
    device = model_device(model, x)
    lo, hi = _box(x.to(device), eps)
    out = [("input", lo, hi)]
    with torch.no_grad(), eval_mode(model):
        for name, layer in model.named_children():
            lo, hi = _forward(layer, lo, hi)
            out.append((name, lo, hi))
    return out


def interval_bounds(model: nn.Sequential, x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds (N, K) on every logit, for every image within ``eps`` (L∞) of ``x``."""
    eps, _ = _check(model, x, eps)
    device = model_device(model, x)
    with torch.no_grad(), eval_mode(model):
        return _forward(model, *_box(x.to(device), eps))


def _margins(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Lower bounds (N, K) on z_y − z_j, with the last linear layer folded into the margins.

    Bounding z_y and z_j separately and subtracting (lo_y − hi_j) forgets that both come from
    the same hidden units; bounding the row W_y − W_j directly is tighter. Gowal et al. call this
    eliding the last layer with the specification.
    """
    body, last = model[:-1], model[-1]
    lo, hi = _forward(body, *_box(x, eps))
    if not isinstance(last, nn.Linear):  # no linear layer to fold: subtract the logit boxes
        lo, hi = _forward(last, lo, hi)
        return lo.gather(1, y[:, None]) - hi
    w = last.weight[y][:, None, :] - last.weight[None, :, :]  # (N, K, H): rows W_y − W_j
    b = last.bias[y][:, None] - last.bias[None, :] if last.bias is not None else 0.0
    centre, radius = (hi + lo) / 2, (hi - lo) / 2
    return torch.einsum("nkh,nh->nk", w, centre) - torch.einsum("nkh,nh->nk", w.abs(), radius) + b


def margin_bounds(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Lower bounds (N, K) on the margin z_y − z_j of the true class over each class j (0 at j = y).

    A row with every other entry > 0 is a digit no input in the ball can flip.
    """
    eps, y = _check_labelled(model, x, y, eps)
    with torch.no_grad(), eval_mode(model):
        m = _margins(model, x.to(y.device), y, eps)
    return m.scatter(1, y[:, None], 0.0)


def worst_case_logits(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Logits (N, K) no better for the true class than any input in the ball: ẑ_j = −(lower bound of z_y − z_j).

    ``cross_entropy(ẑ, y)`` bounds the loss of the worst input from above: Gowal et al.'s
    verified loss, and IBP training's objective. Differentiable, in the model's current mode.
    """
    eps, y = _check_labelled(model, x, y, eps)
    return _worst_case_logits(model, x.to(y.device), y, eps)


def _worst_case_logits(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """``worst_case_logits`` without its checks (IBP training calls it every batch, after checking once)."""
    return -_margins(model, x, y, eps).scatter(1, y[:, None], 0.0)


def verified(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Per image (N,) bool on the CPU: does IBP prove that no input within ``eps`` (L∞) changes the class from ``y``?

    Sound but incomplete: True is a proof; False means "not proved", not "broken".
    """
    m = margin_bounds(model, x, y, eps)
    y = y.to(m.device).long()
    return (m.scatter(1, y[:, None], torch.inf) > 0).all(1).cpu()
