"""lessons.transfer (lesson 02): transfer matrices, noise baselines, magnified rows, the halves."""

from __future__ import annotations

import copy
import functools
import math

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from lessons import attacks, models, noise, transfer, viz


@pytest.fixture(scope="module")
def nets():
    """Two trained, cached MNIST models on the CPU: an MLP and softmax regression."""
    return {"fc100": models.pretrained("fc100", device="cpu", progress=False),
            "softmax": models.pretrained("softmax-wd1e-4", device="cpu", progress=False)}


@pytest.fixture(scope="module")
def batch(mnist):
    return mnist.x_test[:96].clone(), mnist.y_test[:96].clone()


FGSM = functools.partial(attacks.fgsm, eps=0.15)


def _error(model, x, y):
    return 1.0 - models.accuracy(model, x, y)


# --------------------------------------------------------------------------- the matrix


def test_matrix_shape_order_and_cells_match_an_independent_computation(nets, batch):
    x, y = batch
    targets = {**nets, "cnn": models.pretrained("cnn", device="cpu", progress=False)}
    m = transfer.transfer_matrix(nets, targets, x, y, FGSM, progress=False)
    assert m.rows == ("fc100", "softmax") and m.cols == ("fc100", "softmax", "cnn") and m.n == len(x)
    assert len(m.error) == 2 and all(len(r) == 3 for r in m.error)
    for source in nets:
        x_adv = attacks.fgsm(nets[source], x, y, 0.15)
        for target, model in targets.items():
            assert m[source, target] == pytest.approx(_error(model, x_adv, y), abs=1e-6)
        d = ((x_adv - x) ** 2).sum(dim=(1, 2, 3)).div(784).sqrt().mean()
        assert m.distortion[m.rows.index(source)] == pytest.approx(float(d), rel=1e-5)
    for j, model in enumerate(targets.values()):
        assert m.clean_error[j] == pytest.approx(_error(model, x, y), abs=1e-6)
    assert m.to_dict()["softmax"]["cnn"] == m["softmax", "cnn"]


def test_diagonal_is_the_white_box_error_and_it_transfers_above_noise(nets, batch):
    x, y = batch
    g = torch.Generator().manual_seed(0)
    m = transfer.transfer_matrix(nets, nets, x, y, functools.partial(attacks.pgd, eps=0.15, steps=10, generator=g),
                                 progress=False)
    g = torch.Generator().manual_seed(0)
    for name, model in nets.items():  # same generator order: source by source
        x_adv = attacks.pgd(model, x, y, 0.15, steps=10, generator=g)
        assert m[name, name] == pytest.approx(_error(model, x_adv, y), abs=1e-6)
        assert m[name, name] > 0.8  # PGD at ε = 0.15 breaks both white-box
    noisy = noise.gaussian_noise(x, 0.15, generator=torch.Generator().manual_seed(1))
    for source, target in (("fc100", "softmax"), ("softmax", "fc100")):
        assert m[source, target] > _error(nets[target], noisy, y) + 0.2, "examples should transfer far above noise"


def test_same_seed_same_matrix_and_batching_does_not_matter(nets, batch):
    x, y = batch
    run = lambda seed, bs: transfer.craft(  # noqa: E731
        nets, x, y, functools.partial(attacks.pgd, eps=0.1, steps=3, generator=torch.Generator().manual_seed(seed)),
        batch_size=bs, progress=False)
    a, b, c = run(0, 32), run(0, 32), run(1, 32)
    for name in nets:
        assert torch.equal(a[name], b[name])
        assert not torch.equal(a[name], c[name])  # the random start really comes from the generator
    # a deterministic attack gives the same examples whatever the batch size
    d, e = (transfer.craft(nets, x, y, FGSM, batch_size=bs, progress=False) for bs in (7, 96))
    assert all(torch.equal(d[k], e[k]) for k in nets)


def test_models_are_left_as_they_were(batch):
    x, y = batch
    torch.manual_seed(0)
    model = models.mlp((16,)).train()
    before = copy.deepcopy(model.state_dict())
    transfer.transfer_matrix({"m": model}, {"m": model}, x, y, FGSM, progress=False)
    assert model.training and all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_example_sets_can_be_any_images(nets, batch):
    x, y = batch
    sets = {"clean": x.clone(), "noise": noise.gaussian_noise(x, 0.1, generator=torch.Generator().manual_seed(0))}
    m = transfer.error_matrix(sets, nets, x, y)
    assert m.rows == ("clean", "noise")
    assert m.error[0] == m.clean_error and m.distortion[0] == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_with_models_on_the_gpu(nets, batch):
    x, y = batch
    gpu = {k: copy.deepcopy(v).cuda() for k, v in nets.items()}
    m_gpu = transfer.transfer_matrix(gpu, gpu, x, y, FGSM, progress=False)
    m_cpu = transfer.transfer_matrix(nets, nets, x, y, FGSM, progress=False)
    for a, b in zip(m_gpu.error, m_cpu.error):
        assert a == pytest.approx(b, abs=2 / len(x))


def test_bad_arguments_are_named(nets, batch):
    x, y = batch
    with pytest.raises(ValueError, match="source_models must hold at least one model"):
        transfer.transfer_matrix({}, nets, x, y, FGSM, progress=False)
    with pytest.raises(TypeError, match=r"target_models\['bad'\] must be a torch.nn.Module"):
        transfer.transfer_matrix(nets, {"bad": "fc100"}, x, y, FGSM, progress=False)
    with pytest.raises(TypeError, match="attack must be a bound attack"):
        transfer.craft(nets, x, y, "fgsm", progress=False)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        transfer.craft(nets, x, y, FGSM, batch_size=0, progress=False)
    with pytest.raises(ValueError, match=r"must have shape \(96,\)"):
        transfer.craft(nets, x, y[:5], FGSM, progress=False)
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        transfer.craft(nets, x * 255, y, FGSM, progress=False)
    # an attack that returns the perturbation instead of the image is caught
    perturbation = lambda model, x, y: attacks.fgsm(model, x, y, 0.1) - x  # noqa: E731
    with pytest.raises(ValueError, match=r"the attack \(source 'fc100'\) must return images in \[0, 1\]"):
        transfer.craft(nets, x, y, perturbation, progress=False)
    with pytest.raises(ValueError, match=r"the attack \(source 'fc100'\) must return images of shape"):
        transfer.craft(nets, x, y, lambda model, x, y: x[:, :, :10], progress=False)
    with pytest.raises(ValueError, match="must have the shape of x"):
        transfer.error_matrix({"half": x[:10]}, nets, x, y)
    m = transfer.error_matrix({"clean": x}, nets, x, y)
    with pytest.raises(KeyError, match="no column 'cnn'"):
        m["clean", "cnn"]


# --------------------------------------------------------------------------- one pair in detail


class _Fixed(nn.Module):
    """Predicts a fixed class per image, looked up by the image's first pixel (an index)."""

    def __init__(self, classes):
        super().__init__()
        self.register_buffer("classes", torch.as_tensor(classes))
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        idx = (x[:, 0, 0, 0] * 100).round().long()
        return nn.functional.one_hot(self.classes[idx], 10).float() + 0 * self.dummy


def test_transfer_report_counts_only_the_eligible_images():
    n = 6
    x = torch.zeros(n, 1, 2, 2)
    x[:, 0, 0, 0] = torch.arange(n) / 100            # clean images: index 0..5
    x_adv = x.clone()
    x_adv[:, 0, 0, 0] = (torch.arange(n) + 10) / 100  # adversarial images: index 10..15
    y = torch.zeros(n, dtype=torch.long)
    #                       clean 0..5          adversarial 10..15
    source = _Fixed([0, 0, 0, 0, 1, 0, 0, 0, 0, 0] + [3, 3, 3, 0, 3, 3])
    target = _Fixed([0, 0, 0, 0, 0, 2, 0, 0, 0, 0] + [3, 4, 0, 0, 3, 5])
    r = transfer.transfer_report(source, target, x, y, x_adv)
    # eligible: both right when clean (not 4: source wrong; not 5: target wrong) and source fooled (not 3)
    assert r["n_eligible"] == 3                       # images 0, 1, 2
    assert r["transfer_rate"] == pytest.approx(2 / 3)  # 0 and 1 fool the target, 2 does not
    assert r["same_label"] == pytest.approx(1 / 2)     # image 0: 3 and 3; image 1: 3 and 4
    assert r["source_error"] == pytest.approx(5 / 6) and r["target_error"] == pytest.approx(4 / 6)
    assert r["target_clean_error"] == pytest.approx(1 / 6)
    assert math.isnan(transfer.transfer_report(source, target, x, y, x.clone())["transfer_rate"])


# --------------------------------------------------------------------------- printing


def test_tables_and_heatmap(nets, batch):
    x, y = batch
    m = transfer.error_matrix({"clean": x}, nets, x, y)
    frame = m.to_frame()
    assert list(frame.columns) == ["fc100", "softmax", "av. RMS distortion"]
    assert list(frame.index) == ["clean", "clean images"]
    assert frame.loc["clean images", "fc100"] == f"{100 * m.clean_error[0]:.1f}%" and "clean images" in str(m)
    table = viz.paper_table([("a", 0.289, 0.289, "Table 2"), ("b", 0.05, "0–5%", "noise")])
    assert table.loc["a", "ours"] == "28.9%" and table.loc["b", "paper"] == "0–5%" and table.loc["a", "setting"] == "Table 2"
    fig = viz.transfer_heatmap(m)
    assert isinstance(fig, Figure) and len(fig.axes[0].texts) == 2
    with pytest.raises(TypeError, match="must be a transfer.TransferMatrix"):
        viz.transfer_heatmap({"a": 1})
    with pytest.raises(ValueError, match=r"rows\[0\] must be \(result, ours, paper, setting\)"):
        viz.paper_table([("a", 0.1)])


# --------------------------------------------------------------------------- the halves and their models


def test_halves_are_disjoint_balanced_and_complete(mnist):
    (x1, y1), (x2, y2) = transfer.halves(mnist.x_train, mnist.y_train)
    assert len(y1) == len(y2) == 2000
    assert torch.equal(y1.bincount(), torch.full((10,), 200)) and torch.equal(y2.bincount(), torch.full((10,), 200))
    flat = lambda t: {tuple(r) for r in t.flatten(1).mul(255).round().byte().tolist()}  # noqa: E731
    assert not flat(x1) & flat(x2)  # no digit in both halves
    (x1b, _), _ = transfer.halves(mnist.x_train, mnist.y_train)
    assert torch.equal(x1, x1b)
    odd = transfer.halves(mnist.x_train[:5], torch.tensor([0, 0, 0, 1, 1]))
    assert odd[0][1].tolist() == [0, 1] and odd[1][1].tolist() == [0, 0, 1]


def test_half_models_are_registered_for_warm():
    assert set(transfer.CACHED_MODELS) == set(transfer.HALF_MODELS) == {"p1-fc100", "p1-fc123-456", "p2-fc100"}
    with pytest.raises(ValueError, match="name must be one of"):
        transfer.half_model("p3-fc100")


def test_a_half_model_trains_on_its_half_and_is_cached(isolated_cache):
    model = transfer.half_model("p2-fc100", device="cpu", progress=False)
    info = model.cache_info
    assert info["half"] == "p2" and info["train_size"] == 2000 and not info["cached"]
    assert info["train_accuracy"] > 0.98 and info["test_accuracy"] > 0.85
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [100, 100, 10]
    again = transfer.half_model("p2-fc100", device="cpu", progress=False)
    assert again.cache_info["cached"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


# --------------------------------------------------------------------------- boundary_walk


def test_boundary_walk_stops_just_across_the_boundary(nets, batch):
    x, y = batch
    model = nets["fc100"]
    x_adv = transfer.boundary_walk(model, x, y, 5.0, step=0.1)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert float((x_adv - x).flatten(1).norm(dim=1).max()) <= 5.0 + 1e-4
    assert _error(model, x_adv, y) == 1.0  # every digit flipped
    # already-wrong digits are left alone
    wrong = models.predict(model, x).argmax(1) != y
    assert bool(wrong.any()) and torch.equal(x_adv[wrong], x[wrong])
    # far smaller than a fixed-budget attack that also flips every digit
    x_pgd = attacks.pgd(model, x, y, 3.0, norm="l2", steps=20, generator=torch.Generator().manual_seed(0))
    assert _error(model, x_pgd, y) == 1.0
    assert float(noise.rms_distortion(x, x_adv).mean()) < 0.6 * float(noise.rms_distortion(x, x_pgd).mean())
    # and minimal up to about a step: a walk with steps 4× longer ends further out, not nearer
    coarse = transfer.boundary_walk(model, x, y, 5.0, step=0.4)
    d_fine = (x_adv - x).flatten(1).norm(dim=1)[~wrong]
    d_coarse = (coarse - x).flatten(1).norm(dim=1)[~wrong]
    assert float(d_fine.mean()) <= float(d_coarse.mean()) + 1e-6
    assert torch.equal(x_adv, transfer.boundary_walk(model, x, y, 5.0, step=0.1))  # deterministic


def test_boundary_walk_targeted_budget_and_arguments(nets, batch):
    x, y = batch
    model = nets["fc100"]
    target = (y + 1) % 10
    x_t = transfer.boundary_walk(model, x, target, 8.0, targeted=True)
    assert float((models.predict(model, x_t).argmax(1) == target).float().mean()) > 0.95
    short = transfer.boundary_walk(model, x, y, 0.3, step=0.1)  # at most three steps
    assert float((short - x).flatten(1).norm(dim=1).max()) <= 0.3 + 1e-5 and _error(model, short, y) < 1.0
    assert torch.equal(transfer.boundary_walk(model, x, y, 0.0), x)
    with pytest.raises(ValueError, match=r"step must be in \(0, eps\] = \(0, 5\], got 6"):
        transfer.boundary_walk(model, x, y, 5.0, step=6)
    with pytest.raises(ValueError, match="step must be > 0"):
        transfer.boundary_walk(model, x, y, 5.0, step=0)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 28\]"):
        transfer.boundary_walk(model, x, y, 30.0)
    train_mode = models.mlp((8,)).train()
    transfer.boundary_walk(train_mode, x, y, 0.5)
    assert train_mode.training and all(p.grad is None for p in train_mode.parameters())


def test_a_changed_recipe_gets_its_own_cache_file(isolated_cache, monkeypatch):
    transfer.half_model("p1-fc100", device="cpu", progress=False)
    monkeypatch.setattr(transfer, "_HALF_EPOCHS", 1)
    model = transfer.half_model("p1-fc100", device="cpu", progress=False)
    assert not model.cache_info["cached"]  # retrained, not the 20-epoch weights
    assert len(list((isolated_cache / "models").glob("p1-fc100-v*.pt"))) == 2
