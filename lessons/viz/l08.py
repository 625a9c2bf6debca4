"""Lesson 08: interval bounds, certified accuracy curves, the certified ≤ true ≤ attack sandwich."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from ..utils import check_in_range, check_positive_int
from .core import _check_names, _show

__all__ = ["interval_bars", "box_widths", "sandwich_bars", "certified_curves"]


def interval_bars(lo: torch.Tensor, hi: torch.Tensor, label: int, *, logits: torch.Tensor | None = None,
                  image: torch.Tensor | None = None, title: str | None = None, ax=None) -> Figure:
    """Each class's logit interval [lo, hi] over an ε-ball as a vertical bar (lesson 08).

    The true class ``label`` is drawn in blue with its lower bound as a dashed line: a wrong
    class whose bar reaches above that line is one the interval bounds cannot rule out.

    Args:
        lo, hi: bounds (K,) on the logits, e.g. one row of ``bounds.interval_bounds``.
        label: the true class.
        logits: the clean logits (K,), drawn as dots.
        image: the digit (1, C, H, W) or (C, H, W), drawn on the left (only without ``ax``).
    """
    for name, v in (("lo", lo), ("hi", hi)):
        if not isinstance(v, torch.Tensor) or v.dim() != 1:
            raise (ValueError if isinstance(v, torch.Tensor) else TypeError)(
                f"{name} must be a 1-D tensor of logit bounds (K,), got {getattr(v, 'shape', type(v).__name__)}")
    if lo.shape != hi.shape or not bool((lo <= hi).all()) or check_positive_int("label", label, allow_zero=True) >= len(lo):
        raise ValueError(f"lo and hi must have the same shape (K,) with lo <= hi, and label be a class in [0, K-1]; got "
                         f"{tuple(lo.shape)} and {tuple(hi.shape)}, label {label}")
    lo, hi = lo.detach().float().cpu(), hi.detach().float().cpu()
    if ax is None and image is not None:
        fig = Figure(figsize=(7.0, 2.9), layout="constrained")
        left, ax = fig.subplots(1, 2, width_ratios=[1, 2.6])
        _show(left, image, f"digit {label}")
    elif ax is None:
        fig = Figure(figsize=(5.2, 2.9), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    k = lo.numel()
    threat = (hi > lo[label]) & (torch.arange(k) != label)
    colors = ["#4c72b0" if j == label else ("#c44e52" if threat[j] else "#bbbbbb") for j in range(k)]
    ax.bar(range(k), (hi - lo).numpy(), bottom=lo.numpy(), color=colors, width=0.6)
    ax.axhline(float(lo[label]), color="#4c72b0", ls="--", lw=1)
    if logits is not None:
        ax.plot(range(k), logits.detach().float().cpu().flatten().numpy(), "k.", ms=6, label="clean logits")
        ax.legend(fontsize=8, loc="best")
    ax.set_xticks(range(k))
    ax.set_xlabel("class (blue: true · red: not ruled out by the boxes)")
    ax.set_ylabel("logit")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def box_widths(widths: dict[str, Sequence[float]], layers: Sequence[str], *, title: str | None = None) -> Figure:
    """Mean width of the interval box after each layer, one line per setting, log scale (lesson 08)."""
    if not isinstance(widths, dict) or not widths or not all(isinstance(w, (list, tuple, torch.Tensor)) for w in widths.values()):
        raise (ValueError if isinstance(widths, dict) and not widths else TypeError)(
            f"widths must be a non-empty dict {{setting: [mean box width per layer]}}, got {widths!r:.80}")
    layers = _check_names(layers, "layers", 0)
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    for name, w in widths.items():
        if len(w) != len(layers):
            raise ValueError(f"widths[{name!r}] has {len(w)} values for {len(layers)} layers")
        ax.plot(range(len(layers)), w, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mean box width")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def sandwich_bars(rows: dict[str, dict[str, float]], *, title: str | None = None) -> Figure:
    """Per model, grouped bars of shares in [0, 1] such as IBP-verified / exact / best attack (lesson 08).

    Args:
        rows: ``{model: {measure: share}}``; measures keep their order, a missing one is skipped.
    """
    if not isinstance(rows, dict) or not rows or not all(isinstance(r, dict) for r in rows.values()):
        raise (ValueError if isinstance(rows, dict) and not rows else TypeError)(
            f"rows must be a non-empty dict {{model: {{measure: share in [0, 1]}}}}, got {rows!r:.80}")
    rows = {m: {k: check_in_range(f"rows[{m!r}][{k!r}]", v, 0, 1) for k, v in r.items()} for m, r in rows.items()}
    measures = list(dict.fromkeys(m for r in rows.values() for m in r))
    fig = Figure(figsize=(1.6 * len(rows) + 2.2, 3.0), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / max(len(measures), 1)
    for i, measure in enumerate(measures):
        xs = [j + i * width for j, r in enumerate(rows.values()) if measure in r]
        vals = [100 * r[measure] for r in rows.values() if measure in r]
        bars = ax.bar(xs, vals, width=width, label=measure)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))], list(rows))
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of digits")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def certified_curves(curves: dict[str, tuple[Sequence[float], Sequence[float]]], *,
                     title: str | None = None) -> Figure:
    """Certified accuracy (%) against L2 radius, one step line per classifier (lesson 08; Cohen et al.'s plots).

    Args:
        curves: ``{name: (radii, accuracies in [0, 1])}``.
    """
    if not isinstance(curves, dict) or not curves or not all(isinstance(c, (tuple, list)) and len(c) == 2 for c in curves.values()):
        raise (ValueError if isinstance(curves, dict) and not curves else TypeError)(
            f"curves must be a non-empty dict {{name: (radii, accuracies in [0, 1])}}, got {curves!r:.80}")
    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.subplots()
    for name, (radii, accs) in curves.items():
        ax.step(list(radii), [100 * check_in_range(f"curves[{name!r}] accuracy", a, 0, 1) for a in accs], where="post", label=name)
    ax.set_xlabel("L2 radius")
    ax.set_ylabel("certified accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
