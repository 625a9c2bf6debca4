import pytest
import torch
from torch import nn

from lessons import utils


def test_get_device_default_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("LESSONS_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if utils._mps_available() else "cpu"
    assert utils.get_device().type == expected


def test_get_device_env_override(monkeypatch):
    monkeypatch.setenv("LESSONS_DEVICE", "cpu")
    assert utils.get_device() == torch.device("cpu")


def test_get_device_unknown_name_is_clear_error(monkeypatch):
    monkeypatch.setenv("LESSONS_DEVICE", "tpu")
    with pytest.raises(ValueError, match="'tpu'"):
        utils.get_device()
    with pytest.raises(ValueError, match="device must be one of"):
        utils.get_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here, so it cannot be unavailable")
def test_get_device_unavailable_cuda_is_clear_error(monkeypatch):
    monkeypatch.setenv("LESSONS_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        utils.get_device()


def test_set_seed_reproducible_and_validated():
    g1 = utils.set_seed(3)
    a = torch.rand(4), torch.rand(3, generator=g1)
    g2 = utils.set_seed(3)
    b = torch.rand(4), torch.rand(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for bad in (1.5, "3", True):
        with pytest.raises(TypeError, match="seed must be a non-negative integer"):
            utils.set_seed(bad)
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="seed must be a non-negative integer below 2\\*\\*64"):
            utils.set_seed(bad)


def test_eval_mode_restores_each_submodule():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(), nn.BatchNorm1d(2))
    model.train()
    model[2].eval()  # a frozen part stays frozen
    with utils.eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and model[1].training and not model[2].training


def test_eval_mode_restores_after_exception():
    model = nn.Sequential(nn.Linear(2, 2)).train()
    with pytest.raises(KeyError):
        with utils.eval_mode(model):
            raise KeyError("boom")
    assert model.training


def test_eval_mode_rejects_non_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        with utils.eval_mode("model"):
            pass


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.rand(3, 28, 28), r"shape \(N, C, H, W\)"),
        (torch.rand(2, 1, 4, 4) * 255, r"\[0, 1\]"),
        (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), "floating-point"),
        ([[0.5]], "torch.Tensor"),
        (torch.full((1, 1, 2, 2), float("nan")), r"\[0, 1\]"),
    ],
)
def test_check_images_rejects_bad_input(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        utils.check_images(x)


def test_check_labels_and_numbers():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        utils.check_labels(torch.zeros(2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        utils.check_labels(torch.tensor([0, 10]), 2, num_classes=10)
    with pytest.raises(TypeError, match="integer class indices"):
        utils.check_labels(torch.zeros(2), 2)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\], got 8"):
        utils.check_in_range("eps", 8, 0, 1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got -2"):
        utils.check_positive_int("steps", -2)
    with pytest.raises(ValueError, match="must be one of 'a', 'b'"):
        utils.check_choice("kind", "c", ("a", "b"))


def test_model_device_falls_back_for_models_without_parameters():
    assert utils.model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    x = torch.zeros(1)
    assert utils.model_device(torch.nn.Identity(), x) == x.device
    assert utils.model_device(lambda v: v, "cpu") == torch.device("cpu")
    assert utils.model_device(torch.nn.ReLU()) == torch.device("cpu")


def test_check_model_and_generator_name_the_bad_value():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got int"):
        utils.check_model(3)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        utils.check_generator(0)
    g = torch.Generator()
    assert utils.check_generator(g, cpu=True) is g and utils.check_generator(None) is None


def test_atomic_save_replaces_whole_files_and_leaves_no_temporaries(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "m.pt"
    utils.atomic_save({"a": torch.ones(2)}, path)
    assert torch.load(path, weights_only=True)["a"].tolist() == [1.0, 1.0]

    def broken_save(obj, fh):
        fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(utils.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        utils.atomic_save({"a": torch.zeros(2)}, path)
    assert torch.load(path, weights_only=True)["a"].tolist() == [1.0, 1.0]  # the old file survives whole
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]
