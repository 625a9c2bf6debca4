"""Lesson 00's panel: targeted PGD on a photo, with the triptych."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import attacks, data, models, viz, widgets

__all__ = ["photo_attack", "PHOTO_TARGETS"]

PHOTO_TARGETS = ("ostrich", "toaster", "goldfish", "pizza", "volcano", "broccoli")


def photo_attack(net: nn.Module, *, targets: Sequence[str] = PHOTO_TARGETS) -> widgets.Panel:
    """Pick a photo, a target class and a budget; targeted PGD turns the photo into the target.

    Args:
        net: the ImageNet classifier (``models.imagenet_classifier()``).
        targets: ImageNet class names offered as targets.
    """
    labels = data.imagenet_labels()
    unknown = [t for t in targets if t not in labels]
    if unknown:
        raise ValueError(f"targets must be ImageNet class names (data.imagenet_labels()), got {unknown}")

    def render(photo_name: str, target: str, eps_255: float, steps: int):
        image = data.photo(photo_name)
        t = labels.index(target)
        adv = attacks.pgd(net, image, torch.tensor([t]), eps_255 / 255, steps=steps,
                          alpha=2.5 * eps_255 / 255 / steps, targeted=True, generator=torch.Generator().manual_seed(0))
        p = models.predict(net, adv)[0]
        fig = viz.triptych(image, adv, model=net, labels=labels, magnify=10)
        return fig, (f"p({target}) = <b>{float(p[t]):.2%}</b> · top-1: {labels[int(p.argmax())]} · "
                     f"|Δ|∞ = {eps_255:g}/255")

    return widgets.Panel(
        "Targeted PGD on a photo",
        {"photo_name": widgets.dropdown("photo", list(data.PHOTOS), "chelsea"),
         "target": widgets.dropdown("target class", list(targets), targets[0]),
         "eps_255": widgets.slider("ε", 2, 0, 8, 0.5, unit="/255", readout_format=".1f"),
         "steps": widgets.int_slider("PGD steps", 10, 1, 20)},
        render)
