"""Fooling images: unrecognisable pictures a network labels with near certainty (lesson 03).

Nguyen, Yosinski & Clune, *Deep Neural Networks are Easily Fooled: High Confidence Predictions
for Unrecognizable Images*, CVPR 2015 (arXiv 1412.1897) found such images in two ways: by
evolution (``lessons.evolution`` over the genomes of ``lessons.encodings``) and by gradient
ascent, both here:

- ``gradient_ascent`` climbs the target's log-probability on the pixels, optionally with
  regularisers (L2, blur, jitter) that trade "noise" for "pattern"; ``cppn_ascent`` climbs the
  gradient of a CPPN's *weights* instead, so the image stays a smooth CPPN pattern;
- ``fooling_images`` collects the elites of many evolution runs; ``fooling_class_model``
  retrains the CNN with them as an 11th class, as the paper did; ``imagenet_evolution`` (a
  longer MAP-Elites run) and ``imagenet_cppn`` (CPPN gradient ascent) fool the ImageNet
  classifier. All are cached (``CACHED_MODELS``): ``python -m lessons.warm`` computes them once.

Gradients are taken with ``torch.autograd.grad`` with respect to the images (or CPPN weights)
only, never into the model's parameters; the model's mode is restored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2.functional import gaussian_blur

from . import cache
from .data import imagenet_labels, load_mnist
from .encodings import ENCODINGS, CPPNEncoding, Genome, GradientCPPN, check_shape, make_encoding
from .evolution import Archive, map_elites
from .models import accuracy, imagenet_classifier, lenet, pretrained, train
from .utils import (
    check_bool,
    check_choice,
    check_generator,
    check_images,
    check_in_range,
    check_labels,
    check_model,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)
from .utils import progress as progress_bar

__all__ = ["gradient_ascent", "cppn_ascent", "fooling_images", "fooling_class_model", "imagenet_evolution",
           "imagenet_encoding", "imagenet_cppn", "imagenet_cppn_encoding", "CPPNRun", "IMAGENET_CLASSES", "CACHED_MODELS"]

# Ten ImageNet classes like those of Nguyen et al.'s Fig. 1 (the first four appear there).
IMAGENET_CLASSES = ("king penguin", "starfish", "baseball", "electric guitar", "freight car",
                    "remote control", "peacock", "jackfruit", "bubble", "school bus")


def _check_targets(model: nn.Module, targets: object, x: torch.Tensor) -> torch.Tensor:
    """Targets must be a 1-D tensor of classes the model has (checked with one image ``x``)."""
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a tensor of class indices, got {type(targets).__name__}")
    if targets.dim() != 1 or targets.numel() == 0:
        raise ValueError(f"targets must be a non-empty 1-D tensor of class indices, got shape {tuple(targets.shape)}")
    return check_labels(targets, len(targets), "targets", num_classes=check_model_input(model, x))


def gradient_ascent(
    model: nn.Module,
    targets: torch.Tensor,
    *,
    shape: tuple[int, int, int] | None = None,
    start: torch.Tensor | None = None,
    steps: int = 50,
    lr: float = 0.05,
    l2: float = 0.0,
    blur_every: int = 0,
    blur_sigma: float = 0.5,
    jitter: int = 0,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Images that the model assigns to ``targets``, found by gradient ascent on the pixels (lesson 03).

    Paper: Nguyen et al. 2015 §2.3 (after Simonyan, Vedaldi & Zisserman 2014, arXiv 1312.6034):
    maximise the target's log-softmax, here with Adam on the pixels, clipped to [0, 1] after
    each step. Unregularised, the result is structured noise; the optional regularisers
    push it toward smoother patterns: ``l2`` penalises distance from mid-grey and
    ``blur_every`` blurs the image every few steps (two of Yosinski et al. 2015's regularisers,
    arXiv 1506.06579, with clipping), ``jitter`` shifts it randomly by up to that many pixels
    before each step (the trick of Mordvintsev et al.'s DeepDream, 2015).

    Args:
        model: classifier returning logits (N, K) for images in [0, 1]; left as it was.
        targets: class indices (N,), int64: one image per entry.
        shape: image shape (C, H, W) when starting from noise (ignored if ``start`` is given).
        start: starting images (N, C, H, W) in [0, 1] (default: uniform noise of ``shape``).
        steps: Adam steps (≥ 1).
        lr: Adam's learning rate, in pixel units.
        l2: weight of the penalty ``l2 · mean((x − 0.5)²)`` per image.
        blur_every: blur every this many steps (0: never).
        blur_sigma: the blur's Gaussian standard deviation, in pixels.
        jitter: largest random shift in pixels before each gradient (0: none).
        generator: CPU ``torch.Generator`` for the noise start and the jitter.
        progress: show a ``tqdm`` progress bar.

    Returns:
        Images (N, C, H, W) in [0, 1], detached, on the model's device.

    Example:
        >>> x = fooling.gradient_ascent(cnn, torch.arange(10), shape=(1, 28, 28), steps=50, generator=g)
        >>> models.predict(cnn, x).diagonal()  # ≈ 1 for every digit
    """
    check_model(model)
    steps = check_positive_int("steps", steps)
    lr = check_in_range("lr", lr, 0.0, 10.0)
    l2 = check_in_range("l2", l2, 0.0, 1e6)
    blur_every = check_positive_int("blur_every", blur_every, allow_zero=True)
    blur_sigma = check_in_range("blur_sigma", blur_sigma, 0.01, 100.0)
    jitter = check_positive_int("jitter", jitter, allow_zero=True)
    generator = check_generator(generator, cpu=True)
    device = model_device(model)
    if start is None:
        if shape is None:
            raise ValueError("give the image shape (C, H, W), e.g. shape=(1, 28, 28), or start images")
        shape = check_shape(shape)
        if not isinstance(targets, torch.Tensor) or targets.dim() != 1:
            _check_targets(model, targets, torch.zeros((1, *shape)))  # raises the clear error
        start = torch.rand((len(targets), *shape), generator=generator)
    else:
        check_images(start, "start")
    targets = _check_targets(model, targets, start[:1])
    if len(start) != len(targets):
        raise ValueError(f"start has {len(start)} images but targets has {len(targets)} entries")
    x = start.detach().clone().to(device).requires_grad_(True)
    y = targets.to(device)
    # torch's Adam, climbing (maximize=True). Its first step imports torch._dynamo, 2-5 s once
    # per kernel on a laptop CPU; a hand-written Adam would save that once, and was not worth it.
    adam = torch.optim.Adam([x], lr=lr, maximize=True)
    with eval_mode(model):
        for step in progress_bar(range(steps), enabled=progress, desc="gradient ascent", unit="step"):
            view = x
            if jitter:
                dx, dy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                view = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            objective = F.log_softmax(model(view), dim=1).gather(1, y[:, None]).sum()
            if l2:
                objective = objective - l2 * ((x - 0.5) ** 2).flatten(1).mean(1).sum()
            (x.grad,) = torch.autograd.grad(objective, x)
            adam.step()
            with torch.no_grad():
                if blur_every and (step + 1) % blur_every == 0:
                    radius = max(1, math.ceil(2 * blur_sigma))
                    x.copy_(gaussian_blur(x, kernel_size=2 * radius + 1, sigma=blur_sigma))
                x.clamp_(0, 1)
    return x.detach()


def cppn_ascent(
    model: nn.Module,
    targets: torch.Tensor,
    encoding: CPPNEncoding | GradientCPPN,
    *,
    steps: int = 100,
    lr: float = 0.1,
    genomes: Genome | None = None,
    time_limit: float | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> tuple[Genome, torch.Tensor]:
    """Gradient ascent on CPPN *weights*: the image stays a smooth CPPN pattern (lesson 03).

    Evolution is slow on a 1,000-class network on a CPU; the gradient of the target's
    log-softmax with respect to the CPPN's weights (through its rendering) is a shortcut that
    keeps the paper's kind of image. One CPPN per target, all optimised together by Adam.
    With a ``CPPNEncoding`` the connection switches and activation functions stay as drawn and
    only the weights move; a ``GradientCPPN`` (made for this) also tunes its biases.

    Args:
        model: classifier returning logits (N, K); left as it was.
        targets: class indices (N,), one CPPN per entry.
        encoding: a ``CPPNEncoding`` or ``GradientCPPN`` whose ``shape`` is the model's input shape.
        steps: most Adam steps (≥ 1).
        lr: Adam's learning rate on the weights.
        genomes: starting CPPNs (leading dimension N); default ``encoding.init(N, generator)``.
        time_limit: stop after this many seconds (wall clock), even before ``steps``.
        generator: CPU ``torch.Generator`` for the random CPPNs.
        progress: show a ``tqdm`` progress bar.

    Returns:
        ``(genomes, images)``: the tuned CPPNs (on the CPU) and their images (N, C, H, W) in
        [0, 1] on the model's device.

    Example:
        >>> enc = encodings.GradientCPPN((3, 224, 224))
        >>> genomes, x = fooling.cppn_ascent(net, targets, enc, steps=60, lr=0.05, generator=g)
    """
    if time_limit is not None:
        time_limit = check_in_range("time_limit", time_limit, 0.0, math.inf)
    loop = _cppn_steps(model, targets, encoding, steps=steps, lr=lr, genomes=genomes, generator=generator)
    start = time.perf_counter()
    for step in progress_bar(loop, enabled=progress, total=steps, desc="CPPN gradient ascent", unit="step"):
        genes = step[0]  # the live genomes, after this step
        if time_limit is not None and time.perf_counter() - start >= time_limit:
            break
    device = model_device(model)
    with torch.no_grad():
        images = encoding.render(genes, device)
    return {k: v.detach().cpu() for k, v in genes.items()}, images.detach()


def _cppn_steps(model, targets, encoding, *, steps, lr, genomes, generator) -> Iterator[tuple[Genome, torch.Tensor]]:
    """Check the arguments, then yield ``(genomes, log_p)`` after each Adam step of ``cppn_ascent``.

    ``log_p`` (N,) is each target's log-probability for the images the step started from (it
    comes free with the step's forward pass). The genomes are the live, optimised tensors.
    """
    check_model(model)
    if not isinstance(encoding, (CPPNEncoding, GradientCPPN)):
        raise TypeError(f"encoding must be a CPPNEncoding or GradientCPPN, got {type(encoding).__name__}")
    targets = _check_targets(model, targets, torch.full((1, *encoding.shape), 0.5))
    steps = check_positive_int("steps", steps)
    lr = check_in_range("lr", lr, 0.0, 10.0)
    generator = check_generator(generator, cpu=True)
    if genomes is None:
        genomes = encoding.init(len(targets), generator)
    elif not isinstance(genomes, dict) or set(genomes) != set(encoding.init(1)):
        raise TypeError(f"genomes must be a dict of tensors made by this encoding's init, with keys {sorted(encoding.init(1))}")
    elif any(len(v) != len(targets) for v in genomes.values()):
        raise ValueError(f"genomes must hold one CPPN per target ({len(targets)}), got {len(next(iter(genomes.values())))}")
    return _cppn_loop(model, targets, encoding, steps, lr, genomes)


def _cppn_loop(model, targets, encoding, steps, lr, genomes) -> Iterator[tuple[Genome, torch.Tensor]]:
    device = model_device(model)
    genomes = {k: v.detach().clone().to(device) for k, v in genomes.items()}
    # Weights ("w…") and biases ("b…") move; connection switches ("m…") and node functions stay.
    params = [v.requires_grad_(True) for k, v in genomes.items() if k[0] in "wb"]
    adam = torch.optim.Adam(params, lr=lr, maximize=True)
    y = targets.to(device)
    with eval_mode(model):
        for _ in range(steps):
            log_p = F.log_softmax(model(encoding.render(genomes, device)), dim=1).gather(1, y[:, None]).squeeze(1)
            for p, g in zip(params, torch.autograd.grad(log_p.sum(), params)):
                p.grad = g
            adam.step()
            yield genomes, log_p.detach()


# --------------------------------------------------------------------------- retraining with a "fooling" class


def fooling_images(
    model: nn.Module,
    *,
    runs: int = 4,
    encodings: Sequence[str] = ENCODINGS,
    shape: tuple[int, int, int] = (1, 28, 28),
    generations: int = 300,
    until: float = 0.99,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A set of evolved fooling images: the elites of independent MAP-Elites runs (lesson 03).

    Args:
        model: the classifier to fool.
        runs: independent runs (seeds ``seed``, ``seed + 1``, ...) per encoding.
        encodings: which encodings to evolve with (``"direct"``, ``"cppn"``).
        shape: image shape (C, H, W).
        generations, until, batch_size: as in ``map_elites`` (each run stops at ``until``).
        seed: first seed.
        progress: a progress bar over the runs.

    Returns:
        ``(images, fooled_as)``: images (R, C, H, W) in [0, 1] and, for each, the class the
        model was fooled toward (R,), where R = runs × len(encodings) × classes.
    """
    check_model(model)
    runs = check_positive_int("runs", runs)
    seed = check_positive_int("seed", seed, allow_zero=True)
    check_in_range("until", until, 0.0, 1.0)
    check_shape(shape)
    if isinstance(encodings, (str, bytes)) or not isinstance(encodings, Sequence):
        raise TypeError(f"encodings must be a list of encoding names such as ['direct', 'cppn'], got {type(encodings).__name__}")
    if not encodings:
        raise ValueError("encodings must name at least one of 'direct', 'cppn'")
    for name in encodings:
        check_choice("encodings", name, ENCODINGS)
    images, fooled_as = [], []
    jobs = [(name, r) for name in encodings for r in range(runs)]
    for name, r in progress_bar(jobs, enabled=progress, desc="evolving fooling images", unit="run"):
        archive = map_elites(model, make_encoding(name, shape), generations=generations, until=until,
                             batch_size=batch_size, generator=torch.Generator().manual_seed(seed + r), progress=False)
        images.append(archive.images)
        fooled_as.append(torch.tensor(archive.classes))
    return torch.cat(images), torch.cat(fooled_as)


def _fooling_class_fit(model: nn.Module, *, progress: bool) -> dict:
    cnn = pretrained("cnn", progress=progress)
    # Seeds from 1000, so that the lesson's own runs (small seeds) are images it never saw.
    # Fewer direct runs: a direct run costs about seven CPPN runs to reach 99%.
    fooled = torch.cat([fooling_images(cnn, runs=runs, encodings=(name,), seed=1000, progress=progress)[0]
                        for name, runs in _RETRAIN_RUNS.items()])
    mnist = load_mnist()
    # Class 10 = "fooling image". The paper retrained on the digits plus the evolved images.
    x = torch.cat([mnist.x_train, fooled])
    y = torch.cat([mnist.y_train, torch.full((len(fooled),), 10)])
    history = train(model, (x, y), epochs=10, seed=0, device=model_device(model), progress=progress,
                    desc="training the 11-class CNN (first use only)")
    return {"fooling_images": len(fooled), "train_accuracy": history["accuracy"][-1],
            "test_accuracy": accuracy(model, mnist.x_test, mnist.y_test),
            "description": "LeNet-style CNN with an 11th 'fooling image' class (after Nguyen et al. 2015)"}


_RETRAIN_RUNS = {"direct": 5, "cppn": 10}  # MAP-Elites runs per encoding, 10 elites (at >= 99%) each


def fooling_class_model(*, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """The LeNet-style CNN retrained with an 11th class, "fooling image" (lesson 03).

    Nguyen et al. asked whether a network can learn to reject fooling images: they added the
    evolved images to the training set as an extra class and evolved again. This recipe
    evolves ``_RETRAIN_RUNS`` MAP-Elites runs per encoding against ``models.pretrained("cnn")``
    (150 elites at ≥ 99% confidence; seeds from 1000, so the lesson's own runs are unseen),
    then trains a fresh CNN with 11 outputs on the 4,000 training digits plus those images as
    class 10. About half a minute on a laptop CPU.
    Trained on first use, then cached (``python -m lessons.warm``).

    Returns:
        The model in eval mode; ``cache_info`` holds the number of fooling images and accuracy.
    """
    plan = {"runs": _RETRAIN_RUNS, "first_seed": 1000, "generations": 300, "until": 0.99, "epochs": 10, "revision": 2}
    return cache.cached("cnn-fooling-class", lambda: lenet(num_classes=11),
                        lambda m: _fooling_class_fit(m, progress=progress), recipe=plan, device=device, progress=progress)


# --------------------------------------------------------------------------- a longer ImageNet run, cached


def _imagenet_run_key(cfg: dict, model: nn.Module | None, progress: bool) -> tuple[tuple[int, ...], str]:
    """Check a cached ImageNet run's arguments; return its class indices and cache version."""
    if model is not None:
        check_model(model)
    check_bool("progress", progress)
    classes = tuple(imagenet_labels().index(name) for name in IMAGENET_CLASSES)
    return classes, cache.fingerprint(dict(cfg, classes=IMAGENET_CLASSES))


_IMAGENET_RUN = {"generations": 200, "batch_size": 8, "hidden": (16, 16, 16), "zoom": 2.0, "seed": 0}


def imagenet_encoding() -> CPPNEncoding:
    """The CPPN encoding the lesson uses on the ImageNet classifier: 224×224 RGB (lesson 03)."""
    return CPPNEncoding((3, 224, 224), hidden=_IMAGENET_RUN["hidden"], zoom=_IMAGENET_RUN["zoom"])


def imagenet_evolution(*, device: torch.device | str | None = None, progress: bool = True,
                       model: nn.Module | None = None) -> Archive:
    """A longer MAP-Elites run with the CPPN encoding on the ImageNet classifier, cached (lesson 03).

    The cells are ``IMAGENET_CLASSES`` (like those of Nguyen et al.'s Fig. 1). The run's
    settings are ``_IMAGENET_RUN`` (about a minute on a laptop CPU, far longer than a lesson
    cell should take). Computed on first use (``python -m lessons.warm`` does it), then read
    back from ``<cache>/fooling/`` with ``torch.load(weights_only=True)``; the images are
    re-rendered from the stored CPPN genomes, so they are exactly the evolved ones.

    Args:
        device: where to run the classifier when the run must be computed.
        progress: progress bar while computing.
        model: the ImageNet classifier to use if computing (default ``models.imagenet_classifier()``).

    Returns:
        The ``Archive``; ``cache_info`` says whether it was cached and how long it took.
    """
    cfg = _IMAGENET_RUN
    encoding = imagenet_encoding()
    classes, version = _imagenet_run_key(cfg, model, progress)
    found = cache.load("fooling", "imagenet-cppn", version)
    if found is not None:
        blob, path = found
        archive = Archive(encoding, tuple(blob["classes"]), blob["genomes"], encoding.render(blob["genomes"]),
                          blob["log_conf"], list(blob["history"]), int(blob["evaluations"]), float(blob["seconds"]))
        archive.cache_info = {"cached": True, "path": str(path), "seconds": archive.seconds}
        return archive
    net = model if model is not None else imagenet_classifier(device=device)
    archive = map_elites(net, encoding, generations=cfg["generations"], classes=classes,
                         batch_size=cfg["batch_size"], generator=torch.Generator().manual_seed(cfg["seed"]),
                         progress=progress)
    path = cache.save("fooling", "imagenet-cppn", version,
                      {"classes": list(archive.classes), "genomes": archive.genomes, "log_conf": archive.log_conf,
                       "history": torch.stack(archive.history_rows), "evaluations": archive.evaluations,
                       "seconds": archive.seconds, "torch": str(torch.__version__)})
    archive.cache_info = {"cached": False, "path": str(path) if path else None, "seconds": archive.seconds}
    return archive


# --------------------------------------------------------------------------- CPPN gradient ascent on ImageNet, cached


_IMAGENET_CPPN = {"steps": 90, "lr": 0.1, "hidden": (12, 12, 12), "resolution": 112, "zoom": 4.0, "seed": 0}


def imagenet_cppn_encoding() -> GradientCPPN:
    """The ``GradientCPPN`` the lesson tunes on the ImageNet classifier: 112 px, upsampled to 224 (lesson 03)."""
    cfg = _IMAGENET_CPPN
    return GradientCPPN((3, 224, 224), hidden=cfg["hidden"], resolution=cfg["resolution"], zoom=cfg["zoom"])


@dataclass
class CPPNRun:
    """A finished ``cppn_ascent`` on the ImageNet classifier, with its cost (lesson 03).

    Attributes:
        classes: the target class index of each CPPN (K,).
        genomes: the tuned CPPNs (leading dimension K), on the CPU.
        images: their images (K, 3, 224, 224) in [0, 1], on the CPU.
        history: (steps, K) each target's probability at the start of every step.
        confidence: each image's probability for its target after the last step (K,).
        seconds: wall-clock seconds the run took; ``cpu_seconds`` the process's CPU time in
            them, with ``threads`` torch threads (on a busy machine wall time runs longer).
        recipe: the run's settings (steps, lr, seed, CPPN shape), to repeat part of it live.
    """

    classes: tuple[int, ...]
    genomes: Genome
    images: torch.Tensor
    history: torch.Tensor
    confidence: torch.Tensor
    seconds: float
    cpu_seconds: float
    threads: int
    recipe: dict = field(default_factory=dict)
    cache_info: dict = field(default_factory=dict, repr=False)


def imagenet_cppn(*, device: torch.device | str | None = None, progress: bool = True,
                  model: nn.Module | None = None) -> CPPNRun:
    """Ten CPPN fooling images for the ImageNet classifier by gradient ascent, cached (lesson 03).

    One ``imagenet_cppn_encoding()`` CPPN per class of ``IMAGENET_CLASSES``, all ten tuned
    together by ``cppn_ascent`` for ``_IMAGENET_CPPN["steps"]`` Adam steps on each target's
    log-probability: Nguyen et al.'s kind of image (their Fig. 1, bottom row, was evolved) in
    about a minute of one CPU core instead of days on a cluster (measured on a busy 2-core
    machine, one torch thread: a 99% median after 80 steps, about a minute of CPU). Computed on first use
    (``python -m lessons.warm`` does it), then read back from ``<cache>/fooling/``; the images
    are re-rendered from the stored CPPNs, so they are exactly the tuned ones.

    Args:
        device: where to run the classifier when the run must be computed.
        progress: progress bar while computing.
        model: the ImageNet classifier to use if computing (default ``models.imagenet_classifier()``).

    Returns:
        The ``CPPNRun``; ``cache_info`` says whether it was read from the cache.
    """
    cfg = _IMAGENET_CPPN
    encoding = imagenet_cppn_encoding()
    classes, version = _imagenet_run_key(cfg, model, progress)
    found = cache.load("fooling", "imagenet-gradient-cppn", version)
    if found is not None:
        blob, path = found
        run = CPPNRun(classes, blob["genomes"], encoding.render(blob["genomes"]), blob["history"], blob["confidence"],
                      float(blob["seconds"]), float(blob["cpu_seconds"]), int(blob["threads"]), dict(cfg))
        run.cache_info = {"cached": True, "path": str(path)}
        return run
    net = model if model is not None else imagenet_classifier(device=device)
    targets = torch.tensor(classes)
    wall, cpu = time.perf_counter(), time.process_time()
    loop = _cppn_steps(net, targets, encoding, steps=cfg["steps"], lr=cfg["lr"], genomes=None,
                       generator=torch.Generator().manual_seed(cfg["seed"]))
    history = []
    for step in progress_bar(loop, enabled=progress, total=cfg["steps"], desc="CPPN ascent (ImageNet)", unit="step"):
        genomes, log_p = step
        history.append(log_p.exp().cpu())
    with torch.no_grad(), eval_mode(net):
        images = encoding.render(genomes, model_device(net))
        confidence = F.softmax(net(images), dim=1)[torch.arange(len(classes)), targets.to(images.device)].cpu()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    genomes = {k: v.detach().cpu() for k, v in genomes.items()}
    blob = {"genomes": genomes, "history": torch.stack(history), "confidence": confidence, "seconds": wall,
            "cpu_seconds": cpu, "threads": torch.get_num_threads(), "torch": str(torch.__version__)}
    path = cache.save("fooling", "imagenet-gradient-cppn", version, blob)
    run = CPPNRun(classes, genomes, images.detach().cpu(), blob["history"], confidence, wall, cpu, blob["threads"], dict(cfg))
    run.cache_info = {"cached": False, "path": str(path) if path else None}
    return run


CACHED_MODELS = {
    "cnn-fooling-class": lambda: fooling_class_model(progress=False),
    "imagenet-cppn-run": lambda: imagenet_evolution(progress=False),
    "imagenet-gradient-cppn": lambda: imagenet_cppn(progress=False),
}
