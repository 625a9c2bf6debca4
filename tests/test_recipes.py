"""Lesson 05's cached models: every recipe is covered, trained once, then loaded; the pool study over seeds."""

import pytest
import torch

from lessons import models, recipes, training


def test_cached_models_cover_every_recipe_and_every_study_run():
    study = {f"study-{v}-s{s}" for v in recipes.POOL_STUDY for s in recipes.SEEDS}
    assert set(recipes.CACHED_MODELS) == set(recipes.RECIPES) | study
    assert {r["method"] for r in recipes.RECIPES.values()} <= set(training.METHODS)
    assert {r.get("arch", "lenet") for r in [*recipes.RECIPES.values(), *recipes.POOL_STUDY.values()]} <= set(
        recipes.ARCHITECTURES)
    with pytest.raises(ValueError, match="must be one of"):
        recipes.robust_model("madry-full")


def test_build_model_gives_the_recipe_s_architecture_with_seeded_weights():
    net = recipes.build_model("fast_fgsm")
    assert [n for n, _ in net.named_children()] == [n for n, _ in models.small_cnn().named_children()]
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), recipes.build_model("fast_fgsm").parameters()))
    assert isinstance(recipes.build_model("pgd").conv1, torch.nn.Conv2d)


def test_robust_model_trains_once_then_loads(isolated_cache, monkeypatch):
    tiny = dict(recipes.RECIPES["standard"], epochs=1, n_train=200, description="tiny, for the test")
    monkeypatch.setitem(recipes.RECIPES, "standard", tiny)
    first = recipes.robust_model("standard", device="cpu", progress=False)
    second = recipes.robust_model("standard", device="cpu", progress=False)
    assert first.cache_info["cached"] is False and second.cache_info["cached"] is True
    info = second.cache_info
    assert {"best_epoch", "cpu_seconds", "train_seconds", "val_pgd", "description", "method"} <= set(info)
    assert all(torch.equal(p, q) for p, q in zip(first.state_dict().values(), second.state_dict().values()))


def test_study_models_differ_by_seed_and_load_from_the_cache(isolated_cache, monkeypatch):
    for variant in ("standard", "relu2"):
        monkeypatch.setitem(recipes.POOL_STUDY, variant, dict(recipes.POOL_STUDY[variant], epochs=1, n_train=100))
    a = recipes.study_model("relu2", 0, device="cpu", progress=False)
    b = recipes.study_model("relu2", 1, device="cpu", progress=False)
    again = recipes.study_model("relu2", 1, device="cpu", progress=False)
    assert a.cache_info["cached"] is False and again.cache_info["cached"] is True
    assert not torch.equal(a.fc1.weight, b.fc1.weight) and torch.equal(b.fc1.weight, again.fc1.weight)
    assert a.cache_info["method"] == "pool" and "second (top) hidden layer" in a.cache_info["description"]
    std = recipes.study_model("standard", 0, device="cpu", progress=False)
    assert std.cache_info["method"] == "standard"
    with pytest.raises(ValueError, match="variant must be one of"):
        recipes.study_model("relu9", 0)


def test_mean_interval_is_a_student_t_interval():
    mean, half = recipes.mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-5)  # t(0.975, 2) · s / √n, s = 1
    assert recipes.mean_interval([1.0, 2.0, 3.0], 0.5)[1] < half
    with pytest.raises(ValueError, match="at least 2"):
        recipes.mean_interval([1.0])
    with pytest.raises(TypeError, match="values"):
        recipes.mean_interval("123")


def test_fast_fgsm_is_wong_et_al_s_mnist_recipe_and_the_failure_case_is_the_first_edition_s():
    # locuslab/fast_adversarial, MNIST/train_mnist.py defaults: ε 0.3, α 0.375, batch 100, Adam, cyclic lr
    # 0 → 5e-3 at 2/5 of training → 0, their mnist_net; FGSM from an unclipped uniform start
    fast = recipes.RECIPES["fast_fgsm"]
    assert fast["arch"] == "small_cnn" and fast["method"] == "fast_fgsm" and fast["ramp_epochs"] == 0
    assert fast.get("eps", 0.3) * fast["fast_step"] == pytest.approx(0.375)
    assert (fast["batch_size"], fast["lr"], fast["schedule"], fast["peak"]) == (100, 5e-3, "cyclic", 0.4)
    assert not fast.get("clip_start", False)
    co = recipes.RECIPES["fast_fgsm_co"]
    assert co["method"] == "fast_fgsm" and co["fast_step"] == fast["fast_step"] and co["clip_start"] is True
    assert co.get("arch", "lenet") != fast["arch"] and co["ramp_epochs"] > 0  # our LeNet, ε ramped: the old schedule
    assert "FAILURE CASE" in co["description"]


def test_fit_recipe_trains_a_variant_and_rejects_bad_recipes():
    net = recipes.build_model("standard")
    variant = dict(recipes.RECIPES["standard"], epochs=1, n_train=100)
    info = recipes.fit_recipe("standard", net, recipe=variant, progress=False)
    assert info["epochs"] == 1 and info["method"] == "standard"
    with pytest.raises(TypeError, match="recipe must be a dict"):
        recipes.fit_recipe("standard", net, recipe=[("epochs", 1)])
    with pytest.raises(ValueError, match="recipe has keys adversarial_train does not take: \\['epoch'\\]"):
        recipes.fit_recipe("standard", net, recipe=dict(variant, epoch=2))
