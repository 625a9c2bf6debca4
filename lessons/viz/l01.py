"""Lessons 00 and 01: what saving a photo does to an attack; the linear explanation (Goodfellow §3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..noise import check_eps_values
from .core import _check_names

__all__ = ["round_trip_figure", "logit_path_figure", "alignment_figure"]


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
