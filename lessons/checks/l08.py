"""Exercise checks of lesson 08, guarantees: an interval through a layer, and Cohen et al.'s CERTIFY."""

from __future__ import annotations

import math

import torch
from scipy.stats import norm

from ..smoothing import ABSTAIN, lower_confidence_bound
from .feedback import ExerciseError, call_learner, passed, require, require_number, require_tensor

__all__ = ["check_interval_layer", "check_certify"]


# --------------------------------------------------------------------------- exercise 1: an interval through linear + ReLU


def _l08_reference_layer(w, b, lo, hi):
    centre, radius = (hi + lo) / 2, (hi - lo) / 2
    c, r = centre @ w.T + b, radius @ w.abs().T
    return (c - r).clamp_min(0), (c + r).clamp_min(0)


def _l08_wrong_layers(w, b, lo, hi):
    """The usual slips, each with the feedback that names it."""
    no_relu = (lambda c, r: (c - r, c + r))((hi + lo) / 2 @ w.T + b, (hi - lo) / 2 @ w.abs().T)
    signed = (lambda c, r: ((c - r).clamp_min(0), (c + r).clamp_min(0)))((hi + lo) / 2 @ w.T + b, (hi - lo) / 2 @ w.T)
    return [
        (no_relu, "your bounds are right before the ReLU: apply it (clamp_min(0)) to both bounds — ReLU is "
                  "monotone, so the box's corners map to the corners"),
        # W·lo + b and W·hi + b are the same pair: W(c ∓ r) = Wc ∓ Wr
        (signed, "the radius must use |W|: a negative weight turns the *upper* end of an input into the *lower* "
                 "end of the output, so W·lo and W·hi are not the extremes. Use the centre c = (lo + hi)/2 and "
                 "radius r = (hi − lo)/2: the output box is W·c + b ± |W|·r"),
    ]


def check_interval_layer(fn, *, seed: int = 0) -> None:
    """Lesson 08: ``fn(W, b, lo, hi)`` returns the bounds of ReLU(z Wᵀ + b) for every z between ``lo`` and ``hi``.

    Shapes: ``W`` (m, n), ``b`` (m,), ``lo``/``hi`` (N, n) → two tensors (N, m). Checked against
    the reference on random layers, for soundness (random points inside the box stay inside the
    bounds) and against three classic mistakes.
    """
    g = torch.Generator().manual_seed(seed)
    w, b = torch.randn(7, 5, generator=g), torch.randn(7, generator=g)
    lo = torch.rand(4, 5, generator=g)
    hi = lo + 0.3 * torch.rand(4, 5, generator=g)
    args = [t.clone() for t in (w, b, lo, hi)]
    out = call_learner(fn, *args, what="my_interval_layer")
    require(isinstance(out, (tuple, list)) and len(out) == 2,
            f"my_interval_layer should return two tensors (lower, upper), but it returned {type(out).__name__}")
    got_lo = require_tensor(out[0], "the lower bound", shape=(4, 7))
    got_hi = require_tensor(out[1], "the upper bound", shape=(4, 7))
    require(all(torch.equal(a, c) for a, c in zip(args, (w, b, lo, hi))),
            "my_interval_layer changed one of its inputs in place: compute new tensors instead")
    ref_lo, ref_hi = _l08_reference_layer(w, b, lo, hi)
    if not (torch.allclose(got_lo, ref_lo, atol=1e-5) and torch.allclose(got_hi, ref_hi, atol=1e-5)):
        if torch.allclose(got_lo, ref_hi, atol=1e-5) and torch.allclose(got_hi, ref_lo, atol=1e-5):
            raise ExerciseError("lower and upper are swapped: return (lower, upper)")
        for (wrong_lo, wrong_hi), hint in _l08_wrong_layers(w, b, lo, hi):
            if torch.allclose(got_lo, wrong_lo, atol=1e-5) and torch.allclose(got_hi, wrong_hi, atol=1e-5):
                raise ExerciseError(hint)
        points = lo + (hi - lo) * torch.rand(256, *lo.shape, generator=g)
        outputs = (points @ w.T + b).clamp_min(0)
        outside = bool(((outputs < got_lo - 1e-5) | (outputs > got_hi + 1e-5)).any())
        raise ExerciseError("some points of the box land outside your bounds: they are not sound" if outside else
                            "your bounds are sound but looser than interval arithmetic gives: the output box has "
                            "centre W·c + b and radius |W|·r, then the ReLU")
    passed("interval bounds through linear + ReLU: sound and as tight as interval arithmetic gets")


# --------------------------------------------------------------------------- exercise 2: CERTIFY


class _l08_Sampler:
    """Scripted noisy-sample counts: returns ``scripts[i]`` scaled to ``num`` on the i-th call, and records the calls."""

    def __init__(self, *shares: list[float]) -> None:
        self.shares, self.calls = shares, []

    def __call__(self, num: int) -> torch.Tensor:
        self.calls.append(int(num))
        share = torch.tensor(self.shares[min(len(self.calls), len(self.shares)) - 1], dtype=torch.float64)
        counts = torch.floor(share * num).long()
        counts[int(share.argmax())] += num - int(counts.sum())  # the rounding remainder to the top class
        return counts


def _l08_reference_certify(sample, n0, n, alpha, sigma):
    guess = int(sample(n0).argmax())
    p = lower_confidence_bound(int(sample(n)[guess]), n, alpha)
    return (ABSTAIN, 0.0) if p <= 0.5 else (guess, sigma * float(norm.ppf(p)))


def _l08_one_hot(k: int, cls: int, p: float, runner_up: int = 0) -> list[float]:
    share = [0.0] * k
    share[cls], share[runner_up if runner_up != cls else (cls + 1) % k] = p, 1 - p
    return share


def _l08_unpack(out, what: str) -> tuple[int, float]:
    require(isinstance(out, (tuple, list)) and len(out) == 2,
            f"{what} should return a pair (class, radius), but it returned {out!r}")
    cls, rad = out
    require(isinstance(cls, int) or (isinstance(cls, torch.Tensor) and cls.numel() == 1),
            f"the class should be an int (or -1 to abstain), but it is {cls!r}")
    return int(cls), require_number(rad, "the radius")


def check_certify(fn, *, sigma: float = 0.25, seed: int = 0) -> None:
    """Lesson 08: ``fn(sample, n0, n, alpha, sigma)`` follows Cohen et al.'s CERTIFY.

    ``sample(num)`` returns class counts (K,) of ``num`` fresh noisy copies. Scripted samplers
    test a clear winner, a close call (abstain), a selection sample that disagrees with the
    estimation sample, and the number and size of the draws.
    """
    n0, n, alpha = 100, 1000, 0.001
    cases = [
        ("a clear winner", [_l08_one_hot(10, 3, 0.99)], None),
        ("a close call", [_l08_one_hot(10, 7, 0.52)], None),
        ("selection and estimation disagree", [_l08_one_hot(10, 2, 0.9, 5), _l08_one_hot(10, 5, 0.6, 2)],
         "pick the class from the first n0 samples only, then count *that* class in the n new samples, even "
         "if another class comes out on top there: choosing the class on the same samples you estimate with "
         "biases the estimate upwards"),
        ("a confident selection, a weaker estimate", [_l08_one_hot(10, 4, 1.0), _l08_one_hot(10, 4, 0.8)],
         "estimate p_A from the second, fresh sample of size n, not from the n0 selection samples"),
    ]
    for name, shares, hint in cases:
        got_sampler, ref_sampler = _l08_Sampler(*shares), _l08_Sampler(*shares)
        got = _l08_unpack(call_learner(fn, got_sampler, n0, n, alpha, sigma, what="my_certify"), "my_certify")
        expected = _l08_reference_certify(ref_sampler, n0, n, alpha, sigma)
        require(got_sampler.calls == [n0, n],
                f"in '{name}', my_certify drew samples of sizes {got_sampler.calls}: CERTIFY draws twice, "
                f"n0 = {n0} to select a class, then n = {n} fresh ones to estimate its probability")
        if got[0] != expected[0]:
            if hint is not None:
                raise ExerciseError(hint)
            if expected[0] == ABSTAIN:
                raise ExerciseError(f"in '{name}' the answer should be to abstain (return ({ABSTAIN}, 0.0)): the "
                                    "lower confidence bound on p_A is not above ½, so no radius can be certified")
            raise ExerciseError(f"in '{name}' the class should be {expected[0]}, got {got[0]}")
        if expected[0] == ABSTAIN:
            require(got[1] == 0.0, f"in '{name}' my_certify abstains: return the radius 0.0 with it, got {got[1]}")
        elif not math.isclose(got[1], expected[1], rel_tol=1e-4, abs_tol=1e-6):
            selection, estimate = (_l08_Sampler(share)(num)[expected[0]] for share, num in
                                   ((shares[0], n0), (shares[-1], n)))
            variants = [
                (int(selection), n0, alpha, "estimate p_A from the second, fresh sample of size n, not from the n0 "
                                            "selection samples (they chose the class, so they flatter it)"),
                (int(estimate), n, alpha / 2, "the bound must be one-sided at level alpha (Clopper–Pearson lower "
                                              "bound beta.ppf(alpha, k, n − k + 1)), not half of a two-sided interval"),
            ]
            for k, size, level, feedback in variants:
                if math.isclose(got[1], sigma * float(norm.ppf(lower_confidence_bound(k, size, level))), rel_tol=1e-4):
                    raise ExerciseError(feedback)
            raise ExerciseError(hint if hint is not None and got[1] > expected[1] else
                                f"in '{name}' the radius should be σ·Φ⁻¹(p_A) = {expected[1]:.4f}, got {got[1]:.4f}: "
                                "p_A is the one-sided Clopper–Pearson lower bound "
                                "(smoothing.lower_confidence_bound(k, n, alpha)) and Φ⁻¹ is norm.ppf")
    passed("CERTIFY: selection, fresh estimation, a one-sided bound, abstention — as in Cohen et al.")
