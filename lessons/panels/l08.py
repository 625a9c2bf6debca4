"""Lesson 08's panel: one digit, one model, one ε — interval bounds, the exact verdict, the smoothing certificate."""

from __future__ import annotations

import html
import math

import torch
from torch import nn

from .. import bounds, smoothing, verify, viz, widgets
from ..utils import check_images, check_labels, check_model, eval_mode

__all__ = ["guarantees"]


def _exact_line(model: nn.Module, x: torch.Tensor, y: int, eps: float, time_limit: float) -> str:
    if not verify.supports(model):
        return ("<b>exact (MILP)</b>: not attempted — this network has convolutions; exact verification of it "
                "would take minutes to hours per digit, not seconds")
    v = verify.verify(model, x, y, eps, time_limit=time_limit)
    detail = {"verified": "no image in the ball changes the answer (proved)",
              "broken": f"found an image in the ball the network calls <b>{v.label}</b> (checked by running it)",
              "unknown": f"unknown: {html.escape(v.reason)}"}[v.status]
    return f"<b>exact (MILP)</b>: {v.status} — {detail} · {v.seconds:.1f} s, {v.unstable} unstable ReLUs"


def _smoothing_line(model: nn.Module, x: torch.Tensor, y: int, eps: float, index: int, n: int) -> str:
    sigma = getattr(model, "cache_info", {}).get("smoothing", {}).get("sigma")
    if sigma is None:
        return ("<b>smoothing</b>: this model was not trained with noise, so it is not smoothed here "
                "(pick a noise-… model)")
    cls, r = smoothing.certify(model, x, sigma, n=n, generator=torch.Generator().manual_seed(index))
    head = f"<b>smoothing</b> (the smoothed classifier, σ = {sigma:g}, n = {n:,})"
    if cls == smoothing.ABSTAIN:
        return f"{head}: abstains — no class is clearly on top under noise"
    reach = eps * math.sqrt(x[0].numel())  # the L∞ ball's farthest corner, in L2
    covered = "covers" if r >= reach else "does not cover"
    right = "right" if cls == y else f"<b>wrong</b> (says {cls})"
    return (f"{head}: {right}, certified L2 radius <b>{r:.2f}</b>; the L∞ ball of ε = {eps:.2f} reaches L2 "
            f"distance {reach:.2f} at its corners, so the certificate {covered} it")


def guarantees(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, *, model: str | None = None,
               eps: float = 0.05, time_limit: float = 20.0, n: int = 1000):
    """Lesson 08's widget: the three guarantees for one digit, one model and one ε.

    Args:
        models: name → model (``nn.Sequential`` classifiers; fully connected ones also get an
            exact verdict, noise-trained ones a smoothing certificate).
        x, y: the digits to pick from (N, 1, 28, 28) and their labels.
        model: the model shown first (default: the first).
        eps: the starting L∞ radius.
        time_limit: seconds an exact verification may take before it says "unknown".
        n: noise samples of the smoothing certificate.

    Returns:
        A ``widgets.Panel`` with controls ``model``, ``digit`` and ``eps``.
    """
    if not models:
        raise ValueError("models must name at least one model")
    for name, m in models.items():
        check_model(m, f"models[{name!r}]")
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")

    def render(model: str, digit: int, eps: float):
        net, xi, yi = models[model], x[digit : digit + 1], int(y[digit])
        lo, hi = bounds.interval_bounds(net, xi, eps)
        with torch.no_grad(), eval_mode(net):
            logits = net(xi.to(lo.device))[0]
        proved = bool(bounds.verified(net, xi, y[digit : digit + 1], eps)[0])
        fig = viz.interval_bars(lo[0], hi[0], yi, logits=logits, image=xi,
                                title=f"{model}: logit intervals over the ε = {eps:.2f} ball (L∞)")
        clean = int(logits.argmax())
        lines = [f"<b>clean</b>: the network says {clean}" + ("" if clean == yi else f" (the label is {yi})"),
                 "<b>interval bounds (IBP)</b>: " + ("verified — no class can overtake the true one"
                                                     if proved else "not verified (which proves nothing either way)"),
                 _exact_line(net, xi, yi, eps, time_limit),
                 _smoothing_line(net, xi, yi, eps, digit, n)]
        return fig, "<br>".join(lines)

    names = list(models)
    controls = {
        "model": widgets.dropdown("model", names, model if model is not None else names[0]),
        "digit": widgets.int_slider("test digit", 0, 0, len(x) - 1),
        "eps": widgets.slider("ε", eps, 0.0, 0.3, 0.01, unit="L∞", readout_format=".2f"),
    }
    return widgets.Panel("Three guarantees for one digit", controls, render)
