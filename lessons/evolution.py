"""MAP-Elites: evolve the best image for every class at once (lesson 03).

Nguyen, Yosinski & Clune (CVPR 2015, arXiv 1412.1897) evolved fooling images with MAP-Elites
(Mouret & Clune 2015, arXiv 1504.04909): an archive holds the best image found so far for each
class; each generation mutates elites, scores the whole batch with one forward pass, and keeps
every improvement — for *any* class, so progress on one class seeds the others. The genomes come
from ``lessons.encodings``. The caller's model is put in eval mode and restored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .encodings import CPPNEncoding, DirectEncoding, Genome, take
from .utils import (
    check_generator,
    check_in_range,
    check_model,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)
from .utils import progress as progress_bar

__all__ = ["class_confidence", "Archive", "map_elites_steps", "map_elites"]


def class_confidence(model: nn.Module, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Log-softmax scores (N, K) of images (N, C, H, W) in [0, 1], in eval mode, without gradients.

    Log-probabilities, not probabilities: near 100% the softmax saturates at 1.0 in float32,
    while log p still tells 99.99% from 99.999% apart, so evolution keeps improving there.
    Returned on the CPU.
    """
    check_model_input(model, images, "images")
    return _log_probs(model, images, check_positive_int("batch_size", batch_size))


def _log_probs(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``class_confidence`` without the checks, for the evolution loop (checked once at its start)."""
    device = model_device(model)
    out = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, len(images), batch_size):
            logits = model(images[start : start + batch_size].to(device))
            out.append(F.log_softmax(logits.float(), dim=1).cpu())
    return torch.cat(out)




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
        if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
            raise TypeError(f"classes must be a list of class indices, got {type(classes).__name__}")
        classes = list(classes)
        if any(isinstance(c, bool) or not isinstance(c, int) for c in classes):
            raise TypeError(f"classes must be a list of class indices (int), got {classes!r}")
        if not classes:
            raise ValueError("classes must be a non-empty list of class indices, got []")
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes must not repeat, got {classes!r}")
    return _map_elites_generations(model, encoding, classes, batch_size, init_size, generator)


def _map_elites_generations(model, encoding, classes, batch_size, init_size, generator) -> Iterator[Archive]:
    device = model_device(model)
    start = time.perf_counter()

    def score(genomes: Genome) -> tuple[torch.Tensor, torch.Tensor]:
        images = encoding.render(genomes, device)
        return images, _log_probs(model, images)

    genomes = encoding.init(init_size, generator)
    try:  # once, before the loop: images the model cannot take are named here, not deep in torch
        check_model_input(model, encoding.render(genomes, device)[:1], "encoding's images")
    except ValueError as err:
        raise ValueError(f"{err}; give the encoding the model's input shape (C, H, W), not {tuple(encoding.shape)}") from None
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
    first = {key: v[:1].repeat_interleave(k, 0).clone() for key, v in genomes.items()}
    archive = Archive(encoding, tuple(classes), genomes=first, images=images[:1].cpu().repeat_interleave(k, 0).clone(),
                      log_conf=torch.full((k,), -math.inf))
    _update(archive, genomes, images, logp[:, cls])
    archive.evaluations = init_size
    archive.history_rows.append(archive.log_conf.clone())
    archive.seconds = time.perf_counter() - start
    yield archive
    while True:
        # Pick parents uniformly among the cells (the paper's MAP-Elites), mutate, score.
        parents = torch.randint(k, (batch_size,), generator=generator)
        children = encoding.mutate(take(archive.genomes, parents), generator)
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
        >>> enc = encodings.make_encoding("cppn", (1, 28, 28))
        >>> archive = evolution.map_elites(cnn, enc, generations=300, until=0.9999, generator=g)
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
    bar = progress_bar(range(generations), enabled=progress, desc=f"MAP-Elites ({encoding.name})", unit="gen")
    for _ in bar:
        if until is not None and bool((archive.log_conf >= threshold).all()):
            break
        if (time_limit is not None and archive.seconds >= time_limit) or (stop is not None and stop()):
            break
        archive = next(steps)
        conf = archive.confidence
        bar.set_postfix(min=f"{float(conf.min()):.4%}", median=f"{float(conf.median()):.2%}")
    bar.close()
    return archive
