import struct

import numpy as np
import pytest
import torch

from lessons import data


def test_mnist_subset_shapes_ranges_and_split(mnist):
    assert mnist.x_train.shape == (4000, 1, 28, 28) and mnist.x_test.shape == (1000, 1, 28, 28)
    assert mnist.x_train.dtype == torch.float32 and mnist.y_train.dtype == torch.int64
    assert 0 <= float(mnist.x_train.min()) and float(mnist.x_train.max()) == 1.0
    assert torch.equal(mnist.y_train.bincount(), torch.full((10,), 400))
    assert torch.equal(mnist.y_test.bincount(), torch.full((10,), 100))
    # shuffled: the source file is sorted by label, the split must not be
    assert len(set(mnist.y_train[:20].tolist())) > 3
    # train and test are disjoint images
    train_rows = {bytes((r * 255).round().to(torch.uint8).flatten().numpy()) for r in mnist.x_train}
    assert not any(bytes((r * 255).round().to(torch.uint8).flatten().numpy()) in train_rows for r in mnist.x_test)


def test_mnist_subset_is_the_same_every_time(mnist):
    again = data.load_mnist()
    assert torch.equal(again.x_train, mnist.x_train) and torch.equal(again.y_test, mnist.y_test)


def test_mnist_subset_looks_like_digits(mnist):
    # real digits: dark background, a few hundred bright pixels, a centred mass
    mean_img = mnist.x_train.mean(0)[0]
    assert float(mnist.x_train.mean()) < 0.2
    assert float(mean_img[10:18, 10:18].mean()) > 3 * float(mean_img[:4, :].mean())


def _write_idx(path, array: np.ndarray):
    dims = array.shape
    code = 0x08  # unsigned byte
    with open(path, "wb") as fh:
        fh.write(struct.pack(">HBB", 0, code, len(dims)))
        fh.write(struct.pack(">" + "I" * len(dims), *dims))
        fh.write(array.astype(np.uint8).tobytes())


def test_full_mnist_reads_idx_files_offline(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))
    full = data.load_mnist(full=True, root=tmp_path)
    assert full.x_train.shape == (6, 1, 28, 28) and full.x_test.shape == (4, 1, 28, 28)
    assert full.y_train.dtype == torch.int64 and 0 <= float(full.x_train.min()) <= float(full.x_train.max()) <= 1


def test_full_mnist_missing_fails_fast_without_network(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True"):
        data.load_mnist(full=True, root=tmp_path)


def test_load_mnist_rejects_bad_flag():
    with pytest.raises(TypeError, match="full must be True or False"):
        data.load_mnist(full="yes")


@pytest.mark.parametrize("name", list(data.PHOTOS))
def test_photos(name):
    x = data.photo(name)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.std()) > 0.05


def test_photo_size_and_errors():
    assert data.photo("coffee", size=64).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="name must be one of .*'chelsea'.*got 'dog'"):
        data.photo("dog")
    with pytest.raises(ValueError, match="size must be an integer >= 1, got -5"):
        data.photo("coffee", size=-5)


def test_imagenet_labels():
    labels = data.imagenet_labels()
    assert len(labels) == 1000 and labels[9] == "ostrich" and labels[281] == "tabby"


def test_round_trip_8bit_and_png_are_the_same_grid():
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    eight = data.round_trip(x, "8bit")
    assert eight.shape == x.shape and eight.dtype == x.dtype
    assert torch.equal(eight, (x * 255).round() / 255)  # the nearest of the 256 levels
    assert float((eight - x).abs().max()) <= 0.5 / 255 + 1e-6
    assert torch.equal(data.round_trip(x, "png"), eight)  # PNG is lossless: nothing more is lost
    assert torch.equal(data.round_trip(eight, "8bit"), eight)  # on the grid already: unchanged
    grey = x[:, :1]
    assert torch.equal(data.round_trip(grey, "png"), data.round_trip(grey, "8bit"))


def test_round_trip_jpeg_is_lossy_and_quality_matters():
    # a smooth photo: JPEG keeps it close, and closer at a higher quality
    x = data.photo("chelsea", size=64)
    err = {q: float((data.round_trip(x, "jpeg", quality=q) - x).abs().mean()) for q in (30, 75, 95)}
    assert err[95] < err[75] < err[30] < 0.05
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    assert float((data.round_trip(noise, "jpeg", quality=75) - noise).abs().mean()) > 0.05  # noise is not


def test_round_trip_errors():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="codec"):
        data.round_trip(x, "gif")
    with pytest.raises(ValueError, match="channels"):
        data.round_trip(torch.rand(1, 2, 8, 8), "png")
    with pytest.raises(ValueError, match="quality"):
        data.round_trip(x, "jpeg", quality=0)
    with pytest.raises(TypeError, match="quality"):
        data.round_trip(x, "jpeg", quality=75.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.round_trip(x * 255, "8bit")
