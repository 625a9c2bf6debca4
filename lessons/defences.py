"""Defences that look robust and are not: gradient masking, built on purpose, and how to see through it.

Introduced in lesson 07. Athalye, Carlini & Wagner (ICML 2018, *Obfuscated Gradients Give a
False Sense of Security*) found that 7 of 9 defences accepted at ICLR 2018 relied on
*obfuscated gradients*: PGD failed on them not because no adversarial example existed but
because the gradient it follows was broken. Carlini et al. 2019 ("Approximate
non-differentiable layers") name the two commonest causes, rebuilt small here:

- **a non-differentiable layer** — ``Quantize``: every pixel is rounded to one of a few grey levels
  before the network sees it (bit-depth reduction, Xu et al. 2018; Guo et al. 2018; thermometer
  encoding, Buckman et al. 2018, is the same idea one-hot). Rounding has gradient 0 almost
  everywhere, so PGD does not move. **BPDA** (Backward Pass Differentiable Approximation,
  Athalye et al.) breaks it: round on the forward pass, pretend it was the identity on the
  backward pass (``bpda``).
- **a gradient that vanishes** — ``LogitScale``: the same network with its logits multiplied by a
  large number (a softmax temperature far below 1 does the same). The prediction does not
  change; cross-entropy's gradient becomes exactly 0 in float32. A loss that ignores the scale
  (DLR, ``attacks.losses``) breaks it.

Each defence is an ``nn.Module`` with everything inside (quantiser, normalisation, scale), so
every attack of ``lessons.attacks`` runs on it unchanged. ``mystery()`` is the lesson's
capstone: a defended model whose true robustness the learner measures; its reference number
(``mystery_reference``) is computed once with the strongest evaluation here and cached.
"""

from __future__ import annotations

import copy
import functools
from collections import OrderedDict
from collections.abc import Callable, Mapping

import torch
from torch import nn

from . import attacks, cache, recipes
from .audit import weights_id
from .data import load_mnist
from .evaluation import Attack, check_attacks, ensemble, robust_mask, worst_case
from .models import lenet, train
from .utils import check_bool, check_in_range, check_model, check_positive_int, forked_rng, get_device, model_device

__all__ = ["Quantize", "LogitScale", "bpda", "with_bpda", "quantised", "scaled", "mystery", "mystery_reference",
           "MYSTERY_DIGITS", "CACHED_MODELS"]

MYSTERY_DIGITS = 100  # the first test digits the capstone is graded on


class Quantize(nn.Module):
    """Round every pixel to the nearest of ``levels`` grey levels 0, 1/(L−1), ..., 1.

    With ``straight_through`` the forward pass is the same but the backward pass treats the
    rounding as the identity (BPDA's surrogate, Athalye et al. 2018).
    """

    def __init__(self, levels: int = 8, straight_through: bool = False):
        super().__init__()
        self.levels = check_positive_int("levels", levels)
        if self.levels < 2:
            raise ValueError(f"levels must be at least 2 (black and white), got {levels}")
        self.straight_through = bool(straight_through)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.round(x * (self.levels - 1)) / (self.levels - 1)  # gradient 0 almost everywhere
        return x + (q - x).detach() if self.straight_through else q

    def extra_repr(self) -> str:
        return f"levels={self.levels}, straight_through={self.straight_through}"


class LogitScale(nn.Module):
    """``model``'s logits times ``scale``: the same predictions, a saturated softmax."""

    def __init__(self, model: nn.Module, scale: float = 1000.0):
        super().__init__()
        self.model = check_model(model)
        self.scale = check_in_range("scale", scale, 1e-6, 1e12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def bpda(model: nn.Module) -> nn.Module:
    """A differentiable surrogate of ``model`` for attacks: every ``Quantize`` becomes straight-through.

    The surrogate computes exactly the same outputs (so an attack's success on it is success on
    the defence) but its gradient passes through the rounding as if it were the identity —
    Athalye et al.'s BPDA with g(x) = x. The defence itself is not changed (a copy is returned).
    """
    surrogate = copy.deepcopy(check_model(model)).eval()
    for module in surrogate.modules():
        if isinstance(module, Quantize):
            module.straight_through = True
    return surrogate


def with_bpda(attacks: Mapping[str, Attack], *, names: tuple[str, ...] | None = None) -> dict[str, Attack]:
    """The same bound attacks, each run on ``bpda(model)`` instead of the model (lesson 07).

    Args:
        attacks: ``{name: attack(model, x, y)}``, e.g. ``evaluation.ensemble(0.3)``.
        names: which to wrap (default: all); the others are kept as they are. Square needs no
            gradient, so wrapping it changes nothing.

    Returns:
        ``{name + "+bpda": wrapped attack}`` in the same order (unwrapped ones keep their name).
    """
    check_attacks(attacks)
    if names is not None:
        if isinstance(names, str) or not isinstance(names, (tuple, list)):
            raise TypeError(f"names must be a tuple of attack names (or None for all), got {names!r}")
        unknown = [n for n in names if n not in attacks]
        if unknown:
            raise ValueError(f"names must name attacks of the ensemble {list(attacks)}, got unknown {unknown}")
    out = {}
    for name, attack in attacks.items():
        if names is None or name in names:
            out[f"{name}+bpda"] = functools.partial(_on_surrogate, attack)
        else:
            out[name] = attack
    return out


def _on_surrogate(attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return attack(bpda(model), x, y)


# --------------------------------------------------------------------------- the cached defences

def _check_loader(device: object, progress: object) -> None:
    # A loader may train a model for minutes: a bad argument is reported before that starts.
    if device is not None:
        get_device(device)
    check_bool("progress", progress)


_QUANTISED = {"levels": 8, "epochs": 10, "lr": 1e-3, "noise": 0.3, "seed": 0}


def _fit_quantised(model: nn.Module, *, progress: bool) -> dict:
    # Trained on noisy digits (uniform ±noise, then rounded): random noise of the size of ε
    # stops fooling it, so that PGD's random start alone no longer breaks anything either.
    mnist = load_mnist()
    g = torch.Generator().manual_seed(_QUANTISED["seed"])
    noise = (torch.rand(mnist.x_train.shape, generator=g) * 2 - 1) * _QUANTISED["noise"]
    x = torch.cat([mnist.x_train, (mnist.x_train + noise).clamp(0, 1)])
    y = torch.cat([mnist.y_train, mnist.y_train])
    history = train(model, (x, y), epochs=_QUANTISED["epochs"], lr=_QUANTISED["lr"], seed=_QUANTISED["seed"],
                    progress=progress, desc="training the quantised CNN")
    return {"train_accuracy": history["accuracy"][-1]}


def quantised(*, device: torch.device | str | None = None, progress: bool = True) -> nn.Sequential:
    """A CNN behind an 8-level quantiser, trained on quantised noisy digits: looks robust to PGD, is not.

    Trained on first use (about 15 s on a laptop CPU) and cached. The quantiser is the first
    layer (``model.quantize``), so ``bpda(model)`` can replace its gradient.
    """
    _check_loader(device, progress)
    def build() -> nn.Sequential:
        return nn.Sequential(OrderedDict(quantize=Quantize(_QUANTISED["levels"]), net=lenet()))

    return cache.cached("l07-quantised", build, lambda m: _fit_quantised(m, progress=progress), recipe=_QUANTISED,
                        device=device, progress=progress)


def scaled(*, scale: float = 1000.0, device: torch.device | str | None = None, progress: bool = True) -> LogitScale:
    """Lesson 05's standard CNN with its logits times ``scale``: looks robust to PGD-CE, is not.

    Nothing is trained: the weights are those of ``recipes.robust_model("standard")``.
    """
    scale = check_in_range("scale", scale, 1e-6, 1e12)  # before the model is loaded (or trained)
    _check_loader(device, progress)
    return LogitScale(recipes.robust_model("standard", device=device, progress=progress), scale).eval()


_MYSTERY = {"base": "pool", "levels": 16, "scale": 50.0}


def mystery(*, device: torch.device | str | None = None, progress: bool = True) -> nn.Sequential:
    """The capstone's defended model: how robust is it really at ε = 0.3? (lesson 07)

    It is built from parts of this lesson and lesson 05 (print it to see them). Measure it with
    every tool of the lesson before believing any number.
    """
    _check_loader(device, progress)
    base = recipes.robust_model(_MYSTERY["base"], device=device, progress=progress)
    model = nn.Sequential(OrderedDict(quantize=Quantize(_MYSTERY["levels"]), net=LogitScale(base, _MYSTERY["scale"])))
    model.cache_info = dict(base.cache_info)
    return model.to(model_device(base)).eval()


def _reference_attacks(eps: float) -> dict[str, Attack]:
    # The strongest evaluation of the lesson: the standard ensemble on the BPDA surrogate
    # (APGD's losses see through the scale, BPDA through the quantiser), then Square on the model.
    return with_bpda(ensemble(eps, queries=5000), names=("apgd-ce", "apgd-dlr", "apgd-t"))


def mystery_reference(*, eps: float = 0.3, progress: bool = True) -> dict:
    """The mystery model's robust accuracy on the first ``MYSTERY_DIGITS`` test digits, computed once.

    The evaluation is the standard ensemble (APGD-CE, APGD-DLR, APGD-T on ``bpda(model)``, then
    Square with 5,000 queries on the model itself); the result is cached (``cache.save``) under a
    version that digests the measured weights (``audit.weights_id``), so a retrained lesson-05
    model is measured again. A few minutes on a laptop CPU the first time (``make warm`` does it).

    Returns:
        ``{"robust_accuracy", "mask" (list of bool), "first" (per digit, the breaking attack or
        None), "clean_accuracy", "square_alone" (accuracy after the Square Attack alone, 1,000
        queries), "eps", "n"}``.
    """
    eps = check_in_range("eps", eps, 0.0, 1.0)
    check_bool("progress", progress)
    model = mystery(device="cpu", progress=progress)
    version = cache.fingerprint({"model": weights_id(model), "mystery": _MYSTERY, "eps": eps, "n": MYSTERY_DIGITS,
                                 "attacks": "ensemble(5000)+bpda, square(1000)"})
    found = cache.load("results", "l07-mystery", version)
    if found is not None:
        return found[0]
    mnist = load_mnist()
    x, y = mnist.x_test[:MYSTERY_DIGITS], mnist.y_test[:MYSTERY_DIGITS]
    with forked_rng():
        result = worst_case(model, x, y, _reference_attacks(eps), progress=progress)
        square = functools.partial(attacks.square, eps=eps, queries=1000, generator=torch.Generator().manual_seed(0))
        square_alone = float(robust_mask(model, x, y, square).float().mean())
    blob = {"robust_accuracy": result.robust_accuracy, "mask": result.mask.tolist(), "first": list(result.first),
            "clean_accuracy": float(result.clean.float().mean()), "square_alone": square_alone, "eps": eps,
            "n": MYSTERY_DIGITS}
    cache.save("results", "l07-mystery", version, blob)
    return blob


def _mystery_with_reference() -> nn.Module:
    mystery_reference(progress=False)  # make warm measures it once, so the capstone's check is instant
    return mystery(progress=False)


CACHED_MODELS: dict[str, Callable[[], nn.Module]] = {
    "quantised": lambda: quantised(progress=False),
    "mystery": _mystery_with_reference,
}
