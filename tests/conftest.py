"""Shared fixtures: a small, fixed batch of digits and cheap models, all on the CPU."""

from __future__ import annotations

import pytest
import torch

from lessons import data, models


@pytest.fixture(scope="session")
def mnist():
    return data.load_mnist()


@pytest.fixture(scope="session")
def digits(mnist):
    """32 held-out digits and their labels."""
    return mnist.x_test[:32].clone(), mnist.y_test[:32].clone()


@pytest.fixture(scope="session")
def cnn():
    """The cached LeNet-style CNN on the CPU (trained on first use)."""
    return models.pretrained("cnn", device="cpu", progress=False)


@pytest.fixture()
def tiny_cnn():
    """An untrained, seeded CNN: cheap, with conv layers, for property tests."""
    torch.manual_seed(0)
    return models.lenet().eval()


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """Point LESSONS_CACHE at an empty folder for the duration of a test."""
    monkeypatch.setenv("LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LESSONS_SHARED_CACHE", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for the module's tests: the suite shares a small CPU, and tiny tensors
    gain nothing from threads. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
