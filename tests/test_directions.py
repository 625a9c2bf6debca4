"""Tests for lessons.directions (lesson 04): hooks, top-k, directions, coherence, synthesis, quiz."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch
from torch import nn

from lessons import directions as D
from lessons import layers, models, panels, viz


@pytest.fixture(scope="module")
def untrained() -> nn.Module:
    torch.manual_seed(0)
    return models.lenet().eval()  # untrained is enough: these tests are about plumbing (no cache needed)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# --------------------------------------------------------------------------- capture


def test_capture_records_each_forward_and_removes_hooks(untrained, images):
    with layers.capture(untrained, ["fc1", "conv2"]) as out:
        untrained(images[:3])
        untrained(images[3:5])
        assert hook_count(untrained) == 2
    assert hook_count(untrained) == 0
    assert [t.shape for t in out["fc1"]] == [(3, 128), (2, 128)]
    assert out["conv2"][0].shape == (3, 32, 14, 14)
    reference = untrained[:9](images[:3])  # normalize … fc1, computed by hand
    torch.testing.assert_close(out["fc1"][0], reference)
    assert not out["fc1"][0].requires_grad


def test_capture_removes_hooks_after_an_exception(untrained, images):
    with pytest.raises(RuntimeError, match="boom"):
        with layers.capture(untrained, "fc1"):
            untrained(images[:2])
            raise RuntimeError("boom")
    assert hook_count(untrained) == 0


def test_capture_removes_hooks_when_the_forward_pass_fails(untrained):
    with pytest.raises(RuntimeError):
        with layers.capture(untrained, ["conv1", "fc1"]):
            untrained(torch.rand(2, 3, 28, 28))  # wrong channel count: conv1 raises
    assert hook_count(untrained) == 0


def test_activations_leave_no_hooks_and_restore_mode(untrained, images):
    untrained.train()
    try:
        layers.activations(untrained, images, "fc1", progress=False)
        assert untrained.training and all(m.training for m in untrained.modules())
    finally:
        untrained.eval()
    assert hook_count(untrained) == 0


def test_unknown_layer_lists_the_valid_names(untrained, images):
    with pytest.raises(ValueError) as err:
        with layers.capture(untrained, "fc3"):
            pass
    message = str(err.value)
    for name in ("normalize", "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten", "fc1", "relu3", "fc2"):
        assert name in message
    assert "'fc3'" in message and "Did you mean" in message
    with pytest.raises(ValueError, match="conv1"):
        layers.activations(untrained, images, ["fc1", "nope"], progress=False)
    assert hook_count(untrained) == 0


def test_unknown_layer_in_a_big_model_points_to_layer_names():
    big = nn.Sequential(*[nn.Linear(2, 2) for _ in range(100)])
    with pytest.raises(ValueError, match=r"100 in all: see layers.names"):
        layers.activations(big, torch.rand(1, 1, 1, 2), "layer7", progress=False)


def test_layer_names(untrained):
    assert layers.names(untrained) == tuple(name for name, _ in untrained.named_children())


# --------------------------------------------------------------------------- activations


def test_activations_match_a_manual_forward_in_any_batch_size(untrained, images):
    whole = layers.activations(untrained, images, ["conv2", "fc1"], batch_size=500, progress=False)
    batched = layers.activations(untrained, images, "fc1", batch_size=7, progress=False)
    with torch.no_grad():
        torch.testing.assert_close(whole["fc1"], untrained[:9](images))
        torch.testing.assert_close(whole["conv2"], untrained[:5](images))
    torch.testing.assert_close(batched, whole["fc1"])


def test_activations_validate_images(untrained):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        layers.activations(untrained, 255 * torch.ones(2, 1, 28, 28), "fc1", progress=False)
    with pytest.raises(TypeError, match="nn.Module"):
        layers.activations(lambda x: x, torch.rand(2, 1, 28, 28), "fc1", progress=False)


# --------------------------------------------------------------------------- directions


def test_random_directions_are_unit_norm_and_reproducible():
    a = D.random_directions(100, 32, generator=torch.Generator().manual_seed(5))
    b = D.random_directions(100, 32, generator=torch.Generator().manual_seed(5))
    c = D.random_directions(100, 32, generator=torch.Generator().manual_seed(6))
    assert a.shape == (100, 32)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(100))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Uniform on the sphere: no coordinate is favoured, so the mean vector is near 0.
    many = D.random_directions(20_000, 8, generator=torch.Generator().manual_seed(0))
    assert many.mean(0).abs().max() < 0.02
    torch.testing.assert_close((many**2).mean(0), torch.full((8,), 1 / 8), atol=0.01, rtol=0)


def test_unit_directions_and_bad_arguments():
    assert torch.equal(D.unit_directions(3), torch.eye(3))
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        D.random_directions(0, 4)


def test_project_dense_and_conv_match_brute_force():
    g = torch.Generator().manual_seed(2)
    dense = torch.randn(6, 5, generator=g)
    conv = torch.randn(6, 4, 3, 2, generator=g)
    v5 = D.random_directions(3, 5, generator=g)
    v4 = D.random_directions(3, 4, generator=g)
    s_dense = D.project(dense, v5)
    s_mean = D.project(conv, v4, reduce="mean")
    s_max = D.project(conv, v4, reduce="max")
    for n, k in itertools.product(range(6), range(3)):
        assert abs(float(s_dense[n, k]) - sum(float(dense[n, d] * v5[k, d]) for d in range(5))) < 1e-5
        per_position = [sum(float(conv[n, c, h, w] * v4[k, c]) for c in range(4)) for h in range(3) for w in range(2)]
        assert abs(float(s_mean[n, k]) - sum(per_position) / 6) < 1e-5
        assert abs(float(s_max[n, k]) - max(per_position)) < 1e-5
    # A unit direction reads one channel: max over its map, not the max of a sum.
    torch.testing.assert_close(D.project(conv, D.unit_directions(4), reduce="max"), conv.amax((2, 3)))


def test_project_rejects_mismatched_directions():
    with pytest.raises(ValueError, match=r"shape \(K, 5\)"):
        D.project(torch.zeros(2, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="reduce must be one of"):
        D.project(torch.zeros(2, 4, 2, 2), torch.zeros(1, 4), reduce="median")


def test_top_k_equals_brute_force():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(50, 7, generator=g)
    got = D.top_k(scores, 5)
    assert got.shape == (7, 5) and got.dtype == torch.long
    for j in range(7):
        expected = sorted(range(50), key=lambda n: -float(scores[n, j]))[:5]
        assert got[j].tolist() == expected


def test_top_k_breaks_ties_by_lower_index_and_checks_k():
    scores = torch.tensor([[1.0], [3.0], [3.0], [0.0], [3.0]])
    assert D.top_k(scores, 3).tolist() == [[1, 2, 4]]
    with pytest.raises(ValueError, match="k must be at most the number of images"):
        D.top_k(scores, 6)


def test_top_k_of_the_real_pipeline(untrained, images):
    acts = layers.activations(untrained, images, "conv2", progress=False)
    v = D.random_directions(4, 32, generator=torch.Generator().manual_seed(0))
    idx = D.top_k(D.project(acts, v, reduce="max"), 3)
    for j in range(4):
        brute = [float((acts[n] * v[j][:, None, None]).sum(0).max()) for n in range(len(images))]
        assert idx[j].tolist() == sorted(range(len(images)), key=lambda n: -brute[n])[:3]


# --------------------------------------------------------------------------- coherence


def test_label_purity_against_counter():
    labels = torch.tensor([0, 1, 1, 2, 2, 2, 3, 9])
    idx = torch.tensor([[0, 1, 2, 3], [3, 4, 5, 1], [6, 7, 0, 1]])
    expected = [Counter(labels[row].tolist()).most_common(1)[0][1] / 4 for row in idx]
    assert D.label_purity(idx, labels).tolist() == pytest.approx(expected)
    assert expected == [0.5, 0.75, 0.25]


def test_pixel_similarity_against_loops():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(10, 1, 4, 4, generator=g)
    idx = torch.tensor([[0, 1, 2], [3, 3, 9]])
    got = D.pixel_similarity(idx, x)
    for r, row in enumerate(idx.tolist()):
        pairs = [torch.nn.functional.cosine_similarity(x[a].flatten(), x[b].flatten(), dim=0)
                 for a, b in itertools.permutations(row, 2)]
        assert float(got[r]) == pytest.approx(float(sum(pairs) / len(pairs)), abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 images"):
        D.pixel_similarity(idx[:, :1], x)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 9\]"):
        D.pixel_similarity(torch.tensor([[0, 10]]), x)


def test_compare_detects_a_real_difference_and_not_a_fake_one():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(30, generator=g)
    same = D.compare(a, torch.randn(300, generator=g), n_permutations=2000, generator=torch.Generator().manual_seed(1))
    shifted = D.compare(a + 1.0, torch.randn(300, generator=g), n_permutations=2000, generator=torch.Generator().manual_seed(1))
    assert same.p_value > 0.05 and shifted.p_value < 0.001
    assert shifted.difference == pytest.approx(shifted.mean_units - shifted.mean_random)
    again = D.compare(a + 1.0, torch.randn(300, generator=g), n_permutations=2000, generator=torch.Generator().manual_seed(1))
    assert 0 < again.p_value <= 1 and again.p_value >= 1 / 2001
    # Reproducible from the generator.
    b = torch.randn(300, generator=torch.Generator().manual_seed(9))
    one = D.compare(a, b, n_permutations=500, generator=torch.Generator().manual_seed(3))
    two = D.compare(a, b, n_permutations=500, generator=torch.Generator().manual_seed(3))
    assert one == two


def test_unit_vs_random_matches_the_pipeline_by_hand(untrained, images):
    labels = torch.arange(20) % 3
    acts = layers.activations(untrained, images, "conv2", progress=False)
    study = D.unit_vs_random(acts, images, labels, k=4, n_random=6, reduce="max", generator=torch.Generator().manual_seed(0))
    v = D.random_directions(6, 32, generator=torch.Generator().manual_seed(0))
    by_hand = D.top_k(D.project(acts, v, reduce="max"), 4)
    torch.testing.assert_close(study.purity_random, D.label_purity(by_hand, labels))
    torch.testing.assert_close(study.similarity_random, D.pixel_similarity(by_hand, images))
    units = D.top_k(acts.amax((2, 3)), 4)
    torch.testing.assert_close(study.purity_units, D.label_purity(units, labels))
    assert study.similarity_units.shape == (32,)


# --------------------------------------------------------------------------- synthesis


def test_maximize_raises_the_objective_and_leaves_the_model_alone(untrained):
    v = torch.cat([D.unit_directions(32)[[3]], D.random_directions(1, 32, generator=torch.Generator().manual_seed(0))])
    start = D.maximize(untrained, "conv2", v, shape=(1, 28, 28), steps=1, lr=1e-6, generator=torch.Generator().manual_seed(0),
                       progress=False)
    untrained.train()
    try:
        out = D.maximize(untrained, "conv2", v, shape=(1, 28, 28), steps=30, generator=torch.Generator().manual_seed(0), progress=False)
        assert untrained.training
    finally:
        untrained.eval()
    assert out.shape == (2, 1, 28, 28) and 0 <= float(out.min()) and float(out.max()) <= 1
    assert all(p.grad is None for p in untrained.parameters()) and hook_count(untrained) == 0
    before = D.project(layers.activations(untrained, start, "conv2", progress=False), v).diagonal()
    after = D.project(layers.activations(untrained, out, "conv2", progress=False), v).diagonal()
    assert (after > 1.5 * before).all() and (before > 0).all(), (before, after)
    # Each image maximises its own direction more than the other one's.
    cross = D.project(layers.activations(untrained, out, "conv2", progress=False), v)
    assert cross[0, 0] > cross[1, 0] and cross[1, 1] > cross[0, 1]


def test_maximize_validates(untrained):
    with pytest.raises(ValueError, match="layer must name the model's layers"):
        D.maximize(untrained, "conv9", torch.eye(2), progress=False)
    with pytest.raises(ValueError, match="shape must be"):
        D.maximize(untrained, "conv2", torch.eye(32), shape=(28, 28), progress=False)


# --------------------------------------------------------------------------- quiz


@pytest.fixture
def quiz(images) -> panels.Quiz:
    grids = torch.stack([torch.arange(6) + 6 * j for j in range(4)], 1) % 20  # row r starts with image r
    truths = ["unit", "unit", "unit", "random", "random", "random"]
    return panels.Quiz(images, grids, truths, generator=torch.Generator().manual_seed(0))


def test_quiz_shuffles_reproducibly_and_keeps_grids_with_their_truths(images, quiz):
    grids = torch.stack([torch.arange(6) + 6 * j for j in range(4)], 1) % 20
    again = panels.Quiz(images, grids, ["unit"] * 3 + ["random"] * 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(quiz.grids, again.grids)
    assert quiz.grids[:, 0].tolist() != list(range(6))  # not the input order
    assert sorted(quiz.grids[:, 0].tolist()) == list(range(6))
    quiz.reveal()
    for grid, truth in zip(quiz.grids, quiz.answers):
        assert truth == ("unit" if int(grid[0]) < 3 else "random")


def test_quiz_scores_and_hides_answers_until_revealed(quiz):
    with pytest.raises(RuntimeError, match="hidden"):
        _ = quiz.answers
    assert quiz.score == 0 and quiz.answered == 0 and "0 of 6" in quiz.readout()
    truths = quiz._truths
    quiz.guess(0, truths[0])
    quiz.guess(1, "random" if truths[1] == "unit" else "unit")
    quiz.guess(2, "?")
    assert quiz.answered == 2 and quiz.score == 1
    assert "Score" not in quiz.readout()
    quiz.reveal()
    assert "Score: <b>1 / 6</b>" in quiz.readout()
    with pytest.raises(ValueError, match="answer must be one of"):
        quiz.guess(0, "neuron")
    with pytest.raises(ValueError, match=r"grid index must be in \[0, 5\]"):
        quiz.guess(6, "unit")


def test_quiz_panel_updates_readout_and_reveals(quiz):
    panel = quiz.panel()
    assert panel.error is None and panel.image.value
    first_image = panel.image.value
    assert "0 of 6" in panel.readout.value
    panel.controls["A"].value = "unit"
    assert "1 of 6" in panel.readout.value
    assert panel.image.value == first_image  # a guess alone does not redraw the grids
    for i, name in enumerate(quiz.names):
        panel.controls[name].value = quiz._truths[i]
    panel.controls["reveal"].value = True
    assert panel.error is None
    assert "Score: <b>6 / 6</b>" in panel.readout.value
    assert panel.image.value != first_image  # the titles now carry the answers


def test_quiz_validates(images):
    with pytest.raises(ValueError, match="one answer per grid"):
        panels.Quiz(images, torch.zeros(2, 3, dtype=torch.long), ["unit"])
    with pytest.raises(ValueError, match="truth must be one of"):
        panels.Quiz(images, torch.zeros(1, 3, dtype=torch.long), ["neuron"])


def test_replicate_cnn_rejects_unknown_seeds():
    with pytest.raises(ValueError, match="seed must be an integer >= 1, got 0"):
        D.replicate_cnn(0)
    assert set(D.CACHED_MODELS) == {"cnn-seed1", "cnn-seed2"}


def test_strips_figure_has_one_row_per_direction(images):
    fig = viz.strips_figure(images, torch.tensor([[0, 1, 2], [3, 4, 5]]), ["a", "b"])
    assert len(fig.axes) == 2 and fig.axes[1].get_title(loc="left") == "b"
    with pytest.raises(ValueError, match="one entry per row"):
        viz.strips_figure(images, torch.tensor([[0, 1]]), ["a", "b"])
