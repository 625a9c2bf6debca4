"""Lesson 02's panel: examples made for one model, fed to another."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import nn

from .. import attacks, models, viz, widgets
from ..transfer import transfer_report

__all__ = ["transfer"]


def transfer(zoo: Mapping[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *, source: str, target: str,
             n_show: int = 8) -> widgets.Panel:
    """Pick a source model, a target model, an attack and ε; see the target's error and transfer rate.

    Args:
        zoo: name → model; both dropdowns offer every name.
        x, y: the digits the examples are made from (a few hundred keep an update near a second).
        source, target: the names selected at first.
        n_show: originals (top row) and adversarial digits (bottom row) drawn.
    """
    names = list(zoo)

    @functools.lru_cache(maxsize=24)
    def examples_for(source: str, attack: str, eps: float) -> torch.Tensor:
        if attack == "FGSM":
            return attacks.fgsm(zoo[source], x, y, eps)
        return attacks.pgd(zoo[source], x, y, eps, steps=10, generator=torch.Generator().manual_seed(0))

    def render(source: str, target: str, attack: str, eps: float):
        x_adv = examples_for(source, attack, round(eps, 3))
        r = transfer_report(zoo[source], zoo[target], x, y, x_adv)
        shown = torch.cat([x[:n_show], x_adv[:n_show]])
        ps, pt = (models.predict(zoo[n], shown).argmax(1) for n in (source, target))
        fig = viz.image_grid(shown, titles=[f"{a} / {b}" for a, b in zip(ps.tolist(), pt.tolist())], ncols=n_show,
                             scale=1.0)
        for ax, a, b, t in zip(fig.axes, ps, pt, torch.cat([y[:n_show], y[:n_show]])):
            ax.title.set_color("red" if (a != t or b != t) else "black")
        rate = "—" if r["transfer_rate"] != r["transfer_rate"] else f"{r['transfer_rate']:.1%}"
        return fig, (f"source error <b>{r['source_error']:.1%}</b> · target error <b>{r['target_error']:.1%}</b> "
                     f"(clean {r['target_clean_error']:.1%}) · transfer rate <b>{rate}</b> of {r['n_eligible']} digits · "
                     f"L∞ = {eps:.2f} ({255 * eps:.0f}/255)")

    return widgets.Panel(
        "Transfer: examples made for one model, fed to another",
        {"source": widgets.dropdown("source", names, source),
         "target": widgets.dropdown("target", names, target),
         "attack": widgets.dropdown("attack", ["FGSM", "PGD-10"], "FGSM"),
         "eps": widgets.slider("ε", 0.1, 0.0, 0.3, 0.01, unit="L∞", readout_format=".2f")},
        render)
