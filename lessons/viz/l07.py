"""Lesson 07: the loss along an attack, robustness curves per attack, the sanity checklist."""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["attack_paths", "ensemble_curves", "checklist_table"]


def attack_paths(paths, *, title: str | None = None) -> Figure:
    """How attacks progress, step by step: mean loss (left) and share of digits fooled so far (right) (lesson 07).

    Args:
        paths: ``{label: attacks.apgd_path(...)}`` — anything with ``losses`` and ``misread``
            of shape (steps + 1, N).
        title: the figure's title.
    """
    fig = Figure(figsize=(9.0, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for label, path in paths.items():
        losses, misread = path.losses.detach().cpu(), path.misread.cpu()
        line, = left.plot(losses.nanmean(1).numpy(), label=label)
        fooled = misread.cummax(0).values.float().mean(1) * 100  # fooled at this step or before
        right.plot(fooled.numpy(), color=line.get_color(), label=label)
    left.set_xlabel("step"), left.set_ylabel("mean loss"), left.legend(fontsize=8)
    right.set_xlabel("step"), right.set_ylabel("digits fooled so far (%)"), right.set_ylim(0, 100)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def ensemble_curves(cumulative, *, reference=None, title: str | None = None) -> Figure:
    """Robust accuracy as the ensemble grows, one line per model (lesson 07).

    Args:
        cumulative: ``{model: WorstCase.cumulative()}`` — ``{"clean": a, attack: a, ...}``.
        reference: optional ``{model: accuracy}`` drawn as a dotted line (e.g. PGD-40's number).
        title: the axes' title.
    """
    fig = Figure(figsize=(7.0, 3.4), layout="constrained")
    ax = fig.subplots()
    for name, curve in cumulative.items():
        steps = list(curve)
        line, = ax.plot(range(len(steps)), [100 * v for v in curve.values()], marker="o", label=name)
        if reference and name in reference:
            ax.axhline(100 * reference[name], color=line.get_color(), ls=":", lw=1)
    ax.set_xticks(range(len(steps)), ["clean"] + [f"+ {s}" for s in steps[1:]])
    ax.set_ylabel("robust accuracy (%)"), ax.set_ylim(0, 100), ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title or "the ensemble grows left to right (dotted: PGD-40)", fontsize=10)
    return fig


def checklist_table(reports):
    """Carlini et al.'s checks (rows) × models (columns), ✓ or ✗, as a ``pandas.DataFrame`` (lesson 07).

    Args:
        reports: ``{model: checklist.sanity_checks(...)}``.
    """
    import pandas as pd

    columns = {name: {c.item: "✓" if c.passed else "✗" for c in report.checks} for name, report in reports.items()}
    return pd.DataFrame(columns)
