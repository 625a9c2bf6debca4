"""Properties of fgsm and pgd (lesson 00): the contract every attack in the course keeps."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lessons import attacks, models

ATTACKS = {
    "fgsm": lambda m, x, y, eps, **kw: attacks.fgsm(m, x, y, eps, **kw),
    "pgd-linf": lambda m, x, y, eps, **kw: attacks.pgd(m, x, y, eps, steps=5, generator=torch.Generator().manual_seed(0), **kw),
    "pgd-l2": lambda m, x, y, eps, **kw: attacks.pgd(m, x, y, eps * 10, steps=5, norm="l2",
                                                     generator=torch.Generator().manual_seed(0), **kw),
}


def _loss(model, x, y):
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


@pytest.mark.parametrize("name", ATTACKS)
def test_eps_zero_returns_an_equal_copy(cnn, digits, name):
    x, y = digits
    x_adv = ATTACKS[name](cnn, x, y, 0.0)
    assert torch.equal(x_adv, x) and x_adv.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("name", ATTACKS)
def test_stays_in_ball_and_box(cnn, digits, name):
    x, y = digits
    x_adv = ATTACKS[name](cnn, x, y, 0.2)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    delta = (x_adv - x).flatten(1)
    if name == "pgd-l2":
        assert float(delta.norm(dim=1).max()) <= 2.0 + 1e-5
    else:
        assert float(delta.abs().max()) <= 0.2 + 1e-6


@pytest.mark.parametrize("name", ATTACKS)
def test_untargeted_raises_the_loss_and_the_error(cnn, digits, name):
    x, y = digits
    x_adv = ATTACKS[name](cnn, x, y, 0.15)
    assert _loss(cnn, x_adv, y) > _loss(cnn, x, y) + 1.0
    assert models.accuracy(cnn, x_adv, y) < models.accuracy(cnn, x, y) - 0.3


@pytest.mark.parametrize("name", ATTACKS)
def test_targeted_raises_the_target_probability(cnn, digits, name):
    x, y = digits
    target = (y + 1) % 10
    x_adv = ATTACKS[name](cnn, x, target, 0.15, targeted=True)
    logp_before = models.predict(cnn, x).gather(1, target[:, None]).log()
    logp_after = models.predict(cnn, x_adv).gather(1, target[:, None]).log()
    # every image moves towards its target, and on average by orders of magnitude
    assert bool((logp_after > logp_before).all())
    assert float(logp_after.mean()) > float(logp_before.mean()) + 3.0


@pytest.mark.parametrize("name", ATTACKS)
def test_callers_model_and_tensors_are_untouched(digits, name):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(models.Normalize(0.1, 0.3), nn.Flatten(), nn.Linear(784, 32), nn.Dropout(0.5), nn.Linear(32, 10))
    model.train()  # the caller's mode must survive
    model(x).sum().backward()  # and so must gradients the caller already had
    grads = [p.grad.clone() for p in model.parameters()]
    state = copy.deepcopy(model.state_dict())
    x0, y0 = x.clone(), y.clone()
    ATTACKS[name](model, x, y, 0.1)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(x, x0) and torch.equal(y, y0) and not x.requires_grad


def test_fgsm_matches_closed_form_on_a_linear_model():
    # For logits W x + b, the gradient of the cross-entropy w.r.t. x is Wᵀ (softmax − onehot).
    torch.manual_seed(1)
    lin = nn.Linear(12, 3)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(6, 1, 3, 4) * 0.5 + 0.25
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        p = F.softmax(model(x), dim=1)
        grad = (p - F.one_hot(y, 3).float()) @ lin.weight
    expected = (x.flatten(1) + 0.1 * grad.sign()).clamp(0, 1).view_as(x)
    assert torch.allclose(attacks.fgsm(model, x, y, 0.1), expected)


def test_fgsm_on_binary_logistic_regression_moves_along_sign_w():
    # Goodfellow §5: for logistic regression the adversarial direction is −sign(w)·(2y − 1).
    torch.manual_seed(2)
    lin = nn.Linear(8, 2)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.full((1, 1, 2, 4), 0.5)
    w = lin.weight[1] - lin.weight[0]  # the logit difference's weights
    x_adv = attacks.fgsm(model, x, torch.tensor([1]), 0.05)
    assert torch.allclose((x_adv - x).flatten(), -0.05 * w.sign().detach())


def test_pgd_is_reproducible_with_a_generator(cnn, digits):
    x, y = digits
    runs = [attacks.pgd(cnn, x, y, 0.1, steps=3, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    other = attacks.pgd(cnn, x, y, 0.1, steps=3, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(runs[0], other)


def test_pgd_beats_fgsm_and_restarts_never_hurt(cnn, digits):
    x, y = digits
    g = lambda: torch.Generator().manual_seed(0)
    acc_fgsm = models.accuracy(cnn, attacks.fgsm(cnn, x, y, 0.1), y)
    acc_pgd = models.accuracy(cnn, attacks.pgd(cnn, x, y, 0.1, steps=20, alpha=0.01, generator=g()), y)
    acc_restarts = models.accuracy(cnn, attacks.pgd(cnn, x, y, 0.1, steps=20, alpha=0.01, restarts=3, generator=g()), y)
    assert acc_pgd <= acc_fgsm and acc_restarts <= acc_pgd


def test_pgd_without_random_start_is_deterministic(cnn, digits):
    x, y = digits
    a = attacks.pgd(cnn, x, y, 0.1, steps=3, random_start=False)
    b = attacks.pgd(cnn, x, y, 0.1, steps=3, random_start=False)
    assert torch.equal(a, b)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(eps=8), ValueError, r"eps must be in \[0, 1\], got 8"),
    (dict(eps=-0.1), ValueError, "eps must be in"),
    (dict(eps="0.1"), TypeError, "eps must be a number"),
    (dict(steps=0), ValueError, "steps must be an integer >= 1, got 0"),
    (dict(norm="l1"), ValueError, "norm must be one of 'linf', 'l2', got 'l1'"),
    (dict(alpha=-1), ValueError, "alpha must be in"),
    (dict(restarts=0), ValueError, "restarts must be an integer >= 1"),
    (dict(generator=0), TypeError, "generator must be a torch.Generator"),
])
def test_pgd_rejects_bad_arguments(cnn, digits, kwargs, exc, match):
    x, y = digits
    kwargs = {"eps": 0.1, **kwargs}
    with pytest.raises(exc, match=match):
        attacks.pgd(cnn, x, y, **kwargs)


@pytest.mark.parametrize("x, y, match", [
    (torch.rand(1, 28, 28), torch.tensor([1]), r"shape \(N, C, H, W\)"),
    (torch.rand(2, 1, 28, 28) * 2, torch.tensor([1, 2]), r"\[0, 1\]"),
    (torch.rand(2, 1, 28, 28), torch.tensor([1]), r"y must have shape \(2,\)"),
    (torch.rand(2, 1, 28, 28), torch.tensor([0.0, 1.0]), "integer class indices"),
])
def test_fgsm_rejects_bad_inputs(cnn, x, y, match):
    with pytest.raises((ValueError, TypeError), match=match):
        attacks.fgsm(cnn, x, y, 0.1)


def test_l2_eps_may_exceed_one_but_not_the_diagonal(cnn, digits):
    x, y = digits
    attacks.pgd(cnn, x[:2], y[:2], 3.0, norm="l2", steps=1)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 28\]"):
        attacks.pgd(cnn, x[:2], y[:2], 29.0, norm="l2", steps=1)


def test_attacks_follow_the_input_device(cnn, digits):
    x, y = digits
    assert attacks.fgsm(cnn, x, y, 0.1).device == x.device
