"""Lesson 03: MAP-Elites archives and how far fooling images lie from real digits."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .core import to_numpy_image

__all__ = ["evolution_figure", "distance_figure"]


def _nines(p: torch.Tensor) -> torch.Tensor:
    """−log10(1 − p): 1 at 90%, 2 at 99%, 4 at 99.99% — spreads out the last few percent."""
    return -torch.log10((1 - p).clamp_min(1e-7))


def evolution_figure(archive, class_names: Sequence[str], *, running: bool = False, stopped: bool = False,
                     planned: int = 0) -> tuple[Figure, str]:
    """Lesson 03's live view of a one-class evolution: the elite, its confidence curve, a readout.

    Args:
        archive: an ``evolution.Archive`` with one cell.
        class_names: names of the model's classes.
        running, stopped: the run's state, for the readout.
        planned: generations planned (the curve's x-axis reaches at least this far).

    Returns:
        ``(figure, readout_html)``, what a ``widgets.Panel`` render returns.
    """
    target = archive.classes[0]
    name = class_names[target]
    p = float(archive.confidence[0])
    # A fixed layout and a linear "nines" axis: several times faster to draw than a
    # constrained layout with matplotlib's logit scale, which matters when redrawing live.
    fig = Figure(figsize=(7.5, 2.8))
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.17, top=0.88, wspace=0.35)
    ax_img, ax_curve = fig.subplots(1, 2, width_ratios=(1, 1.8))
    img = to_numpy_image(archive.images[0])
    ax_img.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax_img.set_xticks([]), ax_img.set_yticks([])
    ax_img.set_title(f"elite: '{name}' {100 * p:.4f}%", fontsize=10)
    ax_curve.plot(_nines(archive.history[:, 0]).numpy(), color="#4c72b0")
    ax_curve.axhline(4, color="#c44e52", ls="--", lw=1, label="99.99% (Nguyen et al.)")
    ax_curve.set_yticks(range(6), ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax_curve.set_ylim(0, 5.5)
    ax_curve.set_xlim(0, max(planned, archive.generations, 1))
    ax_curve.set_xlabel("generation")
    ax_curve.set_ylabel(f"p('{name}')")
    ax_curve.legend(loc="lower right", fontsize=8)
    state = "running…" if running else ("stopped" if stopped else ("done" if archive.generations else "press run"))
    readout = (f"<b>{html.escape(str(archive.encoding.name))}</b> · target <b>{html.escape(str(name))}</b> · generation "
               f"{archive.generations} · p = <b>{100 * p:.4f}%</b> · {archive.evaluations} images scored · "
               f"{archive.seconds:.1f} s · {state}")
    return fig, readout


def distance_figure(measures: dict, *, title: str | None = None) -> Figure:
    """How far groups of images lie from real data, one panel per measure (lesson 03).

    Args:
        measures: ``{measure name: {group name: values (N,)}}``, e.g. ``{"nearest training
            digit (L2)": {"real test digits": d_real, "direct": d_direct, ...}}``; every group
            is drawn as a row of dots (one per image) with its median marked.
        title: an overall title.

    Returns:
        The ``Figure``: panels side by side, the groups in the order given, top to bottom.
    """
    if not isinstance(measures, dict):
        raise TypeError(f"measures must be a dict {{measure name: {{group name: values}}}}, got {type(measures).__name__}")
    if not measures or not all(isinstance(g, dict) and g for g in measures.values()):
        raise ValueError("measures must name at least one measure, each with at least one group of values")
    for groups in measures.values():
        for group, v in groups.items():
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"measures[...][{group!r}] must be a 1-D tensor of values, got {type(v).__name__}")
            if v.dim() != 1 or v.numel() == 0 or not bool(torch.isfinite(v).all()):
                raise ValueError(f"measures[...][{group!r}] must be a non-empty 1-D tensor of finite values, "
                                 f"got shape {tuple(v.shape)}")
    rows = max(len(g) for g in measures.values())
    fig = Figure(figsize=(4.2 * len(measures), 0.45 * rows + 1.2), layout="constrained")
    axes = fig.subplots(1, len(measures), squeeze=False)[0]
    spread = np.random.default_rng(0)  # vertical jitter of the dots only: the values are drawn as they are
    for ax, (measure, groups) in zip(axes, measures.items()):
        for row, v in enumerate(groups.values()):
            vals = v.detach().float().cpu().numpy()
            ax.scatter(vals, row + spread.uniform(-0.18, 0.18, len(vals)), s=9, alpha=0.5, color=f"C{row}")
            ax.plot([np.median(vals)] * 2, [row - 0.3, row + 0.3], color="black", lw=2)
        ax.set_yticks(range(len(groups)), list(groups), fontsize=9)
        ax.set_ylim(len(groups) - 0.5, -0.5)
        ax.set_xlabel(measure, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
