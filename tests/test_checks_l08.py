"""Lesson 08's exercise checks: the reference solutions pass, typical mistakes get their feedback."""

import pytest
import torch
from scipy.stats import beta, norm

from lessons import checks, smoothing
from lessons.checks import ExerciseError

# ---- exercise 1: an interval through linear + ReLU

def reference_layer(w, b, lo, hi):
    centre, radius = (hi + lo) / 2, (hi - lo) / 2
    c, r = centre @ w.T + b, radius @ w.abs().T
    return (c - r).clamp(min=0), (c + r).clamp(min=0)


def test_interval_layer_reference_passes(capsys):
    checks.check_interval_layer(reference_layer)
    checks.check_interval_layer(reference_layer, seed=3)
    assert "✓" in capsys.readouterr().out


def _centre_radius(w, b, lo, hi, weights):
    c, r = (hi + lo) / 2 @ w.T + b, (hi - lo) / 2 @ weights.T
    return c - r, c + r


@pytest.mark.parametrize("wrong, message", [
    (lambda w, b, lo, hi: _centre_radius(w, b, lo, hi, w.abs()), "ReLU"),
    (lambda w, b, lo, hi: tuple(t.clamp(min=0) for t in _centre_radius(w, b, lo, hi, w)), r"\|W\|"),
    (lambda w, b, lo, hi: ((lo @ w.T + b).clamp(min=0), (hi @ w.T + b).clamp(min=0)), "centre c"),
    (lambda w, b, lo, hi: reference_layer(w, b, lo, hi)[::-1], "swapped"),
    (lambda w, b, lo, hi: tuple(t.clamp(min=0) for t in _centre_radius(w, b, lo, hi, 0.5 * w.abs())), "not sound"),
    (lambda w, b, lo, hi: (torch.zeros(4, 7), 2 * reference_layer(w, b, lo, hi)[1]), "looser"),
    (lambda w, b, lo, hi: reference_layer(w, b, lo, hi)[0], "two tensors"),
    (lambda w, b, lo, hi: (reference_layer(w, b, lo, hi)[0].T, reference_layer(w, b, lo, hi)[1]), "shape"),
])
def test_interval_layer_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_interval_layer(wrong)


def test_interval_layer_in_place_is_caught():
    def in_place(w, b, lo, hi):
        out = reference_layer(w, b, lo, hi)
        lo.zero_()
        return out

    with pytest.raises(ExerciseError, match="in place"):
        checks.check_interval_layer(in_place)


# ---- exercise 2: CERTIFY

def reference_certify(sample, n0, n, alpha, sigma):
    guess = int(sample(n0).argmax())
    k = int(sample(n)[guess])
    p = beta.ppf(alpha, k, n - k + 1) if k > 0 else 0.0
    return (guess, sigma * norm.ppf(p)) if p > 0.5 else (-1, 0.0)


def test_certify_reference_passes(capsys):
    checks.check_certify(reference_certify)
    checks.check_certify(reference_certify, sigma=0.5)
    assert "✓" in capsys.readouterr().out


def _reuse_selection(sample, n0, n, alpha, sigma):
    counts = sample(n0)
    sample(n)
    guess = int(counts.argmax())
    p = smoothing.lower_confidence_bound(int(counts[guess]), n0, alpha)
    return (guess, sigma * norm.ppf(p)) if p > 0.5 else (-1, 0.0)


def _argmax_of_estimate(sample, n0, n, alpha, sigma):
    sample(n0)
    counts = sample(n)
    guess = int(counts.argmax())
    p = smoothing.lower_confidence_bound(int(counts[guess]), n, alpha)
    return (guess, sigma * norm.ppf(p)) if p > 0.5 else (-1, 0.0)


def _two_sided(sample, n0, n, alpha, sigma):
    guess = int(sample(n0).argmax())
    k = int(sample(n)[guess])
    p = smoothing.lower_confidence_bound(k, n, alpha / 2)
    return (guess, sigma * norm.ppf(p)) if p > 0.5 else (-1, 0.0)


def _point_estimate(sample, n0, n, alpha, sigma):
    guess = int(sample(n0).argmax())
    p = min(int(sample(n)[guess]) / n, 1 - 1e-9)
    return (guess, sigma * norm.ppf(p)) if p > 0.5 else (-1, 0.0)


def _one_sample(sample, n0, n, alpha, sigma):
    counts = sample(n)
    guess = int(counts.argmax())
    p = smoothing.lower_confidence_bound(int(counts[guess]), n, alpha)
    return (guess, sigma * norm.ppf(p)) if p > 0.5 else (-1, 0.0)


@pytest.mark.parametrize("wrong, message", [
    (_reuse_selection, "fresh sample"),
    (_argmax_of_estimate, "first n0 samples only"),
    (_two_sided, "one-sided"),
    (_point_estimate, "should abstain|Clopper"),
    (_one_sample, "draws twice"),
    (lambda sample, n0, n, alpha, sigma: reference_certify(sample, n0, n, alpha, sigma)[1], "pair"),
    (lambda *args: (lambda out: (-1, 0.3) if out[0] == -1 else out)(reference_certify(*args)), "radius 0.0"),
])
def test_certify_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_certify(wrong)


def test_not_written_yet():
    def empty(*args):
        raise NotImplementedError()

    for check in (checks.check_interval_layer, checks.check_certify):
        with pytest.raises(ExerciseError, match="not written yet"):
            check(empty)
