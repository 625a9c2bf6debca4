"""Minimum-distortion attacks of lesson 01: lbfgs, cw_l2, smallest_eps, measure, minimum_distortion."""

import copy
import math

import pytest
import torch
from torch import nn

from lessons import attacks, models

N_CNN = 10  # CNN images attacked with L-BFGS and C&W (a few seconds each on 2 cores)
FAST_LBFGS = dict(search_steps=8, max_iter=10, progress=False)
FAST_CW = dict(search_steps=5, steps=50, progress=False)


@pytest.fixture(scope="module")
def batch(digits):
    x, y = digits
    return x[:N_CNN], y[:N_CNN]


@pytest.fixture(scope="module")
def cnn_results(cnn, batch):
    """One run of each attack on the CNN, shared by the tests that only read it."""
    x, y = batch
    eps, x_fgsm = attacks.smallest_eps(cnn, x, y, attack=attacks.fgsm, eps_max=1.0, search_steps=10, progress=False)
    return {
        "lbfgs": attacks.measure(cnn, x, attacks.lbfgs(cnn, x, y, **FAST_LBFGS), y),
        "cw": attacks.measure(cnn, x, attacks.cw_l2(cnn, x, y, **FAST_CW), y),
        "fgsm": attacks.measure(cnn, x, x_fgsm, y, eps=eps),
    }


@pytest.fixture(scope="module")
def softmax():
    return models.pretrained("softmax-wd1e-4", device="cpu", progress=False)


# ---------------------------------------------------------------- the CNN: success, box, smaller than FGSM


@pytest.mark.parametrize("name", ["lbfgs", "cw"])
def test_succeeds_on_every_test_image_of_the_cnn(cnn_results, batch, name):
    x, _ = batch
    d = cnn_results[name]
    assert bool(d.success.all()), f"{name} failed on images {(~d.success).nonzero().flatten().tolist()}"
    assert d.x_adv.shape == x.shape and d.x_adv.dtype == x.dtype and not d.x_adv.requires_grad
    assert float(d.x_adv.min()) >= 0 and float(d.x_adv.max()) <= 1


@pytest.mark.parametrize("name", ["lbfgs", "cw"])
def test_distortion_is_smaller_than_fgsm_at_equal_success(cnn_results, name):
    d, f = cnn_results[name], cnn_results["fgsm"]
    assert bool(f.success.all())  # equal success: all images, for both attacks
    # L2-optimal attacks beat FGSM's smallest flipping ε on average by a wide margin,
    # and on nearly every single image.
    assert d.mean("rms") < 0.8 * f.mean("rms"), (d.mean("rms"), f.mean("rms"))
    assert float((d.l2 < f.l2).float().mean()) >= 0.9


def test_lbfgs_and_cw_agree_on_the_size_of_the_blind_spot(softmax, digits):
    # Two different optimisers of the same L2 problem (at full strength): close answers.
    x, y = digits
    x, y = x[:6], y[:6]
    a = attacks.minimum_distortion(softmax, x, y, attack="lbfgs", progress=False)
    b = attacks.minimum_distortion(softmax, x, y, attack="cw", progress=False)
    assert bool(a.success.all()) and bool(b.success.all())
    assert abs(a.mean("rms") - b.mean("rms")) / a.mean("rms") < 0.1, (a.mean("rms"), b.mean("rms"))


# ---------------------------------------------------------------- against a trusted reference


def test_torch_solver_matches_scipy_lbfgsb(softmax, digits):
    """Our batched projected L-BFGS reaches the distortions of SciPy's L-BFGS-B."""
    x, y = digits
    x, y = x[:3], y[:3]
    t = attacks.random_targets(y, generator=torch.Generator().manual_seed(0))
    kw = dict(targeted=True, search_steps=8, max_iter=15, progress=False)
    ours = attacks.measure(softmax, x, attacks.lbfgs(softmax, x, t, **kw), t, targeted=True)
    ref = attacks.measure(softmax, x, attacks.lbfgs(softmax, x, t, solver="scipy", **kw), t, targeted=True)
    assert bool(ours.success.all()) and bool(ref.success.all())
    assert torch.allclose(ours.l2, ref.l2, rtol=0.05), (ours.l2, ref.l2)


def test_lbfgs_finds_the_exact_minimum_of_a_linear_model():
    """For a linear two-class model the smallest change is known in closed form:
    |w·x + b| / ‖w‖ along w. The attack must get within a few percent of it."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    x = torch.rand(6, 1, 4, 4) * 0.5 + 0.25  # mid-grey images ...
    w = (model[1].weight[1] - model[1].weight[0]).detach()
    with torch.no_grad():  # ... and a boundary through their middle: the box is not in the way
        model[1].bias[1] = model[1].bias[0] - (x.flatten(1) @ w).mean()
    y = model(x).argmax(1)
    b = model[1].bias[1] - model[1].bias[0]
    exact = ((x.flatten(1) @ w + b).abs() / w.norm()).detach()
    d = attacks.minimum_distortion(model, x, y, attack="lbfgs", search_steps=25, progress=False)
    assert bool(d.success.all()) and float(d.linf.max()) < 0.25
    assert bool((d.l2 >= exact * (1 - 1e-4)).all()), "below the exact minimum: the measure is wrong"
    assert torch.allclose(d.l2, exact, rtol=0.05), (d.l2, exact)


# ---------------------------------------------------------------- targeted, trivial settings


def test_targeted_attacks_reach_their_targets(softmax, digits):
    x, y = digits
    x, y = x[:8], y[:8]
    t = attacks.random_targets(y, generator=torch.Generator().manual_seed(1))
    for name, kw in [("lbfgs", FAST_LBFGS), ("cw", FAST_CW)]:
        d = attacks.minimum_distortion(softmax, x, t, attack=name, targeted=True, **kw)
        assert bool(d.success.all()), name
        assert bool((models.predict(softmax, d.x_adv).argmax(1) == t).all())


@pytest.mark.parametrize("name", ["lbfgs", "cw"])
def test_goal_already_met_returns_an_equal_copy(softmax, digits, name):
    x, _ = digits
    x = x[:5]
    pred = models.predict(softmax, x).argmax(1)
    run = attacks.lbfgs if name == "lbfgs" else attacks.cw_l2
    # Targeted at the class it already predicts: nothing to do.
    x_adv = run(softmax, x, pred, targeted=True, progress=False)
    assert torch.equal(x_adv, x) and x_adv.data_ptr() != x.data_ptr()


def test_kappa_buys_a_margin(softmax, digits):
    x, y = digits
    x, y = x[:6], y[:6]
    d0 = attacks.minimum_distortion(softmax, x, y, attack="cw", kappa=0.0, **FAST_CW)
    d5 = attacks.minimum_distortion(softmax, x, y, attack="cw", kappa=5.0, **FAST_CW)
    logits = softmax(d5.x_adv).detach()
    own = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], -math.inf).amax(1)
    assert bool(d5.success.all()) and bool((other - own >= 5.0 - 1e-3).all())
    assert d5.mean("l2") > d0.mean("l2")


# ---------------------------------------------------------------- smallest_eps


def test_smallest_eps_is_a_boundary(cnn, batch):
    x, y = batch
    eps, x_adv = attacks.smallest_eps(cnn, x, y, attack=attacks.fgsm, eps_max=0.5, search_steps=8, progress=False)
    found = eps.isfinite()
    assert bool(found.any())
    for i in found.nonzero().flatten().tolist():
        e = float(eps[i])
        at = attacks.fgsm(cnn, x[i : i + 1], y[i : i + 1], e)
        below = attacks.fgsm(cnn, x[i : i + 1], y[i : i + 1], max(e - 0.5 / 2**8, 0.0))
        assert torch.equal(at, x_adv[i : i + 1])
        assert int(cnn(at).argmax(1)) != int(y[i])
        assert int(cnn(below).argmax(1)) == int(y[i])
    assert float((x_adv - x).abs().amax()) <= 0.5 + 1e-6


def test_smallest_eps_works_with_pgd_and_is_below_fgsm(cnn, batch):
    x, y = batch
    x, y = x[:6], y[:6]
    e_fgsm, _ = attacks.smallest_eps(cnn, x, y, attack=attacks.fgsm, eps_max=0.5, search_steps=6, progress=False)
    e_pgd, x_pgd = attacks.smallest_eps(cnn, x, y, attack=attacks.pgd, eps_max=0.5, search_steps=6, progress=False,
                                        steps=10, generator=torch.Generator().manual_seed(0))
    assert bool((models.predict(cnn, x_pgd).argmax(1) != y).all())
    assert float(e_pgd.mean()) <= float(e_fgsm.mean())  # many steps need no larger a ball than one


def test_smallest_eps_zero_when_already_wrong_and_inf_when_impossible(softmax, digits):
    x, y = digits
    wrong = (models.predict(softmax, x).argmax(1) + 1) % 10  # "true" labels it does not predict
    eps, x_adv = attacks.smallest_eps(softmax, x[:3], wrong[:3], attack=attacks.fgsm, progress=False)
    assert torch.equal(eps, torch.zeros(3)) and torch.equal(x_adv, x[:3])
    tiny, _ = attacks.smallest_eps(softmax, x[:3], y[:3], attack=attacks.fgsm, eps_max=1e-4, progress=False)
    assert bool(tiny.isinf().all())


# ---------------------------------------------------------------- measure, Distortion, random_targets


def test_measure_computes_the_papers_rms():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.zeros(2, 1, 2, 2)
    x_adv = x.clone()
    x_adv[0, 0, 0, 0] = 0.4  # one pixel of four: rms = √(0.16 / 4) = 0.2
    x_adv[1] = 0.1  # every pixel: rms = 0.1, l2 = 0.2, linf = 0.1
    d = attacks.measure(model, x, x_adv, torch.tensor([0, 1]))
    assert torch.allclose(d.rms, torch.tensor([0.2, 0.1]))
    assert torch.allclose(d.l2, torch.tensor([0.4, 0.2]))
    assert torch.allclose(d.linf, torch.tensor([0.4, 0.1]))
    assert d.success.dtype == torch.bool and d.eps is None


def test_distortion_mean_ignores_failures():
    d = attacks.Distortion(x_adv=torch.zeros(3, 1, 1, 1), success=torch.tensor([True, False, True]),
                           rms=torch.tensor([0.1, 9.0, 0.3]), l2=torch.zeros(3), linf=torch.zeros(3))
    assert d.mean("rms") == pytest.approx(0.2) and d.success_rate == pytest.approx(2 / 3)
    none = attacks.Distortion(x_adv=torch.zeros(1, 1, 1, 1), success=torch.tensor([False]), rms=torch.ones(1),
                              l2=torch.ones(1), linf=torch.ones(1))
    assert math.isnan(none.mean())
    with pytest.raises(ValueError, match="eps"):
        d.mean("eps")


def test_random_targets_are_wrong_reproducible_and_cover_every_class():
    y = torch.arange(10).repeat(50)
    t1 = attacks.random_targets(y, generator=torch.Generator().manual_seed(3))
    t2 = attacks.random_targets(y, generator=torch.Generator().manual_seed(3))
    assert torch.equal(t1, t2) and bool((t1 != y).all()) and set(t1.tolist()) == set(range(10))


# ---------------------------------------------------------------- the caller's model and tensors


@pytest.mark.parametrize("name", ["lbfgs", "cw", "fgsm", "pgd"])
def test_model_and_inputs_are_left_untouched(tiny_cnn, digits, name):
    x, y = digits
    x, y = x[:3].clone(), y[:3].clone()
    model = tiny_cnn.train()  # a training-mode model must come back in training mode
    model.fc2.eval()  # ... with each submodule's own mode
    state = copy.deepcopy(model.state_dict())
    x_copy, y_copy = x.clone(), y.clone()
    kwargs = {"lbfgs": dict(search_steps=2, max_iter=3), "cw": dict(search_steps=2, steps=3),
              "fgsm": dict(search_steps=2), "pgd": dict(search_steps=2, steps=2)}[name]
    attacks.minimum_distortion(model, x, y, attack=name, progress=False, **kwargs)
    assert model.training and not model.fc2.training and model.conv1.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(x, x_copy) and torch.equal(y, y_copy)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, x, y: attacks.lbfgs(m, x, y, c=-1.0), ValueError, "c must be"),
        (lambda m, x, y: attacks.lbfgs(m, x, y, search_steps=0), ValueError, "search_steps"),
        (lambda m, x, y: attacks.lbfgs(m, x, y, max_iter=1.5), TypeError, "max_iter"),
        (lambda m, x, y: attacks.lbfgs(m, x, y, solver="adam"), ValueError, "solver"),
        (lambda m, x, y: attacks.lbfgs(m, x * 255, y), ValueError, r"\[0, 1\]"),
        (lambda m, x, y: attacks.lbfgs(m, x, y[:-1]), ValueError, "shape"),
        (lambda m, x, y: attacks.lbfgs(m, x, y, targeted=1), TypeError, "targeted"),
        (lambda m, x, y: attacks.lbfgs("model", x, y), TypeError, "model"),
        (lambda m, x, y: attacks.cw_l2(m, x, y, kappa=-1), ValueError, "kappa"),
        (lambda m, x, y: attacks.cw_l2(m, x, y, lr=0), ValueError, "lr"),
        (lambda m, x, y: attacks.cw_l2(m, x, y, steps=0), ValueError, "steps"),
        (lambda m, x, y: attacks.cw_l2(m, x, y, progress="no"), TypeError, "progress"),
        (lambda m, x, y: attacks.smallest_eps(m, x, y, eps_max=0), ValueError, "eps_max"),
        (lambda m, x, y: attacks.smallest_eps(m, x, y, attack="fgsm"), TypeError, "attack"),
        (lambda m, x, y: attacks.minimum_distortion(m, x, y, attack="deepfool"), ValueError, "attack"),
        (lambda m, x, y: attacks.measure(m, x, x[:1], y), ValueError, "same shape"),
        (lambda m, x, y: attacks.random_targets(y, 1), ValueError, "num_classes"),
        (lambda m, x, y: attacks.random_targets(y, 5), ValueError, r"classes in \[0, 4\]"),
    ],
)
def test_bad_arguments_raise_with_a_helpful_message(tiny_cnn, digits, call, error, match):
    x, y = digits
    with pytest.raises(error, match=match):
        call(tiny_cnn, x[:2], y[:2].clone().fill_(7))
