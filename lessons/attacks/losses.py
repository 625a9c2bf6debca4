"""What an attack maximises: cross-entropy, the C&W logit margin and Croce & Hein's DLR loss.

Introduced in lesson 07. Every loss here takes logits (N, K) and labels (N,) and returns one
value per example, shape (N,), oriented so that the *attacker maximises it*: the higher, the
closer to (or the further past) a wrong answer. Why more than one loss:

- **cross-entropy** is what PGD climbs by default. Its gradient is softmax(z) − onehot(y); on a
  confident network softmax(z) is exactly onehot(y) in float32, and the gradient is exactly 0
  — a model can look robust only because its logits are large.
- the **margin** ``max_{j≠y} z_j − z_y`` (Carlini & Wagner 2017, their f6) never saturates,
  but it grows with the logits' scale, so a step size that suits one model suits no other.
- **DLR**, the Difference of Logits Ratio (Croce & Hein, ICML 2020; ``dlr_loss`` in their code):
  ``−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)``, with z_π1 ≥ z_π2 ≥ ... the sorted logits. The
  ratio is unchanged when every logit is scaled or shifted by the same amount, so neither a
  temperature nor an offset can hide the gradient from it.
- **targeted DLR** (their ``dlr_loss_targeted``): ``−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)``, pushing the
  target class t above the true class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..utils import check_bool, check_choice, check_labels
from .common import margin

__all__ = ["LOSSES", "cross_entropy", "margin_loss", "dlr", "targeted_cross_entropy", "targeted_margin",
           "targeted_dlr", "loss_fn"]

_TINY = 1e-12  # Croce & Hein's guard for a zero denominator (all top logits equal)


def _check(logits: object, y: object, *target: object, least: int = 2) -> None:
    """The public losses' checks: logits (N, K) float without NaN, K ≥ ``least``, labels (and target) its classes."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor of shape (N, K), got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    if logits.shape[1] < least:
        raise ValueError(f"logits must have at least {least} classes (columns) for this loss, got {logits.shape[1]}")
    if bool(torch.isnan(logits.detach()).any()):
        raise ValueError("logits must not hold NaN")
    check_labels(y, logits.shape[0], "y", num_classes=logits.shape[1])
    for t in target:  # the targeted losses' third argument
        check_labels(t, logits.shape[0], "target", num_classes=logits.shape[1])


# The losses without checks, for the attacks' inner loops (their inputs are checked once, on entry).


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def _margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return margin(logits, y, targeted=False)


def _dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    top = logits.sort(dim=1, descending=True).values  # z_π1 ≥ z_π2 ≥ z_π3 ≥ ...
    return margin(logits, y, targeted=False) / (top[:, 0] - top[:, 2] + _TINY)


def _targeted_cross_entropy(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -F.cross_entropy(logits, target, reduction="none")


def _targeted_margin(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, target[:, None])[:, 0] - logits.gather(1, y[:, None])[:, 0]


def _targeted_dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    top = logits.sort(dim=1, descending=True).values
    return _targeted_margin(logits, y, target) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _TINY)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per example (N,): −log softmax(z)_y, the loss PGD climbs by default."""
    _check(logits, y)
    return _cross_entropy(logits, y)


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per example (N,): max_{j≠y} z_j − z_y (Carlini & Wagner 2017); > 0 means misclassified."""
    _check(logits, y)
    return _margin_loss(logits, y)


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per example (N,): Difference of Logits Ratio, −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3).

    Croce & Hein 2020. Invariant to scaling and shifting the logits; > 0 means misclassified.
    """
    _check(logits, y, least=3)
    return _dlr(logits, y)


def targeted_cross_entropy(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per example (N,): −CE(z, t): make the target class t likelier (``y`` is checked, not used)."""
    _check(logits, y, target)
    return _targeted_cross_entropy(logits, y, target)


def targeted_margin(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per example (N,): z_t − z_y, push the target class above the true class."""
    _check(logits, y, target)
    return _targeted_margin(logits, y, target)


def targeted_dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per example (N,): targeted DLR, −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2) (Croce & Hein 2020)."""
    _check(logits, y, target, least=4)
    return _targeted_dlr(logits, y, target)


# name → (untargeted loss(logits, y), targeted loss(logits, y, target)), each checking its inputs
LOSSES = {
    "ce": (cross_entropy, targeted_cross_entropy),
    "margin": (margin_loss, targeted_margin),
    "dlr": (dlr, targeted_dlr),
}
# the same without checks, for attacks that checked their inputs once (``apgd``)
_UNCHECKED = {
    "ce": (_cross_entropy, _targeted_cross_entropy),
    "margin": (_margin_loss, _targeted_margin),
    "dlr": (_dlr, _targeted_dlr),
}


def loss_fn(name: str, *, targeted: bool = False):
    """The loss called ``name`` (``"ce"``, ``"margin"`` or ``"dlr"``), untargeted or targeted."""
    check_choice("name", name, tuple(LOSSES))
    return LOSSES[name][1 if check_bool("targeted", targeted) else 0]
