"""Lesson 06: attacked digits, queries to success, one feature swept on a table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..tabular import check_bounds, check_table
from ..utils import check_images, check_in_range, check_labels, check_positive_int
from .core import _show

__all__ = ["message_figure", "attacked_digits", "queries_to_success", "one_feature_sweep"]


def message_figure(text: str) -> Figure:
    """A small figure that only says ``text`` (a panel with nothing to draw says why)."""
    fig = Figure(figsize=(6, 1.2))
    fig.text(0.5, 0.5, str(text), ha="center", va="center", fontsize=11, color="#555")
    return fig


def attacked_digits(x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, pred: torch.Tensor,
                    fooled: torch.Tensor) -> Figure:
    """Originals above, attacked digits below, titled true label → new prediction (lesson 06).

    Args:
        x, x_adv: the digits shown (M, 1, H, W) and their attacked versions.
        y, pred: true labels and predictions on ``x_adv`` (M,).
        fooled: (M,) bool; a fooled digit's title is drawn in red.
    """
    check_images(x, "x")
    check_images(x_adv, "x_adv")
    for name, labels in (("y", y), ("pred", pred)):
        check_labels(labels, x.shape[0], name)
    if not isinstance(fooled, torch.Tensor) or fooled.shape != (x.shape[0],):
        raise ValueError(f"fooled must be a boolean tensor of shape ({x.shape[0]},), got {type(fooled).__name__}")
    n = max(len(x), 1)
    fig = Figure(figsize=(1.3 * n, 2.9), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for col in range(len(x)):
        for row, (img, title) in enumerate([(x[col], f"{int(y[col])}"), (x_adv[col], f"→ {int(pred[col])}")]):
            _show(axes[row, col], img)
            axes[row, col].set_title(title, fontsize=10, color="#b00" if row and bool(fooled[col]) else "black")
    axes[0, 0].set_ylabel("original"), axes[1, 0].set_ylabel("attacked")
    return fig


def queries_to_success(curves: dict, *, max_queries: int, title: str | None = None, lines: dict | None = None) -> Figure:
    """Share of images fooled within q queries, against q (log scale), one line per attack (lesson 06).

    Args:
        curves: ``{name: (queries, success)}``, (N,) tensors from a query attack (``queries.simba``,
            ``decision.hop_skip_jump``): queries spent on each image and whether it was fooled.
        max_queries: the right end of the axis (the per-image budget); ``title``: the axes title.
        lines: optional ``{name: rate}`` drawn as horizontal reference lines (rates in [0, 1]).
    """
    if not isinstance(curves, dict):
        raise TypeError(f"curves must be a dict {{name: (queries, success)}}, got {type(curves).__name__}")
    if not curves:
        raise ValueError("curves must name at least one attack, got an empty dict")
    if lines is not None and not isinstance(lines, dict):
        raise TypeError(f"lines must be a dict {{name: rate}} or None, got {type(lines).__name__}")
    max_queries = check_positive_int("max_queries", max_queries)
    q_axis = np.unique(np.geomspace(1, max_queries, 200).round().astype(int))
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.subplots()
    for name, pair in curves.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(isinstance(t, torch.Tensor) for t in pair):
            raise TypeError(f"curves[{name!r}] must be a pair (queries, success) of tensors")
        queries, success = (t.cpu() for t in pair)
        if queries.shape != success.shape or queries.dim() != 1 or success.dtype != torch.bool:
            raise ValueError(f"curves[{name!r}]: queries and success must be (N,) tensors, success boolean")
        rate = [float((success & (queries <= q)).float().mean()) for q in q_axis]
        ax.plot(q_axis, 100 * np.array(rate), label=str(name))
    for (name, rate), style in zip((lines or {}).items(), ("--", ":", "-.")):
        ax.axhline(100 * check_in_range("lines", rate, 0.0, 1.0), color="#666", ls=style, label=str(name))
    ax.set_xscale("log"), ax.set_xlabel("queries per image"), ax.set_ylabel("images fooled (%)")
    ax.set_ylim(0, 102), ax.legend(fontsize=8, loc="upper left"), ax.set_title(title or "")
    return fig


def one_feature_sweep(models: dict, row: np.ndarray, features: dict, bounds: tuple, label: int, *,
                      feature_names: Sequence[str] | None = None, class_names: Sequence[str] | None = None) -> Figure:
    """Each model's probability of the true class as ONE feature of a row sweeps its range (lesson 06).

    Args:
        models: ``{name: fitted scikit-learn classifier}`` with ``predict_proba`` on rows.
        row: the example, (D,) in the models' units.
        features: ``{name: column}``: the feature swept for each model (one panel per model).
        bounds: ``(low, high)`` per-feature arrays (``tabular.feature_ranges``): the sweep's ends.
        label: the row's true class; ``feature_names``, ``class_names``: for the axis labels.
    """
    if not isinstance(models, dict) or not isinstance(features, dict):
        raise TypeError(f"models and features must be dicts keyed by model name, got {type(models).__name__} "
                        f"and {type(features).__name__}")
    for name, model in models.items():
        if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
            raise TypeError(f"models[{name!r}] must be a fitted scikit-learn classifier, got {type(model).__name__}")
    if not models or set(features) != set(models):
        raise ValueError(f"models must hold at least one classifier and features a column for each, "
                         f"got models {list(models)} and features {list(features)}")
    if not isinstance(row, np.ndarray) or row.ndim != 1:
        raise TypeError(f"row must be one example as a 1-D numpy array (D,), got {type(row).__name__}")
    row = check_table(row[None], "row")[0]
    low, high = check_bounds(bounds, len(row))
    label = check_positive_int("label", label, allow_zero=True)
    fig = Figure(figsize=(4.6 * len(models), 3.0), layout="constrained")
    for ax, (name, model) in zip(fig.subplots(1, len(models), squeeze=False)[0], models.items()):
        if label not in list(model.classes_):
            raise ValueError(f"label must be one of models[{name!r}]'s classes {list(model.classes_)}, got {label}")
        j = check_positive_int("features", features[name], allow_zero=True)
        if j >= len(row):
            raise ValueError(f"features[{name!r}] must be a column of row (0..{len(row) - 1}), got {j}")
        values = np.linspace(low[j], high[j], 400)
        trial = np.repeat(row[None], len(values), axis=0)
        trial[:, j] = values
        p = model.predict_proba(trial)[:, list(model.classes_).index(label)]
        ax.plot(values, p, drawstyle="steps-post" if hasattr(model, "tree_") else "default")
        ax.axhline(0.5, color="#999", lw=0.8), ax.axvline(row[j], color="k", ls="--", lw=1, label="this example")
        which = class_names[label] if class_names is not None else f"class {label}"
        ax.set_xlabel(f"{feature_names[j] if feature_names is not None else f'feature {j}'} (training range)")
        ax.set_ylabel(f"P({which})"), ax.set_title(str(name), fontsize=10), ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
    return fig
