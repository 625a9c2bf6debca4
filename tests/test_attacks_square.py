"""Lesson 07's Square Attack: black-box for real, within budget, counted, and it breaks a masked gradient."""

import pytest
import torch

from lessons import attacks, models
from lessons.attacks.square import square_share


class NoGradients(torch.nn.Module):
    """A model that records whether it was ever called with autograd on (a black box must not)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.calls, self.with_grad = 0, 0

    def forward(self, x):
        self.calls += len(x)
        self.with_grad += int(torch.is_grad_enabled() or x.requires_grad)
        return self.net(x)


def test_square_never_uses_a_gradient_and_counts_queries(cnn, digits):
    x, y = digits
    model = NoGradients(cnn).eval()
    res = attacks.square_attack(model, x, y, 0.3, queries=50, generator=torch.Generator().manual_seed(0))
    assert model.with_grad == 0
    # every image the attack shows the model is a query, and counted (plus the one image every
    # attack's argument check runs through the model to learn its classes)
    assert model.calls == int(res.queries.sum()) + 1
    assert int(res.queries.max()) <= 50 and int(res.queries.min()) >= 1
    # an image stops costing queries once fooled
    assert torch.all(res.queries[res.success] <= 50)
    assert bool((res.success == (models.predict(cnn, res.x_adv).argmax(1) != y)).all())


def test_square_protocol(cnn, digits):
    x, y = digits
    x_in = x.clone()
    cnn.train()
    x_adv = attacks.square(cnn, x, y, 0.2, queries=20, generator=torch.Generator().manual_seed(0))
    assert cnn.training
    cnn.eval()
    assert torch.equal(x, x_in) and x_adv.shape == x.shape
    assert float((x_adv - x).abs().max()) <= 0.2 + 1e-6 and float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    again = attacks.square(cnn, x, y, 0.2, queries=20, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x_adv, again)
    assert torch.equal(attacks.square(cnn, x, y, 0.0), x)


def test_square_schedule_halves_the_window():
    # the paper's schedule for 10,000 queries, squeezed to the budget
    assert square_share(0, 10_000) == 0.8 and square_share(11, 10_000) == 0.4 and square_share(9000, 10_000) == 0.8 / 512
    assert square_share(500, 5000) == square_share(1000, 10_000)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(queries=0), ValueError, "queries must be an integer >= 1"),
    (dict(p_init=0.0), ValueError, "p_init must be in"),
    (dict(resample="no"), TypeError, "resample must be True or False"),
])
def test_square_bad_arguments(tiny_cnn, digits, kwargs, error, match):
    x, y = digits
    with pytest.raises(error, match=match):
        attacks.square_attack(tiny_cnn, x, y, 0.1, **kwargs)


def test_square_breaks_a_model_whose_gradient_is_zero(cnn, mnist):
    class Rounded(torch.nn.Module):  # 8 grey levels: gradient 0 almost everywhere
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(torch.round(x * 7) / 7)

    x, y = mnist.x_test[:40], mnist.y_test[:40]
    model = Rounded(cnn).eval()
    pgd = attacks.pgd(model, x, y, 0.3, steps=10, alpha=0.03, generator=torch.Generator().manual_seed(0))
    square = attacks.square(model, x, y, 0.3, queries=200, generator=torch.Generator().manual_seed(0))
    clean = models.accuracy(model, x, y)
    assert models.accuracy(model, pgd, y) > clean - 0.15  # PGD is stuck ...
    assert models.accuracy(model, square, y) < 0.2  # ... Square is not
