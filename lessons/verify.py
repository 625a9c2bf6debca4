"""Exact verification of a small ReLU network by mixed-integer linear programming.

Introduced in lesson 08. For a fully connected ReLU network, "is there an image within ε (L∞)
of ``x`` that the network does not call ``y``?" is a mixed-integer linear program (Tjeng, Xiao &
Tedrake, *Evaluating Robustness of Neural Networks with Mixed Integer Programming*, ICLR 2019,
arXiv 1711.07356; Kolter & Madry's tutorial, chapter 4). Every pixel is a variable in its box;
every hidden unit whose sign can change gets one binary variable (is it on or off?) and four
linear constraints; the logits are linear in the last hidden layer. For each wrong class ``j``
the solver looks for a point of the ball with ``z_j ≥ z_y``:

- it finds one: that image is run through the network in PyTorch, and if the network really
  answers something other than ``y`` the digit is **broken** (the image is the proof);
- it proves there is none, for every ``j``: the digit is **verified**;
- it runs out of time, or the only solutions are exact ties: **unknown**, and we say so.

The solver is SciPy's ``milp`` (HiGHS). What makes it fast enough here is how tight the bounds
on each unit are: interval bounds (``lessons.bounds``) are exact for the first layer, and the
later layers are tightened with one linear program per unstable unit. A unit that is always on
or always off needs no binary variable at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import nn

from .models import Normalize
from .utils import (
    check_bool,
    check_images,
    check_in_range,
    check_labels,
    check_model,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)
from .utils import progress as progress_bar

__all__ = ["STATUSES", "Verdict", "supports", "verify", "verify_all"]

STATUSES = ("verified", "broken", "unknown")
_TIE = 1e-4  # a counter-example must beat the true class by this much in the solver's arithmetic


@dataclass
class Verdict:
    """What exact verification found for one digit.

    Attributes:
        status: ``"verified"`` (no image in the ball changes the class), ``"broken"`` (``x_adv``
            does, checked by running the network) or ``"unknown"`` (time ran out, or a tie).
        x_adv: the counter-example (1, C, H, W) in [0, 1] when broken, else ``None``.
        label: the class the network gives ``x_adv`` when broken, else ``None``.
        seconds: wall time of the whole verification (bounds and every solve).
        unstable: hidden units whose sign can change in the ball (each one a binary variable).
        solves: how many MILPs were solved (one per wrong class not already excluded by bounds).
        reason: one line on how the verdict was reached.
    """

    status: str
    x_adv: torch.Tensor | None
    label: int | None
    seconds: float
    unstable: int
    solves: int
    reason: str


# --------------------------------------------------------------------------- the network as matrices


def _affine_layers(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """The network as [(W, b), ...] in float64, ReLU between consecutive pairs, normalisation folded in."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential of Normalize, Flatten, Linear and ReLU layers for exact "
                        f"verification, got {type(model).__name__}")
    layers, shift, scale, expect_linear = [], None, None, True
    for layer in model:
        if isinstance(layer, Normalize):
            if layers or layer.mean.numel() != 1:
                raise ValueError("model: exact verification folds a one-channel Normalize placed first; got another one")
            shift, scale = float(layer.mean), float(layer.std)
        elif isinstance(layer, nn.Flatten):
            continue
        elif isinstance(layer, nn.Linear) and expect_linear:
            w = layer.weight.detach().double().cpu().numpy()
            b = layer.bias.detach().double().cpu().numpy() if layer.bias is not None else np.zeros(w.shape[0])
            if not layers and shift is not None:  # W((x − m)/s) + b = (W/s) x + (b − W·m/s)
                w, b = w / scale, b - w.sum(1) * shift / scale
            layers.append((w, b))
            expect_linear = False
        elif isinstance(layer, nn.ReLU) and not expect_linear:
            expect_linear = True
        else:
            raise TypeError(f"model: exact verification here handles fully connected ReLU networks (Normalize, Flatten, "
                            f"Linear, ReLU, alternating); got {type(layer).__name__} where it cannot go. Convolutions "
                            f"and pooling can be encoded too (Tjeng et al.), but not in seconds on a laptop")
    if not layers or expect_linear:
        raise ValueError("model must end with a Linear layer (the logits) for exact verification")
    return layers


def supports(model: nn.Module) -> bool:
    """Can ``verify`` encode this model (a fully connected ReLU ``nn.Sequential``)?"""
    check_model(model)
    try:
        _affine_layers(model)
    except (TypeError, ValueError):
        return False
    return True


def _ibp(w: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre, radius = (hi + lo) / 2, (hi - lo) / 2
    c, r = w @ centre + b, np.abs(w) @ radius
    return c - r, c + r


class _Program:
    """The MILP's constraint rows for the input box and the hidden layers, as dense NumPy arrays.

    Variables, in order: the pixels, then per hidden layer its post-ReLU values followed by one
    binary per unstable unit. Unit i of a layer with pre-activation z = W a + b in [l, u]:
    always off (u ≤ 0): a = 0; always on (l ≥ 0): a = z; unstable: a ≥ z, a ≥ 0,
    a ≤ z − l(1 − δ), a ≤ u δ, δ ∈ {0, 1} (Tjeng et al.'s formulation).
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray, layers, pre: list, relax: bool = False) -> None:
        sizes = [len(lo)] + [w.shape[0] + int(((low < 0) & (up > 0)).sum()) for (w, _), (low, up) in zip(layers, pre)]
        self.n = sum(sizes)
        rows, rlo, rhi = [], [], []
        lbs, ubs, ints = [lo], [hi], [np.zeros(len(lo))]
        prev, start = slice(0, len(lo)), len(lo)
        for (w, b), (low, up) in zip(layers, pre):
            k = w.shape[0]
            a = np.arange(start, start + k)
            on, unstable = np.nonzero(low >= 0)[0], np.nonzero((low < 0) & (up > 0))[0]
            d = np.arange(start + k, start + k + len(unstable))
            lbs += [np.zeros(k), np.zeros(len(unstable))]
            ubs += [np.maximum(up, 0), np.ones(len(unstable))]
            ints += [np.zeros(k), np.full(len(unstable), 0.0 if relax else 1.0)]
            eq = self._rows(len(on), a[on], prev, w[on])  # a − W a_prev = b
            rows.append(eq), rlo.append(b[on]), rhi.append(b[on])
            ge = self._rows(len(unstable), a[unstable], prev, w[unstable])  # a − W a_prev ≥ b
            rows.append(ge), rlo.append(b[unstable]), rhi.append(np.full(len(unstable), np.inf))
            big = ge.copy()  # a − W a_prev − l δ ≤ b − l
            big[np.arange(len(unstable)), d] = -low[unstable]
            rows.append(big), rlo.append(np.full(len(unstable), -np.inf)), rhi.append(b[unstable] - low[unstable])
            cap = np.zeros((len(unstable), self.n))  # a − u δ ≤ 0
            cap[np.arange(len(unstable)), a[unstable]] = 1.0
            cap[np.arange(len(unstable)), d] = -up[unstable]
            rows.append(cap), rlo.append(np.full(len(unstable), -np.inf)), rhi.append(np.zeros(len(unstable)))
            prev, start = slice(a[0], a[0] + k), start + k + len(unstable)
        self.last = prev
        self.constraint = LinearConstraint(np.vstack(rows), np.concatenate(rlo), np.concatenate(rhi))
        self.bounds = Bounds(np.concatenate(lbs), np.concatenate(ubs))
        self.integrality = np.concatenate(ints)

    def _rows(self, count: int, cols: np.ndarray, prev: slice, w: np.ndarray) -> np.ndarray:
        r = np.zeros((count, self.n))
        r[np.arange(count), cols] = 1.0
        r[:, prev] = -w
        return r

    def solve(self, objective: np.ndarray, extra: LinearConstraint | None = None, time_limit: float | None = None,
              first: bool = False):
        """Minimise ``objective`` (optimally, or until the ``first`` feasible point) under the constraints."""
        constraints = [self.constraint] + ([extra] if extra is not None else [])
        options = {"time_limit": max(time_limit, 0.01)} if time_limit is not None else {}
        if first:  # any relative gap is small enough: stop at the first feasible point
            options["mip_rel_gap"] = 1e9
        return milp(objective, constraints=constraints, bounds=self.bounds, integrality=self.integrality,
                    options=options)


def _pre_activation_bounds(layers, lo: np.ndarray, hi: np.ndarray, tighten: bool, deadline: float) -> list:
    """Bounds [l, u] on every hidden layer's pre-activations over the input box.

    The first layer's interval bounds are exact (one affine map of a box). Deeper layers start
    from interval bounds; with ``tighten``, each unit whose sign the intervals leave open gets
    two linear programs (the MILP with its binaries relaxed to [0, 1]): min and max of its input,
    until the ``deadline`` (a ``time.perf_counter`` value) passes; looser bounds stay valid.
    """
    pre = [_ibp(*layers[0], lo, hi)]
    for w, b in layers[1:-1]:
        l_prev, u_prev = pre[-1]
        low, up = _ibp(w, b, np.maximum(l_prev, 0), np.maximum(u_prev, 0))
        if tighten:
            relaxed = _Program(lo, hi, layers[: len(pre)], pre, relax=True)
            for i in np.nonzero((low < 0) & (up > 0))[0]:
                if time.perf_counter() > deadline:
                    break
                c = np.zeros(relaxed.n)
                c[relaxed.last] = w[i]
                smallest, largest = relaxed.solve(c), relaxed.solve(-c)
                if smallest.status == 0:
                    low[i] = max(low[i], smallest.fun + b[i])
                if largest.status == 0:
                    up[i] = min(up[i], -largest.fun + b[i])
        pre.append((low, up))
    return pre


# --------------------------------------------------------------------------- verification


def _check_counterexample(model: nn.Module, sol: np.ndarray, x: torch.Tensor, eps: float, y: int,
                          device: torch.device) -> tuple[torch.Tensor, int]:
    """The solver's pixels as an image in the ball (clipped into it), and the class the network gives it."""
    x_adv = torch.as_tensor(sol[: x.numel()], dtype=x.dtype).view_as(x)
    x_adv = torch.minimum(torch.maximum(x_adv, (x - eps).clamp(0, 1)), (x + eps).clamp(0, 1))
    with torch.no_grad(), eval_mode(model):
        label = int(model(x_adv.to(device)).argmax(1))
    return x_adv, label


def verify(model: nn.Module, x: torch.Tensor, y: int | torch.Tensor, eps: float, *, time_limit: float = 30.0,
           tighten: bool = True) -> Verdict:
    """Exactly decide whether any image within ``eps`` (L∞, inside [0, 1]) of ``x`` changes the class ``y``.

    Paper: Tjeng, Xiao & Tedrake, ICLR 2019 (arXiv 1711.07356). One MILP per wrong class,
    most threatening class (by interval bounds) first; classes the interval bounds already
    exclude need no MILP.

    Args:
        model: a fully connected ReLU ``nn.Sequential`` (``Normalize``, ``Flatten``, ``Linear``,
            ``ReLU``), e.g. ``models.mlp((20, 20))``; a few dozen hidden units solve in seconds.
        x: one image (1, C, H, W) in [0, 1].
        y: its class (an int or a one-element tensor), one of the model's classes.
        eps: L∞ radius in [0, 1].
        time_limit: seconds for the whole digit (bounds and all solves); when it runs out the
            verdict is ``"unknown"``.
        tighten: tighten the deeper layers' bounds with linear programs (much faster solves).

    Returns:
        A ``Verdict``. A digit the network already misclassifies is ``"broken"`` with ``x_adv = x``.

    Example:
        >>> v = verify.verify(model, x[:1], y[:1], eps=0.03)
        >>> v.status, v.seconds
    """
    check_images(x, "x")
    if x.shape[0] != 1:
        raise ValueError(f"verify takes one image of shape (1, C, H, W), got {tuple(x.shape)}; use verify_all for a batch")
    num_classes = check_model_input(model, x)
    if isinstance(y, torch.Tensor):
        if y.numel() != 1:
            raise ValueError(f"y must be one class (an int or a one-element tensor), got shape {tuple(y.shape)}")
        y = int(check_labels(y.reshape(1), 1, "y", num_classes=num_classes))
    elif check_positive_int("y", y, allow_zero=True) >= num_classes:
        raise ValueError(f"y must be one of the model's classes in [0, {num_classes - 1}], got {y}")
    eps, time_limit, layers = _check_settings(model, eps, time_limit, tighten)
    return _verify(model, x, int(y), eps, time_limit, tighten, layers)


def _check_settings(model: nn.Module, eps: float, time_limit: float, tighten: bool) -> tuple[float, float, list]:
    eps = check_in_range("eps", eps, 0.0, 1.0)
    time_limit = check_in_range("time_limit", time_limit, 0.01, 1e6)
    check_bool("tighten", tighten)
    return eps, time_limit, _affine_layers(model)


def _verify(model: nn.Module, x: torch.Tensor, y: int, eps: float, time_limit: float, tighten: bool,
            layers: list) -> Verdict:
    """``verify`` after its checks."""
    start = time.perf_counter()
    device = model_device(model, x)
    x = x.detach().cpu()
    with torch.no_grad(), eval_mode(model):
        clean = int(model(x.to(device)).argmax(1))
    if clean != y:
        return Verdict("broken", x.clone(), clean, time.perf_counter() - start, 0, 0, "misclassified without any change")

    flat = x.flatten().double().numpy()
    lo, hi = np.clip(flat - eps, 0, 1), np.clip(flat + eps, 0, 1)
    pre = _pre_activation_bounds(layers, lo, hi, tighten, start + time_limit / 2)
    unstable = sum(int(((low < 0) & (up > 0)).sum()) for low, up in pre)
    program = _Program(lo, hi, layers[:-1], pre)
    w, b = layers[-1]
    a_lo, a_hi = np.maximum(pre[-1][0], 0), np.maximum(pre[-1][1], 0)
    threats = []
    for j in range(w.shape[0]):
        if j == y:
            continue
        row = w[j] - w[y]  # z_j − z_y = row · a + (b_j − b_y)
        upper = np.maximum(row, 0) @ a_hi + np.minimum(row, 0) @ a_lo + b[j] - b[y]
        if upper >= 0:  # the intervals cannot rule class j out
            threats.append((upper, j, row))
    solves, ties = 0, []

    def remaining() -> float:
        return time_limit - (time.perf_counter() - start)

    def elapsed() -> float:
        return time.perf_counter() - start

    for _, j, row in sorted(threats, key=lambda t: -t[0]):
        full = np.zeros(program.n)
        full[program.last] = row
        proved = False
        # Is z_j − z_y ≥ 0 feasible? The objective (maximise z_j − z_y) only steers the search:
        # the solver stops at the first feasible point, which it finds much sooner when steered.
        # A point the network does not confirm sits on a tie (the solver's arithmetic is not the
        # network's), so then ask for a small positive margin instead.
        for margin in (0.0, _TIE):
            if remaining() <= 0:
                return Verdict("unknown", None, None, elapsed(), unstable, solves, f"time limit of {time_limit:g} s")
            res = program.solve(-full, extra=LinearConstraint(full[None], margin - (b[j] - b[y]), np.inf),
                                time_limit=remaining(), first=True)
            solves += 1
            if res.status == 2:  # infeasible: no image in the ball reaches this margin
                proved = margin == 0.0
                break
            if res.x is None:  # time limit (status 1) or a solver failure, with no point found
                return Verdict("unknown", None, None, elapsed(), unstable, solves,
                               f"solver stopped ({res.message.strip()}) on class {j}")
            x_adv, label = _check_counterexample(model, res.x, x, eps, y, device)
            if label != y:
                return Verdict("broken", x_adv, label, elapsed(), unstable, solves,
                               f"counter-example found for class {j}; the network calls it {label}")
        if not proved:
            ties.append(j)
    if ties:
        return Verdict("unknown", None, None, elapsed(), unstable, solves,
                       f"class(es) {ties} can only tie with {y} (within {_TIE:g}): too close to call")
    how = f"{len(threats)} MILP(s) infeasible" if threats else "interval bounds alone"
    return Verdict("verified", None, None, elapsed(), unstable, solves, f"proved by {how}")


def verify_all(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, time_limit: float = 30.0,
               tighten: bool = True, progress: bool = True) -> list[Verdict]:
    """``verify`` every image of a batch (N, C, H, W) with labels (N,); a progress bar over digits."""
    num_classes = check_model_input(model, x)
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes)
    eps, time_limit, layers = _check_settings(model, eps, time_limit, tighten)
    check_bool("progress", progress)
    return [_verify(model, x[i : i + 1], int(y[i]), eps, time_limit, tighten, layers)
            for i in progress_bar(range(len(x)), enabled=progress, desc=f"exact verification, ε = {eps:g}",
                                  unit="digit")]
