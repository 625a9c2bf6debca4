"""Measuring robustness (lesson 05): robust masks with restarts, robust accuracy, robustness curves."""

import functools

import pytest
import torch
from torch import nn

from lessons import attacks, evaluation, models


class _MarkerModel(nn.Module):
    """Class 0 when pixel (0, 0) is bright, else class 1: easy to fool on purpose."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        bright = x[:, 0, 0, 0] - 0.5
        return torch.stack([self.scale * bright, -self.scale * bright], dim=1)


def _marked(n):
    """n images of class 0; pixel (0, 1) stores the image's index so an attack can tell them apart."""
    x = torch.zeros(n, 1, 2, 2)
    x[:, 0, 0, 0] = 1.0
    x[:, 0, 0, 1] = torch.arange(n) / n
    return x, torch.zeros(n, dtype=torch.long)


def _fool_one_third_per_restart(n, calls):
    def fn(model, x, y):
        r = len(calls)
        calls.append(len(x))
        ids = (x[:, 0, 0, 1] * n).round().long()
        x = x.clone()
        x[ids % 3 == r, 0, 0, 0] = 0.0  # restart r fools the digits with id ≡ r (mod 3)
        return x
    return fn


def test_an_example_fooled_by_any_restart_counts_as_fooled():
    model, (x, y) = _MarkerModel(), _marked(30)
    for restarts, expected in [(1, 20), (2, 10), (3, 0), (5, 0)]:
        calls = []
        alive = evaluation.robust_mask(model, x, y, _fool_one_third_per_restart(30, calls), restarts=restarts)
        assert int(alive.sum()) == expected
        assert bool((alive == ((torch.arange(30) % 3) >= restarts)).all())
        # each restart attacks only the examples still standing, and restarts stop when none are left
        assert calls == [30, 20, 10][: min(restarts, 3)]


def test_alive_continues_an_earlier_run_instead_of_repeating_it():
    model, (x, y) = _MarkerModel(), _marked(30)
    first = evaluation.robust_mask(model, x, y, _fool_one_third_per_restart(30, []))
    calls = [None]  # the continued run starts at restart 1: it fools the ids ≡ 1 (mod 3)
    both = evaluation.robust_mask(model, x, y, _fool_one_third_per_restart(30, calls), alive=first)
    assert calls[1:] == [20]  # only the 20 survivors of the first run were attacked
    assert both.tolist() == ((torch.arange(30) % 3) == 2).tolist()
    assert first.sum() == 20  # the caller's mask is not modified
    with pytest.raises(ValueError, match=r"alive must be a boolean tensor of shape \(30,\)"):
        evaluation.robust_mask(model, x, y, lambda m, xb, yb: xb, alive=torch.ones(29, dtype=torch.bool))


def test_a_digit_misread_when_clean_is_not_robust():
    model, (x, y) = _MarkerModel(), _marked(6)
    y = y.clone()
    y[0] = 1  # the model says 0: wrong before any attack
    alive = evaluation.robust_mask(model, x, y, lambda m, xb, yb: xb.clone())
    assert alive.tolist() == [False] + [True] * 5


def test_robust_accuracy_matches_attacks_counted_by_hand(cnn, digits):
    x, y = digits
    fgsm = functools.partial(attacks.fgsm, eps=0.3)
    pgd5 = functools.partial(attacks.pgd, eps=0.3, steps=5, alpha=0.075, generator=torch.Generator().manual_seed(0))
    clean_ok = models.predict(cnn, x).argmax(1) == y
    fgsm_ok = models.predict(cnn, attacks.fgsm(cnn, x, y, 0.3)).argmax(1) == y
    assert evaluation.robust_accuracy(cnn, (x, y), fgsm) == pytest.approx(float((clean_ok & fgsm_ok).float().mean()))
    # only clean-correct digits are attacked, so PGD's random starts differ from a run on all of them;
    # PGD-5 at ε = 0.3 fools a standard CNN either way
    x_adv = attacks.pgd(cnn, x, y, 0.3, steps=5, alpha=0.075, generator=torch.Generator().manual_seed(0))
    pgd_ok = models.predict(cnn, x_adv).argmax(1) == y
    acc = evaluation.robust_accuracy(cnn, (x, y), pgd5)
    assert acc <= float((clean_ok & pgd_ok).float().mean()) + 0.1 and acc < 0.2


def test_robust_mask_rejects_bad_arguments(cnn, digits):
    x, y = digits
    with pytest.raises(TypeError, match="bound attack"):
        evaluation.robust_mask(cnn, x, y, "pgd")
    with pytest.raises(ValueError, match="restarts must be an integer >= 1, got 0"):
        evaluation.robust_mask(cnn, x, y, lambda m, xb, yb: xb, restarts=0)
    with pytest.raises(TypeError, match="pair"):
        evaluation.robust_accuracy(cnn, x, lambda m, xb, yb: xb)
    with pytest.raises(ValueError, match="must return images of shape"):
        evaluation.robust_mask(cnn, x, y, lambda m, xb, yb: xb[:1])
    with pytest.raises(ValueError, match=r"y must hold classes in \[0, 9\]"):
        evaluation.robust_mask(cnn, x, torch.full_like(y, 10), lambda m, xb, yb: xb)


def test_robustness_curve_starts_at_clean_accuracy_and_falls(cnn, digits):
    x, y = digits
    curve = evaluation.robustness_curve(cnn, (x, y), [0.0, 0.05, 0.3], steps=5, generator=torch.Generator().manual_seed(0))
    assert curve[0] == pytest.approx(models.accuracy(cnn, x, y))
    assert curve[0] >= curve[1] >= curve[2] and curve[2] < 0.2




def test_robustness_curve_rejects_a_bare_number_and_an_empty_list(cnn, digits):
    with pytest.raises(TypeError, match="eps_values must be a list"):
        evaluation.robustness_curve(cnn, digits, 0.1)
    with pytest.raises(ValueError, match="at least one"):
        evaluation.robustness_curve(cnn, digits, [])
