"""Attacks that only ask: a score-based query attack, and every attacker against every model.

Introduced in lesson 06. Everything here reaches the target through ``blackbox.QueryModel``,
which answers queries and counts them, and never sees the model's gradients:

- ``simba``: SimBA (Guo et al. 2019) in an L∞ form — change one block of pixels at a time by
  ±ε and keep the change whenever the true class's score drops;
- ``attack_with_knowledge``: one model kind (linear, tree, CNN) against one level of the
  attacker's knowledge (white-box, a substitute, queries only), for lesson 06's panel.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from . import attacks, classic
from .blackbox import QueryModel, check_oracle
from .encodings import check_shape
from .utils import (
    check_bool,
    check_choice,
    check_generator,
    check_in_range,
    check_positive_int,
)
from .utils import progress as progress_bar

__all__ = ["block_directions", "simba", "SimBAResult", "KINDS", "KNOWLEDGE", "attack_with_knowledge"]


def _check_sizes(sizes: object) -> tuple[int, ...]:
    if not isinstance(sizes, (tuple, list)):
        raise TypeError(f"sizes must be a tuple of block sizes such as (7, 4, 2), got {type(sizes).__name__}")
    if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be a non-empty tuple of positive block sizes, got {sizes!r}")
    return tuple(sizes)


def block_directions(shape: tuple[int, int, int] = (1, 28, 28), sizes: tuple[int, ...] = (7, 4, 2), *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Square blocks of pixels, coarse to fine, as boolean masks (M, C, H, W) (lesson 06).

    Each scale tiles the image with ``size``×``size`` blocks (all channels together), in a
    random order within the scale. Coarse blocks first: a low-frequency change moves a
    classifier's score far more per query than a single pixel does (SimBA's DCT basis
    makes the same point). ``sizes=(1,)`` gives plain pixel directions.
    """
    _check_sizes(sizes)
    c, h, w = check_shape(shape)
    masks = []
    for size in sizes:
        tiles = []
        for top in range(0, h, size):
            for left in range(0, w, size):
                m = torch.zeros(shape, dtype=torch.bool)
                m[:, top : top + size, left : left + size] = True
                tiles.append(m)
        order = torch.randperm(len(tiles), generator=generator)
        masks += [tiles[i] for i in order]
    return torch.stack(masks)


class SimBAResult(NamedTuple):
    """What a query attack returns: the images, what they cost, and whether they worked.

    Attributes:
        x_adv: adversarial images (N, C, H, W) in [0, 1], within ε of ``x`` (L∞).
        queries: (N,) int64, queries spent on each image, the first one included.
        success: (N,) bool, the oracle's top label differs from ``y``.
    """

    x_adv: torch.Tensor
    queries: torch.Tensor
    success: torch.Tensor


def simba(
    oracle: QueryModel,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    max_queries: int = 1000,
    sizes: tuple[int, ...] = (7, 4, 2, 1),
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> SimBAResult:
    """Simple Black-box Attack, L∞ form: flip blocks of pixels by ±ε while the true score drops.

    Paper: Guo, Gardner, You, Wilson & Weinberger, *Simple Black-box Adversarial Attacks*,
    ICML 2019 (arXiv 1905.07121). SimBA adds ±ε·q along one basis direction q at a time and
    keeps the step if the true class's probability falls. Here q is a block of pixels
    (``block_directions``, coarse to fine) and a step *sets* the block's perturbation to +ε,
    else −ε, so the result stays in the L∞ ball without projection (the sign vectors
    are where a locally linear model is easiest to fool, as in Moon et al.'s parsimonious
    attack, ICML 2019). A candidate that the [0, 1] box makes identical to the current image
    (a black pixel pushed darker) is skipped without a query. Distance: L∞.

    Every query goes through ``oracle``, which must answer with probabilities
    (``output="probs"``); the attack never sees the model.

    Args:
        oracle: the target behind its API, ``output="probs"``.
        x: images (N, C, H, W), float in [0, 1].
        y: true labels (N,) int64.
        eps: L∞ budget in [0, 1].
        max_queries: most queries per image, the first (the clean image's scores) included.
        sizes: block sizes, coarse to fine (see ``block_directions``).
        generator: CPU ``torch.Generator`` for the order of the blocks.
        progress: show a ``tqdm`` bar over the directions.

    Returns:
        ``SimBAResult(x_adv, queries, success)``. An image misclassified from the start costs
        1 query and is returned unchanged. If the oracle's budget cannot answer the next
        batch, the attack stops there and returns what it has (it never raises
        ``QueryBudgetExceeded`` itself).

    Example:
        >>> api = blackbox.QueryModel(cnn, output="probs")
        >>> res = queries.simba(api, x, y, eps=0.25, max_queries=500)
        >>> res.success.float().mean(), res.queries[res.success].median()
    """
    check_oracle(oracle, "probs", "SimBA needs class scores")
    y = oracle.check(x, y).to(x.device)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    max_queries = check_positive_int("max_queries", max_queries)
    _check_sizes(sizes)
    generator = check_generator(generator)
    check_bool("progress", progress)

    n = x.shape[0]
    x0 = x.detach().clone()
    delta = torch.zeros_like(x0)
    queries = torch.zeros(n, dtype=torch.int64)
    success = torch.zeros(n, dtype=torch.bool)
    rows = torch.arange(n, device=x.device)

    def ask(idx: torch.Tensor, images: torch.Tensor) -> torch.Tensor | None:
        if oracle.remaining is not None and oracle.remaining < len(idx):
            return None  # the budget cannot answer this batch: stop, keep what we have
        queries[idx.cpu()] += 1
        return oracle(images)

    probs = ask(rows, x0)
    if probs is None:
        return SimBAResult(x0, queries, success)
    p_true = probs[rows, y]
    success = (probs.argmax(1) != y).cpu()
    masks = block_directions(tuple(x.shape[1:]), sizes, generator=generator).to(x.device)
    masks = progress_bar(masks, enabled=progress, desc="SimBA", unit="direction")
    stopped = False
    for mask in masks:
        tried = torch.zeros(n, dtype=torch.bool, device=x.device)  # improved on this direction
        for sign in (1.0, -1.0):
            active = (~success).to(x.device) & (queries.to(x.device) < max_queries) & ~tried
            idx = active.nonzero().flatten()
            if len(idx) == 0:
                continue
            cand_delta = torch.where(mask, sign * eps, delta[idx])
            current = (x0[idx] + delta[idx]).clamp(0, 1)
            cand = (x0[idx] + cand_delta).clamp(0, 1)
            moved = (cand != current).flatten(1).any(1)  # skip steps the box cancels
            idx, cand, cand_delta = idx[moved], cand[moved], cand_delta[moved]
            if len(idx) == 0:
                continue
            answer = ask(idx, cand)
            if answer is None:
                stopped = True
                break
            p_cand = answer[torch.arange(len(idx), device=x.device), y[idx]]
            better = p_cand < p_true[idx]
            keep = idx[better]
            delta[keep] = cand_delta[better]
            p_true[keep] = p_cand[better]
            tried[keep] = True
            success[keep.cpu()] = (answer[better].argmax(1) != y[keep]).cpu()
        if stopped or bool((success | (queries >= max_queries)).all()):
            break
    return SimBAResult((x0 + delta).clamp(0, 1), queries, success)


# --------------------------------------------------------------------------- every attacker against every model

KINDS = ("linear", "tree", "cnn")
KNOWLEDGE = ("white-box", "substitute", "queries")


def attack_with_knowledge(
    kind: str,
    knowledge: str,
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    substitute: nn.Module | None = None,
    max_queries: int = 300,
    pgd_steps: int = 20,
    generator: torch.Generator | None = None,
) -> SimBAResult:
    """Attack one model kind with one level of attacker's knowledge, at L∞ budget ε (lesson 06).

    - ``"white-box"``: the attacker has the model: ``classic.linear_attack`` (closed form) for
      ``"linear"``, ``classic.tree_attack`` within ε for ``"tree"``, PGD for ``"cnn"``;
    - ``"substitute"``: PGD on ``substitute`` (trained beforehand on label queries), then
      one query per image to see whether it transferred;
    - ``"queries"``: ``simba`` through a score API, at most ``max_queries`` per image.

    Args:
        kind: ``"linear"``, ``"tree"`` or ``"cnn"``: which attack white-box knowledge allows.
        knowledge: ``"white-box"``, ``"substitute"`` or ``"queries"``.
        model: the target (torch model or fitted scikit-learn classifier).
        x, y: images (N, C, H, W) in [0, 1] and true labels (N,).
        eps: L∞ budget in [0, 1].
        substitute: the attacker's own model, needed for ``"substitute"``.
        max_queries: per-image query limit for ``"queries"``.
        pgd_steps: PGD steps (step size ε/8) for the white-box CNN and the substitute.
        generator: seeds PGD's random start and SimBA's block order.

    Returns:
        ``SimBAResult(x_adv, queries, success)``; ``queries`` counts the queries made *per
        image* (0 for white-box; 1 for substitute, whose training labels are a shared cost);
        ``success``: the target's label differs from ``y``.
    """
    check_choice("kind", kind, KINDS)
    check_choice("knowledge", knowledge, KNOWLEDGE)
    y = QueryModel(model).check(x, y)  # what the model accepts, whichever kind it is
    eps = check_in_range("eps", eps, 0.0, 1.0)
    max_queries = check_positive_int("max_queries", max_queries)
    pgd_steps = check_positive_int("pgd_steps", pgd_steps)
    generator = check_generator(generator)
    n = x.shape[0]
    if knowledge == "queries":
        return simba(QueryModel(model, output="probs"), x, y, eps, max_queries=max_queries, generator=generator, progress=False)
    if knowledge == "white-box":
        if kind == "linear":
            x_adv = classic.linear_attack(model, x, y, eps)
        elif kind == "tree":
            x_adv = classic.tree_attack(model, x, y, eps)
        else:
            x_adv = attacks.pgd(model, x, y, eps, steps=pgd_steps, alpha=eps / 8, generator=generator)
        queries = torch.zeros(n, dtype=torch.int64)
    else:
        if not isinstance(substitute, nn.Module):
            raise TypeError("knowledge='substitute' needs the attacker's trained substitute model (substitute=...)")
        x_adv = attacks.pgd(substitute, x, y, eps, steps=pgd_steps, alpha=eps / 8, generator=generator)
        queries = torch.ones(n, dtype=torch.int64)
    success = classic.predict_labels(model, x_adv).cpu() != y.cpu()
    return SimBAResult(x_adv, queries, success)
