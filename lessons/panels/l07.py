"""Lesson 07's panel: pick a model and how much of the ensemble to run; watch robust accuracy shrink."""

from __future__ import annotations

from collections.abc import Mapping

from .. import viz, widgets
from ..audit import Audit

__all__ = ["ensemble"]


def ensemble(audits: Mapping[str, Audit], *, model: str = "pool"):
    """Lesson 07's widget: a lesson-05 model and an ensemble that grows attack by attack.

    The per-digit results come from ``audit.lesson05`` (measured once, cached), so a change
    of the controls redraws at once: the ensemble up to the chosen attack, PGD-40's number as a
    dotted line, and how many digits each attack broke that every earlier one had missed.

    Args:
        audits: ``{name: audit.lesson05(name)}`` for the models to offer.
        model: the model shown first.

    Returns:
        A ``widgets.Panel`` with controls ``model`` and ``upto`` (the last attack run).
    """
    if not isinstance(audits, Mapping) or not audits:
        raise TypeError(f"audits must be a non-empty mapping name -> audit.lesson05(name), got {type(audits).__name__}")
    for name, found in audits.items():
        if not isinstance(found, Audit):
            raise TypeError(f"audits[{name!r}] must be an audit.Audit, got {type(found).__name__}")
    if model not in audits:
        raise ValueError(f"model must be one of {list(audits)}, got {model!r}")
    order = next(iter(audits.values())).worst.attacks

    def render(model: str, upto: str):
        found = audits[model]
        curve = found.worst.cumulative()
        keep = ["clean", *order[: order.index(upto) + 1]]
        shown = {k: v for k, v in curve.items() if k in keep}
        pgd40 = found.accuracies()["PGD-40"]
        fig = viz.ensemble_curves({model: shown}, reference={model: pgd40},
                                  title=f"{model}: robust accuracy as the ensemble grows (dotted: PGD-40)")
        counts = found.worst.broken_by
        steps = " · ".join(f"{k} +{counts[k]}" for k in keep[1:])
        text = (f"<b>{model}</b>, first {found.n} test digits, ε = 0.3: PGD-40 leaves <b>{pgd40:.1%}</b>; "
                f"the ensemble up to {upto} leaves <b>{shown[upto]:.1%}</b>. "
                f"Digits broken that every earlier attack missed: {steps}")
        return fig, text

    controls = {
        "model": widgets.dropdown("model", list(audits), model),
        "upto": widgets.dropdown("run up to", list(order), order[-1]),
    }
    return widgets.Panel("The worst case over a growing ensemble", controls, render)
