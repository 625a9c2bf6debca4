"""Every figure and table of the course: triptychs, grids, bars, heat maps, paper-vs-ours tables.

Introduced in lesson 00; each function names the lesson that introduces it. A figure function
returns a ``matplotlib.figure.Figure`` (nothing is shown or saved behind your back), so a
notebook displays it and a test can inspect it; a table function returns a ``pandas.DataFrame``.
Lesson modules compute; this room draws.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .directions import check_indices
from .models import predict
from .utils import check_images, check_in_range, check_labels, check_positive_int

__all__ = [
    "triptych", "image_grid", "confidence_bars", "to_numpy_image", "figure_png", "paper_table", "transfer_heatmap",
    "attack_summary", "evolution_figure", "strips_figure", "attacked_digits", "message_figure",
]


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


# --------------------------------------------------------------------------- lesson 03


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


# --------------------------------------------------------------------------- lesson 04


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


# --------------------------------------------------------------------------- lesson 06


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


# --------------------------------------------------------------------------- lesson 08

__all__ += ["interval_bars", "box_widths", "sandwich_bars", "certified_curves"]


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
    lo, hi = lo.detach().float().cpu().flatten(), hi.detach().float().cpu().flatten()
    if lo.shape != hi.shape:
        raise ValueError(f"lo and hi must have the same shape, got {tuple(lo.shape)} and {tuple(hi.shape)}")
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
    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.subplots()
    for name, (radii, accs) in curves.items():
        ax.step(list(radii), [100 * a for a in accs], where="post", label=name)
    ax.set_xlabel("L2 radius")
    ax.set_ylabel("certified accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
