"""Genomes for evolving images: one gene per pixel, or a CPPN that draws the image (lesson 03).

Nguyen, Yosinski & Clune (CVPR 2015, arXiv 1412.1897) evolved fooling images with two
encodings, both here. A genome is a dict of tensors with a leading population dimension (N, ...)
that lives on the CPU, where a seeded ``torch.Generator`` draws every random number, so a seed
gives the same population on any device; only ``render`` runs on the model's device.

- ``DirectEncoding``: one gene per pixel value, mutated by Deb's polynomial mutation;
- ``CPPNEncoding``: a compositional pattern-producing network of (x, y, r) whose output at each
  pixel is the image — smooth, often symmetric or repeating, at any resolution;
- ``GradientCPPN``: a CPPN made to be tuned by gradient ascent rather than evolved (every link
  on, every node's function fixed, biases added): the fast way to CPPN fooling images on ImageNet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .utils import check_choice, check_generator, check_images, check_in_range, check_positive_int

__all__ = ["Genome", "ENCODINGS", "DirectEncoding", "CPPNEncoding", "GradientCPPN", "make_encoding", "mutate_direct",
           "check_shape", "take"]

Genome = dict  # str -> Tensor with a leading population dimension (N, ...)

ENCODINGS = ("direct", "cppn")


def check_shape(shape: object) -> tuple[int, int, int]:
    ok = (isinstance(shape, (tuple, list)) and len(shape) == 3
          and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape))
    if not ok or shape[0] not in (1, 3):
        raise ValueError(f"shape must be (channels, height, width) with 1 or 3 channels, got {shape!r}; "
                         "e.g. (1, 28, 28) for MNIST or (3, 224, 224) for ImageNet")
    return tuple(int(s) for s in shape)





def take(genomes: Genome, idx: torch.Tensor) -> Genome:
    return {k: v[idx] for k, v in genomes.items()}


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
        object.__setattr__(self, "shape", check_shape(self.shape))
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
        object.__setattr__(self, "shape", check_shape(self.shape))
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


# --------------------------------------------------------------------------- a CPPN for gradient ascent

# Each hidden layer is cut into equal blocks, one per function: periodic (sine), symmetric
# (Gaussian) and two squashing ones (tanh, sigmoid), the mix that makes CPPN images regular.
_BLOCKS: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = (
    torch.sin, lambda z: torch.exp(-(z * z).clamp(max=80.0)), torch.tanh, torch.sigmoid)


@dataclass(frozen=True)
class GradientCPPN:
    """A CPPN whose weights are tuned by gradient ascent, not evolved (lesson 03).

    ``pixel(x, y) = sigmoid(net(x, y, r))``: the network maps each pixel's coordinates (x, y in
    [−zoom, zoom], r the distance from the centre) through ``hidden`` fully connected layers to
    C channels. Each hidden layer is cut into four blocks of sine, Gaussian, tanh and sigmoid
    units (12 units: three of each). Unlike ``CPPNEncoding`` every connection is on and every
    node keeps its function, so the image is a smooth function of the weights and biases, the
    only genes, and the gradient of a classifier's output can tune them. The CPPN is drawn at
    ``resolution`` × ``resolution`` pixels and upsampled (bilinear) to the shape's size: a
    quarter of the work at 112 px, and the pattern is just as smooth.

    Args:
        shape: image shape (C, H, W), e.g. (3, 224, 224) for the ImageNet classifier.
        hidden: hidden layer widths, each a multiple of 4.
        resolution: side in pixels at which the CPPN is evaluated (≤ the shape's sides).
        zoom: the coordinates span [−zoom, zoom]; larger gives finer, more repeated patterns
            (textures, which an ImageNet classifier takes up faster: at 4 rather than 2 the
            lesson's run reached a 99% median in about half the steps).
        init_scale: initial weights are N(0, (init_scale / √fan_in)²).
    """

    shape: tuple[int, int, int] = (3, 224, 224)
    hidden: tuple[int, ...] = (12, 12, 12)
    resolution: int = 112
    zoom: float = 4.0
    init_scale: float = 2.0
    name: str = field(default="gradient-cppn", init=False)

    def __post_init__(self):
        object.__setattr__(self, "shape", check_shape(self.shape))
        if not self.hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 4 or h % 4 for h in self.hidden):
            raise ValueError(f"hidden must be a non-empty tuple of layer widths that are multiples of 4, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        check_positive_int("resolution", self.resolution)
        if self.resolution > min(self.shape[1:]):
            raise ValueError(f"resolution must be at most the image's side {min(self.shape[1:])}, got {self.resolution}")
        check_in_range("zoom", self.zoom, 1e-3, 1e3)
        check_in_range("init_scale", self.init_scale, 0.0, 100.0)

    @property
    def sizes(self) -> list[int]:
        """Layer widths from the 3 inputs (x, y, r) to the C outputs."""
        return [3, *self.hidden, self.shape[0]]

    def init(self, n: int, generator: torch.Generator | None = None) -> Genome:
        """``n`` random CPPNs: weights ``w{i}`` (n, a, b) and biases ``b{i}`` (n, b, 1) per layer."""
        n = check_positive_int("n", n)
        generator = check_generator(generator, cpu=True)
        genome: Genome = {}
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            genome[f"w{i}"] = torch.randn((n, a, b), generator=generator) * (self.init_scale / a**0.5)
            genome[f"b{i}"] = torch.randn((n, b, 1), generator=generator) * 0.5
        return genome

    def render(self, genomes: Genome, device: torch.device | str | None = None) -> torch.Tensor:
        """The images (N, C, H, W) in [0, 1] on ``device``; differentiable in every gene."""
        device = torch.device(device or "cpu")
        side = self.resolution
        h = (_coordinates(side, side, device)[:, :3].T * self.zoom).unsqueeze(0)  # (1, 3, P)
        n_layers = len(self.sizes) - 1
        for i in range(n_layers):
            # (N, b, a) @ (N, a, P): pixels last, as in CPPNEncoding.render
            z = torch.matmul(genomes[f"w{i}"].to(device).transpose(1, 2), h) + genomes[f"b{i}"].to(device)
            if i < n_layers - 1:
                h = torch.cat([fn(block) for fn, block in zip(_BLOCKS, z.chunk(len(_BLOCKS), dim=1))], dim=1)
        images = torch.sigmoid(z).reshape(-1, self.shape[0], side, side)
        if (side, side) == self.shape[1:]:
            return images
        return torch.nn.functional.interpolate(images, size=self.shape[1:], mode="bilinear", align_corners=False)


def make_encoding(name: str, shape: tuple[int, int, int], **options) -> DirectEncoding | CPPNEncoding:
    """``"direct"`` or ``"cppn"`` encoding for images of ``shape`` (C, H, W) (lesson 03)."""
    check_choice("name", name, ENCODINGS)
    return DirectEncoding(shape, **options) if name == "direct" else CPPNEncoding(shape, **options)
