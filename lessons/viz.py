"""Figures: the original / magnified difference / adversarial triptych, grids, confidence bars.

Introduced in lesson 00. Every function returns a ``matplotlib.figure.Figure`` (nothing is
shown or saved behind your back), so notebooks display it and tests can inspect it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence


import numpy as np
import torch
from matplotlib.figure import Figure

from .utils import check_images, check_in_range, check_positive_int

__all__ = ["triptych", "image_grid", "confidence_bars", "to_numpy_image", "figure_png"]


def to_numpy_image(x: torch.Tensor) -> np.ndarray:
    """One image (C, H, W) or (1, C, H, W) in [0, 1] → an array matplotlib can show."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of shape {tuple(x.shape)}")
        x = x[0]
    if x.dim() != 3:
        raise ValueError(f"expected an image of shape (C, H, W), got {tuple(x.shape)}")
    arr = x.detach().float().cpu().numpy()
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def _show(ax, x: torch.Tensor, title: str | None = None) -> None:
    img = to_numpy_image(x)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def _label(probs: torch.Tensor | None, labels: Sequence[str] | None) -> str | None:
    if probs is None:
        return None
    p, k = probs.max(0)
    name = labels[int(k)] if labels is not None else str(int(k))
    return f"{name} ({100 * float(p):.1f}%)"


def triptych(
    x: torch.Tensor,
    x_adv: torch.Tensor,
    *,
    model: torch.nn.Module | None = None,
    labels: Sequence[str] | None = None,
    magnify: float = 10.0,
    titles: tuple[str, str, str] = ("original", "difference", "adversarial"),
) -> Figure:
    """Original / magnified difference / adversarial, one row per image (Szegedy et al. Fig. 5).

    Args:
        x: originals (N, C, H, W) in [0, 1]; N rows are drawn (keep N small).
        x_adv: adversarial images, same shape as ``x``, in [0, 1].
        model: if given, each image is titled with its top class and confidence.
        labels: class names for the titles (e.g. ``data.imagenet_labels()``).
        magnify: the difference is shown as ``0.5 + magnify · (x_adv − x)``, clipped to
            [0, 1]: grey means unchanged.
        titles: column headings.

    Returns:
        The figure.
    """
    check_images(x, "x")
    check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    magnify = check_in_range("magnify", magnify, 0.0, 1e6)
    p_x = p_adv = None
    if model is not None:
        from .models import predict

        p_x, p_adv = predict(model, x), predict(model, x_adv)
    n = x.shape[0]
    fig = Figure(figsize=(7.5, 2.6 * n), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, 3, squeeze=False))
    diff = (0.5 + magnify * (x_adv - x)).clamp(0, 1)
    linf = (x_adv - x).abs().flatten(1).max(1).values
    for i in range(n):
        _show(axes[i, 0], x[i], _label(p_x[i], labels) if p_x is not None else None)
        _show(axes[i, 1], diff[i], f"{magnify:g}× |Δ|∞ = {float(linf[i]) * 255:.1f}/255")
        _show(axes[i, 2], x_adv[i], _label(p_adv[i], labels) if p_adv is not None else None)
        if i == 0:
            for ax, t in zip(axes[0], titles):
                ax.set_title(f"{t}\n{ax.get_title()}", fontsize=10)
    return fig


def image_grid(
    images: torch.Tensor,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    scale: float = 1.2,
    suptitle: str | None = None,
) -> Figure:
    """A grid of images (N, C, H, W) in [0, 1], optionally titled one by one."""
    check_images(images, "images")
    ncols = check_positive_int("ncols", ncols)
    n = images.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per image ({n}), got {len(titles)}")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(scale * ncols, scale * nrows + (0.4 if suptitle else 0)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            _show(ax, images[i], titles[i] if titles is not None else None)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def confidence_bars(
    probs: torch.Tensor,
    *,
    labels: Sequence[str] | None = None,
    k: int = 5,
    title: str | None = None,
    ax=None,
) -> Figure:
    """Horizontal bars of the top-``k`` class probabilities of one prediction (K,)."""
    if not isinstance(probs, torch.Tensor) or probs.dim() != 1:
        raise ValueError(f"probs must be a 1-D tensor of class probabilities, got {getattr(probs, 'shape', probs)!r}")
    k = check_positive_int("k", k)
    k = min(k, probs.numel())
    top = probs.detach().float().cpu().topk(k)
    names = [labels[int(i)] if labels is not None else str(int(i)) for i in top.indices]
    if ax is None:
        fig = Figure(figsize=(4.5, 0.35 * k + 0.8), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    ax.barh(range(k)[::-1], top.values.numpy() * 100, color="#4c72b0")
    ax.set_yticks(range(k)[::-1], names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("confidence (%)")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def figure_png(fig: Figure, *, dpi: int = 90) -> bytes:
    """Render a figure to PNG bytes (for ``ipywidgets.Image`` and tests)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _register_ipython_png() -> None:
    # viz builds figures without pyplot (no global figure manager, nothing leaks between
    # cells), so IPython has no formatter for them unless `%matplotlib inline` ran: give it one.
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    png = shell.display_formatter.formatters["image/png"]
    if Figure in png.type_printers:  # `%matplotlib inline` got there first
        return
    png.for_type(Figure, lambda fig: figure_png(fig, dpi=fig.dpi))


_register_ipython_png()
