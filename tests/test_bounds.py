"""Interval bound propagation (lesson 08): sound boxes, tight where they should be, clear errors."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lessons import attacks, bounds, models
from lessons.certify import small_cnn


def _inside(model, x, eps, lo, hi, samples=64, seed=0):
    """Random points of the ball (and its corners) land inside [lo, hi]."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(samples // 8):
        sign = torch.randint(0, 3, (8, *x.shape[1:]), generator=g).float() - 1  # corners and the centre
        pts = (x[:1] + eps * sign * torch.rand(8, *x.shape[1:], generator=g).round()).clamp(0, 1)
        out = model(pts)
        assert (out >= lo[:1] - 1e-5).all() and (out <= hi[:1] + 1e-5).all()


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return models.mlp((16, 16)).eval()


def test_linear_box_is_exact(digits):
    torch.manual_seed(0)
    layer = nn.Linear(784, 5)
    x = digits[0][:1].flatten(1)
    lo, hi = bounds.interval_forward(layer, (x - 0.1).clamp(0, 1), (x + 0.1).clamp(0, 1))
    # the corner that follows the sign of each weight row reaches the upper bound exactly
    corner = torch.where(layer.weight > 0, (x + 0.1).clamp(0, 1), (x - 0.1).clamp(0, 1))
    assert torch.allclose(layer(corner).diagonal(), hi[0], atol=1e-5)


@pytest.mark.parametrize("builder", [lambda: models.mlp((16, 16)), small_cnn, models.lenet])
def test_boxes_contain_every_output(builder, digits):
    torch.manual_seed(0)
    model = builder().eval()
    x = digits[0][:1]
    lo, hi = bounds.interval_bounds(model, x, 0.05)
    assert lo.shape == hi.shape == (1, 10) and (lo <= hi).all()
    with torch.no_grad():
        _inside(model, x, 0.05, lo, hi)


def test_zero_eps_gives_the_logits(mlp, digits):
    x = digits[0][:4]
    lo, hi = bounds.interval_bounds(mlp, x, 0.0)
    with torch.no_grad():
        assert torch.allclose(lo, mlp(x), atol=1e-5) and torch.allclose(hi, mlp(x), atol=1e-5)


def test_boxes_grow_with_eps_and_layer_by_layer(mlp, digits):
    x = digits[0][:2]
    widths = [float((hi - lo).mean()) for _, lo, hi in bounds.layer_bounds(mlp, x, 0.05)]
    names = [name for name, _, _ in bounds.layer_bounds(mlp, x, 0.05)]
    assert names[0] == "input" and names[1:] == [n for n, _ in mlp.named_children()]
    small, large = bounds.interval_bounds(mlp, x, 0.01), bounds.interval_bounds(mlp, x, 0.05)
    assert (large[0] <= small[0] + 1e-6).all() and (large[1] >= small[1] - 1e-6).all()
    assert widths[-1] > widths[0]


def test_elided_margins_are_at_least_as_tight_as_subtracting_boxes(mlp, digits):
    x, y = digits[0][:8], digits[1][:8]
    lo, hi = bounds.interval_bounds(mlp, x, 0.03)
    naive = lo.gather(1, y[:, None]) - hi
    m = bounds.margin_bounds(mlp, x, y, 0.03)
    other = torch.ones_like(m, dtype=torch.bool).scatter(1, y[:, None], False)
    assert (m[other] >= naive[other] - 1e-5).all()
    assert (m.gather(1, y[:, None]) == 0).all()


def test_worst_case_loss_bounds_the_loss_of_every_point(mlp, digits):
    x, y = digits[0][:8], digits[1][:8]
    worst = F.cross_entropy(bounds.worst_case_logits(mlp, x, y, 0.05), y, reduction="none")
    x_adv = attacks.pgd(mlp, x, y, 0.05, steps=20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (F.cross_entropy(mlp(x_adv), y, reduction="none") <= worst + 1e-5).all()


def test_verified_digits_survive_an_attack(mnist, digits):
    torch.manual_seed(0)
    model = models.mlp((16,)).eval()
    models.train(model, (mnist.x_train[:500], mnist.y_train[:500]), epochs=3, progress=False, device="cpu")
    x, y = digits
    for eps in (0.005, 0.02):
        proved = bounds.verified(model, x, y, eps)
        attack = functools.partial(attacks.pgd, eps=eps, steps=20, generator=torch.Generator().manual_seed(0))
        fooled = models.predict(model, attack(model, x, y)).argmax(1) != y
        assert not (proved & fooled).any()
    assert bounds.verified(model, x, y, 0.0).equal(models.predict(model, x).argmax(1) == y)


def test_maxpool_is_supported_and_other_layers_are_named(digits):
    x = digits[0][:1]
    lo, hi = bounds.interval_forward(nn.MaxPool2d(2), x, x + 0.1)
    assert lo.shape == (1, 1, 14, 14) and (hi >= lo).all()
    with pytest.raises(TypeError, match="Tanh"):
        bounds.interval_forward(nn.Tanh(), x, x)
    with pytest.raises(TypeError, match="Sequential"):
        bounds.interval_bounds(models.autoencoder_softmax(), x, 0.1)


def test_bad_arguments(mlp, digits):
    x, y = digits[0][:2], digits[1][:2]
    with pytest.raises(ValueError, match="eps"):
        bounds.interval_bounds(mlp, x, 1.5)
    with pytest.raises(TypeError, match="eps"):
        bounds.verified(mlp, x, y, "0.1")
    with pytest.raises(ValueError, match=r"classes in \[0, 9\]"):
        bounds.verified(mlp, x, torch.tensor([0, 10]), 0.1)
    with pytest.raises(ValueError, match="shape"):
        bounds.margin_bounds(mlp, x, y[:1], 0.1)
