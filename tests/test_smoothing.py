"""Randomized smoothing (lesson 08): Cohen et al.'s PREDICT and CERTIFY, the bound, the attack."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm
from torch import nn

from lessons import smoothing


class _Pixel(nn.Module):
    """Logits (pixel₀ − ½, 0): class 0 when the first pixel is above ½, else class 1 (a 50/50 call at ½)."""

    def forward(self, x):
        p = x.flatten(1)[:, :1] - 0.5
        return torch.cat([p, torch.zeros_like(p)], 1)


def _constant(cls: int, k: int = 4) -> nn.Module:
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, k))
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].bias.copy_(torch.nn.functional.one_hot(torch.tensor(cls), k).float())
    return net


X = torch.full((1, 1, 2, 2), 0.5)


def test_clopper_pearson_bound():
    assert smoothing.lower_confidence_bound(0, 100, 0.01) == 0.0
    # all n successes: the bound is α^(1/n) (Beta(n, 1) has CDF p^n)
    assert math.isclose(smoothing.lower_confidence_bound(100, 100, 0.01), 0.01 ** (1 / 100), rel_tol=1e-9)
    lows = [smoothing.lower_confidence_bound(k, 100, 0.01) for k in (50, 70, 90)]
    assert lows == sorted(lows) and all(low < k / 100 for low, k in zip(lows, (50, 70, 90)))
    with pytest.raises(ValueError, match="at most n"):
        smoothing.lower_confidence_bound(11, 10, 0.01)


def test_radius_is_sigma_times_the_normal_quantile():
    assert smoothing.radius(0.5, 0.25) == 0.0
    assert math.isclose(smoothing.radius(float(norm.cdf(1.0)), 0.25), 0.25)


def test_a_constant_classifier_gets_the_largest_certifiable_radius():
    g = torch.Generator().manual_seed(0)
    cls, r = smoothing.certify(_constant(2), X, 0.5, n0=10, n=200, alpha=0.001, generator=g)
    assert cls == 2 and math.isclose(r, 0.5 * norm.ppf(0.001 ** (1 / 200)), rel_tol=1e-9)
    assert smoothing.smoothed_predict(_constant(2), X, 0.5, n=50, generator=g) == 2


def test_a_coin_flip_abstains():
    g = torch.Generator().manual_seed(0)
    assert smoothing.certify(_Pixel(), X, 0.25, n0=50, n=500, generator=g) == (smoothing.ABSTAIN, 0.0)
    assert smoothing.smoothed_predict(_Pixel(), X, 0.25, n=500, generator=g) == smoothing.ABSTAIN
    counts = smoothing.sample_counts(_Pixel(), X, 0.25, 1000, generator=g)
    assert counts.sum() == 1000 and abs(int(counts[0]) - 500) < 100


def test_the_radius_follows_the_distance_to_the_boundary():
    # f = "pixel₀ > ½": at pixel₀ = ½ + d the true smoothed radius is exactly d (a half-space);
    # the certificate must not exceed it, and with many samples it comes close.
    x = torch.full((1, 1, 2, 2), 0.5)
    x[0, 0, 0, 0] = 0.6
    cls, r = smoothing.certify(_Pixel(), x, 0.25, n0=100, n=20000, generator=torch.Generator().manual_seed(1))
    assert cls == 0 and 0.08 < r <= 0.1


def test_same_seed_same_certificate():
    a = smoothing.certify(_Pixel(), X + 0.05, 0.25, n=300, generator=torch.Generator().manual_seed(3))
    b = smoothing.certify(_Pixel(), X + 0.05, 0.25, n=300, generator=torch.Generator().manual_seed(3))
    assert a == b


def test_certify_all_and_certified_accuracy():
    x = torch.stack([X[0], X[0] + 0.2, X[0] - 0.2])
    y = torch.tensor([0, 0, 1])
    certs = smoothing.certify_all(_Pixel(), x, y, 0.25, n=400, seed=0, progress=False)
    assert certs.prediction.tolist() == [smoothing.ABSTAIN, 0, 1]
    assert certs.accuracy(0.0) == pytest.approx(2 / 3) and certs.accuracy(5.0) == 0.0
    accs = [certs.accuracy(r) for r in (0.0, 0.05, 0.1, 0.2)]
    assert accs == sorted(accs, reverse=True)
    again = smoothing.certify(_Pixel(), x[1:2], 0.25, n=400, generator=torch.Generator().manual_seed(1))
    assert again == (int(certs.prediction[1]), float(certs.radius[1]))  # digit i uses seed + i


def test_the_attack_stays_in_the_ball_and_lowers_the_vote():
    x = torch.full((4, 1, 2, 2), 0.7)
    y = torch.zeros(4, dtype=torch.long)
    model = _Pixel().train()
    x_adv = smoothing.smoothed_attack(model, x, y, 0.3, sigma=0.25, steps=10, generator=torch.Generator().manual_seed(0))
    assert model.training  # mode restored
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 0.3 + 1e-6 and 0 <= float(x_adv.min()) <= float(x_adv.max()) <= 1
    assert (x_adv[:, 0, 0, 0] < x[:, 0, 0, 0] - 0.25).all()  # it pushed pixel₀ toward the boundary


def test_bad_arguments():
    with pytest.raises(ValueError, match="one image"):
        smoothing.certify(_Pixel(), torch.zeros(2, 1, 2, 2), 0.25)
    with pytest.raises(ValueError, match="sigma"):
        smoothing.certify(_Pixel(), X, -1.0)
    with pytest.raises(TypeError, match="n0"):
        smoothing.certify(_Pixel(), X, 0.25, n0=1.5)
    with pytest.raises(TypeError, match="generator"):
        smoothing.sample_counts(_Pixel(), X, 0.25, 10, generator=0)
