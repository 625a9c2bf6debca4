"""Tests for lessons.fooling (lesson 03): encodings, MAP-Elites, gradient ascent, the live panel."""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn

from lessons import encodings, evolution, fooling, models, panels

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def net():
    """A small untrained LeNet: fast, deterministic, and a real convnet."""
    torch.manual_seed(0)
    return models.lenet().eval()


@pytest.fixture(scope="module")
def cnn():
    return models.pretrained("cnn", device="cpu", progress=False)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- encodings


def test_cppn_output_shape_and_range_at_any_resolution():
    enc = encodings.CPPNEncoding((1, 28, 28))
    genomes = enc.init(5, gen())
    x = enc.render(genomes)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert float(x.flatten(1).std(1).min()) > 0  # patterns, not flat images
    big = enc.render(genomes, size=(56, 40))
    assert big.shape == (5, 1, 56, 40)
    rgb = encodings.CPPNEncoding((3, 224, 224), hidden=(4, 4)).render(encodings.CPPNEncoding((3, 224, 224), hidden=(4, 4)).init(2, gen()))
    assert rgb.shape == (2, 3, 224, 224) and 0 <= float(rgb.min()) and float(rgb.max()) <= 1


def _reference_cppn(enc, genome, x, y):
    """One pixel, one genome, node by node: the definition the batched render must match."""
    r = math.sqrt(x * x + y * y)
    values = [x, y, r, 1.0]
    sizes = enc.sizes
    fns = {0: math.sin, 1: lambda z: math.exp(-min(z * z, 80.0)), 2: lambda z: math.tanh(0.5 * z), 3: lambda z: z}
    node = 0
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = (genome[f"w{i}"][0] * genome[f"m{i}"][0]).tolist()
        z = [sum(values[j] * w[j][k] for j in range(a)) for k in range(b)]
        if i == len(sizes) - 2:
            return z  # the pre-activation outputs; standardised over the image by the caller
        values = [fns[int(genome["act"][0, node + k])](z[k]) for k in range(b)]
        node += b


def test_cppn_render_matches_a_pixel_by_pixel_reference():
    enc = encodings.CPPNEncoding((3, 7, 5), hidden=(4, 3))
    genome = enc.init(1, gen(3))
    genome["act"][0] = torch.tensor([0, 1, 2, 3, 0, 1, 2])  # every function is used
    img = enc.render(genome)[0]
    xs, ys = torch.linspace(-1, 1, 5).tolist(), torch.linspace(-1, 1, 7).tolist()
    z = torch.tensor([[_reference_cppn(enc, genome, x, y) for x in xs] for y in ys], dtype=torch.float64)
    z = z.permute(2, 0, 1).reshape(3, -1)  # (C, pixels)
    z = (z - z.mean(1, keepdim=True)) / (z.std(1, keepdim=True) + 0.1)
    want = torch.sigmoid(3 * z).reshape(3, 7, 5).float()
    assert torch.allclose(img, want, atol=1e-5)


def test_cppn_mutation_changes_weights_and_structure_but_not_the_parent():
    enc = encodings.CPPNEncoding((1, 28, 28), switch_rate=0.2, act_rate=0.2)
    parent = enc.init(50, gen())
    before = {k: v.clone() for k, v in parent.items()}
    child = enc.mutate(parent, gen(1))
    assert all(torch.equal(parent[k], before[k]) for k in parent)
    assert not torch.equal(child["w0"], parent["w0"])
    assert not torch.equal(child["m0"], parent["m0"]) and set(child["m0"].unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(child["act"], parent["act"]) and int(child["act"].max()) < 4


def test_direct_mutation_rate_range_and_step_sizes():
    x = torch.full((8, 1, 64, 64), 0.5)
    y = encodings.mutate_direct(x, 0.1, eta=15, generator=gen())
    assert torch.equal(x, torch.full_like(x, 0.5))  # input untouched
    changed = y != x
    assert abs(changed.float().mean().item() - 0.1) < 0.01
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    # Polynomial mutation with index eta moves a gene by |δ| with E|δ| = 1 / (eta + 2).
    assert abs((y - x)[changed].abs().mean().item() - 1 / 17) < 0.005
    assert torch.equal(y, encodings.mutate_direct(x, 0.1, eta=15, generator=gen()))


# --------------------------------------------------------------------------- MAP-Elites


def test_archive_never_gets_worse_and_holds_what_it_claims(net):
    enc = encodings.DirectEncoding((1, 28, 28))
    archive = evolution.map_elites(net, enc, generations=12, batch_size=16, generator=gen(), progress=False)
    h = archive.history
    assert h.shape == (13, 10) and archive.generations == 12
    assert bool((h[1:] >= h[:-1]).all()), "a cell's best confidence went down"
    assert bool((h[-1] > h[0]).any()), "twelve generations improved nothing"
    assert archive.evaluations == 16 * 13
    # Each elite really scores what the archive says, for its own class.
    logp = evolution.class_confidence(net, archive.images)
    assert torch.allclose(logp[torch.arange(10), torch.tensor(archive.classes)], archive.log_conf, atol=1e-5)
    assert torch.allclose(archive.confidence, h[-1])


def test_same_seed_same_archive_and_another_seed_differs(net):
    enc = encodings.CPPNEncoding((1, 28, 28))
    run = lambda seed: evolution.map_elites(net, enc, generations=5, batch_size=8, classes=[1, 7], generator=gen(seed), progress=False)
    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    assert all(torch.equal(a.genomes[k], b.genomes[k]) for k in a.genomes)
    assert not torch.equal(a.images, c.images)
    assert a.classes == (1, 7) and a.elite(7).shape == (1, 1, 28, 28)


def test_map_elites_stops_on_until_time_and_stop_flag(net):
    enc = encodings.DirectEncoding((1, 28, 28))
    assert evolution.map_elites(net, enc, generations=50, batch_size=4, until=0.0, progress=False).generations == 0
    assert evolution.map_elites(net, enc, generations=50, batch_size=4, time_limit=0.0, progress=False).generations == 0
    calls = []
    stop = lambda: calls.append(1) or len(calls) > 3
    assert evolution.map_elites(net, enc, generations=50, batch_size=4, stop=stop, progress=False).generations == 3


def test_model_is_left_as_it_was(net):
    model = models.lenet()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    evolution.map_elites(model, encodings.DirectEncoding(), generations=2, batch_size=4, progress=False)
    fooling.gradient_ascent(model, torch.tensor([3]), shape=(1, 28, 28), steps=2)
    fooling.cppn_ascent(model, torch.tensor([3]), encodings.CPPNEncoding(), steps=2)
    assert model.training and all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(classes=[3, 10]), r"classes must be in \[0, 9\]"),
        (dict(classes=[]), "non-empty"),
        (dict(classes=[2, 2]), "must not repeat"),
        (dict(generations=0), "generations must be an integer >= 1"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(until=1.5), r"until must be in \[0, 1\]"),
    ],
)
def test_map_elites_bad_arguments(net, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evolution.map_elites(net, encodings.DirectEncoding(), progress=False, **kwargs)


def test_wrong_image_size_and_shape_errors(net):
    with pytest.raises(ValueError, match=r"input shape \(C, H, W\), not \(1, 32, 32\)"):
        evolution.map_elites(net, encodings.DirectEncoding((1, 32, 32)), generations=1, progress=False)
    with pytest.raises(ValueError, match="shape must be"):
        encodings.CPPNEncoding((2, 28, 28))
    with pytest.raises(ValueError, match="shape must be"):
        encodings.make_encoding("direct", (28, 28))
    with pytest.raises(ValueError, match="name must be one of 'direct', 'cppn'"):
        encodings.make_encoding("pixels", (1, 28, 28))
    with pytest.raises(TypeError, match="targets must be a tensor of class indices, got int"):
        fooling.gradient_ascent(net, 3, shape=(1, 28, 28))
    with pytest.raises(ValueError, match=r"targets must hold classes in \[0, 9\], got values in \[3, 10\]"):
        fooling.gradient_ascent(net, torch.tensor([3, 10]), shape=(1, 28, 28))
    with pytest.raises(ValueError, match="give the image shape"):
        fooling.gradient_ascent(net, torch.tensor([3]))
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        encodings.mutate_direct(torch.rand(1, 1, 4, 4), 2.0)


# --------------------------------------------------------------------------- gradient ascent


def test_gradient_ascent_raises_the_target_probability(cnn):
    targets = torch.tensor([0, 4, 9])
    start = torch.rand((3, 1, 28, 28), generator=gen())
    before = models.predict(cnn, start)[torch.arange(3), targets]
    x = fooling.gradient_ascent(cnn, targets, start=start, steps=20, lr=0.05)
    after = models.predict(cnn, x)[torch.arange(3), targets]
    assert bool((after > before).all()) and float(after.min()) > 0.99
    assert x.shape == start.shape and float(x.min()) >= 0 and float(x.max()) <= 1
    smooth = fooling.gradient_ascent(cnn, targets, start=start, steps=20, lr=0.05, l2=1.0, blur_every=4, jitter=1,
                                     generator=gen())
    assert bool((models.predict(cnn, smooth)[torch.arange(3), targets] > before).all())


def test_cppn_ascent_raises_the_target_probability_and_keeps_a_cppn(cnn):
    enc = encodings.CPPNEncoding((1, 28, 28))
    targets = torch.tensor([2, 5])
    start = enc.init(2, gen())
    before = models.predict(cnn, enc.render(start))[torch.arange(2), targets]
    genomes, images = fooling.cppn_ascent(cnn, targets, enc, steps=30, genomes=start)
    after = models.predict(cnn, images)[torch.arange(2), targets]
    assert bool((after > before).all()) and float(after.min()) > 0.9
    assert torch.allclose(enc.render(genomes), images, atol=1e-6)  # the images are the CPPNs' renders
    assert torch.equal(genomes["m0"], start["m0"]) and torch.equal(genomes["act"], start["act"])


def test_gradient_cppn_renders_small_then_upsamples_and_is_differentiable():
    enc = encodings.GradientCPPN((3, 32, 32), hidden=(8, 8), resolution=16)
    genomes = enc.init(3, gen())
    assert set(genomes) == {"w0", "b0", "w1", "b1", "w2", "b2"} and genomes["w0"].shape == (3, 3, 8)
    x = enc.render(genomes)
    assert x.shape == (3, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert float(x.flatten(1).std(1).min()) > 0.01  # patterns, not flat images
    same_size = encodings.GradientCPPN((3, 16, 16), hidden=(8, 8), resolution=16).render(genomes)
    up = torch.nn.functional.interpolate(same_size, size=(32, 32), mode="bilinear", align_corners=False)
    assert torch.allclose(up, x, atol=1e-6)  # drawn at 16 px, then upsampled
    w = genomes["w1"].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(enc.render(dict(genomes, w1=w)).sum(), w)
    assert float(g.abs().sum()) > 0
    torch.testing.assert_close(enc.render(enc.init(3, gen())), x)  # same seed, same CPPNs
    with pytest.raises(ValueError, match="multiples of 4"):
        encodings.GradientCPPN(hidden=(6,))
    with pytest.raises(ValueError, match="resolution must be at most"):
        encodings.GradientCPPN((3, 32, 32), resolution=64)


def test_cppn_ascent_tunes_a_gradient_cppn_and_stops_on_time(cnn):
    enc = encodings.GradientCPPN((1, 28, 28), hidden=(8, 8), resolution=14)
    targets = torch.tensor([1, 7])
    start = enc.init(2, gen())
    before = models.predict(cnn, enc.render(start))[torch.arange(2), targets]
    genomes, images = fooling.cppn_ascent(cnn, targets, enc, steps=30, lr=0.05, genomes=start)
    after = models.predict(cnn, images)[torch.arange(2), targets]
    assert bool((after > before).all()) and float(after.min()) > 0.9
    assert torch.allclose(enc.render(genomes), images, atol=1e-6)
    assert not torch.equal(genomes["b0"], start["b0"])  # biases are genes too
    t0 = time.perf_counter()
    fooling.cppn_ascent(cnn, targets, enc, steps=100_000, time_limit=0.2, genomes=start)
    assert time.perf_counter() - t0 < 20
    with pytest.raises(ValueError, match="one CPPN per target"):
        fooling.cppn_ascent(cnn, targets[:1], enc, genomes=start)
    with pytest.raises(TypeError, match="keys"):
        fooling.cppn_ascent(cnn, targets, enc, genomes=encodings.CPPNEncoding().init(2))


# --------------------------------------------------------------------------- data sets and caches


def test_fooling_images_collects_every_runs_elites(net):
    x, fooled_as = fooling.fooling_images(net, runs=2, generations=2, batch_size=4, progress=False)
    assert x.shape == (2 * 2 * 10, 1, 28, 28)
    assert fooled_as.tolist() == list(range(10)) * 4


class _TinyImageNet(nn.Module):
    """Stands in for the 1,000-class classifier: mean colour → 1,000 logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3, 1000)

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))


def test_imagenet_run_is_cached_atomically_and_read_back_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONS_CACHE", str(tmp_path))
    monkeypatch.setitem(fooling._IMAGENET_RUN, "generations", 2)
    monkeypatch.setitem(fooling._IMAGENET_RUN, "batch_size", 2)
    monkeypatch.setitem(fooling._IMAGENET_RUN, "hidden", (3,))
    first = fooling.imagenet_evolution(model=_TinyImageNet(), progress=False)
    assert first.cache_info["cached"] is False and first.generations == 2
    files = list((tmp_path / "fooling").iterdir())
    assert len(files) == 1 and files[0].name.startswith("imagenet-cppn-v")  # no temporary files left behind
    second = fooling.imagenet_evolution(progress=False)  # no model needed: read from the cache
    assert second.cache_info["cached"] is True
    assert torch.equal(second.images, first.images) and torch.equal(second.history, first.history)
    assert second.classes == first.classes and len(second.classes) == len(fooling.IMAGENET_CLASSES)
    files[0].write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="ignoring .*rebuilding it"):
        third = fooling.imagenet_evolution(model=_TinyImageNet(), progress=False)
    assert torch.equal(third.images, first.images)


def test_imagenet_cppn_run_is_cached_and_read_back_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("LESSONS_CACHE", str(tmp_path))
    monkeypatch.setitem(fooling._IMAGENET_CPPN, "steps", 3)
    monkeypatch.setitem(fooling._IMAGENET_CPPN, "hidden", (4,))
    monkeypatch.setitem(fooling._IMAGENET_CPPN, "resolution", 16)
    first = fooling.imagenet_cppn(model=_TinyImageNet(), progress=False)
    k = len(fooling.IMAGENET_CLASSES)
    assert first.cache_info["cached"] is False and first.history.shape == (3, k) and first.images.shape == (k, 3, 224, 224)
    assert first.seconds > 0 and first.cpu_seconds > 0 and first.threads >= 1
    with torch.no_grad():  # the stored confidences are the model's on the stored images
        probs = torch.softmax(_TinyImageNet()(first.images), dim=1)[torch.arange(k), torch.tensor(first.classes)]
    assert torch.allclose(probs, first.confidence, atol=1e-5)
    second = fooling.imagenet_cppn(progress=False)  # no model needed: read from the cache
    assert second.cache_info["cached"] is True
    assert torch.equal(second.images, first.images) and torch.equal(second.history, first.history)
    assert second.seconds == first.seconds and second.classes == first.classes
    assert second.recipe == first.recipe and second.recipe["steps"] == 3  # what to repeat live, as it was run


def test_cached_models_are_exposed_for_warm():
    assert set(fooling.CACHED_MODELS) == {"cnn-fooling-class", "imagenet-cppn-run", "imagenet-gradient-cppn"}
    assert all(callable(v) for v in fooling.CACHED_MODELS.values())


# --------------------------------------------------------------------------- the live panel


def test_live_panel_runs_previews_and_reports(net):
    live = panels.evolution(net, max_generations=40, every=5, batch_size=8, background=False)
    assert isinstance(live, panels.LiveEvolution) and "lessons-run" in live.run_button._dom_classes
    assert live.panel.error is None and live.archive.generations == 0
    first_image = live.panel.image.value
    live.controls["encoding"].value = "direct"  # a new preview
    assert live.archive.encoding.name == "direct" and live.panel.image.value != first_image
    live.controls["target"].value = 3
    live.controls["generations"].value = 10
    live.run_button.click()
    assert not live.running and live.error is None
    assert live.archive.generations == 10 and live.archive.classes == (3,)
    assert live.progress.value == 10 and "generation 10" in live.panel.readout.value
    assert not live.controls["encoding"].disabled and live.stop_button.disabled


def test_live_panel_stop_button_ends_a_background_run(net):
    live = panels.LiveEvolution(net, max_generations=2000, every=50, batch_size=4)
    live.controls["generations"].value = 2000
    live.run()
    assert live.running and live.controls["target"].disabled and not live.stop_button.disabled
    live.stop_button.click()
    assert live.join(timeout=60)
    assert live.stopped and live.archive.generations < 2000 and "stopped" in live.panel.readout.value
