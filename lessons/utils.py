"""Device choice, seeding, ``eval_mode``, argument checks, one progress bar and one atomic write.

Introduced in lesson 00. Every other module validates its arguments with the ``check_*``
helpers here, so that every bad value gets the same kind of error: ``TypeError`` when the
value has the wrong type (a string where a number belongs, a float where an integer belongs),
``ValueError`` when the type is right but the value is not (out of range, wrong shape, an
unknown name). The message names the parameter, the value received and what was expected.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "get_device",
    "set_seed",
    "eval_mode",
    "forked_rng",
    "check_images",
    "check_labels",
    "check_in_range",
    "check_positive_int",
    "check_bool",
    "check_choice",
    "check_model",
    "check_generator",
    "check_pair",
    "check_model_input",
    "model_device",
    "progress",
    "atomic_write",
    "atomic_save",
]

_KNOWN_DEVICES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device the course runs on: CUDA, then Apple's MPS, then the CPU.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` to force one (a
            ``torch.device`` is accepted too). When ``None`` the environment variable
            ``LESSONS_DEVICE`` is used if set, else the best available device.

    Returns:
        A ``torch.device``.

    Raises:
        TypeError: ``name`` is not a string, a ``torch.device`` or ``None``.
        ValueError: the name is not a device this course knows (``"cpu:1"``, ``"tpu"``).
        RuntimeError: the requested device is not available on this machine.
    """
    name = str(device) if isinstance(device, torch.device) else device
    if name is not None and not isinstance(name, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {type(name).__name__}")
    if name is None:
        name = os.environ.get("LESSONS_DEVICE") or None
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    text = name.strip().lower()
    kind, _, index = text.partition(":")
    if kind not in _KNOWN_DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(
            f"device must be one of {', '.join(_KNOWN_DEVICES)} (or 'cuda:N' for GPU number N), got {name!r}"
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} was requested (LESSONS_DEVICE or argument) but CUDA is not "
            "available here; unset LESSONS_DEVICE or use 'cpu'"
        )
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {name!r} was requested but this machine has {torch.cuda.device_count()} CUDA device(s) "
            f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
        )
    if kind == "mps" and not _mps_available():
        raise RuntimeError(
            f"device {name!r} was requested but Apple's MPS backend is not available here; "
            "unset LESSONS_DEVICE or use 'cpu'"
        )
    return torch.device(text)


def set_seed(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) so a notebook gives the same numbers.

    Args:
        seed: an integer in [0, 2**64 − 1].

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, for functions that take a ``generator``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be a non-negative integer below 2**64, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``model`` (and every submodule) in eval mode, then restore each one's own mode.

    Restoring per submodule matters: a model with a frozen, always-eval part must come back
    exactly as it was, not with ``model.train()`` applied to everything.
    """
    check_model(model)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, was_training in modes:
            m.training = was_training


@contextlib.contextmanager
def forked_rng(device: torch.device | str | None = None) -> Iterator[None]:
    """Run a block with torch's random state forked: whatever it draws or seeds, the caller's
    random numbers afterwards are the same as if the block had not run (CPU, and ``device`` if CUDA)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        yield


# --------------------------------------------------------------------------- checks


def check_images(x: object, name: str = "x", *, channels: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a float image batch of shape (N, C, H, W) with values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor in [0, 1], got dtype {x.dtype}")
    if x.dim() != 4:
        raise ValueError(
            f"{name} must have shape (N, C, H, W), got shape {tuple(x.shape)}; "
            f"for one image use {name}.unsqueeze(0)"
        )
    if x.shape[0] == 0 or x.numel() == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got shape {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    if not (0 <= lo and hi <= 1):  # also false for NaN
        bad = "NaN" if math.isnan(lo) or math.isnan(hi) else f"values in [{lo:.4g}, {hi:.4g}]"
        raise ValueError(f"{name} must hold pixel values in [0, 1], got {bad}; divide 0-255 images by 255")
    return x


def check_labels(y: object, n: int, name: str = "y", *, num_classes: int | None = None) -> torch.Tensor:
    """Check that ``y`` is an integer label vector of length ``n`` with classes in [0, num_classes)."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the images, got {tuple(y.shape)}")
    if y.numel():
        lo, hi = int(y.min()), int(y.max())
        top = num_classes - 1 if num_classes is not None else math.inf
        if lo < 0 or hi > top:
            listed = f"[0, {num_classes - 1}]" if num_classes is not None else "[0, K-1]"
            raise ValueError(f"{name} must hold classes in {listed}, got values in [{lo}, {hi}]")
    return y.long()


def check_in_range(name: str, value: object, lo: float, hi: float) -> float:
    """Check that a number lies in [lo, hi] and return it as a float."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    value = float(value)
    if not lo <= value <= hi:  # NaN fails too
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value:g}")
    return value


def check_positive_int(name: str, value: object, *, allow_zero: bool = False) -> int:
    """Check that ``value`` is an integer ≥ 1 (or ≥ 0 with ``allow_zero``)."""
    least = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {least}, got {value!r}")
    if value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    """Check that a flag is ``True`` or ``False`` (a string such as ``'False'`` is not)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(name: str, value: object, choices) -> object:
    """Check that ``value`` is one of ``choices``; the error lists them."""
    choices = tuple(choices)
    listed = ", ".join(repr(c) for c in choices)
    kinds = {type(c) for c in choices}
    if len(kinds) == 1 and not isinstance(value, next(iter(kinds))):
        raise TypeError(f"{name} must be one of {listed}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_model(model: object, name: str = "model") -> torch.nn.Module:
    """Check that ``model`` is a ``torch.nn.Module`` (a classifier, in this course)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_generator(generator: object, *, cpu: bool = False) -> torch.Generator | None:
    """Check that ``generator`` is ``None`` or a ``torch.Generator`` (on the CPU if ``cpu``)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if cpu and generator is not None and generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
    return generator


def check_pair(data: object, name: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """Check that ``data`` is a pair ``(x, y)`` of images in [0, 1] and matching labels."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (x, y) of image and label tensors, got {type(data).__name__}")
    x, y = data
    check_images(x, f"{name}[0]")
    return x, check_labels(y, x.shape[0], f"{name}[1]")


def _expected_input(model: torch.nn.Module) -> str:
    """What the first layer that fixes the input's shape wants, in words (for error messages)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            return f"images with {module.in_channels} channel(s)"
        if isinstance(module, torch.nn.Linear):
            return f"{module.in_features} values per image (C·H·W)"
        mean = getattr(module, "mean", None)
        if isinstance(mean, torch.Tensor) and mean.dim() == 4:  # a Normalize layer
            return f"images with {mean.shape[1]} channel(s)"
    return "another input shape"


def check_model_input(model: object, x: torch.Tensor, name: str = "x", *, model_name: str = "model",
                      classifier: bool = True) -> int:
    """Check that ``model`` takes the images ``x`` and return its number of classes K.

    One image goes through the model (in eval mode, without gradients), so a wrong dtype,
    channel count or image size is reported here, in words, rather than deep inside torch.

    With ``classifier=False`` any output is accepted (a feature extractor) and -1 is returned.

    Raises:
        TypeError: ``model`` is not a module, or ``x``'s dtype differs from the model's weights.
        ValueError: the model cannot take images of ``x``'s shape, or does not return (1, K) logits.
    """
    check_model(model, model_name)
    check_images(x, name)
    param = next(iter(model.parameters()), None)
    if param is not None and param.is_floating_point() and x.dtype != param.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the model's weights are {param.dtype}: "
                        f"convert the images with {name}.to({param.dtype})")
    device = model_device(model, x)
    try:
        with torch.no_grad(), eval_mode(model):
            out = model(x[:1].to(device))
    except (RuntimeError, ValueError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{model_name} cannot take {name} of shape {tuple(x.shape)}: it expects "
                         f"{_expected_input(model)} ({first})") from None
    if not classifier:  # a feature extractor: any output will do
        return -1
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        raise ValueError(f"{model_name} must return logits of shape (N, K) for images (N, C, H, W), "
                         f"got {type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
    return int(out.shape[1])


def model_device(model: object, fallback: torch.Tensor | torch.device | str | None = None) -> torch.device:
    """The device of ``model``'s first parameter.

    A model without parameters (or a plain function) has no device of its own: then the
    ``fallback`` tensor's device, the ``fallback`` device, or the CPU — so data stays where it is.
    """
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError, TypeError):
        if isinstance(fallback, torch.Tensor):
            return fallback.device
        return torch.device(fallback if fallback is not None else "cpu")


# --------------------------------------------------------------------------- progress and files


class _Silent:
    """What ``progress(enabled=False)`` returns: iterates, and ignores bar updates."""

    def __init__(self, iterable: Iterable | None) -> None:
        self._iterable = iterable if iterable is not None else ()

    def __iter__(self):
        return iter(self._iterable)

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def progress(iterable: Iterable | None = None, *, enabled: bool = True, total: int | None = None,
             desc: str | None = None, unit: str = "it", leave: bool = True):
    """The course's one progress bar: ``tqdm.auto`` when ``enabled``, else a silent stand-in.

    Use it as an iterator (``for e in progress(range(n), desc="training")``) or, with
    ``total=``, as a bar you ``update()``. The silent stand-in accepts the same calls, so a
    loop never branches on whether a bar is shown.
    """
    if not check_bool("progress", enabled):
        return _Silent(iterable)
    from tqdm.auto import tqdm  # imported on use: tqdm's notebook probe is slow at import time

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave)


def atomic_write(path: str | os.PathLike, data: bytes | str, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never half.

    Args:
        path: the file to (re)place; its folder is created if needed.
        data: the whole content (``str`` is written as UTF-8).
        mode: permission bits for the file (e.g. ``0o644`` for a cache a class shares);
            default: what ``open`` would give (``0o666`` less the umask).

    Returns:
        The path written.
    """
    if not isinstance(data, (bytes, str)):
        raise TypeError(f"data must be bytes or str (the whole content), got {type(data).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if mode is None:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    # A temporary file in the same folder, then os.replace (atomic within one file system).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)  # mkstemp makes 0600 files: nobody else could read them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save(obj: object, path: str | os.PathLike, *, mode: int | None = None) -> Path:
    """``torch.save`` to ``path`` atomically (see ``atomic_write``)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write(path, buffer.getvalue(), mode=mode)
