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
from .noise import check_eps_values
from .tabular import check_bounds, check_table
from .utils import check_images, check_in_range, check_labels, check_positive_int

__all__ = [
    "triptych", "image_grid", "confidence_bars", "to_numpy_image", "figure_png", "paper_table", "transfer_heatmap",
    "attack_summary", "evolution_figure", "strips_figure", "attacked_digits", "message_figure",
    "queries_to_success", "one_feature_sweep",
    "round_trip_figure", "logit_path_figure", "alignment_figure", "distance_figure",
    "attack_paths", "ensemble_curves", "checklist_table",
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


# --------------------------------------------------------------------------- lessons 00 and 01


def round_trip_figure(probs: dict, *, names: Sequence[str], target_name: str) -> Figure:
    """Grouped bars: p(target) of each photo after each way of saving it (lesson 00).

    ``probs`` maps a codec label ("8-bit", "PNG", "JPEG 75", ... see ``data.round_trip``) to the
    target's probability per photo, a tensor (N,); ``names`` are the N photos.
    """
    if not isinstance(probs, dict):
        raise TypeError(f"probs must be a dict {{codec label: tensor (N,)}}, got {type(probs).__name__}")
    if not probs:
        raise ValueError("probs must hold at least one codec, got an empty dict")
    if not isinstance(target_name, str):
        raise TypeError(f"target_name must be a class name (str), got {type(target_name).__name__}")
    n = len(next(iter(probs.values())))
    names = _check_names(names, "names", n, per="photo")
    for label, p in probs.items():
        if not isinstance(p, torch.Tensor) or p.shape != (n,):
            raise ValueError(f"probs[{label!r}] must be a tensor of shape ({n},), got {type(p).__name__}")
    ax = (fig := Figure(figsize=(1.4 * n + 2.5, 3), layout="constrained")).subplots()
    width = 0.8 / len(probs)
    for i, (label, p) in enumerate(probs.items()):
        ax.bar(np.arange(n) + (i - (len(probs) - 1) / 2) * width, 100 * p.detach().float().cpu().numpy(), width, label=label)
    ax.set(xticks=range(n), xticklabels=names, ylim=(0, 100), ylabel=f"p({target_name}) (%)")
    ax.set_title(f"Does \"{target_name}\" survive being saved?", fontsize=10)
    ax.legend(fontsize=8, ncol=len(probs), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return fig


def logit_path_figure(eps_values: Sequence[float], logits: torch.Tensor, *, true_class: int,
                      labels: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """The logits of one image along a direction, one line per class (lesson 01; Goodfellow Fig. 4).

    Args:
        eps_values: the E steps ε; logits: tensor (E, K), e.g. ``noise.logit_path(...)[0]``.
        true_class: drawn thick; ε where it is the top class are shaded (the paper's yellow boxes).
        labels: class names (default: indices).
    """
    eps_values = check_eps_values(eps_values)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a tensor (E, K), got {type(logits).__name__}")
    if logits.dim() != 2 or logits.shape[0] != len(eps_values):
        raise ValueError(f"logits must be a tensor (E, K) with E = {len(eps_values)}, got shape {tuple(logits.shape)}")
    labels = _check_names(labels, "labels", logits.shape[1])
    if isinstance(true_class, bool) or not isinstance(true_class, int):
        raise TypeError(f"true_class must be a class index (int), got {type(true_class).__name__}")
    if not 0 <= true_class < logits.shape[1]:
        raise ValueError(f"true_class must be in [0, {logits.shape[1] - 1}], got {true_class}")
    ax = (fig := Figure(figsize=(6.5, 3.4), layout="constrained")).subplots()
    z, eps = logits.detach().float().cpu().numpy(), np.asarray(eps_values, dtype=float)
    for k in range(z.shape[1]):
        name = (labels[k] if labels else str(k)) + (" (true)" if k == true_class else "")
        ax.plot(eps, z[:, k], lw=2.5 if k == true_class else 1, label=name)
    ax.fill_between(eps, 0, 1, where=z.argmax(1) == true_class, color="#fff3a0", transform=ax.get_xaxis_transform(), zorder=0)
    ax.set(xlabel="ε along sign(∇ₓ loss)", ylabel="logit (argument to softmax)")
    ax.set_title(title or "logits along the FGSM direction (yellow: correct)", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def alignment_figure(ns: Sequence[int], aligned: Sequence[float], random: Sequence[float]) -> Figure:
    """wᵀη against the dimension n, log-log: η = ε·sign(w) grows like n, random signs like √n (lesson 01)."""
    series = {name: check_eps_values(v, name) for name, v in (("ns", ns), ("aligned", aligned), ("random", random))}
    if not len(ns) == len(aligned) == len(random):
        raise ValueError(f"ns, aligned and random must have the same length, got {len(ns)}, {len(aligned)}, {len(random)}")
    for name, v in series.items():
        if min(v) <= 0:
            raise ValueError(f"{name} must be positive (a log-log plot), got {min(v)}")
    ax = (fig := Figure(figsize=(5.5, 3.4), layout="constrained")).subplots()
    ax.loglog(series["ns"], series["aligned"], "o-", label="η = ε·sign(w): ε‖w‖₁ ∝ n")
    ax.loglog(series["ns"], series["random"], "s-", label="random signs: RMS ε‖w‖₂ ∝ √n")
    ax.set(xlabel="dimension n", ylabel="change of wᵀx", title="many small changes add up (Goodfellow §3)")
    ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------- lesson 03: off the manifold


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


# --------------------------------------------------------------------------- lesson 07


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
