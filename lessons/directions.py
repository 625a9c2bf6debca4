"""Units versus random directions: activations, top-k retrieval, coherence, synthesis, a quiz.

Introduced in lesson 04 (Szegedy et al. 2013, *Intriguing properties of neural networks*,
§3, arXiv 1312.6199). Szegedy et al. looked at the held-out images x′ = argmaxₓ ⟨φ(x), v⟩
that most excite a direction v of a layer's activation space φ, for v a *unit* (a basis
vector eᵢ) and for a *random* direction, and found both sets equally "semantically
coherent". Bau et al. 2017 (*Network Dissection*, arXiv 1704.05796) found units of large
conv nets *more* interpretable than random rotations. This module lets a learner measure it.

Conventions used throughout:

- φ(x) is the output of a named module (``layers.names(model)`` lists them). For
  the course's CNN we read ``conv1``/``conv2``/``fc1`` — the values *before* the ReLU. The
  ranking of images by a unit is the same before or after a ReLU for every image the unit
  fires on, but after the ReLU a unit that is silent on most images gives hundreds of tied
  zeros, and "the top 8" is then an arbitrary pick. Before it, every image has a score.
- A fully connected layer gives φ(x) ∈ ℝᴰ; a direction is a unit vector v ∈ ℝᴰ.
- A conv layer gives a map φ(x) ∈ ℝ^{C×H×W}; a direction is a unit vector v ∈ ℝᶜ in
  *channel* space, applied at every position (a 1×1 rotation of the channels, like Bau et
  al.'s random rotations), and the resulting H×W map is reduced to one number per image by
  its spatial ``"mean"`` (default: linear, so it equals ⟨mean φ(x), v⟩) or ``"max"``
  (the strongest local response, as in Zeiler & Fergus's top-9 patches). A unit is the
  channel eᵢ, reduced the same way, so units and random directions are the same kind of object.
- Random directions are Gaussian vectors scaled to length 1: uniform on the sphere.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import cache, layers
from .data import load_mnist
from .models import accuracy, lenet, train
from .utils import (
    check_choice,
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

__all__ = [
    "REDUCTIONS",
    "unit_directions",
    "random_directions",
    "project",
    "top_k",
    "check_indices",
    "label_purity",
    "pixel_similarity",
    "Comparison",
    "compare",
    "Study",
    "unit_vs_random",
    "maximize",
    "replicate_cnn",
    "REPLICATE_SEEDS",
    "CACHED_MODELS",
]

REDUCTIONS = ("mean", "max")

REPLICATE_SEEDS = (1, 2)


def replicate_cnn(seed: int, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """The course CNN (``models.lenet``) retrained from another seed, cached (lesson 04).

    One network is one sample: a unit-vs-random difference measured on it could be a fluke
    of its initialisation. Lesson 04 repeats the measurement on these retrained copies
    (same data, same recipe as ``models.pretrained("cnn")``, different initial weights and
    shuffling) to see which conclusions survive.

    Args:
        seed: an integer ≥ 1; the notebook uses ``REPLICATE_SEEDS`` (warmed by
            ``python -m lessons.warm``), ``benchmarks/directions.py --replicates N`` more.
        device: where the model lives (default ``get_device()``).
        progress: show the training bar on first use (~10 s on a laptop CPU).

    Returns:
        The trained model in eval mode, with ``cache_info`` (test accuracy, ...).
    """
    seed = check_positive_int("seed", seed)

    def build() -> nn.Module:
        torch.manual_seed(1000 + seed)  # cache.cached forks the RNG around build: the caller's stream is untouched
        return lenet()

    def fit(model: nn.Module) -> dict:
        mnist = load_mnist()
        history = train(model, (mnist.x_train, mnist.y_train), seed=seed, progress=progress,
                        device=model_device(model), desc=f"training cnn-seed{seed} (first use only)")
        return {"train_accuracy": history["accuracy"][-1], "test_accuracy": accuracy(model, mnist.x_test, mnist.y_test),
                "description": f"LeNet-style CNN, seed {seed} (lesson 04 replicate)"}

    plan = {"architecture": "lenet", "init_seed": 1000 + seed, "seed": seed, "epochs": 10, "lr": 1e-3}
    return cache.cached(f"cnn-seed{seed}", build, fit, recipe=plan, device=device, progress=progress)


# Warmed by ``python -m lessons.warm``; models.pretrained("cnn") is warmed there already.
CACHED_MODELS = {f"cnn-seed{s}": (lambda s=s: replicate_cnn(s, progress=False)) for s in REPLICATE_SEEDS}

# --------------------------------------------------------------------------- directions


def unit_directions(dim: int) -> torch.Tensor:
    """The basis vectors e₁ … e_D as rows of a (D, D) identity matrix (lesson 04)."""
    return torch.eye(check_positive_int("dim", dim))


def random_directions(n: int, dim: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random unit vectors in ℝ^dim, uniform on the sphere (lesson 04).

    A standard Gaussian vector divided by its length is uniformly distributed on the unit
    sphere — no direction, including the axes, is favoured.

    Args:
        n: how many directions.
        dim: the layer's width D (dense) or channel count C (conv).
        generator: a seeded ``torch.Generator`` makes the directions reproducible.

    Returns:
        Tensor (n, dim), float32, every row of L2 norm 1.
    """
    n = check_positive_int("n", n)
    dim = check_positive_int("dim", dim)
    v = torch.randn(n, dim, generator=generator)
    return v / v.norm(dim=1, keepdim=True)


def project(acts: torch.Tensor, directions: torch.Tensor, *, reduce: str = "mean") -> torch.Tensor:
    """Scores ⟨φ(x), v⟩ of every image for every direction (lesson 04).

    Args:
        acts: (N, D) dense activations, or (N, C, H, W) conv maps.
        directions: (K, D) or (K, C) — rows are directions (units or random).
        reduce: for conv maps, how the per-position score map ⟨φ(x)[:, h, w], v⟩ becomes one
            number: ``"mean"`` or ``"max"`` over positions (ignored for dense layers).

    Returns:
        Tensor (N, K): image n's score along direction k.
    """
    _check_acts(acts)
    if not isinstance(directions, torch.Tensor):
        raise TypeError(f"directions must be a tensor (K, D), got {type(directions).__name__}")
    if directions.dim() != 2 or directions.shape[1] != acts.shape[1]:
        raise ValueError(
            f"directions must have shape (K, {acts.shape[1]}) to match acts of shape {tuple(acts.shape)}, "
            f"got {tuple(getattr(directions, 'shape', ()))}"
        )
    check_choice("reduce", reduce, REDUCTIONS)
    v = directions.to(acts.device, acts.dtype)
    if acts.dim() == 2:
        return acts @ v.T  # (N, K)
    if reduce == "mean":
        return acts.mean((2, 3)) @ v.T  # linear, so mean-then-project = project-then-mean
    # max does not commute with the projection: project at every position, then take the max.
    # Chunks of directions keep the (N, k, H, W) intermediate near 64 MB.
    n, _, h, w = acts.shape
    chunk = max(1, (16 * 2**20) // max(1, n * h * w))
    parts = [torch.einsum("nchw,kc->nkhw", acts, v[i : i + chunk]).amax((2, 3)) for i in range(0, v.shape[0], chunk)]
    return torch.cat(parts, dim=1)


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` highest-scoring images per direction, best first (lesson 04).

    Szegedy's x′ = argmax ⟨φ(x), v⟩ over held-out images, extended to the top ``k``.
    Ties are broken by the lower image index (a stable sort), so results are reproducible.

    Args:
        scores: (N, K) from ``project``.
        k: how many images per direction, 1 ≤ k ≤ N.

    Returns:
        Long tensor (K, k): row j lists image indices for direction j, in decreasing score.
    """
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a tensor of shape (N, K), got {type(scores).__name__}")
    if scores.dim() != 2:
        raise ValueError(f"scores must be a tensor of shape (N, K), got shape {tuple(scores.shape)}")
    if bool(scores.isnan().any()):  # a NaN would sort first and be "the best image"
        raise ValueError("scores must not hold NaN (a NaN sorts first); check the activations")
    k = check_positive_int("k", k)
    if k > scores.shape[0]:
        raise ValueError(f"k must be at most the number of images ({scores.shape[0]}), got {k}")
    order = torch.sort(scores, dim=0, descending=True, stable=True).indices  # (N, K)
    return order[:k].T.contiguous()  # (K, k)


# --------------------------------------------------------------------------- coherence


def label_purity(indices: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Share of the most common label among each direction's top-k images (lesson 04).

    1.0: all k images show the same digit; 0.1 would be as mixed as ten equal classes can be
    at k = 10. It needs labels, and measures only one kind of meaning (the class).

    Args:
        indices: (K, k) image indices from ``top_k``.
        labels: (N,) integer labels of the images.

    Returns:
        Float tensor (K,) in [1/k, 1].
    """
    labels = check_labels(labels, labels.shape[0] if isinstance(labels, torch.Tensor) and labels.dim() else -1, "labels")
    check_indices(indices, 2**62)
    if indices.numel() and int(indices.max()) >= labels.shape[0]:
        raise ValueError(f"labels must hold a label for every image the indices refer to (up to index "
                         f"{int(indices.max())}), got {labels.shape[0]} labels")
    top = labels.to(indices.device)[indices]  # (K, k)
    counts = F.one_hot(top, int(labels.max()) + 1).sum(1)  # (K, classes)
    return counts.max(1).values.float() / indices.shape[1]


def pixel_similarity(indices: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine similarity of each direction's top-k images, in pixel space (lesson 04).

    A coherence measure that needs no labels: images that look alike (same strokes in the
    same places) score near 1. Compare with random sets of k images (``indices`` drawn at
    random) to see the chance level.

    Args:
        indices: (K, k) image indices from ``top_k``, k ≥ 2.
        x: images (N, C, H, W).

    Returns:
        Float tensor (K,) in [-1, 1] (in [0, 1] for non-negative pixels).
    """
    check_images(x, "x")
    check_indices(indices, x.shape[0])
    k = indices.shape[1]
    if k < 2:
        raise ValueError(f"pixel_similarity needs at least 2 images per direction, got k = {k}")
    flat = F.normalize(x.flatten(1).float(), dim=1)[indices.to(x.device)]  # (K, k, P)
    gram = flat @ flat.transpose(1, 2)  # (K, k, k)
    off_diagonal = gram.sum((1, 2)) - gram.diagonal(dim1=1, dim2=2).sum(1)
    return off_diagonal / (k * (k - 1))


def _check_acts(acts: object) -> torch.Tensor:
    if not isinstance(acts, torch.Tensor):
        raise TypeError(f"acts must be a tensor (N, D) or (N, C, H, W), got {type(acts).__name__}")
    if acts.dim() not in (2, 4):
        raise ValueError(f"acts must be a tensor (N, D) or (N, C, H, W), got shape {tuple(acts.shape)}")
    return acts


def check_indices(indices: object, n: int, name: str = "indices") -> torch.Tensor:
    """Check a (K, k) tensor of image indices in [0, n), as ``top_k`` returns (lesson 04)."""
    if not isinstance(indices, torch.Tensor) or indices.is_floating_point():
        raise TypeError(f"{name} must be an integer tensor (K, k) from top_k, got {type(indices).__name__} "
                        f"{getattr(indices, 'dtype', '')}")
    if indices.dim() != 2:
        raise ValueError(f"{name} must have shape (K, k), as top_k returns, got {tuple(indices.shape)}")
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= n):
        raise ValueError(f"{name} must lie in [0, {n - 1}], got values in [{int(indices.min())}, {int(indices.max())}]")
    return indices


class Comparison(NamedTuple):
    """Units vs random directions: means, their difference and a permutation-test p-value."""

    mean_units: float
    mean_random: float
    difference: float  # mean_units − mean_random
    p_value: float  # two-sided: how often shuffled group labels give a difference this large


def compare(units: torch.Tensor, random: torch.Tensor, *, n_permutations: int = 10_000,
            generator: torch.Generator | None = None) -> Comparison:
    """Is the units' mean coherence different from the random directions'? (lesson 04)

    A permutation test: pool the two samples, split them at random into groups of the same
    sizes many times, and count how often the split's difference of means is at least as
    large (in absolute value) as the real one. No normality assumption, fine for 32 units.

    Args:
        units: (n_units,) coherence scores of unit directions.
        random: (n_random,) coherence scores of random directions.
        n_permutations: random splits to draw.
        generator: seeds the splits.

    Returns:
        ``Comparison(mean_units, mean_random, difference, p_value)``.
    """
    for name, s in (("units", units), ("random", random)):
        if not isinstance(s, torch.Tensor):
            raise TypeError(f"{name} must be a 1-D tensor of at least 2 scores, got {type(s).__name__}")
        if s.dim() != 1 or s.numel() < 2:
            raise ValueError(f"{name} must be a 1-D tensor of at least 2 scores, got shape {tuple(s.shape)}")
    n_permutations = check_positive_int("n_permutations", n_permutations)
    a, b = units.detach().double().cpu(), random.detach().double().cpu()
    observed = float(a.mean() - b.mean())
    pooled = torch.cat([a, b])
    # One argsort of random keys per permutation: all splits at once, (P, n) in memory.
    perms = torch.rand(n_permutations, pooled.numel(), generator=generator).argsort(dim=1)
    shuffled = pooled[perms]
    diffs = shuffled[:, : a.numel()].mean(1) - shuffled[:, a.numel() :].mean(1)
    # +1 on both sides: the observed split is one of the possible ones (never report p = 0).
    p = (int((diffs.abs() >= abs(observed) - 1e-12).sum()) + 1) / (n_permutations + 1)
    return Comparison(float(a.mean()), float(b.mean()), observed, p)


class Study(NamedTuple):
    """Coherence of every unit and of ``n_random`` random directions of one layer (lesson 04)."""

    purity_units: torch.Tensor  # (D,)
    purity_random: torch.Tensor  # (n_random,)
    similarity_units: torch.Tensor  # (D,)
    similarity_random: torch.Tensor  # (n_random,)


def unit_vs_random(acts: torch.Tensor, x: torch.Tensor, labels: torch.Tensor, *, k: int = 8, n_random: int = 500,
                   reduce: str = "mean", generator: torch.Generator | None = None) -> Study:
    """Szegedy's experiment, measured: top-k coherence of all units vs random directions (lesson 04).

    Every unit eᵢ of the layer and ``n_random`` random unit directions each retrieve their
    top-``k`` images; each set is scored by ``label_purity`` and ``pixel_similarity``.

    Args:
        acts: the layer's activations of the images, (N, D) or (N, C, H, W).
        x: the images (N, C, H, W), for the pixel similarity.
        labels: (N,) their labels, for the purity.
        k: images per direction.
        n_random: random directions to draw.
        reduce: spatial reduction for conv maps (see ``project``).
        generator: seeds the random directions.

    Returns:
        ``Study(purity_units, purity_random, similarity_units, similarity_random)``.
    """
    _check_acts(acts)
    check_images(x, "x")
    if acts.shape[0] != x.shape[0]:
        raise ValueError(f"acts must have one row per image of x ({x.shape[0]}), got {acts.shape[0]}")
    labels = check_labels(labels, x.shape[0], "labels")
    n_random = check_positive_int("n_random", n_random)
    dim = acts.shape[1]
    units = top_k(project(acts, unit_directions(dim), reduce=reduce), k)
    randoms = top_k(project(acts, random_directions(n_random, dim, generator=generator), reduce=reduce), k)
    return Study(label_purity(units, labels), label_purity(randoms, labels),
                 pixel_similarity(units, x), pixel_similarity(randoms, x))


# --------------------------------------------------------------------------- synthesis


def _fourier_basis(h: int, w: int, decay: float) -> torch.Tensor:
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    freq = torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / max(h, w))
    return freq.pow(-decay)  # (h, w//2+1): low frequencies get larger steps


def maximize(
    model: nn.Module,
    layer: str,
    directions: torch.Tensor,
    *,
    shape: tuple[int, int, int] = (3, 128, 128),
    steps: int = 64,
    lr: float = 0.05,
    reduce: str = "mean",
    decay: float = 1.0,
    jitter: int = 4,
    l2: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Activation maximisation: synthesise images x with large ⟨φ(x), v⟩ (lesson 04).

    Gradient ascent on the image itself, as in Erhan et al. 2009 and Olah et al. 2017
    (*Feature Visualization*, Distill). Plain pixel ascent makes high-frequency noise, so two
    simple regularisers steer it towards images: the image is parameterised by its Fourier
    spectrum with steps scaled by 1/frequency^decay (smooth images come first), and it is
    shifted by a random ``jitter`` each step (a pattern must work wherever it lands). An
    optional L2 penalty pulls pixels towards grey. Pixels are sigmoid(·), so x stays in [0, 1].

    Args:
        model: a classifier taking (N, C, H, W) images in [0, 1]; left as it was (mode and
            parameters' ``.grad``): only the image gets gradients.
        layer: the layer name whose output is φ.
        directions: (K, D) or (K, C) unit directions; image k maximises direction k.
        shape: (C, H, W) of the images to synthesise (conv nets accept smaller sizes than
            they were trained on; 128 × 128 is ~3× faster than 224 × 224).
        steps, lr: Adam steps on the spectrum and their learning rate.
        reduce: spatial reduction for conv layers, as in ``project``.
        decay: 1/f^decay scaling of the spectrum (0 = plain pixels).
        jitter: largest random shift in pixels per step (0 = none).
        l2: weight of the penalty mean((x − 0.5)²).
        generator: seeds the starting noise and the jitter.
        progress: show a ``tqdm`` bar over the steps.

    Returns:
        Images (K, C, H, W) in [0, 1], detached, on the model's device.
    """
    check_model(model)
    layers.resolve(model, layer, "layer")
    if not isinstance(directions, torch.Tensor):
        raise TypeError(f"directions must be a tensor (K, D), got {type(directions).__name__}")
    if directions.dim() != 2:
        raise ValueError(f"directions must be a tensor (K, D), got shape {tuple(directions.shape)}")
    if not isinstance(shape, (tuple, list)) or len(shape) != 3 or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"shape must be (C, H, W) of positive integers, got {shape!r}")
    try:
        check_model_input(model, torch.full((1, *shape), 0.5), "images")
    except (TypeError, ValueError) as err:
        raise ValueError(f"shape {tuple(shape)} does not fit the model: {err}") from None
    width = layers.activations(model, torch.full((1, *shape), 0.5), layer, progress=False).shape[1]
    if directions.shape[1] != width:
        raise ValueError(f"directions must have {width} columns, the width of layer {layer!r}, got {directions.shape[1]}")
    steps = check_positive_int("steps", steps)
    check_in_range("lr", lr, 1e-6, 10.0)
    check_choice("reduce", reduce, REDUCTIONS)
    check_in_range("decay", decay, 0.0, 4.0)
    jitter = check_positive_int("jitter", jitter, allow_zero=True)
    check_in_range("l2", l2, 0.0, 1e6)
    device = model_device(model, directions)
    c, h, w = shape
    k = directions.shape[0]
    scale = _fourier_basis(h, w, decay).to(device)
    spectrum = (0.01 * torch.randn(k, c, h, w // 2 + 1, 2, generator=generator)).to(device).requires_grad_(True)
    opt = torch.optim.Adam([spectrum], lr=lr)
    v = directions.to(device).float()

    def image() -> torch.Tensor:
        spatial = torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=(h, w), norm="ortho")
        return torch.sigmoid(spatial / 4.0)  # /4 as in Lucent: keeps early steps away from saturation

    rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    bar = progress_bar(range(steps), enabled=progress, desc=f"maximising {layer}", unit="step")
    with eval_mode(model), layers.hooks(model, layer, detach=False, stop=True) as store:
        for _ in bar:
            x = image()
            if jitter:
                dy, dx = (int(s) for s in rng.integers(-jitter, jitter + 1, size=2))
                x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            store[layer].clear()
            try:
                model(x)
            except layers.StopForward:
                pass
            acts = store[layer][0]
            if acts.dim() == 4:
                if reduce == "mean":
                    scores = acts.mean((2, 3)) * v
                else:
                    scores = torch.einsum("nchw,nc->nhw", acts, v).amax((1, 2))[:, None]
            else:
                scores = acts * v
            objective = scores.sum() - l2 * k * ((x - 0.5) ** 2).mean()
            (grad,) = torch.autograd.grad(-objective, spectrum)  # only the image's parameters
            spectrum.grad = grad
            opt.step()
    return image().detach()
