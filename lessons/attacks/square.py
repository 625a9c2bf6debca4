"""Square Attack (L∞): a score-based black-box attack that needs no gradient at all.

Introduced in lesson 07. Paper: Andriushchenko, Croce, Flammarion & Hein, *Square Attack: a
query-efficient black-box adversarial attack via random search*, ECCV 2020 (arXiv 1912.00049),
Algorithms 1–2. It only *asks* the model for its logits — a few thousand times per image — and
never differentiates it, so a defence that hides or breaks the gradient does not slow it down.
That makes it the sanity check of an evaluation: a black-box attack must never beat the
white-box ones; when it does, the gradient is being masked (Carlini et al. 2019,
"Verify white-box attacks perform better than black-box attacks").

The random search, per image:

1. start at a vertex of the ε-box: vertical stripes of ±ε (one random sign per column);
2. each query, pick a random square window of side s and set the perturbation inside it to
   ±ε (one random sign per channel); keep the change if the margin loss
   ``z_y − max_{j≠y} z_j`` went down;
3. s shrinks on a fixed schedule: a share p of the pixels, p = 0.8 at first, halved at
   iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of a 10,000-query run (the
   schedule is stretched or squeezed to the budget, as in the paper's code).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ..utils import check_bool, check_generator, check_in_range, check_positive_int, eval_mode, model_device
from .common import check_attack, margin

__all__ = ["square", "square_attack", "SquareResult", "square_share"]

_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # of a 10,000-query run


class SquareResult(NamedTuple):
    """What ``square_attack`` returns.

    Attributes:
        x_adv: (N, C, H, W) adversarial images in [0, 1], within ε of ``x`` (L∞).
        queries: (N,) int64, model queries spent on each image (the stripes' one included).
        success: (N,) bool, the model's top class differs from ``y``.
    """

    x_adv: torch.Tensor
    queries: torch.Tensor
    success: torch.Tensor


def square_share(iteration: int, queries: int, p_init: float = 0.8) -> float:
    """The share p of the image a window covers at ``iteration`` of a ``queries``-query run.

    Args:
        iteration: the query's number (≥ 0).
        queries: the run's budget (≥ 1).
        p_init: the share at the start, in (0, 1].
    """
    iteration = check_positive_int("iteration", iteration, allow_zero=True)
    queries = check_positive_int("queries", queries)
    return _share(iteration, queries, check_in_range("p_init", p_init, 1e-6, 1.0))


def _share(iteration: int, queries: int, p_init: float) -> float:
    at = int(iteration / queries * 10_000)  # the paper's schedule is written for 10,000 queries
    return p_init / 2 ** sum(at > h for h in _HALVINGS)


def _signs(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return (torch.randint(0, 2, shape, generator=generator) * 2 - 1).float().to(device)


def square_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, queries: int = 5000,
                  p_init: float = 0.8, resample: bool = True, generator: torch.Generator | None = None) -> SquareResult:
    """Square Attack, L∞, untargeted: random square updates kept when the margin drops (lesson 07).

    Paper: Andriushchenko et al., ECCV 2020. Only the model's logits are read, under
    ``torch.no_grad``; every image the model is shown counts as a query.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1]; left as it was.
        x: images (N, C, H, W), float in [0, 1] (square images: the windows are squares).
        y: true labels (N,) int64.
        eps: L∞ budget in [0, 1].
        queries: most queries per image (≥ 1); AutoAttack uses 5,000.
        p_init: share of the pixels the first windows cover, in (0, 1].
        resample: when a window's new signs would leave the image as it is (a dark pixel
            pushed darker), flip them rather than spend a query on nothing, as the paper's
            code does; ``False`` spends the query, as AutoAttack's batched version does.
        generator: CPU ``torch.Generator`` for the stripes, the windows and their signs.

    Returns:
        ``SquareResult(x_adv, queries, success)``; an image stops costing queries once fooled.
    """
    y, eps, _ = check_attack(model, x, y, eps=eps)
    budget = check_positive_int("queries", queries)
    p_init = check_in_range("p_init", p_init, 1e-6, 1.0)
    generator = check_generator(generator)
    resample = check_bool("resample", resample)
    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    n, c, h, w = x0.shape
    spent = torch.zeros(n, dtype=torch.int64)
    if eps == 0:
        with eval_mode(model), torch.no_grad():
            return SquareResult(x.detach().clone(), spent + 1, (model(x0).argmax(1) != y).cpu())

    with eval_mode(model), torch.no_grad():
        delta = eps * _signs((n, c, 1, w), generator, device).expand(n, c, h, w).clone()  # vertical stripes
        best = margin(model((x0 + delta).clamp(0, 1)), y, targeted=False)  # > 0: fooled
        spent += 1
        rows = torch.arange(h, device=device)
        cols = torch.arange(w, device=device)
        for i in range(1, budget):
            idx = (best <= 0).nonzero().flatten()
            if len(idx) == 0:
                break
            side = min(max(round(math.sqrt(_share(i, budget, p_init) * h * w)), 1), h - 1, w - 1)
            # corners drawn from [0, h − side), as in the paper's code
            top = torch.randint(0, h - side, (len(idx),), generator=generator).to(device)
            left = torch.randint(0, w - side, (len(idx),), generator=generator).to(device)
            inside = (((rows >= top[:, None]) & (rows < top[:, None] + side))[:, :, None]
                      & ((cols >= left[:, None]) & (cols < left[:, None] + side))[:, None, :])[:, None]  # (n, 1, H, W)
            sign = _signs((len(idx), c, 1, 1), generator, device)
            old = (x0[idx] + delta[idx]).clamp(0, 1)
            # A window that the [0, 1] box leaves as it was would waste a query: flip its sign.
            same = ((x0[idx] + sign * eps).clamp(0, 1) == old).logical_or(~inside).flatten(1).all(1)
            if resample:
                sign[same] = -sign[same]
            cand = torch.where(inside, sign * eps, delta[idx])
            value = margin(model((x0[idx] + cand).clamp(0, 1)), y[idx], targeted=False)
            spent[idx.cpu()] += 1
            better = value > best[idx]
            delta[idx[better]] = cand[better]
            best[idx[better]] = value[better]
        x_adv = (x0 + delta).clamp(0, 1)
    return SquareResult(x_adv.to(x.device), spent, (best > 0).cpu())


def square(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, queries: int = 5000,
           p_init: float = 0.8, generator: torch.Generator | None = None) -> torch.Tensor:
    """Square Attack (Andriushchenko et al. 2020), L∞: the attack protocol's form of ``square_attack``.

    Args and returns as ``square_attack``, but only the adversarial images (N, C, H, W).

    Example:
        >>> x_adv = attacks.square(model, x, y, eps=0.3, queries=1000, generator=torch.Generator().manual_seed(0))
    """
    return square_attack(model, x, y, eps, queries=queries, p_init=p_init, generator=generator).x_adv
