"""Lesson 07: the loss along an attack, robustness curves per attack, the sanity checklist."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from matplotlib.figure import Figure

from ..checklist import Checklist
from ..utils import check_in_range

__all__ = ["attack_paths", "ensemble_curves", "checklist_table"]


def _check_dict(value: object, name: str, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict {{{what}}}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must hold at least one entry {{{what}}}, got an empty dict")
    return value


def _check_shares(value: object, name: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict {{name: accuracy in [0, 1]}}, got {type(value).__name__}")
    return {k: check_in_range(f"{name}[{k!r}]", v, 0.0, 1.0) for k, v in value.items()}


def attack_paths(paths, *, title: str | None = None) -> Figure:
    """How attacks progress, step by step: mean loss (left) and share of digits fooled so far (right) (lesson 07).

    Args:
        paths: ``{label: attacks.apgd_path(...)}`` — anything with ``losses`` and ``misread``
            of shape (steps + 1, N).
        title: the figure's title.
    """
    for label, path in _check_dict(paths, "paths", "label: attacks.apgd_path(...)").items():
        losses, misread = getattr(path, "losses", None), getattr(path, "misread", None)
        if not isinstance(losses, torch.Tensor) or not isinstance(misread, torch.Tensor):
            raise TypeError(f"paths[{label!r}] must be an attacks.apgd_path(...) result (with losses and misread), "
                            f"got {type(path).__name__}")
        if losses.dim() != 2 or misread.shape != losses.shape:
            raise ValueError(f"paths[{label!r}] must have losses and misread of one shape (steps + 1, N), got "
                             f"{tuple(losses.shape)} and {tuple(misread.shape)}")
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
    _check_dict(cumulative, "cumulative", "model: WorstCase.cumulative()")
    curves = {name: _check_shares(curve, f"cumulative[{name!r}]") for name, curve in cumulative.items()}
    if len({tuple(c) for c in curves.values()}) != 1 or not next(iter(curves.values())):
        raise ValueError(f"cumulative must give every model the same non-empty list of steps, got "
                         f"{ {n: list(c) for n, c in curves.items()} }")
    if reference is not None:
        reference = _check_shares(reference, "reference")
        if set(reference) - set(curves):
            raise ValueError(f"reference must name models of cumulative {list(curves)}, got {list(reference)}")
    fig = Figure(figsize=(7.0, 3.4), layout="constrained")
    ax = fig.subplots()
    for name, curve in curves.items():
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
    for name, report in _check_dict(reports, "reports", "model: checklist.sanity_checks(...)").items():
        if not isinstance(report, Checklist):
            raise TypeError(f"reports[{name!r}] must be a checklist.Checklist (what sanity_checks returns), "
                            f"got {type(report).__name__}")
    import pandas as pd

    columns = {name: {c.item: "✓" if c.passed else "✗" for c in report.checks} for name, report in reports.items()}
    return pd.DataFrame(columns)
