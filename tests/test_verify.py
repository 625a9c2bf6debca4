"""Exact MILP verification (lesson 08): right answers where we know them, sound against attacks and IBP."""

from __future__ import annotations

import functools
from collections import OrderedDict

import pytest
import torch
from torch import nn

from lessons import attacks, bounds, evaluation, models, verify


def _threshold_net() -> nn.Sequential:
    """Two pixels in; class 1 wins exactly when pixel 0 exceeds 0.7: z0 = 0.2, z1 = relu(p0 − 0.5)."""
    net = nn.Sequential(OrderedDict(flatten=nn.Flatten(), fc1=nn.Linear(2, 1), relu1=nn.ReLU(), out=nn.Linear(1, 2)))
    with torch.no_grad():
        net.fc1.weight.copy_(torch.tensor([[1.0, 0.0]]))
        net.fc1.bias.fill_(-0.5)
        net.out.weight.copy_(torch.tensor([[0.0], [1.0]]))
        net.out.bias.copy_(torch.tensor([0.2, 0.0]))
    return net.eval()


X = torch.tensor([[[[0.5, 0.3]]]])  # (1, 1, 1, 2): class 0, 0.2 below the boundary


def test_known_answer_on_a_hand_made_network():
    net = _threshold_net()
    safe = verify.verify(net, X, 0, 0.15)
    assert safe.status == "verified" and safe.x_adv is None
    broken = verify.verify(net, X, 0, 0.25)
    assert broken.status == "broken" and broken.label == 1
    assert float(broken.x_adv[0, 0, 0, 0]) > 0.7 and float((broken.x_adv - X).abs().max()) <= 0.25 + 1e-9
    assert broken.unstable == 1


@pytest.fixture(scope="module")
def tiny(mnist):
    torch.manual_seed(0)
    net = models.mlp((8, 8))
    models.train(net, (mnist.x_train[:600], mnist.y_train[:600]), epochs=4, progress=False, device="cpu")
    return net


def test_exact_sits_between_ibp_and_the_attack(tiny, mnist):
    x, y = mnist.x_test[:6], mnist.y_test[:6]
    eps = 0.02
    verdicts = verify.verify_all(tiny, x, y, eps, progress=False)
    status = [v.status for v in verdicts]
    assert set(status) <= set(verify.STATUSES) and "unknown" not in status
    proved = torch.tensor([s == "verified" for s in status])
    ibp = bounds.verified(tiny, x, y, eps)
    assert not (ibp & ~proved).any()  # whatever IBP proves, the exact verifier proves too
    attack = functools.partial(attacks.pgd, eps=eps, steps=50, generator=torch.Generator().manual_seed(0))
    survived = evaluation.robust_mask(tiny, x, y, attack, restarts=2)
    assert not (proved & ~survived).any()  # no attack beats a proof
    for v, xi, yi in zip(verdicts, x, y):
        if v.status == "broken":  # the counter-example is real: in the ball, misclassified by the network
            assert float((v.x_adv - xi).abs().max()) <= eps + 1e-6 and 0 <= float(v.x_adv.min())
            assert int(tiny(v.x_adv).argmax()) == v.label != int(yi)


def test_a_misclassified_digit_is_broken_without_a_solve(tiny, mnist):
    pred = models.predict(tiny, mnist.x_test[:200]).argmax(1)
    i = int((pred != mnist.y_test[:200]).nonzero()[0])
    v = verify.verify(tiny, mnist.x_test[i : i + 1], mnist.y_test[i], 0.01)
    assert v.status == "broken" and v.solves == 0 and torch.equal(v.x_adv, mnist.x_test[i : i + 1])


def test_out_of_time_is_unknown_not_a_guess(tiny, mnist):
    x, y = mnist.x_test[:1], mnist.y_test[:1]
    v = verify.verify(tiny, x, y, 0.2, time_limit=0.01, tighten=False)
    assert v.status in ("unknown", "broken")  # broken only with a checked counter-example
    if v.status == "unknown":
        assert "time" in v.reason or "stopped" in v.reason


def test_tightening_changes_speed_not_answers(tiny, mnist):
    x, y = mnist.x_test[:3], mnist.y_test[:3]
    loose = [v.status for v in verify.verify_all(tiny, x, y, 0.02, tighten=False, progress=False)]
    tight = [v.status for v in verify.verify_all(tiny, x, y, 0.02, tighten=True, progress=False)]
    assert loose == tight


def test_errors_name_the_problem(tiny, mnist):
    x = mnist.x_test[:2]
    with pytest.raises(ValueError, match="one image"):
        verify.verify(tiny, x, 0, 0.1)
    with pytest.raises(TypeError, match="Conv2d"):
        verify.verify(models.lenet(), x[:1], 0, 0.1)
    with pytest.raises(ValueError, match=r"classes in \[0, 9\]"):
        verify.verify(tiny, x[:1], 12, 0.1)
    with pytest.raises(ValueError, match="eps"):
        verify.verify(tiny, x[:1], 0, -0.1)
    with pytest.raises(TypeError, match="Sequential"):
        verify.verify(models.autoencoder_softmax(), x[:1], 0, 0.1)
