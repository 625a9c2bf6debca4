"""Reading a network's layers: their names, their outputs (activations), recorded by hooks.

Introduced in lesson 04, where φ(x), the output of one named layer, is the space in which units
and random directions are compared. Forward hooks are registered for the duration of a ``with``
block or a call and always removed, even when something fails, so re-running a notebook cell
never piles hooks up on a model (Lucent's hooks, which stay, are the counter-example).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from .utils import check_bool, check_model, check_model_input, check_positive_int, eval_mode, model_device
from .utils import progress as progress_bar

__all__ = ["names", "resolve", "capture", "activations", "hooks", "StopForward"]

_MAX_LISTED = 60  # an error lists at most this many layer names (EfficientNet has 275)


def names(model: nn.Module) -> tuple[str, ...]:
    """The names ``capture`` accepts: every named submodule of ``model`` (lesson 04).

    For ``models.pretrained("cnn")``: ``normalize, conv1, relu1, pool1, conv2, ..., fc1, relu3, fc2``.
    """
    return tuple(name for name, _ in check_model(model).named_modules() if name)


def resolve(model: nn.Module, layers: str | Sequence[str], what: str = "layers") -> list[tuple[str, nn.Module]]:
    """``(name, module)`` for a layer name or a list of them; an unknown name lists the valid ones."""
    check_model(model)
    if isinstance(layers, str):
        wanted = [layers]
    elif isinstance(layers, (list, tuple)) and layers and all(isinstance(n, str) for n in layers):
        wanted = list(layers)
    else:
        raise TypeError(f"{what} must be a layer name or a non-empty list of names, got {layers!r}")
    modules = dict(model.named_modules())
    valid = names(model)
    found = []
    for name in wanted:
        if name not in modules or not name:
            close = difflib.get_close_matches(str(name), valid, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            listed = ", ".join(valid[:_MAX_LISTED])
            if len(valid) > _MAX_LISTED:
                listed += f", ... ({len(valid)} in all: see layers.names(model))"
            raise ValueError(f"{what} must name the model's layers: {listed}; got {name!r}.{hint}")
        found.append((name, modules[name]))
    return found


class StopForward(Exception):
    """Raised by a hook to skip the layers after the last one we need."""


@contextlib.contextmanager
def hooks(model: nn.Module, layers, *, detach: bool, stop: bool) -> Iterator[dict[str, list[torch.Tensor]]]:
    targets = resolve(check_model(model), layers)
    store: dict[str, list[torch.Tensor]] = {name: [] for name, _ in targets}
    pending: set[str] = set()

    def make_hook(name: str):
        def hook(_module, _inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returned a {type(output).__name__}, not a tensor; pick another layer")
            store[name].append(output.detach() if detach else output)
            pending.discard(name)
            if stop and not pending:
                raise StopForward
        return hook

    def reset(*_):
        pending.update(store)  # a new forward pass: every layer is awaited again

    handles = [model.register_forward_pre_hook(reset)] if stop else []
    try:
        # Registered inside the try, so a failure half-way still removes the ones added.
        for name, module in targets:
            handles.append(module.register_forward_hook(make_hook(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def capture(model: nn.Module, layers: str | Sequence[str], *, detach: bool = True) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the outputs of named layers while the ``with`` block runs (lesson 04).

    Forward hooks are registered on entry and removed on exit — also when the block raises —
    so re-running a notebook cell never piles hooks up on the model.

    Args:
        model: any ``nn.Module``.
        layers: a name from ``names(model)``, or a list of them.
        detach: store ``output.detach()`` (default); ``False`` keeps the graph, for gradients.

    Yields:
        A dict name → list of output tensors, one per forward call made inside the block.

    Raises:
        ValueError: an unknown layer name; the message lists the valid ones.

    Example:
        >>> with layers.capture(cnn, "fc1") as out:
        ...     cnn(x)
        >>> out["fc1"][0].shape          # (N, 128)
    """
    check_bool("detach", detach)
    with hooks(model, layers, detach=detach, stop=False) as store:
        yield store


def activations(
    model: nn.Module,
    x: torch.Tensor,
    layers: str | Sequence[str],
    *,
    batch_size: int = 500,
    progress: bool = True,
) -> torch.Tensor | dict[str, torch.Tensor]:
    """φ(x): the outputs of named layers for a whole set of images (lesson 04).

    The model runs in eval mode without gradients, in batches, and stops after the last
    requested layer (the layers after it are not computed).

    Args:
        model: a classifier taking (N, C, H, W) images in [0, 1].
        x: images (N, C, H, W) in [0, 1].
        layers: one layer name (returns a tensor) or a list of names (returns a dict).
        batch_size: images per forward pass.
        progress: show a ``tqdm`` bar over the batches.

    Returns:
        The layer's output for every image, on ``x``'s device: (N, D) for a dense layer,
        (N, C, H, W) for a conv layer — or a dict name → such tensor.
    """
    check_model_input(model, x, classifier=False)
    batch_size = check_positive_int("batch_size", batch_size)
    single = isinstance(layers, str)
    device = model_device(model, x)
    starts = progress_bar(range(0, x.shape[0], batch_size), enabled=progress, desc="activations", unit="batch")
    with eval_mode(model), torch.no_grad(), hooks(model, layers, detach=True, stop=True) as store:
        for start in starts:
            try:
                model(x[start : start + batch_size].to(device))
            except StopForward:
                pass
    out = {name: torch.cat(chunks).to(x.device) for name, chunks in store.items()}
    return out[layers] if single else out
