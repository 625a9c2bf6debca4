"""Figures and tables every lesson uses: triptychs, grids, confidence bars, paper-vs-ours tables (lesson 00)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..models import predict
from ..utils import check_images, check_in_range, check_positive_int

__all__ = ["to_numpy_image", "triptych", "image_grid", "confidence_bars", "attack_summary", "paper_table", "transfer_heatmap", "figure_png"]


def _check_names(names: object, what: str, count: int, *, per: str | None = None) -> list[str] | None:
    """A list of names: ``None``, or one entry ``per`` image/row (exactly ``count``), or, without
    ``per``, at least ``count`` (class names for K classes)."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"{what} must be a list of names, got {type(names).__name__}")
    if per is not None and len(names) != count:
        raise ValueError(f"{what} must have one entry per {per} ({count}), got {len(names)}")
    if per is None and len(names) < count:
        raise ValueError(f"{what} must name all {count} classes, got {len(names)} names")
    return [str(n) for n in names]


def _check_probs(probs: object, what: str = "probs") -> torch.Tensor:
    if not isinstance(probs, torch.Tensor):
        raise TypeError(f"{what} must be a 1-D tensor of class probabilities, got {type(probs).__name__}")
    if probs.dim() != 1:
        raise ValueError(f"{what} must be a 1-D tensor of class probabilities (K,), got shape {tuple(probs.shape)}")
    return probs


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
        p_x, p_adv = predict(model, x), predict(model, x_adv)
    labels = _check_names(labels, "labels", p_x.shape[1] if p_x is not None else 0)
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
    titles = _check_names(titles, "titles", n, per="image")
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
    _check_probs(probs)
    labels = _check_names(labels, "labels", probs.numel())
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


def attack_summary(x0: torch.Tensor, x1: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, *,
                   names: Sequence[str] | None = None, magnify: float = 10.0) -> Figure:
    """One image before and after an attack: original / magnified difference / adversarial, and
    the top-5 classes before and after (lesson 01's panel).

    Args:
        x0, x1: the image and its adversarial version, (1, C, H, W) in [0, 1].
        p0, p1: class probabilities (K,) before and after.
        names: class names (default: indices).
        magnify: the difference is drawn as 0.5 + magnify·(x1 − x0).
    """
    check_images(x0, "x0")
    check_images(x1, "x1")
    _check_probs(p0, "p0")
    _check_probs(p1, "p1")
    names = _check_names(names, "names", p0.numel())
    magnify = check_in_range("magnify", magnify, 0.0, 1e6)
    fig = Figure(figsize=(11, 2.6), layout="constrained")
    axes = fig.subplots(1, 5, gridspec_kw={"width_ratios": [1, 1, 1, 1.3, 1.3]})
    for ax, img, title in zip(axes, [x0, (0.5 + magnify * (x1 - x0)).clamp(0, 1), x1],
                              ["original", f"difference ×{magnify:g}", "adversarial"]):
        _show(ax, img[0].cpu(), title)
    confidence_bars(p0, labels=names, ax=axes[3], title="before")
    confidence_bars(p1, labels=names, ax=axes[4], title="after")
    return fig


def paper_table(rows: Sequence[tuple], *, digits: int = 1):
    """Ours beside the paper's, as a ``pandas.DataFrame`` (every lesson).

    Args:
        rows: ``(result, ours, paper, setting)`` tuples. A number in [0, 1] is shown as a
            percentage with ``digits`` decimals; a string (a range, "n/a", an RMS value already
            formatted) is shown as it is.
        digits: decimals of the percentages.
    """
    import pandas as pd

    digits = check_positive_int("digits", digits, allow_zero=True)
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a list of (result, ours, paper, setting) tuples, got {type(rows).__name__}")
    if not rows:
        raise ValueError("rows must hold at least one (result, ours, paper, setting) tuple, got an empty list")
    for i, row in enumerate(rows):
        if not isinstance(row, (tuple, list)):
            raise TypeError(f"rows[{i}] must be a (result, ours, paper, setting) tuple, got {type(row).__name__}")
        if len(row) != 4:
            raise ValueError(f"rows[{i}] must be (result, ours, paper, setting), got {row!r}")
    fmt = lambda v: v if isinstance(v, str) else f"{100 * float(v):.{digits}f}%"
    frame = pd.DataFrame([(str(r), fmt(o), fmt(p), str(s)) for r, o, p, s in rows],
                         columns=["result", "ours", "paper", "setting"])
    return frame.set_index("result")


def transfer_heatmap(m, *, title: str | None = None, ax=None) -> Figure:
    """A heat map of a ``transfer.TransferMatrix``'s error rates (%), rows = example sets (lesson 02)."""
    if not all(hasattr(m, a) for a in ("rows", "cols", "error")):
        raise TypeError(f"m must be a transfer.TransferMatrix, got {type(m).__name__}")
    if ax is None:
        fig = Figure(figsize=(1.1 * len(m.cols) + 2.8, 0.45 * len(m.rows) + 1.6), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    values = [[100 * e for e in row] for row in m.error]
    ax.imshow(values, cmap="magma_r", vmin=0, vmax=100, aspect="auto")
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=9, color="white" if v > 55 else "black")
    ax.set_xticks(range(len(m.cols)), m.cols, rotation=30, ha="right")
    ax.set_yticks(range(len(m.rows)), m.rows)
    ax.set_xlabel("tested on")
    ax.set_ylabel("examples made for")
    ax.set_title(title or "error rate (%)", fontsize=10)
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
