"""What every attack shares: argument checks, "is the goal met?", the logit margin, random targets.

Introduced in lesson 00 with the first attacks; every attack module of ``lessons.attacks``
imports from here, so a bad model, image or label gets the same clear error from all of them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..utils import check_bool, check_choice, check_in_range, check_labels, check_model_input, check_positive_int

__all__ = ["NORMS", "check_attack", "check_attack_output", "reached", "margin", "random_targets"]

NORMS = ("linf", "l2")


_NO_BUDGET = object()


def check_attack(model: object, x: object, y: object, *, targeted: object = False, eps: object = _NO_BUDGET,
                 norm: object = "linf") -> tuple[torch.Tensor, float | None, int]:
    """Validate an attack's common arguments; return ``(y as int64, eps as float or None, K)``.

    The model must take ``x`` (one image is run through it) and every label must be one of its
    K classes, so a wrong channel count or a label of 10 on a 10-class model is reported here,
    by name, instead of surfacing as a torch error or as a silently wrong number.
    """
    num_classes = check_model_input(model, x)
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes)
    check_bool("targeted", targeted)
    check_choice("norm", norm, NORMS)
    if eps is _NO_BUDGET:  # a minimum-distortion attack: no budget to check
        eps = None
    else:
        # L∞ ε is a pixel difference; an L2 ε can exceed 1 (up to the image's diagonal).
        eps = check_in_range("eps", eps, 0.0, 1.0 if norm == "linf" else math.sqrt(x[0].numel()))
    return y.to(x.device), eps, num_classes


def check_attack_output(x_adv: object, x: torch.Tensor, what: str = "the attack") -> torch.Tensor:
    """Check that an attack returned adversarial *images* like ``x`` (not None, not the perturbation)."""
    if not isinstance(x_adv, torch.Tensor):
        raise TypeError(f"{what} must return the adversarial images as a tensor like x, got {type(x_adv).__name__}")
    if x_adv.shape != x.shape:
        raise ValueError(f"{what} must return images of shape {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    lo, hi = float(x_adv.min()), float(x_adv.max())
    if not (0 <= lo and hi <= 1):
        raise ValueError(f"{what} must return images in [0, 1] (the adversarial image, not the perturbation), "
                         f"got values in [{lo:.3g}, {hi:.3g}]")
    return x_adv


@torch.no_grad()
def reached(model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per image (N,) bool: is the attack's goal met (prediction == target, or != true label)?"""
    pred = model(x).argmax(1)
    return pred == y if targeted else pred != y


def margin(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per image (N,): how far past the decision boundary the goal is (> 0: reached).

    Untargeted: max_{j≠y} z_j − z_y; targeted: z_y − max_{j≠y} z_j (Carlini & Wagner's f6).
    """
    own = logits.gather(1, y[:, None])[:, 0]
    best_other = logits.scatter(1, y[:, None], -math.inf).amax(1)
    return own - best_other if targeted else best_other - own


def random_targets(y: torch.Tensor, num_classes: int = 10, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random *wrong* class for each label (lesson 01), for targeted attacks.

    Args:
        y: true labels (N,) int64 in [0, num_classes).
        num_classes: number of classes K ≥ 2.
        generator: CPU ``torch.Generator`` (reproducible targets).

    Returns:
        Targets (N,) int64 on ``y``'s device with ``targets != y`` everywhere.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 to pick a wrong class, got {num_classes}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.dim() != 1:
        raise ValueError(f"y must be a 1-D tensor of class indices, got shape {tuple(y.shape)}")
    y = check_labels(y, y.shape[0], "y", num_classes=num_classes)
    shift = torch.randint(1, num_classes, y.shape, generator=generator)  # 1..K-1: never the true class
    return (y.cpu() + shift).remainder(num_classes).to(y.device)
