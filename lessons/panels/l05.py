"""Lesson 05's panel: attack a trained model at any ε and watch which digits survive."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .. import attacks, models, viz, widgets

__all__ = ["robustness"]


def robustness(trained: Mapping[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *, selected: str = "pgd",
               n_show: int = 8) -> widgets.Panel:
    """Pick a model and an ε: PGD-10 (step 2.5·ε/10, random start) attacks ``x``; eight results are drawn.

    Args:
        trained: name → model (lesson 05's ``recipes.robust_model`` models).
        x, y: the digits attacked (100 keep an update near a second on a laptop CPU).
        selected: the model selected at first.
        n_show: adversarial digits drawn, titled with the model's answer (red: fooled).
    """

    def render(model_name: str, eps: float):
        model = trained[model_name]
        x_adv = x if eps == 0 else attacks.pgd(model, x, y, eps, steps=10, alpha=2.5 * eps / 10,
                                               generator=torch.Generator().manual_seed(0))
        pred = models.predict(model, x_adv).argmax(1)
        acc = float((pred == y).float().mean())
        fig = viz.image_grid(x_adv[:n_show], ncols=n_show, scale=1.0,
                             titles=[f"{int(p)}" + (" ✗" if p != t else "") for p, t in zip(pred[:n_show], y[:n_show])])
        for ax, p, t in zip(fig.axes, pred[:n_show], y[:n_show]):
            ax.title.set_color("#b00" if p != t else "black")
        return fig, (f"<b>{model_name}</b> at ε = {eps:.2f}: <b>{acc:.0%}</b> of the {len(x)} digits survive PGD-10 "
                     f"(clean: {models.accuracy(model, x, y):.0%})")

    return widgets.Panel(
        "Attack a trained model",
        {"model_name": widgets.dropdown("model", list(trained), selected),
         "eps": widgets.slider("ε", 0.3, 0.0, 0.5, 0.05, unit="L∞", readout_format=".2f")},
        render)
