"""Exercise checks of lesson 03, fooling images: feedback a learner can act on."""

from __future__ import annotations

import torch

from ..blackbox import QueryBudgetExceeded, QueryModel
from ..models import predict, pretrained
from .feedback import ExerciseError, call_learner, passed, require, require_tensor

__all__ = ["check_mutation", "check_fool_with_budget"]


def check_mutation(fn, *, rate: float = 0.1, strength: float = 0.05, seed: int = 0) -> None:
    """Lesson 03: ``fn(pixels, rate, strength, generator)`` returns a Gaussian-mutated copy.

    Each pixel, independently with probability ``rate``, moves by N(0, strength²) noise; the
    result is clipped to [0, 1]; the input is left alone; all randomness comes from ``generator``.
    """
    what = "my_mutate"
    x = torch.full((64, 1, 28, 28), 0.5)
    x_in = x.clone()
    out = require_tensor(call_learner(fn, x_in, rate, strength, torch.Generator().manual_seed(seed), what=what),
                         f"{what}'s result", shape=tuple(x.shape))
    require(torch.equal(x_in, x), f"{what} changed its input in place: work on a copy (pixels.clone(), or build a new tensor)")
    out = out.detach().float()
    require(float(out.min()) >= 0 and float(out.max()) <= 1,
            f"values leave [0, 1] (from {float(out.min()):.3f} to {float(out.max()):.3f}): clamp the result with .clamp(0, 1)")
    changed = out != x
    share = float(changed.float().mean())
    if share > 0.95 and rate < 0.5:
        raise ExerciseError(f"{what} changed {share:.0%} of the pixels, but only a share `rate` = {rate:g} should change: "
                            "pick the pixels with a mask, torch.rand(pixels.shape, generator=generator) < rate")
    if abs(share - (1 - rate)) < 0.02 and abs(rate - 0.5) > 0.1:
        raise ExerciseError(f"{what} changed {share:.0%} of the pixels instead of {rate:.0%}: your mask is inverted "
                            "(use `< rate`, so each pixel is chosen with probability rate)")
    require(abs(share - rate) < 0.01,
            f"{what} changed {share:.1%} of the pixels; about {rate:.0%} (`rate`) should change, each pixel independently")
    steps = (out - x)[changed]
    mean, std = float(steps.mean()), float(steps.std())
    require(abs(mean) < 0.2 * strength,
            f"the changes average {mean:+.4f}, not 0: the noise should be centred on zero, "
            "torch.randn(...) (a normal distribution), not torch.rand(...) (uniform on [0, 1))")
    require(abs(std - strength) < 0.15 * strength,
            f"the changes have a standard deviation of {std:.4f}; it should be `strength` = {strength:g}: "
            "add torch.randn(...) * strength to the chosen pixels (add to them, do not replace them)")
    again = call_learner(fn, x.clone(), rate, strength, torch.Generator().manual_seed(seed), what=what)
    require(isinstance(again, torch.Tensor) and torch.equal(again.detach().float(), out),
            f"{what} gave different results for two generators with the same seed: draw every random number "
            "from the generator argument (torch.rand(..., generator=generator), torch.randn(..., generator=generator))")
    other = call_learner(fn, x.clone(), rate, strength, torch.Generator().manual_seed(seed + 1), what=what)
    require(isinstance(other, torch.Tensor) and not torch.equal(other.detach().float(), out),
            f"{what} ignores the generator: a different seed should give a different mutation")
    edge = call_learner(fn, torch.full((4, 1, 28, 28), 0.98), 0.5, 0.3, torch.Generator().manual_seed(seed), what=what)
    require(isinstance(edge, torch.Tensor) and float(edge.max()) <= 1 and float(edge.min()) >= 0,
            "for pixels near 1 with a large strength, values leave [0, 1]: clamp the result with .clamp(0, 1)")
    passed(f"{what} mutates {share:.1%} of the pixels (rate {rate:g}) by steps of std {std:.4f} (strength {strength:g})")


def check_fool_with_budget(fn, *, target: int = 3, budget: int = 3000, seed: int = 0, threshold: float = 0.99) -> None:
    """Lesson 03: ``fn(query, target, budget, generator)`` returns one digit image the CNN calls ``target``.

    ``query(images)`` returns the CNN's probabilities (N, 10) without gradients; at most
    ``budget`` images may be sent to it in total. The image must score ≥ ``threshold``.
    """

    cnn = pretrained("cnn", device="cpu", progress=False)
    oracle = QueryModel(cnn, output="probs", budget=budget)
    try:
        out = call_learner(fn, oracle, target, budget, torch.Generator().manual_seed(seed), what="my_fool")
    except ExerciseError as err:
        if isinstance(err.__cause__, QueryBudgetExceeded):
            raise ExerciseError(f"my_fool asked for more than its budget of {budget} evaluations: count the images "
                                "you send to query, and stop (returning your best image) before the budget runs "
                                "out") from err.__cause__
        if isinstance(err.__cause__, RuntimeError) and "grad" in str(err.__cause__):
            raise ExerciseError(f"{err}. query's answers carry no gradients (like a remote service's): "
                                "search by mutating images and keeping the better ones instead") from err.__cause__
        raise
    out = require_tensor(out, "my_fool's result")
    if out.dim() == 3:
        raise ExerciseError(f"my_fool returned shape {tuple(out.shape)}: return one image as a batch of one, (1, 1, 28, 28) "
                            "(add .unsqueeze(0) or index with [None])")
    require_tensor(out, "my_fool's result", shape=(1, 1, 28, 28))
    out = out.detach().float()
    require(float(out.min()) >= 0 and float(out.max()) <= 1,
            f"the image's values leave [0, 1] (from {float(out.min()):.3f} to {float(out.max()):.3f}): clamp it")
    require(oracle.queries > 0, "my_fool never called query: score candidate images with query(images)[:, target]")
    p = float(predict(cnn, out)[0, target])
    require(p >= threshold,
            f"the CNN gives your image {p:.2%} for '{target}' (goal: ≥ {threshold:.0%}) after {oracle.queries} of "
            f"{budget} evaluations. Keep the best image so far; each round, mutate it into a batch of children, "
            "score them with one query, and keep the best child if it beats the parent")
    passed(f"the CNN calls your image a '{target}' with {p:.4%} confidence; you used {oracle.queries} of {budget} evaluations")
