"""Adversarial training (lesson 05): training steps, the ε ramp, evaluation with restarts, the loop."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from lessons import attacks, data, models, remedies, schedules, training


@pytest.fixture()
def batch(mnist):
    return mnist.x_train[:16].clone(), mnist.y_train[:16].clone()


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b))


def _close(a, b, tol=1e-5):
    return all(torch.allclose(p, q, atol=tol, rtol=tol) for p, q in zip(a, b))


# --------------------------------------------------------------------------- ramp


def test_ramp_grows_linearly_then_stays():
    assert schedules.ramp(0, 0.3, 4) == 0.0
    assert schedules.ramp(1, 0.3, 4) == pytest.approx(0.075)
    assert schedules.ramp(2.5, 0.3, 4) == pytest.approx(0.1875)
    assert schedules.ramp(4, 0.3, 4) == pytest.approx(0.3)
    assert schedules.ramp(9, 0.3, 4) == pytest.approx(0.3)
    assert schedules.ramp(0, 0.3, 0) == 0.3  # no ramp: the full ε from the start


@pytest.mark.parametrize("args, match", [((-1, 0.3, 2), "epoch"), ((0, 1.5, 2), "eps"), ((0, 0.3, -1), "ramp_epochs")])
def test_ramp_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        schedules.ramp(*args)


# --------------------------------------------------------------------------- training steps


@pytest.mark.parametrize("method", training.METHODS)
def test_each_method_changes_the_model_and_leaves_the_data_untouched(tiny_cnn, batch, method):
    x, y = batch
    x0, y0 = x.clone(), y.clone()
    pool = (x[:8].flip(-1).clone(), y[:8].clone())
    pool0 = (pool[0].clone(), pool[1].clone())
    before = _params(tiny_cnn)
    opt = torch.optim.Adam(tiny_cnn.parameters(), lr=1e-3)
    losses = training.training_step(tiny_cnn, opt, x, y, method=method, eps=0.3, steps=2,
                                    pool=pool if method == "pool" else None, generator=torch.Generator().manual_seed(0))
    assert not _same(before, _params(tiny_cnn)), f"{method} did not change the model"
    assert torch.equal(x, x0) and torch.equal(y, y0) and not x.requires_grad
    assert torch.equal(pool[0], pool0[0]) and torch.equal(pool[1], pool0[1])
    assert set(losses) == {"loss", "clean_loss", "adv_loss"} and all(math.isfinite(v) for v in losses.values())
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in tiny_cnn.parameters())


def _reference_step(model, x, y, loss_fn):
    """A step written out by hand: Adam on loss_fn(model)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = loss_fn(model)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def test_pgd_step_matches_a_step_on_attacks_pgd_examples(tiny_cnn, batch):
    x, y = batch
    ref = copy.deepcopy(tiny_cnn)
    x_adv = attacks.pgd(ref, x, y, 0.3, steps=3, alpha=2.5 * 0.3 / 3, generator=torch.Generator().manual_seed(5))
    ref_loss = _reference_step(ref, x, y, lambda m: F.cross_entropy(m(x_adv), y))
    opt = torch.optim.Adam(tiny_cnn.parameters(), lr=1e-3)
    out = training.training_step(tiny_cnn, opt, x, y, method="pgd", eps=0.3, steps=3,
                                 generator=torch.Generator().manual_seed(5))
    assert out["loss"] == pytest.approx(ref_loss, rel=1e-5) and out["adv_loss"] == out["loss"]
    assert _close(_params(ref), _params(tiny_cnn))


def test_fgsm_step_mixes_clean_and_adversarial_loss_half_and_half(tiny_cnn, batch):
    x, y = batch
    ref = copy.deepcopy(tiny_cnn)
    x_adv = attacks.fgsm(ref, x, y, 0.25)
    ref_loss = _reference_step(ref, x, y, lambda m: 0.5 * F.cross_entropy(m(x), y) + 0.5 * F.cross_entropy(m(x_adv), y))
    opt = torch.optim.Adam(tiny_cnn.parameters(), lr=1e-3)
    out = training.training_step(tiny_cnn, opt, x, y, method="fgsm", eps=0.25)
    assert out["loss"] == pytest.approx(ref_loss, rel=1e-5)
    assert out["loss"] == pytest.approx(0.5 * out["clean_loss"] + 0.5 * out["adv_loss"], rel=1e-5)
    assert _close(_params(ref), _params(tiny_cnn))


def _wong_fgsm(model, x, y, eps, alpha, seed):
    """Wong et al.'s train_mnist.py, written out: an unclipped uniform start, one signed step, clip at the end."""
    delta = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) * 2 * eps - eps
    delta.requires_grad_(True)
    F.cross_entropy(model(x + delta), y).backward()
    delta = torch.clamp(delta + alpha * delta.grad.sign(), -eps, eps).detach()
    return torch.clamp(x + delta, 0, 1)


def test_fast_fgsm_is_wong_et_al_s_random_start_step_of_1_25_eps(tiny_cnn, batch):
    x, y = batch
    fast = training.adversarial_examples("fast_fgsm", tiny_cnn, x, y, 0.2, generator=torch.Generator().manual_seed(1))
    ref = _wong_fgsm(copy.deepcopy(tiny_cnn), x, y, 0.2, 0.25, seed=1)
    assert torch.allclose(fast, ref, atol=1e-6)
    assert float((fast - x).abs().max()) <= 0.2 + 1e-6 and 0 <= float(fast.min()) and float(fast.max()) <= 1
    # unlike attacks.pgd(steps=1), the start is not clipped to [0, 1] before the gradient: results differ
    clipped = attacks.pgd(tiny_cnn, x, y, 0.2, steps=1, alpha=0.25, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(fast, clipped)
    # the random start: another seed gives other examples
    other = training.adversarial_examples("fast_fgsm", tiny_cnn, x, y, 0.2, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(fast, other)
    assert all(p.grad is None for p in tiny_cnn.parameters()) and not tiny_cnn.training


def test_fast_fgsm_with_a_clipped_start_is_one_step_of_pgd(tiny_cnn, batch):
    # lesson 05's failure case: the only change from Wong et al.'s step is the start clipped into [0, 1]
    x, y = batch
    clipped = training.adversarial_examples("fast_fgsm", tiny_cnn, x, y, 0.2, clip_start=True,
                                            generator=torch.Generator().manual_seed(1))
    ref = attacks.pgd(tiny_cnn, x, y, 0.2, steps=1, alpha=0.25, generator=torch.Generator().manual_seed(1))
    assert torch.equal(clipped, ref)
    with pytest.raises(TypeError, match="clip_start"):
        training.adversarial_examples("fast_fgsm", tiny_cnn, x, y, 0.2, clip_start="yes")


def test_fast_fgsm_step_size_is_a_multiple_of_eps(tiny_cnn, batch):
    x, y = batch
    fast = training.adversarial_examples("fast_fgsm", tiny_cnn, x, y, 0.2, fast_step=0.5, generator=torch.Generator().manual_seed(1))
    ref = _wong_fgsm(copy.deepcopy(tiny_cnn), x, y, 0.2, 0.1, seed=1)
    assert torch.allclose(fast, ref, atol=1e-6)
    with pytest.raises(ValueError, match="fast_step must be in"):
        training.adversarial_examples("fast_fgsm", tiny_cnn, x, y, 0.2, fast_step=3)


def test_standard_examples_are_a_copy(tiny_cnn, batch):
    x, y = batch
    out = training.adversarial_examples("standard", tiny_cnn, x, y, 0.3)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_training_step_rejects_bad_arguments(tiny_cnn, batch):
    x, y = batch
    opt = torch.optim.Adam(tiny_cnn.parameters())
    with pytest.raises(ValueError, match="method must be one of .*'pgd'.*got 'madry'"):
        training.training_step(tiny_cnn, opt, x, y, method="madry", eps=0.3)
    with pytest.raises(ValueError, match="eps must be in \\[0, 1\\], got 8"):
        training.training_step(tiny_cnn, opt, x, y, method="pgd", eps=8)
    with pytest.raises(ValueError, match="needs pool="):
        training.training_step(tiny_cnn, opt, x, y, method="pool", eps=0.3)
    with pytest.raises(TypeError, match="optimizer"):
        training.training_step(tiny_cnn, "adam", x, y, method="pgd", eps=0.3)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        training.training_step(tiny_cnn, opt, x * 255, y, method="pgd", eps=0.3)
    with pytest.raises(ValueError, match="clean_weight"):
        training.training_step(tiny_cnn, opt, x, y, method="fgsm", eps=0.3, clean_weight=2)


# --------------------------------------------------------------------------- catastrophic overfitting


def test_catastrophic_overfitting_finds_the_collapse():
    nan = math.nan
    assert training.catastrophic_overfitting({"val_pgd": [nan, 0.4, 0.6, 0.55, 0.05, 0.5]}) == 4
    assert training.catastrophic_overfitting({"val_pgd": [nan, 0.4, 0.6, 0.45]}) is None  # within 0.2 of the best
    assert training.catastrophic_overfitting({"val_pgd": [nan, 0.4, 0.6, 0.45]}, drop=0.1) == 3
    assert training.catastrophic_overfitting({"val_pgd": [0.0, 0.0]}) is None  # never robust is not a collapse
    # the gap: robust to the one step it trains on (FGSM), not to PGD
    gap = {"val_pgd": [nan, 0.30, 0.05, 0.02], "val_fgsm": [nan, 0.60, 0.70, 0.90]}
    assert training.catastrophic_overfitting(gap) == 2
    assert training.catastrophic_overfitting(gap, drop=0.2, gap=0.9) == 2  # still the collapse (0.30 → 0.05)
    assert training.catastrophic_overfitting({"val_pgd": [0.8, 0.82], "val_fgsm": [0.9, 0.95]}) is None
    with pytest.raises(ValueError, match="val_pgd"):
        training.catastrophic_overfitting({"loss": [1.0]})


# --------------------------------------------------------------------------- the loop


def test_split_validation_holds_out_the_tail(mnist):
    (xt, yt), (xv, yv) = data.split_validation(mnist.x_train, mnist.y_train, 500)
    assert len(xt) == 3500 and len(xv) == 500 and torch.equal(xv, mnist.x_train[-500:])
    assert yv.bincount(minlength=10).min() >= 30  # shuffled and stratified: every digit is there
    with pytest.raises(ValueError, match="n_val must be smaller"):
        data.split_validation(mnist.x_train, mnist.y_train, 4000)


def test_adversarial_train_keeps_the_most_robust_epoch_and_leaves_the_data(mnist):
    x, y = mnist.x_train[:96].clone(), mnist.y_train[:96].clone()
    xv, yv = mnist.x_train[-48:].clone(), mnist.y_train[-48:].clone()
    x0 = x.clone()
    torch.manual_seed(0)
    model = models.lenet()
    h = training.adversarial_train(model, (x, y), method="pgd", eps=0.3, epochs=3, ramp_epochs=1, steps=2,
                                   batch_size=32, anneal=0.5, val=(xv, yv), val_steps=3, progress=False)
    assert torch.equal(x, x0)
    assert h["eps"] == pytest.approx([0.3, 0.3, 0.3])
    assert all(len(h[k]) == 3 for k in ("clean_loss", "adv_loss", "val_clean", "val_fgsm", "val_pgd", "seconds"))
    best = h["best_epoch"]
    assert h["val_pgd"][best] == max(h["val_pgd"])
    # the model we got back is the best epoch's: re-measuring gives the same validation numbers
    again = training.validate(model, (xv, yv), 0.3, steps=3, seed=0)
    assert (again["clean"], again["fgsm"], again["pgd"]) == (h["val_clean"][best], h["val_fgsm"][best], h["val_pgd"][best])
    assert h["cpu_seconds"] > 0 and h["train_seconds"] > 0 and not model.training


def test_adversarial_train_ramps_eps_and_skips_validation_while_ramping(mnist):
    x, y = mnist.x_train[:64], mnist.y_train[:64]
    model = models.lenet()
    h = training.adversarial_train(model, (x, y), method="fast_fgsm", eps=0.2, epochs=4, ramp_epochs=2, batch_size=32,
                                   val=(mnist.x_train[-32:], mnist.y_train[-32:]), val_steps=2, progress=False)
    assert h["eps"] == pytest.approx([0.1, 0.2, 0.2, 0.2])
    assert math.isnan(h["val_pgd"][0]) and not math.isnan(h["val_pgd"][1])
    assert h["best_epoch"] >= 1


def test_pool_training_runs_and_leaves_the_data(mnist):
    x, y = mnist.x_train[:64].clone(), mnist.y_train[:64].clone()
    x0 = x.clone()
    model = models.lenet()
    before = _params(model)
    h = training.adversarial_train(model, (x, y), method="pool", eps=0.3, epochs=3, steps=2, batch_size=32,
                                   pool_size=32, pool_refresh=0.5, progress=False)
    assert torch.equal(x, x0) and not _same(before, _params(model))
    assert h["best_epoch"] == 2 and h["catastrophic_epoch"] is None  # no validation: the last epoch


def test_select_picks_the_epoch_by_the_chosen_number(mnist):
    x, y = mnist.x_train[:64], mnist.y_train[:64]
    val = (mnist.x_train[-48:], mnist.y_train[-48:])
    model = models.lenet()
    h = training.adversarial_train(model, (x, y), method="fgsm", eps=0.3, epochs=3, batch_size=32, val=val,
                                   val_steps=2, select="fgsm", progress=False)
    assert h["val_fgsm"][h["best_epoch"]] == max(h["val_fgsm"])
    model = models.lenet()
    h = training.adversarial_train(model, (x, y), method="standard", epochs=2, batch_size=32, val=val, progress=False)
    assert not math.isnan(h["val_clean"][0]) and math.isnan(h["val_pgd"][0])  # standard: clean accuracy only
    assert h["val_clean"][h["best_epoch"]] == max(h["val_clean"]) and h["catastrophic_epoch"] is None


def test_adversarial_train_rejects_bad_arguments(mnist):
    x, y = mnist.x_train[:8], mnist.y_train[:8]
    model = models.lenet()
    with pytest.raises(ValueError, match="method must be one of"):
        training.adversarial_train(model, (x, y), method="madry")
    with pytest.raises(ValueError, match="ramp_epochs must be in \\[0, 2\\], got 5"):
        training.adversarial_train(model, (x, y), epochs=2, ramp_epochs=5)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        training.adversarial_train(model, (x, y), epochs=0)
    with pytest.raises(ValueError, match="anneal"):
        training.adversarial_train(model, (x, y), anneal=1.5)
    with pytest.raises(ValueError, match="select must be one of"):
        training.adversarial_train(model, (x, y), select="loss")
    with pytest.raises(TypeError, match="model"):
        training.adversarial_train("net", (x, y))
    with pytest.raises(ValueError, match="shape"):
        training.adversarial_train(model, (x, y[:4]))


def test_learning_rate_schedules_are_pure_functions_of_the_step():
    # anneal: constant, then linearly to 0 over the last share of the steps
    assert schedules.learning_rate(0, 100, 1e-3, anneal=0.3) == 1e-3
    assert schedules.learning_rate(69, 100, 1e-3, anneal=0.3) == 1e-3
    assert schedules.learning_rate(85, 100, 1e-3, anneal=0.3) == pytest.approx(0.5e-3)
    assert schedules.learning_rate(100, 100, 1e-3, anneal=0.3) == 0.0
    assert schedules.learning_rate(99, 100, 1e-3) == 1e-3  # anneal=0: constant
    # cyclic (Wong et al.): 0 → peak at 40% → 0
    assert schedules.learning_rate(0, 100, 5e-3, schedule="cyclic") == 0.0
    assert schedules.learning_rate(20, 100, 5e-3, schedule="cyclic") == pytest.approx(2.5e-3)
    assert schedules.learning_rate(40, 100, 5e-3, schedule="cyclic") == pytest.approx(5e-3)
    assert schedules.learning_rate(70, 100, 5e-3, schedule="cyclic") == pytest.approx(2.5e-3)
    assert schedules.learning_rate(100, 100, 5e-3, schedule="cyclic") == 0.0
    with pytest.raises(ValueError, match="schedule must be one of 'anneal', 'cyclic', got 'step'"):
        schedules.learning_rate(0, 10, 1e-3, schedule="step")
    with pytest.raises(TypeError, match="step must be an integer"):
        schedules.learning_rate(0.5, 10, 1e-3)


# --------------------------------------------------------------------------- remedies for robust overfitting


def test_trades_step_matches_the_loss_written_out(tiny_cnn, batch):
    x, y = batch
    ref = copy.deepcopy(tiny_cnn)
    x_adv = remedies.trades_examples(ref, x, 0.3, steps=3, generator=torch.Generator().manual_seed(4))
    assert float((x_adv - x).abs().max()) <= 0.3 + 1e-6 and 0 <= float(x_adv.min()) and float(x_adv.max()) <= 1

    def trades(m):
        clean, adv = m(x), m(x_adv)
        kl = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="batchmean")
        return F.cross_entropy(clean, y) + 6.0 * kl

    ref_loss = _reference_step(ref, x, y, trades)
    opt = torch.optim.Adam(tiny_cnn.parameters(), lr=1e-3)
    out = training.training_step(tiny_cnn, opt, x, y, method="trades", eps=0.3, steps=3, beta=6.0,
                                 generator=torch.Generator().manual_seed(4))
    assert out["loss"] == pytest.approx(ref_loss, rel=1e-5)
    assert _close(_params(ref), _params(tiny_cnn))


def test_trades_examples_move_the_prediction_more_than_the_random_start(tiny_cnn, batch):
    x, _ = batch
    x_adv = remedies.trades_examples(tiny_cnn, x, 0.3, steps=5, generator=torch.Generator().manual_seed(0))
    noise = (x + 0.001 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    with torch.no_grad():
        clean = F.softmax(tiny_cnn(x), 1)
        kl = [F.kl_div(F.log_softmax(tiny_cnn(z), 1), clean, reduction="sum") for z in (x_adv, noise)]
    assert kl[0] > 10 * kl[1]


def test_random_shift_moves_whole_digits_within_the_frame():
    x = torch.zeros(64, 1, 8, 8)
    x[:, 0, 3:5, 3:5] = 1.0  # a 2×2 square in the middle
    out = remedies.random_shift(x, 2, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(out.sum((1, 2, 3)), x.sum((1, 2, 3)))  # nothing falls off
    rows = out[:, 0].amax(2).argmax(1) - 3
    cols = out[:, 0].amax(1).argmax(1) - 3
    assert rows.abs().max() == 2 and cols.abs().max() == 2 and len(set(zip(rows.tolist(), cols.tolist()))) > 10
    assert torch.equal(remedies.random_shift(x, 0), x)
    edge = torch.zeros(1, 1, 4, 4)
    edge[..., 0] = 1.0  # a stripe at the left edge: a shift to the left loses it, blank comes in
    shifted = [remedies.random_shift(edge, 1, generator=torch.Generator().manual_seed(s)) for s in range(20)]
    assert {float(z.sum()) for z in shifted} <= {0.0, 3.0, 4.0} and any(float(z.sum()) == 0 for z in shifted)


def test_average_weights_is_an_exponential_moving_average():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    a0 = [p.detach().clone() for p in a.parameters()]
    remedies.average_weights(a, b, 0.9)
    for p, p0, q in zip(a.parameters(), a0, b.parameters()):
        assert torch.allclose(p, 0.9 * p0 + 0.1 * q)
    with pytest.raises(ValueError, match="decay"):
        remedies.average_weights(a, b, 1.0)


def test_ema_shift_and_val_every_in_the_loop(mnist):
    x, y = mnist.x_train[:64], mnist.y_train[:64]
    val = (mnist.x_train[-32:], mnist.y_train[-32:])
    torch.manual_seed(0)
    model = models.small_cnn()
    h = training.adversarial_train(model, (x, y), method="pgd", epochs=4, steps=1, batch_size=32, ema=0.9, shift=1,
                                   val=val, val_steps=1, val_every=3, progress=False)
    measured = [not math.isnan(v) for v in h["val_pgd"]]
    assert measured == [False, False, True, True]  # every 3rd epoch, and the last
    again = training.validate(model, val, 0.3, steps=1, seed=0)  # what was measured is what we got: the average
    best = h["best_epoch"]
    assert (again["clean"], again["pgd"]) == (h["val_clean"][best], h["val_pgd"][best])


# --------------------------------------------------------------------------- Szegedy's pool at a hidden layer


def test_split_model_cuts_a_sequential_at_a_named_layer(mnist):
    from lessons import pools

    net = models.mlp()
    body, head = pools.split_model(net, "relu1")
    x = mnist.x_train[:4]
    assert torch.allclose(head(body(x)), net(x)) and body(x).shape == (4, 100)
    with pytest.raises(ValueError, match="layer must name one of .*'relu1'.*got 'fc9'"):
        pools.split_model(net, "fc9")
    with pytest.raises(ValueError, match="before the last"):
        pools.split_model(net, "out")
    with pytest.raises(ValueError, match="nn.Sequential"):
        pools.split_model(models.autoencoder_softmax(hidden=4), "encoder")


def test_layer_examples_stay_in_a_relative_ball_and_raise_the_loss(mnist):
    from lessons import pools

    torch.manual_seed(0)
    net = models.mlp()
    x, y = mnist.x_train[:16], mnist.y_train[:16]
    body, head = pools.split_model(net, "relu1")
    z0 = body(x).detach()
    z = pools.layer_examples(net, x, y, rel_eps=0.2, layer="relu1", steps=5)
    ratio = (z - z0).norm(dim=1) / z0.norm(dim=1)
    assert float(ratio.max()) <= 0.2 + 1e-5 and float(ratio.mean()) > 0.1 and float(z.min()) >= 0
    with torch.no_grad():
        assert F.cross_entropy(head(z), y) > F.cross_entropy(head(z0), y)
    xa = pools.layer_examples(net, x, y, rel_eps=0.2)  # at the input: images in [0, 1]
    assert xa.shape == x.shape and 0 <= float(xa.min()) and float(xa.max()) <= 1
    with pytest.raises(ValueError, match="≥ 0"):
        pools.layer_examples(net, x, y, rel_eps=0.2, layer="fc1")  # before the ReLU: negative outputs


def test_a_hidden_layer_pool_trains_only_the_layers_above(mnist):
    from lessons import pools

    torch.manual_seed(0)
    net = models.mlp()
    x, y = mnist.x_train[:16], mnist.y_train[:16]
    z = pools.layer_examples(net, x, y, rel_eps=0.2, layer="relu1")
    ref = copy.deepcopy(net)
    head = pools.split_model(ref, "relu1")[1]  # the pool's loss reaches the layers above relu1 only
    ref_loss = _reference_step(ref, x, y, lambda m: (16 * F.cross_entropy(m(x), y) + 8 * F.cross_entropy(head(z[:8]), y[:8])) / 24)
    out = training.training_step(net, torch.optim.Adam(net.parameters(), lr=1e-3), x, y, method="pool", eps=0.1,
                                 pool=(z[:8], y[:8]), pool_layer="relu1")
    assert out["loss"] == pytest.approx(ref_loss, rel=1e-5) and _close(_params(ref), _params(net))
    h = training.adversarial_train(models.mlp(), (mnist.x_train[:64], mnist.y_train[:64]), method="pool", eps=0.1,
                                   epochs=3, steps=2, batch_size=32, pool_size=32, pool_layer="relu2",
                                   pool_rel_eps=0.2, progress=False)
    assert h["best_epoch"] == 2
    with pytest.raises(ValueError, match="pool_rel_eps"):
        training.adversarial_train(models.mlp(), (x, y), method="pool", pool_layer="relu1")
