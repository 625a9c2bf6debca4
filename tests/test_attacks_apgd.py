"""Lesson 07's losses and Auto-PGD: the formulas, the schedule, the protocol, and that APGD beats a bad PGD."""

import math

import pytest
import torch
import torch.nn.functional as F

from lessons import attacks, models
from lessons.attacks import losses


@pytest.fixture()
def logits():
    return torch.tensor([[5.0, 1.0, 3.0, 0.0], [0.0, 2.0, -1.0, 4.0]])


def test_losses_by_hand(logits):
    y = torch.tensor([0, 1])
    torch.testing.assert_close(losses.cross_entropy(logits, y), F.cross_entropy(logits, y, reduction="none"))
    torch.testing.assert_close(losses.margin_loss(logits, y), torch.tensor([3.0 - 5.0, 4.0 - 2.0]))
    # DLR = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3): row 0: −(5 − 3)/(5 − 1); row 1: −(2 − 4)/(4 − 0)
    torch.testing.assert_close(losses.dlr(logits, y), torch.tensor([-0.5, 0.5]))
    t = torch.tensor([2, 3])
    torch.testing.assert_close(losses.targeted_margin(logits, y, t), torch.tensor([3.0 - 5.0, 4.0 - 2.0]))
    # targeted DLR = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2): row 0: −2/(5 − 0.5); row 1: 2/(4 − (−0.5))
    torch.testing.assert_close(losses.targeted_dlr(logits, y, t), torch.tensor([-2 / 4.5, 2 / 4.5]))
    torch.testing.assert_close(losses.targeted_cross_entropy(logits, y, t), -F.cross_entropy(logits, t, reduction="none"))


def test_dlr_ignores_scale_and_shift_cross_entropy_does_not(logits):
    y = torch.tensor([0, 1])
    t = torch.tensor([2, 3])
    for scale, shift in [(1000.0, 0.0), (0.01, 7.0)]:
        torch.testing.assert_close(losses.dlr(scale * logits + shift, y), losses.dlr(logits, y))
        torch.testing.assert_close(losses.targeted_dlr(scale * logits + shift, y, t), losses.targeted_dlr(logits, y, t))
    # At a scale of 1000 the cross-entropy of the correctly classified row is saturated: its gradient is exactly 0.
    z = (1000 * logits[:1]).requires_grad_(True)
    (grad,) = torch.autograd.grad(losses.cross_entropy(z, y[:1]).sum(), z)
    assert torch.count_nonzero(grad) == 0
    (grad,) = torch.autograd.grad(losses.dlr(z, y[:1]).sum(), z)
    assert torch.count_nonzero(grad) > 0


def test_loss_fn_and_errors(logits):
    assert losses.loss_fn("dlr") is losses.dlr and losses.loss_fn("dlr", targeted=True) is losses.targeted_dlr
    with pytest.raises(ValueError, match="name must be one of"):
        losses.loss_fn("hinge")
    with pytest.raises(ValueError, match="logits must have at least 3 classes"):
        losses.dlr(logits[:, :2], torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"y must have shape \(2,\)"):
        losses.dlr(logits, torch.tensor([0]))


def test_checkpoints_follow_croce_and_hein():
    # p_0 = 0, p_1 = 0.22, gaps shrink by 0.03 to at least 0.06 (their code's integers).
    assert attacks.apgd.__module__.endswith("apgd")
    from lessons.attacks.apgd import checkpoints

    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert all(b > a for a, b in zip(checkpoints(1000), checkpoints(1000)[1:]))


def test_apgd_protocol(cnn, digits):
    x, y = digits
    x_in, y_in = x.clone(), y.clone()
    cnn.train()
    before = [p.detach().clone() for p in cnn.parameters()]
    x_adv = attacks.apgd(cnn, x, y, 0.1, steps=10, generator=torch.Generator().manual_seed(0))
    assert cnn.training and all(p.grad is None for p in cnn.parameters())
    cnn.eval()
    assert all(torch.equal(a, b) for a, b in zip(before, cnn.parameters()))
    assert torch.equal(x, x_in) and torch.equal(y, y_in)
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6 and 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1
    assert torch.equal(attacks.apgd(cnn, x, y, 0.0), x)
    # the same seed gives the same images; misread digits come back unchanged
    again = attacks.apgd(cnn, x, y, 0.1, steps=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x_adv, again)
    wrong = models.predict(cnn, x).argmax(1) != y
    assert torch.equal(x_adv[wrong], x[wrong])


def test_apgd_l2_stays_in_the_ball(cnn, digits):
    x, y = digits
    x_adv = attacks.apgd(cnn, x, y, 1.5, norm="l2", loss="dlr", steps=10, generator=torch.Generator().manual_seed(0))
    assert float((x_adv - x).flatten(1).norm(dim=1).max()) <= 1.5 + 1e-4
    assert models.accuracy(cnn, x_adv, y) < models.accuracy(cnn, x, y)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(loss="hinge"), ValueError, "loss must be one of"),
    (dict(steps=0), ValueError, "steps must be an integer >= 1"),
    (dict(rho=1.5), ValueError, "rho must be in"),
    (dict(targeted=True, n_target_classes=10), ValueError, "at most K - 1 = 9"),
    (dict(targeted="yes"), TypeError, "targeted must be True or False"),
    (dict(norm="l1"), ValueError, "norm must be one of"),
])
def test_apgd_bad_arguments(tiny_cnn, digits, kwargs, error, match):
    x, y = digits
    with pytest.raises(error, match=match):
        attacks.apgd(tiny_cnn, x, y, 0.1, **kwargs)


def test_apgd_rejects_labels_outside_the_model(tiny_cnn, digits):
    x, y = digits
    with pytest.raises(ValueError, match=r"classes in \[0, 9\]"):
        attacks.apgd(tiny_cnn, x, torch.full_like(y, 10), 0.1)


def test_apgd_path_records_the_schedule(cnn, digits):
    x, y = digits
    path = attacks.apgd_path(cnn, x[:8], y[:8], 0.1, steps=30, generator=torch.Generator().manual_seed(0))
    assert path.losses.shape == (31, 8) and path.step_sizes.shape == (31, 8)
    assert torch.all(path.step_sizes[0] == 0.2)  # starts at 2ε
    halvings = (path.step_sizes[1:] < path.step_sizes[:-1]).nonzero()[:, 0] + 1
    from lessons.attacks.apgd import checkpoints

    assert set(halvings.tolist()) <= set(checkpoints(30))  # only at checkpoints ...
    ratio = path.step_sizes[1:][path.step_sizes[1:] < path.step_sizes[:-1]] / path.step_sizes[:-1][
        path.step_sizes[1:] < path.step_sizes[:-1]]
    assert torch.allclose(ratio, torch.tensor(0.5))  # ... and by half
    fixed = attacks.apgd_path(cnn, x[:8], y[:8], 0.1, steps=5, step_size=0.01)
    assert torch.all(fixed.step_sizes == 0.01)
    # with a fixed step and no random start, apgd_path is PGD on cross-entropy, step for step
    pgd = attacks.pgd(cnn, x[:8], y[:8], 0.1, steps=5, alpha=0.01, random_start=False)
    plain = attacks.apgd_path(cnn, x[:8], y[:8], 0.1, steps=5, step_size=0.01, random_start=False)
    still = ~plain.fooled
    torch.testing.assert_close(plain.x_adv[still], pgd[still])


def test_apgd_beats_pgd_with_a_bad_step_size(cnn, mnist):
    # PGD with a step 100× too small barely moves; APGD picks its own step (lesson 07 §1).
    x, y = mnist.x_test[:100], mnist.y_test[:100]
    g = torch.Generator().manual_seed(0)
    tiny_step = attacks.pgd(cnn, x, y, 0.15, steps=20, alpha=0.15 / 1000, generator=g)
    auto = attacks.apgd(cnn, x, y, 0.15, steps=20, generator=torch.Generator().manual_seed(0))
    assert models.accuracy(cnn, auto, y) + 0.3 < models.accuracy(cnn, tiny_step, y)


def test_apgd_dlr_breaks_scaled_logits_where_ce_cannot(cnn, mnist):
    class Scaled(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return 1000 * self.net(x)

    x, y = mnist.x_test[:50], mnist.y_test[:50]
    model = Scaled(cnn)
    ce = attacks.apgd(model, x, y, 0.3, loss="ce", steps=20, generator=torch.Generator().manual_seed(0))
    dlr = attacks.apgd(model, x, y, 0.3, loss="dlr", steps=20, generator=torch.Generator().manual_seed(0))
    clean = models.accuracy(model, x, y)
    assert models.accuracy(model, ce, y) > clean - 0.1  # the gradient is 0: CE goes nowhere
    assert models.accuracy(model, dlr, y) < 0.05


def test_apgd_targeted_tries_the_likeliest_classes(cnn, mnist):
    x, y = mnist.x_test[:100], mnist.y_test[:100]
    one = attacks.apgd(cnn, x, y, 0.1, loss="dlr", targeted=True, n_target_classes=1, steps=20,
                       generator=torch.Generator().manual_seed(0))
    three = attacks.apgd(cnn, x, y, 0.1, loss="dlr", targeted=True, n_target_classes=3, steps=20,
                         generator=torch.Generator().manual_seed(0))
    assert models.accuracy(cnn, three, y) <= models.accuracy(cnn, one, y)
    # a digit fooled by the one-target run is (mostly) pushed into the runner-up class
    runner_up = models.predict(cnn, x).argsort(1, descending=True)[:, 1]
    fooled = models.predict(cnn, one).argmax(1) != y
    assert fooled.any() and float((models.predict(cnn, one).argmax(1)[fooled] == runner_up[fooled]).float().mean()) > 0.8


def test_apgd_zero_gradient_model_stays_put(digits):
    class Rounded(torch.nn.Module):  # gradient 0 everywhere: the attack has nothing to follow
        def __init__(self):
            super().__init__()
            self.net = models.lenet()

        def forward(self, x):
            return self.net(torch.round(x))

    x, y = digits
    model = Rounded().eval()
    path = attacks.apgd_path(model, x[:4], y[:4], 0.1, steps=5, random_start=False)
    assert torch.equal(path.x_adv, x[:4])
    assert not math.isnan(float(path.losses[-1].sum()))
