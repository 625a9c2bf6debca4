"""Tests for lessons.manifold (lesson 03): how far images lie from real data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lessons import manifold, models

pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_nearest_distance_is_the_brute_force_minimum_and_zero_for_copies():
    ref = torch.rand(50, 1, 6, 6, generator=gen())
    x = torch.cat([ref[7:9], torch.rand(5, 1, 6, 6, generator=gen(1))])
    d = manifold.nearest_distance(x, ref, batch_size=3)  # batches must not change the answer
    brute = torch.stack([(ref - xi).flatten(1).norm(dim=1).min() for xi in x])
    torch.testing.assert_close(d, brute, atol=1e-4, rtol=1e-4)
    assert float(d[:2].abs().max()) < 1e-3 and bool((d[2:] > 0.1).all())
    with pytest.raises(ValueError, match="one shape"):
        manifold.nearest_distance(x, torch.rand(4, 1, 5, 5))


class _Halver(nn.Module):
    """An 'autoencoder' that redraws every image at half brightness."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))

    def reconstruct(self, x):
        return x * self.scale

    def forward(self, x):
        return x.flatten(1)[:, :10]


def test_reconstruction_error_is_the_rms_difference_and_leaves_the_model_alone():
    ae = _Halver().train()
    x = torch.full((3, 1, 4, 4), 0.8)
    torch.testing.assert_close(manifold.reconstruction_error(ae, x), torch.full((3,), 0.4))
    assert ae.training and ae.scale.grad is None
    with pytest.raises(TypeError, match="reconstruct"):
        manifold.reconstruction_error(nn.Linear(2, 2), x)


def test_autoencoder_redraws_digits_better_than_noise(mnist):
    ae = models.pretrained("ae400-10", device="cpu", progress=False)
    real = manifold.reconstruction_error(ae, mnist.x_test[:100])
    noise = manifold.reconstruction_error(ae, torch.rand(100, 1, 28, 28, generator=gen()))
    assert float(real.median()) < 0.7 * float(noise.median())


def test_noise_confidence_is_reproducible_and_in_range():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    p = manifold.noise_confidence(model, 25, (1, 8, 8), batch_size=10, generator=gen(3))
    assert p.shape == (25,) and float(p.min()) >= 0.1 and float(p.max()) <= 1  # a top class of 10 is ≥ 1/10
    torch.testing.assert_close(p, manifold.noise_confidence(model, 25, (1, 8, 8), generator=gen(3)))
    with pytest.raises(ValueError, match="shape"):
        manifold.noise_confidence(model, 5, (1, 9, 9))
