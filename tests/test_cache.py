"""The cache (lesson 00): train once then load, rebuild what cannot be read, share a class's cache,
survive an unwritable folder, leave the caller's random numbers alone, and name files safely."""

import os
import stat
import warnings

import pytest
import torch
from torch import nn

from lessons import cache, data, models, utils


def _tiny_fit(model):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)
    return {"note": "filled"}


def _file(folder, name="tiny", recipe="r1"):
    return folder / "models" / f"{name}-v{cache.fingerprint(recipe)}.pt"


def test_cached_trains_once_then_loads(isolated_cache):
    calls = []

    def fit(model):
        calls.append(1)
        return _tiny_fit(model)

    a = cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe="r1", device="cpu")
    b = cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe="r1", device="cpu")
    assert len(calls) == 1
    assert a.cache_info["cached"] is False and b.cache_info["cached"] is True
    assert b.cache_info["note"] == "filled" and torch.equal(a.weight, b.weight)
    assert [f.name for f in (isolated_cache / "models").iterdir()] == [_file(isolated_cache).name]  # no temporaries


def test_a_cache_folder_that_does_not_exist_yet_is_made_with_its_parents(tmp_path, monkeypatch):
    # A fresh clone with LESSONS_CACHE=.cache/lessons: neither folder exists. The model must reach
    # the disk (CI once trained every model in every process because this fell back to memory).
    root = tmp_path / "clone" / ".cache" / "lessons"
    monkeypatch.setenv("LESSONS_CACHE", str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")
    assert model.cache_info["cached"] is False
    assert _file(root).is_file()
    again = cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")
    assert again.cache_info["cached"] is True


def test_a_new_recipe_trains_a_new_model(isolated_cache):
    calls = []
    fit = lambda m: calls.append(1) or _tiny_fit(m)
    cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe={"lr": 1e-3, "epochs": 2}, device="cpu")
    cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe={"epochs": 2, "lr": 1e-3}, device="cpu")  # same recipe
    cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe={"lr": 1e-2, "epochs": 2}, device="cpu")
    assert len(calls) == 2
    assert cache.fingerprint({"a": 1, "b": (2, 3)}) == cache.fingerprint({"b": [2, 3], "a": 1})
    with pytest.raises(TypeError, match="recipe must be made of"):
        cache.fingerprint({"build": nn.Linear})


def test_cached_file_is_weights_only_loadable_and_readable_by_others(isolated_cache):
    cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")
    path = _file(isolated_cache)
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"state_dict", "info"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # a class can share a warmed cache


@pytest.mark.parametrize("damage", [b"", b"not a torch file", None])
def test_corrupt_or_incompatible_cache_is_reported_in_one_line_and_rebuilt(isolated_cache, damage):
    path = _file(isolated_cache)
    if damage is None:  # weights of another architecture under the same name
        cache.cached("tiny", lambda: nn.Linear(5, 2), _tiny_fit, recipe="r1", device="cpu")
    else:
        path.parent.mkdir(parents=True)
        path.write_bytes(damage)
    with pytest.warns(RuntimeWarning, match="ignoring .*rebuilding it") as caught:
        model = cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")
    message = str(caught[0].message)
    assert "\n" not in message and "weights_only=False" not in message
    assert model.weight.shape == (2, 3) and float(model.weight[0, 0].detach()) == 0.5
    assert cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu").cache_info["cached"]


def test_a_malicious_pickle_is_refused_and_its_code_never_runs(isolated_cache, tmp_path):
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    path = _file(isolated_cache)
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": Evil(), "info": {}}, path)
    with pytest.warns(RuntimeWarning, match="holds Python objects, not just tensors"):
        cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")
    assert not (tmp_path / "pwned").exists()


def test_failed_training_leaves_no_cache_file(isolated_cache):
    def fit(model):
        raise KeyboardInterrupt  # the learner pressed stop mid-training

    with pytest.raises(KeyboardInterrupt):
        cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe="r1", device="cpu")
    folder = isolated_cache / "models"
    assert not folder.exists() or not any(folder.iterdir())


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LESSONS_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path
    monkeypatch.delenv("LESSONS_CACHE")
    assert "blind-spots" in str(cache.cache_dir())


@pytest.mark.parametrize("bad", ["", "../evil", "a b", ".hidden", "a/b", "x/../../y"])
def test_names_cannot_leave_the_cache(isolated_cache, bad):
    with pytest.raises(ValueError, match="cache name must be letters"):
        cache.cached(bad, lambda: nn.Linear(1, 1), _tiny_fit, recipe="r1")
    with pytest.raises(ValueError, match="cache version must be letters"):
        cache.save("models", "ok", bad or "..", {"a": torch.ones(1)})
    with pytest.raises(TypeError, match="cache name must be a string"):
        cache.load("models", 3, "1")


def test_a_shared_read_only_cache_is_read_and_new_models_go_to_your_own(tmp_path, monkeypatch):
    shared, own = tmp_path / "shared", tmp_path / "own"
    monkeypatch.setenv("LESSONS_CACHE", str(shared))  # the instructor warms the shared cache
    cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")
    for path in [shared, *shared.rglob("*")]:  # then makes it read-only for the class
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        monkeypatch.setenv("LESSONS_CACHE", str(own))
        monkeypatch.setenv("LESSONS_SHARED_CACHE", str(shared))
        calls = []
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning, no retraining: read from the shared cache
            model = cache.cached("tiny", lambda: nn.Linear(3, 2), lambda m: calls.append(1), recipe="r1", device="cpu")
        assert calls == [] and model.cache_info["cached"] and model.cache_info["path"].startswith(str(shared))
        cache.cached("other", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")  # new: into your own
        assert _file(own, "other").exists() and not _file(shared, "other").exists()
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.parametrize("kind", ["read-only folder", "a file where the folder should be"])
def test_an_unwritable_cache_keeps_the_model_in_memory_and_says_how_to_fix_it(tmp_path, monkeypatch, kind):
    if kind == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the file-as-folder case covers the error path")
        target = tmp_path / "ro"
        target.mkdir(mode=0o555)
    else:
        target = tmp_path / "file"
        target.write_text("not a folder")
    monkeypatch.setenv("LESSONS_CACHE", str(target / "cache") if kind != "read-only folder" else str(target))
    monkeypatch.setattr(cache, "_warned_unwritable", set())
    with pytest.warns(RuntimeWarning, match="cannot write to .*LESSONS_CACHE") as caught:
        model = cache.cached("tiny", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")
    assert len(caught) == 1 and float(model.weight[0, 0].detach()) == 0.5  # trained, kept, usable
    assert model.cache_info["path"] is None and model.cache_info["cached"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per folder, not on every call
        cache.cached("tiny2", lambda: nn.Linear(3, 2), _tiny_fit, recipe="r1", device="cpu")


def test_cached_leaves_the_global_random_numbers_as_they_were(isolated_cache):
    def fit(model):  # a recipe that reseeds and draws, as training does
        torch.manual_seed(123)
        torch.rand(1000)
        return _tiny_fit(model)

    torch.manual_seed(7)
    cold = cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe="r1", device="cpu")
    after_cold = torch.rand(3)
    torch.manual_seed(7)
    warm = cache.cached("tiny", lambda: nn.Linear(3, 2), fit, recipe="r1", device="cpu")
    after_warm = torch.rand(3)
    assert not cold.cache_info["cached"] and warm.cache_info["cached"]
    assert torch.equal(after_cold, after_warm)


def test_numbers_after_pretrained_are_the_same_with_a_cold_and_a_warm_cache(isolated_cache, monkeypatch):
    tiny = models._Recipe(models.softmax_regression, "tiny softmax, for the test", epochs=1)
    monkeypatch.setitem(models.PRETRAINED, "softmax-wd1e-4", tiny)
    draws = []
    for _ in ("cold", "warm"):
        utils.set_seed(0)
        models.pretrained("softmax-wd1e-4", device="cpu", progress=False)
        draws.append(torch.rand(4))
    assert torch.equal(*draws)


def test_load_mnist_returns_tensors_a_learner_can_edit():
    first = data.load_mnist()
    y0, x0 = first.y_train.clone(), first.x_train[0].clone()
    first.y_train.add_(1)  # edited in place, as a learner might
    first.x_train[0] = 0.5
    again = data.load_mnist()
    assert torch.equal(again.y_train, y0) and torch.equal(again.x_train[0], x0)
