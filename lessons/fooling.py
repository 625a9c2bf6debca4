"""Fooling images: unrecognisable pictures that a network labels with near certainty.

Introduced in lesson 03. Nguyen, Yosinski & Clune, *Deep Neural Networks are Easily Fooled:
High Confidence Predictions for Unrecognizable Images*, CVPR 2015 (arXiv 1412.1897) found
such images in two ways, both here:

- **gradient ascent** on the input toward a class (``gradient_ascent``), optionally with
  regularisers (L2, blur, jitter) that trade "noise" for "pattern"; ``cppn_ascent`` climbs
  the gradient of a CPPN's *weights* instead, so the image stays a smooth pattern;
- **evolution** with MAP-Elites (``map_elites``): an archive holds the best image found so
  far for each class; each generation mutates elites, scores the whole batch with one
  forward pass, and keeps every improvement. Genomes use one of two encodings:
  ``DirectEncoding`` (one gene per pixel) or ``CPPNEncoding`` (a small compositional
  pattern-producing network of (x, y, r) that renders at any resolution).

Genomes are dicts of tensors with a leading population dimension and live on the CPU, where
the seeded ``torch.Generator`` draws every random number, so a seed gives the same archive on
any device; only rendering and scoring run on the model's device. The caller's model is put in
eval mode and restored; gradients are taken with ``torch.autograd.grad`` with respect to the
images (or CPPN weights) only, never into the model's parameters.

The lesson's cached artefacts (``CACHED_MODELS``, used by ``python -m lessons.warm``): the CNN
retrained with an 11th "fooling" class, and a longer CPPN evolution run on ImageNet.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .utils import (
    atomic_save,
    check_choice,
    check_generator,
    check_images,
    check_in_range,
    check_model,
    check_positive_int,
    eval_mode,
    model_device,
)

__all__ = [
    "DirectEncoding",
    "CPPNEncoding",
    "make_encoding",
    "ENCODINGS",
    "mutate_direct",
    "Archive",
    "map_elites",
    "map_elites_steps",
    "class_confidence",
    "gradient_ascent",
    "cppn_ascent",
    "fooling_images",
    "fooling_class_model",
    "imagenet_evolution",
    "imagenet_encoding",
    "IMAGENET_CLASSES",
    "LiveEvolution",
    "evolution_panel",
    "CACHED_MODELS",
]

Genome = dict  # str -> Tensor with a leading population dimension (N, ...)

ENCODINGS = ("direct", "cppn")

# Ten ImageNet classes like those of Nguyen et al.'s Fig. 1 (the first four appear there).
IMAGENET_CLASSES = ("king penguin", "starfish", "baseball", "electric guitar", "freight car",
                    "remote control", "peacock", "jackfruit", "bubble", "school bus")


# --------------------------------------------------------------------------- helpers


def _check_shape(shape: object) -> tuple[int, int, int]:
    ok = (isinstance(shape, (tuple, list)) and len(shape) == 3
          and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape))
    if not ok or shape[0] not in (1, 3):
        raise ValueError(f"shape must be (channels, height, width) with 1 or 3 channels, got {shape!r}; "
                         "e.g. (1, 28, 28) for MNIST or (3, 224, 224) for ImageNet")
    return tuple(int(s) for s in shape)





def _take(genomes: Genome, idx: torch.Tensor) -> Genome:
    return {k: v[idx] for k, v in genomes.items()}


def _progress(iterable, *, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


# --------------------------------------------------------------------------- direct encoding


def mutate_direct(pixels: torch.Tensor, rate: float, *, eta: float = 15.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Polynomial mutation of a direct-encoded image, as in Nguyen et al. (lesson 03).

    Each gene (pixel value) is chosen with probability ``rate``; a chosen gene moves by
    Deb's polynomial mutation with distribution index ``eta`` (the paper's "mutation
    strength" of 15: most moves are small, a few are large), then is clipped to [0, 1].

    Args:
        pixels: images (N, C, H, W) in [0, 1]; not modified.
        rate: probability in [0, 1] that a gene mutates (the paper starts at 0.1).
        eta: distribution index ≥ 0; larger means smaller moves.
        generator: CPU ``torch.Generator`` for reproducible mutations.

    Returns:
        A new tensor like ``pixels``, in [0, 1].
    """
    check_images(pixels, "pixels")
    rate = check_in_range("rate", rate, 0.0, 1.0)
    eta = check_in_range("eta", eta, 0.0, 1e6)
    generator = check_generator(generator, cpu=True)
    # Drawn on the CPU from the caller's generator, then moved: same numbers on any device.
    chosen = (torch.rand(pixels.shape, generator=generator) < rate).to(pixels.device)
    u = torch.rand(pixels.shape, generator=generator).to(pixels.device, pixels.dtype)
    power = 1.0 / (eta + 1.0)
    delta = torch.where(u < 0.5, (2 * u).pow(power) - 1, 1 - (2 * (1 - u)).pow(power))  # in [-1, 1]
    return torch.where(chosen, pixels + delta, pixels).clamp(0, 1)


@dataclass(frozen=True)
class DirectEncoding:
    """One gene per pixel value (lesson 03); the paper's *direct* encoding.

    Args:
        shape: image shape (C, H, W), e.g. (1, 28, 28).
        rate: probability that a gene mutates (Nguyen et al.: 0.1).
        eta: polynomial-mutation distribution index (Nguyen et al.: 15).
    """

    shape: tuple[int, int, int] = (1, 28, 28)
    rate: float = 0.1
    eta: float = 15.0
    name: str = field(default="direct", init=False)

    def __post_init__(self):
        object.__setattr__(self, "shape", _check_shape(self.shape))
        check_in_range("rate", self.rate, 0.0, 1.0)
        check_in_range("eta", self.eta, 0.0, 1e6)

    def init(self, n: int, generator: torch.Generator | None = None) -> Genome:
        """``n`` random genomes: uniform noise in [0, 1], as in the paper."""
        n = check_positive_int("n", n)
        return {"pixels": torch.rand((n, *self.shape), generator=check_generator(generator, cpu=True))}

    def mutate(self, genomes: Genome, generator: torch.Generator | None = None) -> Genome:
        """Mutated copies of ``genomes`` (polynomial mutation of each gene with prob. ``rate``)."""
        return {"pixels": mutate_direct(genomes["pixels"], self.rate, eta=self.eta, generator=generator)}

    def render(self, genomes: Genome, device: torch.device | str | None = None) -> torch.Tensor:
        """The images (N, C, H, W) in [0, 1] on ``device`` (default: the CPU)."""
        return genomes["pixels"].to(device or "cpu")


# --------------------------------------------------------------------------- CPPN encoding

# Node activation functions of the CPPN (the paper's CPPNs, after Picbreeder, use these
# four). Periodic and symmetric functions of (x, y, r) are what make the images regular.
_ACTIVATIONS: tuple[tuple[str, Callable[[torch.Tensor], torch.Tensor]], ...] = (
    ("sine", torch.sin),
    # Clamped so the results never underflow into denormal floats, which are ~20x slower on CPUs.
    ("gaussian", lambda z: torch.exp(-(z * z).clamp(max=80.0))),
    ("sigmoid", lambda z: torch.tanh(0.5 * z)),  # = 2·sigmoid(z) − 1: centred, feeds the next layer both ways
    ("linear", lambda z: z),
)


def _mixed_activation(z: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
    """Apply node j's own function to row j of z (N, b, P); kinds (N, b) indexes _ACTIVATIONS."""
    # Each function runs only on the nodes that use it (rows of the (N·b, P) view), several
    # times cheaper than computing every function everywhere and then selecting.
    n, b, p = z.shape
    rows = z.reshape(n * b, p)
    out = torch.empty_like(rows)
    flat = kinds.reshape(-1)
    for k, (_, fn) in enumerate(_ACTIVATIONS):
        idx = (flat == k).nonzero().squeeze(1)
        if idx.numel():
            out.index_copy_(0, idx, fn(rows.index_select(0, idx)))
    return out.reshape(n, b, p)


def _coordinates(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(H·W, 4) CPPN inputs: x, y in [-1, 1], distance r from the centre, and a bias of 1."""
    ys = torch.linspace(-1, 1, height, device=device)
    xs = torch.linspace(-1, 1, width, device=device)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    r = torch.sqrt(x * x + y * y)
    return torch.stack([x, y, r, torch.ones_like(x)], dim=-1).reshape(-1, 4)


@dataclass(frozen=True)
class CPPNEncoding:
    """A compositional pattern-producing network (CPPN) as the genome (lesson 03).

    The image is ``pixel(x, y) = sigmoid(3·standardise(net(x, y, r, 1)))``: a small fully
    connected network evaluated at every pixel's coordinates (its output standardised over the
    image, per channel, so that every image uses the full grey range), so it renders at any resolution and its images are
    smooth, often symmetric or repeating. Nguyen et al. evolved CPPNs with NEAT, which also
    *grows* the network; here the topology is a fixed maximal one (``hidden`` layers) whose
    *structure* still evolves: each connection can be switched off and on, and each hidden
    node's activation function (sine, Gaussian, sigmoid, linear) can change.

    Args:
        shape: image shape (C, H, W): (1, 28, 28) for MNIST, (3, 224, 224) for ImageNet.
        hidden: hidden layer widths.
        rate: probability that a weight is perturbed by N(0, ``sigma``²) in a mutation.
        sigma: size of weight perturbations.
        switch_rate: probability that a connection is switched on/off in a mutation.
        act_rate: probability that a hidden node's activation function is redrawn.
        init_scale: standard deviation of initial weights (larger → busier patterns).
        connect: fraction of connections switched on in a random genome.
        zoom: the coordinates span [−zoom, zoom]; larger values give finer, more repetitive
            patterns (the textures a 224-pixel ImageNet image needs).
    """

    shape: tuple[int, int, int] = (1, 28, 28)
    hidden: tuple[int, ...] = (8, 8, 8)
    rate: float = 0.2
    sigma: float = 0.5
    switch_rate: float = 0.02
    act_rate: float = 0.05
    init_scale: float = 1.5
    connect: float = 0.7
    zoom: float = 1.0
    name: str = field(default="cppn", init=False)

    def __post_init__(self):
        object.__setattr__(self, "shape", _check_shape(self.shape))
        if not self.hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive layer widths, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for name in ("rate", "switch_rate", "act_rate", "connect"):
            check_in_range(name, getattr(self, name), 0.0, 1.0)
        check_in_range("sigma", self.sigma, 0.0, 100.0)
        check_in_range("init_scale", self.init_scale, 0.0, 100.0)
        check_in_range("zoom", self.zoom, 1e-3, 1e3)

    @property
    def sizes(self) -> list[int]:
        """Layer widths from the 4 inputs to the C outputs."""
        return [4, *self.hidden, self.shape[0]]

    def init(self, n: int, generator: torch.Generator | None = None) -> Genome:
        """``n`` random CPPNs: Gaussian weights, a random ``connect`` share of links, random activations."""
        n = check_positive_int("n", n)
        generator = check_generator(generator, cpu=True)
        genome: Genome = {}
        sizes = self.sizes
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            genome[f"w{i}"] = torch.randn((n, a, b), generator=generator) * self.init_scale
            genome[f"m{i}"] = (torch.rand((n, a, b), generator=generator) < self.connect).float()
        genome["act"] = torch.randint(len(_ACTIVATIONS), (n, sum(self.hidden)), generator=generator)
        return genome

    def mutate(self, genomes: Genome, generator: torch.Generator | None = None) -> Genome:
        """Mutated copies: weight perturbations, connection switches, activation changes."""
        generator = check_generator(generator, cpu=True)
        out: Genome = {}
        for key, value in genomes.items():
            if key.startswith("w"):
                hit = torch.rand(value.shape, generator=generator) < self.rate
                out[key] = value + hit * torch.randn(value.shape, generator=generator) * self.sigma
            elif key.startswith("m"):
                flip = torch.rand(value.shape, generator=generator) < self.switch_rate
                out[key] = torch.where(flip, 1 - value, value)
            else:  # "act": redraw a node's function
                redraw = torch.rand(value.shape, generator=generator) < self.act_rate
                new = torch.randint(len(_ACTIVATIONS), value.shape, generator=generator)
                out[key] = torch.where(redraw, new, value)
        return out

    def render(self, genomes: Genome, device: torch.device | str | None = None, *,
               size: tuple[int, int] | None = None) -> torch.Tensor:
        """Evaluate the CPPNs at every pixel: images (N, C, H, W) in [0, 1] on ``device``.

        ``size=(H, W)`` renders at another resolution than ``shape`` (a CPPN has none of its
        own). Differentiable in the weights, which is what ``cppn_ascent`` uses.
        """
        height, width = size if size is not None else self.shape[1:]
        device = torch.device(device or "cpu")
        coords = _coordinates(height, width, device).T  # (4, P)
        coords[:3] *= self.zoom
        act = genomes["act"].to(device)
        n_layers = len(self.sizes) - 1
        h = coords.unsqueeze(0)  # (1, 4, P), broadcast over the population
        first = 0
        for i in range(n_layers):
            w = genomes[f"w{i}"].to(device) * genomes[f"m{i}"].to(device)  # (N, a, b)
            # Pixels last, (N, b, a) @ (N, a, P): a long inner loop, far faster than (P, a) @ (a, b).
            z = torch.matmul(w.transpose(1, 2), h)  # (N, b, P)
            if i == n_layers - 1:
                break
            h = _mixed_activation(z, act[:, first : first + z.shape[1]])
            first += z.shape[1]
        # Each output channel is standardised over the pixels before the sigmoid, so every image
        # spans dark and light: no CPPN renders a blank image, where the classifier's gradient
        # (for cppn_ascent) vanishes and mutations change nothing visible.
        z = (z - z.mean(dim=2, keepdim=True)) / (z.std(dim=2, keepdim=True) + 0.1)
        return torch.sigmoid(3 * z).reshape(-1, self.shape[0], height, width)


def make_encoding(name: str, shape: tuple[int, int, int], **options) -> DirectEncoding | CPPNEncoding:
    """``"direct"`` or ``"cppn"`` encoding for images of ``shape`` (C, H, W) (lesson 03)."""
    check_choice("encoding", name, ENCODINGS)
    return DirectEncoding(shape, **options) if name == "direct" else CPPNEncoding(shape, **options)


# --------------------------------------------------------------------------- scoring


def class_confidence(model: nn.Module, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Log-softmax scores (N, K) of images (N, C, H, W) in [0, 1], in eval mode, without gradients.

    Log-probabilities, not probabilities: near 100% the softmax saturates at 1.0 in float32,
    while log p still tells 99.99% from 99.999% apart, so evolution keeps improving there.
    Returned on the CPU.
    """
    check_model(model)
    device = model_device(model)
    out = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, len(images), batch_size):
            logits = model(images[start : start + batch_size].to(device))
            out.append(F.log_softmax(logits.float(), dim=1).cpu())
    return torch.cat(out)


# --------------------------------------------------------------------------- MAP-Elites


@dataclass
class Archive:
    """MAP-Elites' archive: the best genome found so far for each class (lesson 03).

    Attributes:
        encoding: the genome encoding.
        classes: the class index of each cell (K,).
        genomes: the elites' genomes, one per cell (leading dimension K).
        images: the elites' images (K, C, H, W) in [0, 1], on the CPU.
        log_conf: log-confidence of each elite for its own class (K,).
        history: per generation, each cell's best confidence so far; ``.history`` stacks it
            into a (G + 1, K) tensor (row 0: the random initial population).
        evaluations: images scored so far.
        seconds: wall-clock time spent.
    """

    encoding: DirectEncoding | CPPNEncoding
    classes: tuple[int, ...]
    genomes: Genome
    images: torch.Tensor
    log_conf: torch.Tensor
    history_rows: list[torch.Tensor] = field(default_factory=list, repr=False)
    evaluations: int = 0
    seconds: float = 0.0
    cache_info: dict = field(default_factory=dict, repr=False)

    @property
    def confidence(self) -> torch.Tensor:
        """Each elite's probability for its own class (K,)."""
        return self.log_conf.exp()

    @property
    def history(self) -> torch.Tensor:
        """(G + 1, K): best confidence per class after each generation (never decreasing)."""
        return torch.stack(self.history_rows).exp()

    @property
    def generations(self) -> int:
        """Generations run after the initial population."""
        return len(self.history_rows) - 1

    def elite(self, cls: int) -> torch.Tensor:
        """The elite image (1, C, H, W) for class index ``cls``."""
        if cls not in self.classes:
            raise ValueError(f"class {cls!r} has no cell in this archive; its classes are {list(self.classes)}")
        i = self.classes.index(cls)
        return self.images[i : i + 1]


def _update(archive: Archive, genomes: Genome, images: torch.Tensor, scores: torch.Tensor) -> None:
    """Keep, for every cell, the offspring that beats its elite (if any). scores: (B, K)."""
    best, who = scores.max(dim=0)  # (K,), (K,)
    better = best > archive.log_conf
    if bool(better.any()):
        cells = better.nonzero().flatten()
        for key, value in genomes.items():
            archive.genomes[key][cells] = value[who[cells]]
        archive.images[cells] = images[who[cells]].cpu()
        archive.log_conf[cells] = best[cells]


def map_elites_steps(
    model: nn.Module,
    encoding: DirectEncoding | CPPNEncoding,
    *,
    classes: Sequence[int] | None = None,
    batch_size: int = 64,
    init_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[Archive]:
    """MAP-Elites, one generation at a time: yields the archive after each (lesson 03).

    The generator form lets a caller (the live widget, a time budget, a stop button) decide
    when to stop; ``map_elites`` is the convenience loop around it. The same ``Archive``
    object is updated in place and yielded each time; the first yield is the random initial
    population. Arguments as in ``map_elites``; they are checked at once, except the class
    indices, which are checked against the model's outputs at the first ``next()``.
    """
    check_model(model)
    if not isinstance(encoding, (DirectEncoding, CPPNEncoding)):
        raise TypeError(f"encoding must be a DirectEncoding or CPPNEncoding (see make_encoding), got {type(encoding).__name__}")
    batch_size = check_positive_int("batch_size", batch_size)
    init_size = check_positive_int("init_size", init_size if init_size is not None else batch_size)
    generator = check_generator(generator, cpu=True)
    if classes is not None:
        classes = list(classes)
        if not classes or any(isinstance(c, bool) or not isinstance(c, int) for c in classes):
            raise ValueError(f"classes must be a non-empty list of class indices, got {classes!r}")
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes must not repeat, got {classes!r}")
    return _map_elites_generations(model, encoding, classes, batch_size, init_size, generator)


def _map_elites_generations(model, encoding, classes, batch_size, init_size, generator) -> Iterator[Archive]:
    device = model_device(model)
    start = time.perf_counter()

    def score(genomes: Genome) -> tuple[torch.Tensor, torch.Tensor]:
        images = encoding.render(genomes, device)
        try:
            logp = class_confidence(model, images)
        except RuntimeError as err:  # usually a shape mismatch deep inside the model
            raise ValueError(f"the model rejected images of shape {tuple(encoding.shape)} from the "
                             f"{encoding.name} encoding ({err}); give the encoding the model's input shape") from err
        return images, logp

    genomes = encoding.init(init_size, generator)
    images, logp = score(genomes)
    num_classes = logp.shape[1]
    if classes is None:
        classes = list(range(num_classes))
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f"classes must be in [0, {num_classes - 1}] for this model, got {bad}")
    cls = torch.tensor(classes)
    k = len(classes)
    # Start every cell from the best random genome for that class.
    archive = Archive(encoding, tuple(classes), genomes={key: v[:1].repeat_interleave(k, 0).clone() for key, v in genomes.items()},
                      images=images[:1].cpu().repeat_interleave(k, 0).clone(), log_conf=torch.full((k,), -math.inf))
    _update(archive, genomes, images, logp[:, cls])
    archive.evaluations = init_size
    archive.history_rows.append(archive.log_conf.clone())
    archive.seconds = time.perf_counter() - start
    yield archive
    while True:
        # Pick parents uniformly among the cells (the paper's MAP-Elites), mutate, score.
        parents = torch.randint(k, (batch_size,), generator=generator)
        children = encoding.mutate(_take(archive.genomes, parents), generator)
        images, logp = score(children)
        _update(archive, children, images, logp[:, cls])
        archive.evaluations += batch_size
        archive.history_rows.append(archive.log_conf.clone())
        archive.seconds = time.perf_counter() - start
        yield archive


def map_elites(
    model: nn.Module,
    encoding: DirectEncoding | CPPNEncoding,
    *,
    generations: int = 200,
    classes: Sequence[int] | None = None,
    batch_size: int = 64,
    init_size: int | None = None,
    until: float | None = None,
    time_limit: float | None = None,
    stop: Callable[[], bool] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> Archive:
    """Evolve fooling images with MAP-Elites over the classes (lesson 03).

    Paper: Nguyen, Yosinski & Clune, *Deep Neural Networks are Easily Fooled*, CVPR 2015
    (arXiv 1412.1897), using MAP-Elites (Mouret & Clune 2015, arXiv 1504.04909). The archive
    has one cell per class holding the genome whose image the model gives the highest
    probability for that class. Each generation picks ``batch_size`` elites at random,
    mutates them, scores all children with one batched forward pass, and every child that
    beats a cell's elite (for *any* class) takes that cell — so progress on one class seeds
    the others.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1]; its mode
            and parameters are left as they were.
        encoding: ``DirectEncoding`` or ``CPPNEncoding`` (see ``make_encoding``) whose
            ``shape`` is the model's input shape.
        generations: most generations to run (≥ 1).
        classes: class indices that get a cell (default: all K outputs).
        batch_size: children per generation (one forward pass).
        init_size: random genomes in generation 0 (default ``batch_size``).
        until: stop early once every cell's confidence is ≥ ``until`` (e.g. 0.9999).
        time_limit: stop early after this many seconds.
        stop: a zero-argument callable checked between generations (e.g. ``event.is_set``).
        generator: CPU ``torch.Generator``; the same seed gives the same archive.
        progress: show a ``tqdm`` progress bar with the lowest and median confidence.

    Returns:
        The ``Archive`` (elites, their confidences, and the per-generation history).

    Example:
        >>> enc = fooling.make_encoding("cppn", (1, 28, 28))
        >>> archive = fooling.map_elites(cnn, enc, generations=300, until=0.9999, generator=g)
        >>> archive.confidence  # (10,)
    """
    generations = check_positive_int("generations", generations)
    if until is not None:
        until = check_in_range("until", until, 0.0, 1.0)
    if time_limit is not None:
        time_limit = check_in_range("time_limit", time_limit, 0.0, math.inf)
    if stop is not None and not callable(stop):
        raise TypeError(f"stop must be a zero-argument callable such as event.is_set, got {type(stop).__name__}")
    steps = map_elites_steps(model, encoding, classes=classes, batch_size=batch_size, init_size=init_size,
                             generator=generator)
    archive = next(steps)
    threshold = math.log(until) if until is not None and until > 0 else -math.inf
    bar = _progress(range(generations), enabled=progress, desc=f"MAP-Elites ({encoding.name})", unit="gen")
    for _ in bar:
        if until is not None and bool((archive.log_conf >= threshold).all()):
            break
        if (time_limit is not None and archive.seconds >= time_limit) or (stop is not None and stop()):
            break
        archive = next(steps)
        if progress:
            conf = archive.confidence
            bar.set_postfix(min=f"{float(conf.min()):.4%}", median=f"{float(conf.median()):.2%}")
    if progress and hasattr(bar, "close"):
        bar.close()
    return archive


# --------------------------------------------------------------------------- gradient ascent


class _Adam:
    """Adam, taking a step *up* the gradient; a few lines instead of ``torch.optim.Adam``,
    whose first step imports ``torch._dynamo`` (tens of seconds on a busy laptop)."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def ascend(self, grads: Sequence[torch.Tensor]) -> None:
        b1, b2 = self.betas
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            step = self.lr / (1 - b1 ** self.t)
            p.addcdiv_(m, (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps), value=step)


def _check_targets(targets: object) -> torch.Tensor:
    if not isinstance(targets, torch.Tensor) or targets.dim() != 1 or targets.numel() == 0 \
            or targets.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"targets must be a non-empty 1-D tensor of class indices, got {targets!r}")
    return targets.long()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(2 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


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
    progress: bool = False,
) -> torch.Tensor:
    """Images that the model assigns to ``targets``, found by gradient ascent on the pixels (lesson 03).

    Paper: Nguyen et al. 2015 §2.3 (after Simonyan, Vedaldi & Zisserman 2014, arXiv 1312.6034):
    maximise the target's log-softmax, here with Adam on the pixels, clipped to [0, 1] after
    each step. Unregularised, the result is structured noise; the optional regularisers
    (Yosinski et al. 2015, arXiv 1506.06579) push it toward smoother patterns:
    ``l2`` penalises distance from mid-grey, ``blur_every`` blurs the image every few steps,
    ``jitter`` shifts it randomly by up to that many pixels before each step.

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
    targets = _check_targets(targets)
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
        shape = _check_shape(shape)
        start = torch.rand((len(targets), *shape), generator=generator)
    else:
        check_images(start, "start")
        if len(start) != len(targets):
            raise ValueError(f"start has {len(start)} images but targets has {len(targets)} entries")
    x = start.detach().clone().to(device)
    y = targets.to(device)
    adam = _Adam([x.requires_grad_(True)], lr)
    with eval_mode(model):
        for step in _progress(range(steps), enabled=progress, desc="gradient ascent", unit="step"):
            view = x
            if jitter:
                dx, dy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                view = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            objective = F.log_softmax(model(view), dim=1).gather(1, y[:, None]).sum()
            if l2:
                objective = objective - l2 * ((x - 0.5) ** 2).flatten(1).mean(1).sum()
            adam.ascend(torch.autograd.grad(objective, x))
            with torch.no_grad():
                if blur_every and (step + 1) % blur_every == 0:
                    x.copy_(_blur(x, blur_sigma))
                x.clamp_(0, 1)
    return x.detach()


def cppn_ascent(
    model: nn.Module,
    targets: torch.Tensor,
    encoding: CPPNEncoding,
    *,
    steps: int = 100,
    lr: float = 0.1,
    genomes: Genome | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[Genome, torch.Tensor]:
    """Gradient ascent on CPPN *weights*: the image stays a smooth CPPN pattern (lesson 03).

    Evolution is slow on a 1,000-class network on a CPU; the gradient of the target's
    log-softmax with respect to the CPPN's weights (through its rendering) is a shortcut that
    keeps the paper's kind of image. The connection switches and activation functions stay as
    drawn; only the weights move (Adam).

    Args:
        model: classifier returning logits (N, K); left as it was.
        targets: class indices (N,), one CPPN per entry.
        encoding: the ``CPPNEncoding`` (its ``shape`` is the model's input shape).
        steps: Adam steps (≥ 1).
        lr: Adam's learning rate on the weights.
        genomes: starting CPPNs (leading dimension N); default ``encoding.init(N, generator)``.
        generator: CPU ``torch.Generator`` for the random CPPNs.
        progress: show a ``tqdm`` progress bar.

    Returns:
        ``(genomes, images)``: the tuned CPPNs (on the CPU) and their images (N, C, H, W) in
        [0, 1] on the model's device.
    """
    check_model(model)
    targets = _check_targets(targets)
    if not isinstance(encoding, CPPNEncoding):
        raise TypeError(f"encoding must be a CPPNEncoding, got {type(encoding).__name__}")
    steps = check_positive_int("steps", steps)
    lr = check_in_range("lr", lr, 0.0, 10.0)
    generator = check_generator(generator, cpu=True)
    device = model_device(model)
    if genomes is None:
        genomes = encoding.init(len(targets), generator)
    elif len(genomes["act"]) != len(targets):
        raise ValueError(f"genomes hold {len(genomes['act'])} CPPNs but targets has {len(targets)} entries")
    genomes = {k: v.detach().clone().to(device) for k, v in genomes.items()}
    weights = [v.requires_grad_(True) for k, v in genomes.items() if k.startswith("w")]
    adam = _Adam(weights, lr)
    y = targets.to(device)
    with eval_mode(model):
        for _ in _progress(range(steps), enabled=progress, desc="CPPN gradient ascent", unit="step"):
            images = encoding.render(genomes, device)
            objective = F.log_softmax(model(images), dim=1).gather(1, y[:, None]).sum()
            adam.ascend(torch.autograd.grad(objective, weights))
        with torch.no_grad():
            images = encoding.render(genomes, device)
    return {k: v.detach().cpu() for k, v in genomes.items()}, images.detach()


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
    runs = check_positive_int("runs", runs)
    seed = check_positive_int("seed", seed, allow_zero=True)
    if not encodings:
        raise ValueError("encodings must name at least one of 'direct', 'cppn'")
    images, fooled_as = [], []
    jobs = [(name, r) for name in encodings for r in range(runs)]
    for name, r in _progress(jobs, enabled=progress, desc="evolving fooling images", unit="run"):
        archive = map_elites(model, make_encoding(name, shape), generations=generations, until=until,
                             batch_size=batch_size, generator=torch.Generator().manual_seed(seed + r), progress=False)
        images.append(archive.images)
        fooled_as.append(torch.tensor(archive.classes))
    return torch.cat(images), torch.cat(fooled_as)


def _fooling_class_fit(model: nn.Module, *, progress: bool) -> dict:
    from .data import load_mnist
    from .models import accuracy, pretrained, train

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
    from .models import cached, lenet

    return cached("cnn-fooling-class", lambda: lenet(num_classes=11),
                  lambda m: _fooling_class_fit(m, progress=progress), version="2", device=device, progress=progress)


# --------------------------------------------------------------------------- a longer ImageNet run, cached


_IMAGENET_RUN = {"generations": 200, "batch_size": 8, "hidden": (16, 16, 16), "zoom": 2.0, "seed": 0, "version": 2}


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
    from .data import imagenet_labels
    from .models import cache_dir, imagenet_classifier

    cfg = _IMAGENET_RUN
    encoding = imagenet_encoding()
    labels = imagenet_labels()
    classes = [labels.index(name) for name in IMAGENET_CLASSES]
    path = cache_dir() / "fooling" / f"imagenet-cppn-v{cfg['version']}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            archive = Archive(encoding, tuple(blob["classes"]), blob["genomes"],
                              encoding.render(blob["genomes"]), blob["log_conf"], list(blob["history"]),
                              int(blob["evaluations"]), float(blob["seconds"]))
            archive.cache_info = {"cached": True, "path": str(path), "seconds": archive.seconds}
            return archive
        except Exception as err:  # corrupt or from another version: recompute
            import warnings

            warnings.warn(f"cached ImageNet run {path} could not be read ({type(err).__name__}: {err}); recomputing",
                          RuntimeWarning, stacklevel=2)
    net = model if model is not None else imagenet_classifier(device=device)
    archive = map_elites(net, encoding, generations=cfg["generations"], classes=classes,
                         batch_size=cfg["batch_size"], generator=torch.Generator().manual_seed(cfg["seed"]),
                         progress=progress)
    atomic_save({"classes": list(archive.classes), "genomes": archive.genomes, "log_conf": archive.log_conf,
                  "history": torch.stack(archive.history_rows), "evaluations": archive.evaluations,
                  "seconds": archive.seconds, "torch": str(torch.__version__)}, path)
    archive.cache_info = {"cached": False, "path": str(path), "seconds": archive.seconds}
    return archive


CACHED_MODELS = {
    "cnn-fooling-class": lambda: fooling_class_model(progress=False),
    "imagenet-cppn-run": lambda: imagenet_evolution(progress=False),
}


# --------------------------------------------------------------------------- the live widget


class LiveEvolution:
    """Lesson 03's live panel: evolve a fooling image for one class and watch it improve.

    Pick the encoding, the target class and the number of generations, press **run**: the
    evolution runs in a background thread (so the kernel stays free to receive the **stop**
    click), and every ``every`` generations the panel redraws the elite image and its
    confidence curve and moves the progress bar. Without a browser: set
    ``live.controls[name].value``, call ``live.run()`` (or ``live.run_button.click()``),
    ``live.join()``, then read ``live.archive``, ``live.progress.value`` or
    ``live.panel.image.value``; ``live.stop()`` ends a run between two generations.

    Args:
        model: the classifier to fool (e.g. ``models.pretrained("cnn")``).
        shape: its input shape (C, H, W).
        class_names: names of the classes to offer (default "0", "1", ...).
        max_generations: the generations slider's maximum.
        every: redraw every this many generations.
        batch_size: children per generation.
        seed: seeds each run (the same settings give the same run).
        background: run in a thread (``False``: run inside ``run()``, for tests).
    """

    def __init__(self, model: nn.Module, *, shape: tuple[int, int, int] = (1, 28, 28),
                 class_names: Sequence[str] | None = None, max_generations: int = 500, every: int = 5,
                 batch_size: int = 64, seed: int = 0, background: bool = True) -> None:
        import ipywidgets as W

        from . import widgets

        self.model = check_model(model)
        self.shape = _check_shape(shape)
        self.every = check_positive_int("every", every)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = check_positive_int("seed", seed, allow_zero=True)
        max_generations = check_positive_int("max_generations", max_generations)
        self.background = bool(background)
        with torch.no_grad(), eval_mode(model):
            num_classes = model(torch.zeros((1, *self.shape), device=model_device(model))).shape[1]
        names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        if len(names) > num_classes:
            raise ValueError(f"class_names has {len(names)} names but the model has {num_classes} classes")
        self.class_names = names
        self.controls = {
            "encoding": widgets.dropdown("encoding", [("CPPN (patterns)", "cppn"), ("direct (pixels)", "direct")], "cppn"),
            "target": widgets.dropdown("target class", [(n, i) for i, n in enumerate(names)], 0),
            "generations": widgets.int_slider("generations", min(100, max_generations), 1, max_generations),
        }
        self.run_button = widgets.button("run")
        self.run_button.add_class("lessons-run")  # what the browser test clicks after changing a control
        self.stop_button = widgets.button("stop", icon="stop", style="danger")
        self.stop_button.disabled = True
        self.progress = W.IntProgress(value=0, min=0, max=1, description="generation",
                                      style={"description_width": "9em"}, layout=W.Layout(width="26em"))
        self.archive: Archive | None = None
        self.error: str | None = None
        self.stopped = False
        self._settings: tuple | None = None
        self._running = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one render at a time (worker thread and UI callbacks)
        self.panel = widgets.Panel("Evolve a fooling image, live", self.controls, self._render)
        row = W.HBox([self.run_button, self.stop_button, self.progress], layout=W.Layout(align_items="center"))
        children = list(self.panel.widget.children)
        self.panel.widget.children = tuple(children[:2] + [row] + children[2:])
        self.widget = self.panel.widget
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())

    # -- the plain logic, usable without a browser

    def _start(self, encoding: str, target: int) -> Iterator[Archive]:
        enc = make_encoding(encoding, self.shape)
        steps = map_elites_steps(self.model, enc, classes=[target], batch_size=self.batch_size,
                                 generator=torch.Generator().manual_seed(self.seed))
        self.archive = next(steps)
        self._settings = (encoding, target)
        return steps

    def run(self, *, wait: bool = False) -> None:
        """Start a run with the controls' values (ignored while one is running)."""
        if self._running:
            return
        values = self.panel.values()
        self._stop.clear()
        self._running, self.stopped, self.error = True, False, None
        for control in self.controls.values():
            control.disabled = True
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.progress.max, self.progress.value = values["generations"], 0
        if self.background:
            self._thread = threading.Thread(target=self._loop, args=(values,), daemon=True, name="lessons-live-evolution")
            self._thread.start()
            if wait:
                self.join()
        else:
            self._loop(values)

    def stop(self) -> None:
        """Ask a running evolution to stop after the current generation."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the current run; ``True`` if none is running any more."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self._running

    @property
    def running(self) -> bool:
        return self._running

    def _loop(self, values: dict) -> None:
        try:
            steps = self._start(values["encoding"], values["target"])
            for generation in range(1, values["generations"] + 1):
                if self._stop.is_set():
                    self.stopped = True
                    break
                self.archive = next(steps)
                if generation % self.every == 0 or generation == values["generations"]:
                    self.progress.value = generation
                    if generation < values["generations"]:  # the last view is drawn once, below
                        self.panel.update()
        except Exception as err:  # shown in the panel; kept for tests
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self._running = False
            for control in self.controls.values():
                control.disabled = False
            self.run_button.disabled, self.stop_button.disabled = False, True
            self.panel.update()
            if self.error:
                import html

                self.panel.status.value = f'<span style="color:#b00">⚠ {html.escape(self.error)}</span>'

    def _render(self, encoding: str, target: int, generations: int):
        with self._lock:
            if not self._running and self._settings != (encoding, target):
                self._start(encoding, target)  # a preview: generation 0 of the run these settings give
            return _live_figure(self.archive, self.class_names, running=self._running,
                                stopped=self.stopped, planned=generations)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def evolution_panel(model: nn.Module, **options) -> LiveEvolution:
    """Lesson 03's live panel for ``model``; ``options`` as for ``LiveEvolution``."""
    return LiveEvolution(model, **options)


def _esc(text: object) -> str:
    import html

    return html.escape(str(text))


def _nines(p: torch.Tensor) -> torch.Tensor:
    """−log10(1 − p): 1 at 90%, 2 at 99%, 4 at 99.99% — spreads out the last few percent."""
    return -torch.log10((1 - p).clamp_min(1e-7))


def _live_figure(archive: Archive, class_names: Sequence[str], *, running: bool, stopped: bool, planned: int):
    from matplotlib.figure import Figure

    from .viz import to_numpy_image

    target = archive.classes[0]
    name = class_names[target]
    p = float(archive.confidence[0])
    # A fixed layout and a linear "nines" axis: several times faster to draw than a
    # constrained layout with matplotlib's logit scale, which matters when redrawing live.
    fig = Figure(figsize=(7.5, 2.8))
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.17, top=0.88, wspace=0.35)
    ax_img, ax_curve = fig.subplots(1, 2, width_ratios=(1, 1.8))
    img = to_numpy_image(archive.images[0])
    ax_img.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax_img.set_xticks([]), ax_img.set_yticks([])
    ax_img.set_title(f"elite: '{name}' {100 * p:.4f}%", fontsize=10)
    ax_curve.plot(_nines(archive.history[:, 0]).numpy(), color="#4c72b0")
    ax_curve.axhline(4, color="#c44e52", ls="--", lw=1, label="99.99% (Nguyen et al.)")
    ax_curve.set_yticks(range(6), ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax_curve.set_ylim(0, 5.5)
    ax_curve.set_xlim(0, max(planned, archive.generations, 1))
    ax_curve.set_xlabel("generation")
    ax_curve.set_ylabel(f"p('{name}')")
    ax_curve.legend(loc="lower right", fontsize=8)
    state = "running…" if running else ("stopped" if stopped else ("done" if archive.generations else "press run"))
    readout = (f"<b>{_esc(archive.encoding.name)}</b> · target <b>{_esc(name)}</b> · generation "
               f"{archive.generations} · p = <b>{100 * p:.4f}%</b> · {archive.evaluations} images scored · "
               f"{archive.seconds:.1f} s · {state}")
    return fig, readout
