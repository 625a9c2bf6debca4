"""Label-only ("decision-based") attacks: all the spammer sees is "delivered" or "blocked".

Introduced in lesson 06. SimBA (``lessons.queries``) needs the class *scores*; many real
systems return only a decision. HopSkipJump still fools them: it starts from any image the
model gets wrong, walks back along the line to the original until it sits on the decision
boundary, estimates which way the boundary bends from the yes/no answers at random points
around it, steps that way, and returns to the boundary — closer to the original each time.

Every query goes through ``blackbox.QueryModel(model, output="label")``: the attack sees top-1
labels, never a score or a gradient, and each image it sends is counted.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .blackbox import QueryBudgetExceeded, QueryModel, check_oracle
from .utils import check_bool, check_choice, check_generator, check_in_range, check_positive_int
from .utils import progress as progress_bar

__all__ = ["hop_skip_jump", "DecisionResult", "NORMS", "distance_at"]

NORMS = ("linf", "l2")
_HALVINGS = 20  # most halvings of a step before the step is given up (the point stays where it was)
_INIT_TRIES = 50  # random images tried per digit to find a first misclassified one
_CHUNK = 500  # images per call to the oracle


class DecisionResult(NamedTuple):
    """What a label-only attack returns.

    Attributes:
        x_adv: (N, C, H, W) the closest misclassified image found for each input, in [0, 1]
            (the input itself where nothing was found).
        queries: (N,) int64, queries spent on each image (the clean query included); with
            ``eps``, those spent until the image was within ``eps``.
        success: (N,) bool, misclassified, and within ``eps`` of the input if ``eps`` is given.
        distance: (N,) float, the distance (the attack's norm) from the input to ``x_adv``;
            ``inf`` where no misclassified image was found, 0 where the input was already wrong.
        trace_queries: (T, N) int64, queries spent after each of the T rounds (init included).
        trace_distance: (T, N) float, the best distance after each round.
    """

    x_adv: torch.Tensor
    queries: torch.Tensor
    success: torch.Tensor
    distance: torch.Tensor
    trace_queries: torch.Tensor
    trace_distance: torch.Tensor


class _OutOfBudget(Exception):
    """The oracle's own budget cannot answer the next batch: stop and return what we have."""


class _Asker:
    """Sends images to the oracle on behalf of some of the N inputs and counts each one's queries."""

    def __init__(self, oracle: QueryModel, y: torch.Tensor) -> None:
        self.oracle, self.y = oracle, y
        self.queries = torch.zeros(len(y), dtype=torch.int64)

    def wrong(self, owner: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Is each image misclassified? ``owner[k]`` is the input that image k was made for."""
        if self.oracle.remaining is not None and self.oracle.remaining < len(images):
            raise _OutOfBudget
        try:  # in chunks: a gradient estimate for many images at once would hold GBs of activations
            labels = torch.cat([self.oracle(chunk.clamp(0, 1)) for chunk in images.split(_CHUNK)])
        except QueryBudgetExceeded as err:  # someone else spent the budget meanwhile
            raise _OutOfBudget from err
        self.queries.index_add_(0, owner.cpu(), torch.ones(len(owner), dtype=torch.int64))
        return labels.to(self.y.device) != self.y[owner]


def _distance(a: torch.Tensor, b: torch.Tensor, norm: str) -> torch.Tensor:
    diff = (a - b).flatten(1)
    return diff.abs().amax(1) if norm == "linf" else diff.norm(dim=1)


def _toward(x0: torch.Tensor, x1: torch.Tensor, alpha: torch.Tensor, norm: str) -> torch.Tensor:
    """Points between x0 (alpha = 0) and x1: the L2 segment, or x1 clipped to an L∞ box of radius alpha."""
    a = alpha.view(-1, *[1] * (x0.dim() - 1))
    if norm == "l2":
        return (1 - a) * x0 + a * x1
    return torch.minimum(torch.maximum(x1, x0 - a), x0 + a)


def _boundary(ask: _Asker, idx: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor, norm: str,
              theta: float) -> torch.Tensor:
    """Binary search from misclassified x1 back toward x0; returns the last misclassified point.

    Stops when the bracket is narrower than theta (L2: of the blend weight in [0, 1];
    L∞: of the box radius, relative to the distance when it is below 1), as in the paper.
    """
    if norm == "l2":
        high = torch.ones(len(idx), device=x0.device)
        tol = torch.full_like(high, theta)
    else:
        high = _distance(x1, x0, norm)
        tol = torch.clamp(high * theta, max=theta)
    low = torch.zeros_like(high)
    while True:
        open_ = ((high - low) / tol > 1).nonzero().flatten()
        if len(open_) == 0:
            return _toward(x0, x1, high, norm)
        mid = (high[open_] + low[open_]) / 2
        wrong = ask.wrong(idx[open_], _toward(x0[open_], x1[open_], mid, norm))
        high[open_] = torch.where(wrong, mid, high[open_])
        low[open_] = torch.where(wrong, low[open_], mid)


def _initial(ask: _Asker, idx: torch.Tensor, x0: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A first misclassified image per input: uniform noise, then blended toward the input.

    Returns (found, x1): ``found`` (len(idx),) bool, x1 the blended images (x0 where not found).
    """
    x1 = x0.clone()
    found = torch.zeros(len(idx), dtype=torch.bool, device=x0.device)
    for _ in range(_INIT_TRIES):
        todo = (~found).nonzero().flatten()
        if len(todo) == 0:
            break
        noise = torch.rand(x0[todo].shape, generator=generator).to(x0.device)
        hit = ask.wrong(idx[todo], noise)
        x1[todo[hit]] = noise[hit]
        found[todo[hit]] = True
    # blend toward the original (Foolbox's blended-noise start, as in the paper's code)
    ok = found.nonzero().flatten()
    if len(ok):
        x1[ok] = _boundary(ask, idx[ok], x0[ok], x1[ok], "l2", 1e-3)
    return found, x1


def _direction(ask: _Asker, idx: torch.Tensor, x1: torch.Tensor, counts: torch.Tensor, delta: torch.Tensor,
               norm: str, generator) -> torch.Tensor:
    """Which way the boundary bends at x1, from ``counts[i]`` yes/no answers at random nearby points.

    The mean of the random directions u weighted by ±1 (misclassified or not), minus the
    mean answer as a baseline; normalised to unit L2 length (HopSkipJump's estimate).
    """
    owner = torch.repeat_interleave(torch.arange(len(idx), device=x1.device), counts.to(x1.device))
    shape = (len(owner), *x1.shape[1:])
    u = torch.randn(shape, generator=generator) if norm == "l2" else torch.rand(shape, generator=generator) * 2 - 1
    u = u.to(x1.device)
    u = u / u.flatten(1).norm(dim=1).view(-1, *[1] * (x1.dim() - 1))
    d = delta[owner].view(-1, *[1] * (x1.dim() - 1))
    probes = (x1[owner] + d * u).clamp(0, 1)
    u = (probes - x1[owner]) / d  # the direction actually probed, after the [0, 1] box
    f = ask.wrong(idx[owner], probes).float() * 2 - 1  # (M,) +1 misclassified, -1 not
    n = counts.to(x1.device).float()
    mean_f = torch.zeros(len(idx), device=x1.device).index_add_(0, owner, f) / n
    baseline = torch.where(mean_f.abs() < 1, mean_f, torch.zeros_like(mean_f))  # all alike: no baseline
    weighted = ((f - baseline[owner]).view(-1, *[1] * (x1.dim() - 1)) * u).flatten(1)
    grad = torch.zeros(len(idx), weighted.shape[1], device=x1.device).index_add_(0, owner, weighted)
    grad = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return grad.view_as(x1)


def _step(ask: _Asker, idx: torch.Tensor, x1: torch.Tensor, update: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Geometric step search: halve each step until x1 + size·update is still misclassified."""
    out = x1.clone()
    todo = torch.arange(len(idx), device=x1.device)
    size = size.clone()
    for _ in range(_HALVINGS):
        cand = (x1[todo] + size[todo].view(-1, *[1] * (x1.dim() - 1)) * update[todo]).clamp(0, 1)
        wrong = ask.wrong(idx[todo], cand)
        out[todo[wrong]] = cand[wrong]
        todo = todo[~wrong]
        if len(todo) == 0:
            break
        size[todo] /= 2
    return out


def hop_skip_jump(
    oracle: QueryModel,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float | None = None,
    max_queries: int = 1000,
    init_evals: int = 100,
    max_evals: int = 10_000,
    gamma: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> DecisionResult:
    """HopSkipJump: an untargeted attack that sees only the model's top-1 label (lesson 06).

    Paper: Chen, Jordan & Wainwright, *HopSkipJumpAttack: A Query-Efficient Decision-Based
    Attack*, IEEE S&P 2020 (arXiv 1904.02144); the steps follow the authors' code
    (github.com/Jianbo-Lab/HSJA). Each round, for every image still running:

    1. estimate the boundary's normal at the current point x₁ from ``init_evals·√t`` (at most
       ``max_evals``) answers at x₁ + δ·u for random unit directions u;
    2. step along it (L∞: along its sign), starting at distance/√t and halving until the
       result is still misclassified;
    3. binary-search back toward the original, to the boundary: the new, closer x₁.

    It starts from uniform noise the model gets wrong, blended toward the original.
    Distance: L∞ (``norm="linf"``) or L2. Minimum-distortion: the distance only shrinks.

    Args:
        oracle: the target behind its API, ``output="label"``: the attack uses labels only.
        x: images (N, C, H, W), float in [0, 1].
        y: true labels (N,) int64.
        norm: ``"linf"`` or ``"l2"``.
        eps: if given, an image stops as soon as it is within ``eps`` (success); otherwise it
            runs until ``max_queries`` and success means any misclassified image was found.
        max_queries: the most queries spent on one image, the clean query included. A round
            that cannot finish within what is left is not started.
        init_evals: answers for the first gradient estimate (the paper's 100).
        max_evals: most answers for one estimate.
        gamma: sets the binary search's precision θ = γ/d² (L∞) or γ/d^1.5 (L2), d = pixels.
        generator: CPU ``torch.Generator`` for the random starts and directions.
        progress: show a progress bar over the rounds.

    Returns:
        ``DecisionResult``. An input the oracle already gets wrong costs 1 query and comes
        back unchanged (distance 0). If the oracle's own budget runs out, the attack stops
        and returns what it has (it never raises ``QueryBudgetExceeded``).

    Example:
        >>> api = blackbox.QueryModel(cnn, output="label")
        >>> res = decision.hop_skip_jump(api, x, y, eps=0.25, max_queries=1000)
        >>> res.success.float().mean(), res.queries[res.success].median()
    """
    check_oracle(oracle, "label", "a decision-based attack sees labels only")
    y = oracle.check(x, y).to(x.device)
    check_choice("norm", norm, NORMS)
    if eps is not None:
        eps = check_in_range("eps", eps, 0.0, math.inf if norm == "l2" else 1.0)
    max_queries = check_positive_int("max_queries", max_queries)
    init_evals = check_positive_int("init_evals", init_evals)
    max_evals = check_positive_int("max_evals", max_evals)
    gamma = check_in_range("gamma", gamma, 1e-6, 1e6)
    generator = check_generator(generator, cpu=True)
    check_bool("progress", progress)

    n, d = x.shape[0], x[0].numel()
    theta = gamma / d**2 if norm == "linf" else gamma / d**1.5
    search = max(0, math.ceil(math.log2(1 / theta)))  # most steps of one binary search
    # the most queries a round spends beyond its estimate: step halvings + binary search
    reserve = _HALVINGS + search + 1
    start = 1 + _INIT_TRIES + math.ceil(math.log2(1e3)) + search  # the most the start can cost
    if max_queries < start:
        raise ValueError(f"max_queries must be at least {start} (what finding a first misclassified image "
                         f"can cost here), got {max_queries}")
    x0 = x.detach().clone()
    ask = _Asker(oracle, y)
    x_best = x0.clone()
    best = torch.full((n,), math.inf, device=x.device)
    current = x0.clone()  # the point on the boundary each image works from
    reached_from = torch.zeros(n, device=x.device)  # distance of the point each last search started from
    live = torch.zeros(n, dtype=torch.bool, device=x.device)
    done_at = torch.full((n,), -1, dtype=torch.int64)  # queries spent when within eps
    trace_q, trace_d = [], []

    def keep(idx: torch.Tensor, points: torch.Tensor) -> None:
        dist = _distance(points, x0[idx], norm)
        better = dist < best[idx]
        best[idx[better]] = dist[better]
        x_best[idx[better]] = points[better]
        current[idx] = points
        if eps is not None:
            reached = (best[idx] <= eps).cpu() & (done_at[idx.cpu()] < 0)
            done_at[idx.cpu()[reached]] = ask.queries[idx.cpu()[reached]]
            live[idx[reached.to(x.device)]] = False

    def record() -> None:
        trace_q.append(ask.queries.clone())
        trace_d.append(best.cpu().clone())

    try:
        everyone = torch.arange(n, device=x.device)
        already = ask.wrong(everyone, x0)
        best[already] = 0.0
        if eps is not None:
            done_at[already.cpu()] = 1
        todo = (~already).nonzero().flatten()
        found, x1 = _initial(ask, todo, x0[todo], generator)
        todo, x1 = todo[found], x1[found]
        live[todo] = True
        reached_from[todo] = _distance(x1, x0[todo], norm)
        keep(todo, _boundary(ask, todo, x0[todo], x1, norm, theta))
        record()
        rounds = progress_bar(range(1, 10**9), enabled=progress, desc="HopSkipJump", unit="round")
        for t in rounds:
            left = max_queries - ask.queries.to(x.device)
            evals = min(int(init_evals * math.sqrt(t)), max_evals)
            counts = torch.clamp(left - reserve, max=evals)
            live &= counts >= 1  # a round that could not finish is not started
            idx = live.nonzero().flatten()
            if len(idx) == 0:
                break
            x1, dist = current[idx], _distance(current[idx], x0[idx], norm)
            # probe radius: 0.1 at first, then in proportion to the distance (as the authors' code)
            scale = d * theta if norm == "linf" else math.sqrt(d) * theta
            delta = torch.full_like(dist, 0.1) if t == 1 else scale * reached_from[idx]
            grad = _direction(ask, idx, x1, counts[idx], delta, norm, generator)
            update = grad.sign() if norm == "linf" else grad
            moved = _step(ask, idx, x1, update, dist / math.sqrt(t))
            reached_from[idx] = _distance(moved, x0[idx], norm)
            keep(idx, _boundary(ask, idx, x0[idx], moved, norm, theta))
            record()
    except _OutOfBudget:
        record()

    wrong = torch.isfinite(best)
    success = (wrong & (best <= eps)) if eps is not None else wrong
    queries = torch.where(done_at >= 0, done_at, ask.queries) if eps is not None else ask.queries.clone()
    return DecisionResult(x_best, queries, success.cpu(), best.cpu(), torch.stack(trace_q), torch.stack(trace_d))


def distance_at(result: DecisionResult, budget: int) -> torch.Tensor:
    """Each image's best distance once ``budget`` queries had been spent on it: (N,) float.

    Read off the result's trace (after each round), so one run answers every budget.
    ``inf`` where nothing misclassified had been found by then.
    """
    if not isinstance(result, DecisionResult):
        raise TypeError(f"result must be a DecisionResult from hop_skip_jump, got {type(result).__name__}")
    budget = check_positive_int("budget", budget)
    within = result.trace_queries <= budget  # (T, N)
    return torch.where(within, result.trace_distance, torch.full_like(result.trace_distance, math.inf)).amin(0)
