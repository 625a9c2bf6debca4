"""Device choice, seeding, the ``eval_mode`` context manager and argument checks.

Introduced in lesson 00. Every other module validates its arguments with the ``check_*``
helpers here so that a bad value is named in the error together with what was expected.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "get_device",
    "set_seed",
    "eval_mode",
    "check_images",
    "check_labels",
    "check_in_range",
    "check_positive_int",
    "check_choice",
    "check_model",
    "check_generator",
    "model_device",
    "atomic_save",
]

_KNOWN_DEVICES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(name: str | None = None) -> torch.device:
    """The device the course runs on: CUDA, then Apple's MPS, then the CPU.

    Args:
        name: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"`` to force one. When ``None``
            the environment variable ``LESSONS_DEVICE`` is used if set, else the best
            available device.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: the name is not a device kind this course knows.
        RuntimeError: the requested device is not available on this machine.
    """
    if name is None:
        name = os.environ.get("LESSONS_DEVICE") or None
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = str(name).strip().lower().split(":")[0]
    if kind not in _KNOWN_DEVICES:
        raise ValueError(
            f"device must be one of {', '.join(_KNOWN_DEVICES)} (optionally 'cuda:N'), got {name!r}"
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} was requested (LESSONS_DEVICE or argument) but CUDA is not "
            "available here; unset LESSONS_DEVICE or use 'cpu'"
        )
    if kind == "mps" and not _mps_available():
        raise RuntimeError(
            f"device {name!r} was requested but Apple's MPS backend is not available here; "
            "unset LESSONS_DEVICE or use 'cpu'"
        )
    return torch.device(str(name).strip().lower())


def set_seed(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) so a notebook gives the same numbers.

    Args:
        seed: a non-negative integer.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, for functions that take a ``generator``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
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
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, was_training in modes:
            m.training = was_training


# --------------------------------------------------------------------------- checks


def check_images(x: object, name: str = "x", *, channels: int | None = None) -> torch.Tensor:
    """Check that ``x`` is a float image batch of shape (N, C, H, W) with values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{name} must have shape (N, C, H, W), got shape {tuple(x.shape)}; "
            f"for one image use {name}.unsqueeze(0)"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor in [0, 1], got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)})")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got shape {tuple(x.shape)}")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1 or lo != lo or hi != hi:
            raise ValueError(
                f"{name} must hold pixel values in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                "divide 0-255 images by 255"
            )
    return x


def check_labels(y: object, n: int, name: str = "y", *, num_classes: int | None = None) -> torch.Tensor:
    """Check that ``y`` is an int64 label vector of length ``n`` (classes in range)."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the images, got {tuple(y.shape)}")
    if num_classes is not None and y.numel():
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{name} must hold classes in [0, {num_classes - 1}], got values in [{lo}, {hi}]")
    return y.long()


def check_in_range(name: str, value: object, lo: float, hi: float) -> float:
    """Check that a number lies in [lo, hi] and return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    value = float(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value:g}")
    return value


def check_positive_int(name: str, value: object, *, allow_zero: bool = False) -> int:
    """Check that ``value`` is an integer ≥ 1 (or ≥ 0 with ``allow_zero``)."""
    least = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices) -> object:
    """Check that ``value`` is one of ``choices``; the error lists them."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
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


def model_device(model: object, fallback: torch.Tensor | torch.device | str | None = None) -> torch.device:
    """The device of ``model``'s first parameter.

    A model without parameters (or a plain function) has no device of its own: then the
    ``fallback`` tensor's device, the ``fallback`` device, or the CPU — so data stays where it is.
    """
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        if isinstance(fallback, torch.Tensor):
            return fallback.device
        return torch.device(fallback if fallback is not None else "cpu")


def atomic_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file in the same folder, then os.replace (atomic within one file system).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
