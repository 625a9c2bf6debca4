"""Lesson 04: strips of the images that excite a unit or a random direction most."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..directions import check_indices
from ..utils import check_images
from .core import _check_names

__all__ = ["strips_figure"]


def _strip(images: torch.Tensor, gap: int = 2) -> np.ndarray:
    """k images (k, C, H, W) side by side, separated by white gaps → (H, W′[, 3]) array."""
    k, c, h, w = images.shape
    canvas = torch.ones(c, h, k * w + (k - 1) * gap)
    for i in range(k):
        canvas[:, :, i * (w + gap) : i * (w + gap) + w] = images[i].detach().float().cpu()
    arr = canvas.numpy()
    return arr[0] if c == 1 else arr.transpose(1, 2, 0)


def strips_figure(
    x: torch.Tensor,
    indices: torch.Tensor,
    titles: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
    suptitle: str | None = None,
    scale: float = 0.9,
) -> Figure:
    """One row per direction: its top-k images side by side, titled (lesson 04).

    Like Szegedy et al.'s Figs. 1–4. One ``imshow`` per row keeps drawing fast (widgets).

    Args:
        x: images (N, C, H, W) in [0, 1].
        indices: (R, k) image indices, e.g. from ``top_k``.
        titles: one title per row.
        colors: optional title colour per row.
        suptitle: a heading over the figure.
        scale: inches per image.

    Returns:
        The figure.
    """
    check_images(x, "x")
    check_indices(indices, x.shape[0])
    rows, k = indices.shape
    titles = _check_names(titles, "titles", rows, per="row")
    fig = Figure(figsize=(scale * k + 0.2, (scale + 0.3) * rows + (0.3 if suptitle else 0)), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for r, ax in enumerate(axes):
        strip = _strip(x[indices[r].to(x.device)])
        ax.imshow(strip, cmap="gray" if strip.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(titles[r], fontsize=9, loc="left", color=(colors[r] if colors else "black"))
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig
