"""Where trained models and long runs are kept, so a learner waits for them once.

Introduced in lesson 00. Every cached artefact of the course goes through this room:
``cached`` for models (train on first use, then load), ``load`` / ``save`` for other
artefacts (a long evolution run), and ``fingerprint`` for the one rule that names a file
after its recipe — change a hyper-parameter and the artefact is rebuilt, never silently reused.

Two folders may be involved:

- **your cache** (``cache_dir()``): ``$LESSONS_CACHE`` if set, else the user's cache folder
  (``~/.cache/blind-spots`` on Linux). New artefacts are written here, atomically, readable by
  others (``0644``), so one warmed folder can serve a whole class.
- **shared caches** (``shared_dirs()``): ``$LESSONS_SHARED_CACHE``, one folder or several
  separated by ``os.pathsep``, warmed by an instructor (``LESSONS_CACHE=/srv/cache make warm``)
  and only ever *read*. A learner whose own cache lacks a model loads it from there.

Files are read with ``torch.load(weights_only=True)``: a cache file can hold tensors and plain
data, never code. A file that cannot be read is reported in one line and rebuilt; a cache that
cannot be written leaves the model in memory, with one warning that says how to fix it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .utils import atomic_save, check_bool, forked_rng, get_device

__all__ = ["cache_dir", "shared_dirs", "fingerprint", "check_name", "load", "save", "cached"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_FILE_MODE = 0o644  # weights are not secret, and a class may share one warmed cache
_warned_unwritable: set[str] = set()


def cache_dir() -> Path:
    """Your cache folder: ``$LESSONS_CACHE`` if set, else the user's cache folder.

    Delete the folder (or one file in it) to rebuild; nothing else is stored there.
    """
    env = os.environ.get("LESSONS_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("blind-spots", appauthor=False))


def shared_dirs() -> list[Path]:
    """Read-only caches warmed by someone else: the folders in ``$LESSONS_SHARED_CACHE``."""
    env = os.environ.get("LESSONS_SHARED_CACHE", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def _canonical(recipe: object) -> str:
    """A text that depends only on the recipe's values (dict order and container type aside)."""
    if isinstance(recipe, dict):
        items = sorted(recipe.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(f"{_canonical(k)}:{_canonical(v)}" for k, v in items) + "}"
    if isinstance(recipe, (list, tuple)):
        return "[" + ",".join(_canonical(v) for v in recipe) + "]"
    if isinstance(recipe, float):
        return repr(recipe)
    if isinstance(recipe, (str, int, bool)) or recipe is None:
        return repr(recipe)
    raise TypeError(f"a recipe must be made of dicts, lists, tuples, numbers, strings and None, "
                    f"got {type(recipe).__name__}")


def fingerprint(recipe: object) -> str:
    """An 8-character digest of a recipe (plain data): the version part of a cache file's name.

    >>> fingerprint({"epochs": 10, "lr": 1e-3}) == fingerprint({"lr": 1e-3, "epochs": 10})
    True
    """
    return hashlib.sha1(_canonical(recipe).encode()).hexdigest()[:8]


def check_name(name: object, what: str = "cache name") -> str:
    """A file-safe name: letters, digits, ``.``, ``_``, ``-``; no path separators, no leading dot."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a string, got {type(name).__name__}")
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"{what} must be letters, digits, '.', '_' or '-' (no '/', no leading '.', no '..'), "
                         f"got {name!r}")
    return name


def _file(folder: Path, kind: str, name: str, version: str) -> Path:
    return folder / kind / f"{name}-v{version}.pt"


def _why(err: BaseException) -> str:
    # torch's own message for a rejected pickle is five lines ending in advice to pass
    # weights_only=False: exactly what a learner must not do with a file they did not make.
    if isinstance(err, pickle.UnpicklingError):
        return "it holds Python objects, not just tensors, and such files are never unpickled"
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first[:120]}"


def load(kind: str, name: str, version: str, *, check: Callable[[dict], None] | None = None) -> tuple[dict, Path] | None:
    """Read ``<kind>/<name>-v<version>.pt`` from your cache, else from a shared cache.

    Args:
        kind: the sub-folder, e.g. ``"models"``.
        name, version: the file's name parts (``version`` usually a ``fingerprint``).
        check: called with the loaded dict; raising there rejects the file (e.g. the
            weights do not fit the architecture), which is then reported and skipped.

    Returns:
        ``(blob, path)`` for the first readable file, or ``None``. A file that exists but
        cannot be read is reported with a one-line ``RuntimeWarning`` and skipped.
    """
    check_name(kind, "cache kind")
    check_name(name)
    check_name(version, "cache version")
    for folder in [cache_dir(), *shared_dirs()]:
        path = _file(folder, kind, name, version)
        if not path.is_file():
            continue
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(blob, dict):
                raise ValueError("it does not hold a dict")
            if check is not None:
                check(blob)
        except Exception as err:  # corrupt, truncated, from another architecture, or not ours
            warnings.warn(f"cache: ignoring {path} ({_why(err)}); rebuilding it", RuntimeWarning, stacklevel=3)
            continue
        return blob, path
    return None


def save(kind: str, name: str, version: str, blob: dict) -> Path | None:
    """Write ``blob`` atomically to your cache as ``<kind>/<name>-v<version>.pt``, mode 0644.

    Returns:
        The path, or ``None`` when the cache cannot be written (read-only folder, a file
        where the folder should be, a full disk): then one ``RuntimeWarning`` per folder says
        so and how to fix it, and the caller keeps what it built in memory.
    """
    check_name(kind, "cache kind")
    check_name(name)
    check_name(version, "cache version")
    path = _file(cache_dir(), kind, name, version)
    try:
        # A fresh clone has no .cache/ yet: the root and its parents are made as for any folder;
        # the two we own are folders others can enter (0755 less umask).
        path.parent.parent.parent.mkdir(parents=True, exist_ok=True)
        for folder in (path.parent.parent, path.parent):
            folder.mkdir(mode=0o755, exist_ok=True)
        return atomic_save(blob, path, mode=_FILE_MODE)
    except OSError as err:
        root = str(cache_dir())
        if root not in _warned_unwritable:
            _warned_unwritable.add(root)
            warnings.warn(
                f"cache: cannot write to {root} ({type(err).__name__}: {err.strerror or err}); what was built "
                "stays in memory for this session only. Point LESSONS_CACHE at a folder you can write, e.g. "
                "export LESSONS_CACHE=$HOME/blind-spots-cache",
                RuntimeWarning, stacklevel=3)
        return None


def cached(
    name: str,
    build: Callable[[], nn.Module],
    fit: Callable[[nn.Module], dict | None],
    *,
    recipe: object,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> nn.Module:
    """Load a trained model from the cache, or build it, ``fit`` it and cache it.

    Any lesson that trains a model the learner should not wait for twice goes through here
    (``models.pretrained``, the robust models of lesson 05, ...). Neither a load nor a
    training run changes the caller's random numbers: ``build`` and ``fit`` run inside a
    forked RNG, so a notebook draws the same numbers after this call with a cold or a warm cache.

    Args:
        name: file-safe identifier, e.g. ``"cnn"``.
        build: returns a fresh, untrained model (the architecture); called with torch seeded to 0.
        fit: trains the model it is given in place; may return a dict of facts to store
            (accuracy, seconds, ...), available afterwards as ``model.cache_info``.
        recipe: plain data describing how ``fit`` trains (hyper-parameters, data, seed); its
            ``fingerprint`` names the file, so a changed recipe trains a new model.
        device: where the returned model lives (default ``get_device()``).
        progress: passed on by callers to their ``fit``; kept here for a uniform signature.

    Returns:
        The trained model in eval mode on ``device``, with ``cache_info`` (a dict) attached:
        the stored facts, ``path`` (``None`` if it could not be saved) and ``cached``.
    """
    check_name(name)
    for what, fn in (("build", build), ("fit", fit)):
        if not callable(fn):
            raise TypeError(f"{what} must be a function, got {type(fn).__name__}")
    check_bool("progress", progress)
    version = fingerprint(recipe)
    device = get_device(device)

    def fresh() -> nn.Module:
        with forked_rng():  # seeded initial weights, caller's stream untouched
            torch.manual_seed(0)
            return build()

    model = fresh()
    found = load("models", name, version, check=lambda blob: model.load_state_dict(blob["state_dict"], strict=True))
    if found is not None:
        blob, path = found
        model.cache_info = dict(blob.get("info", {}), path=str(path), cached=True)
        return model.to(device).eval()
    model = fresh()  # a failed strict load may have filled part of the weights
    model.to(device)
    start = time.perf_counter()
    with forked_rng(device):
        info = dict(fit(model) or {})
    info.setdefault("train_seconds", time.perf_counter() - start)
    info["torch"] = str(torch.__version__)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    path = save("models", name, version, {"state_dict": state, "info": info})
    model.cache_info = dict(info, path=str(path) if path else None, cached=False)
    return model.to(device).eval()
