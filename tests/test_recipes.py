"""Lesson 05's cached models: every recipe is covered, trained once, then loaded."""

import pytest
import torch

from lessons import recipes, training


def test_cached_models_cover_every_recipe():
    assert set(recipes.CACHED_MODELS) == set(recipes.RECIPES)
    assert {r["method"] for r in recipes.RECIPES.values()} == set(training.METHODS)
    with pytest.raises(ValueError, match="must be one of"):
        recipes.robust_model("madry-full")


def test_robust_model_trains_once_then_loads(isolated_cache, monkeypatch):
    tiny = dict(recipes.RECIPES["standard"], epochs=1, n_train=200, description="tiny, for the test")
    monkeypatch.setitem(recipes.RECIPES, "standard", tiny)
    first = recipes.robust_model("standard", device="cpu", progress=False)
    second = recipes.robust_model("standard", device="cpu", progress=False)
    assert first.cache_info["cached"] is False and second.cache_info["cached"] is True
    info = second.cache_info
    assert {"best_epoch", "cpu_seconds", "train_seconds", "val_pgd", "description", "method"} <= set(info)
    assert all(torch.equal(p, q) for p, q in zip(first.state_dict().values(), second.state_dict().values()))
