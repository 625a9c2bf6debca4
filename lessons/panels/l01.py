"""Lesson 01's panel: every attack of the lesson on a digit or a photo, with its distortion."""

from __future__ import annotations

import torch
from torch import nn

from .. import attacks, data, models, viz, widgets
from .l00 import PHOTO_TARGETS

__all__ = ["attack_explorer"]

_PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")
_ATTACKS = ("FGSM", "PGD", "L-BFGS", "C&W")


def _attack(model: nn.Module, image: torch.Tensor, label: torch.Tensor, attack: str, eps: float, steps: int,
            targeted: bool) -> torch.Tensor:
    if attack == "FGSM":
        return attacks.fgsm(model, image, label, eps, targeted=targeted)
    if attack == "PGD":
        return attacks.pgd(model, image, label, eps, steps=steps, alpha=2.5 * eps / steps, targeted=targeted,
                           generator=torch.Generator().manual_seed(0))
    run = attacks.lbfgs if attack == "L-BFGS" else attacks.cw_l2
    return run(model, image, label, targeted=targeted, progress=False)


def attack_explorer(cnn: nn.Module, net: nn.Module, digits: torch.Tensor) -> widgets.Panel:
    """Pick an image (a test digit or a photo), an attack, its budget and a target.

    Args:
        cnn: the MNIST classifier attacked on digits.
        net: the ImageNet classifier attacked on photos.
        digits: the test digits (N, 1, 28, 28) the index slider picks from.
    """
    labels = data.imagenet_labels()
    photos: dict[str, torch.Tensor] = {}  # each photo is loaded once

    def render(image: str, index: int, attack: str, eps_255: float, steps: int, target: str):
        is_digit = image == "digit"
        if not is_digit and attack == "L-BFGS":
            raise ValueError("L-BFGS on a 224×224 photo takes about 20 s on a 2-core CPU: pick C&W, FGSM or PGD "
                             "for photos, or call attacks.lbfgs in a cell")
        if target != "untargeted" and target.isdigit() != is_digit:
            raise ValueError("pick a digit 0–9 as the target for digits, and a class name for photos")
        model, names = (cnn, None) if is_digit else (net, labels)
        device = next(model.parameters()).device
        x0 = digits[index : index + 1].to(device) if is_digit else photos.setdefault(image, data.photo(image).to(device))
        p0 = models.predict(model, x0)[0]
        targeted = target != "untargeted"
        goal = (int(target) if is_digit else labels.index(target)) if targeted else int(p0.argmax())
        label = torch.tensor([goal], device=device)
        x1 = _attack(model, x0, label, attack, eps_255 / 255, steps, targeted)
        fig = viz.attack_summary(x0, x1, p0, models.predict(model, x1)[0], names=names, magnify=3 if is_digit else 10)
        d = attacks.measure(model, x0, x1, label, targeted=targeted)
        name = names[goal] if names else str(goal)
        return fig, (f"goal: {'reach' if targeted else 'leave'} {name} · "
                     f"<b>{'success' if bool(d.success) else 'no success'}</b> · RMS {float(d.rms):.4f} · "
                     f"L2 {float(d.l2):.3f} · L∞ {255 * float(d.linf):.1f}/255")

    return widgets.Panel(
        "Imperceptible perturbations: pick an image and an attack",
        {"image": widgets.dropdown("image", ["digit", *_PHOTOS], "digit"),
         "index": widgets.int_slider("digit index", 0, 0, len(digits) - 1),
         "attack": widgets.dropdown("attack", list(_ATTACKS), "FGSM"),
         "eps_255": widgets.slider("ε", 40, 0, 80, 1, unit="/255", readout_format=".0f"),
         "steps": widgets.int_slider("PGD steps", 10, 1, 20),
         "target": widgets.dropdown("target", ["untargeted", *[str(d) for d in range(10)], *PHOTO_TARGETS],
                                    "untargeted")},
        render)
