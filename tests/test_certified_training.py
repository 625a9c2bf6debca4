"""Training for a certificate (lesson 08): IBP's schedule and loss, Gaussian augmentation, the loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lessons import bounds, certified_training, models


def test_schedule_warms_up_then_ramps():
    s = certified_training.ibp_schedule
    assert s(0.5, 0.3, warmup=1, ramp=4) == (0.0, 1.0)
    eps, kappa = s(3.0, 0.3, warmup=1, ramp=4)
    assert eps == pytest.approx(0.15) and kappa == pytest.approx(0.75)
    assert s(10.0, 0.3, warmup=1, ramp=4) == (0.3, 0.5)
    assert s(2.0, 0.3, warmup=1, ramp=0) == (0.3, 0.5)
    with pytest.raises(ValueError, match="kappa_final"):
        s(1.0, 0.3, warmup=1, ramp=4, kappa_final=2.0)


def test_ibp_loss_mixes_nominal_and_worst_case(digits):
    torch.manual_seed(0)
    model = models.mlp((16,)).eval()
    x, y = digits[0][:16], digits[1][:16]
    loss = certified_training.ibp_loss(0.1, warmup=1, ramp=2)
    with torch.no_grad():
        nominal = F.cross_entropy(model(x), y)
        value, facts = loss(model, x, y, 0.0)
        assert torch.isclose(value, nominal) and facts["eps"] == 0.0
        value, facts = loss(model, x, y, 5.0)  # full ε, κ = ½
        worst = F.cross_entropy(bounds.worst_case_logits(model, x, y, 0.1), y)
    assert torch.isclose(value, 0.5 * nominal + 0.5 * worst) and float(worst) >= float(nominal)


def test_ibp_training_makes_more_digits_verifiable(mnist):
    x, y = mnist.x_train[:400], mnist.y_train[:400]
    verified = {}
    for name, loss in (("standard", certified_training.ibp_loss(0.0, warmup=0, ramp=0)),
                       ("ibp", certified_training.ibp_loss(0.05, warmup=1, ramp=1))):
        torch.manual_seed(0)
        model = models.mlp((32,))
        out = certified_training.fit(model, (x, y), loss, epochs=6, batch_size=50, device="cpu", progress=False)
        assert len(out["epoch_facts"]) == 6 and out["seconds"] > 0 and not model.training
        verified[name] = float(bounds.verified(model, mnist.x_test[:200], mnist.y_test[:200], 0.05).float().mean())
    assert verified["ibp"] > verified["standard"] + 0.1


def test_gaussian_training_draws_fresh_noise(digits):
    x, y = digits
    torch.manual_seed(0)
    model = models.mlp((16,))
    before = [p.detach().clone() for p in model.parameters()]
    out = certified_training.fit(model, (x, y), certified_training.gaussian_loss(0.5), epochs=2, batch_size=16,
                                 device="cpu", progress=False)
    assert "noisy" in out["epoch_facts"][0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    loss = certified_training.gaussian_loss(0.5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert float(loss(model, x, y, 0.0)[0]) != float(loss(model, x, y, 0.0)[0])


def test_fit_checks_its_arguments(digits):
    model = models.mlp((4,))
    loss = certified_training.gaussian_loss(0.1)
    with pytest.raises(ValueError, match=r"classes in \[0, 9\]"):
        certified_training.fit(model, (digits[0], digits[1] + 10), loss, progress=False, device="cpu")
    with pytest.raises(TypeError, match="epochs"):
        certified_training.fit(model, digits, loss, epochs=1.5, progress=False, device="cpu")
    with pytest.raises(ValueError, match="sigma"):
        certified_training.gaussian_loss(-0.1)
