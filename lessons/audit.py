"""Lesson 05's models measured again: PGD-40, PGD-40 × 5 restarts and the attack ensemble, per digit.

Introduced in lesson 07. Lesson 05 measured its five adversarially trained CNNs with PGD, the
attack family most of them trained against. ``lesson05(name)`` measures one of them on the
first ``N_DIGITS`` test digits three ways — PGD-40 (Madry et al.'s evaluation), PGD-40 with
five random starts, and ``evaluation.worst_case`` over ``evaluation.ensemble(0.3, **ENSEMBLE)``
(APGD-CE, APGD-DLR, APGD-T, Square; smaller budgets than AutoAttack's, see ``ENSEMBLE``) — and
keeps the per-digit results in the cache: the ensemble costs a minute of CPU per robust model,
so ``make warm`` runs it once and the notebook reads it back in milliseconds. ``sanity05(name)``
keeps Carlini et al.'s sanity checks (``checklist.sanity_checks``) of each model the same way.
A result's version is a digest of the measured weights (``weights_id``), so a retrained model
is measured anew.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import attacks, cache, models, recipes
from .checklist import Check, Checklist, sanity_checks
from .data import load_mnist
from .evaluation import WorstCase, ensemble, robust_mask, worst_case
from .utils import check_bool, check_choice, check_model, check_positive_int, forked_rng

__all__ = ["N_DIGITS", "EPS", "ENSEMBLE", "Audit", "lesson05", "weights_id", "CHECKLIST_DIGITS", "CHECKLIST",
           "sanity05", "CACHED_MODELS"]

N_DIGITS = 200  # the first test digits every model is measured on
_TEST_DIGITS = 1000  # load_mnist()'s test set
EPS = 0.3
# evaluation.ensemble with smaller budgets than AutoAttack's (Square 5,000 queries, APGD-T 9 targets), so
# that ``make warm`` measures all five models in a few CPU minutes; benchmarks/evaluation.py runs the full ones.
ENSEMBLE = {"steps": 100, "n_target_classes": 3, "queries": 1000, "seed": 0}
# lesson 07 §5: a few dozen digits are enough to raise an alarm; PGD-20 under test, Square with 500 queries
CHECKLIST_DIGITS = 40
CHECKLIST = {"steps": 20, "queries": 500}


@dataclass(frozen=True)
class Audit:
    """One lesson-05 model measured three ways on the same digits (``lesson05``).

    Attributes:
        name: the recipe (``recipes.RECIPES``).
        n: how many test digits (the first ``n``).
        pgd40: (n,) bool, survived PGD-40 (40 steps of 0.01 from a random start).
        pgd40x5: (n,) bool, survived PGD-40 from five random starts (the first is ``pgd40``'s).
        worst: the ``WorstCase`` over ``evaluation.ensemble(0.3, **ENSEMBLE)``.
        seconds: wall-clock seconds of each measurement when it was made.
        cache_info: ``{"cached": bool, "path": str | None}`` (where the result is kept).
    """

    name: str
    n: int
    pgd40: torch.Tensor
    pgd40x5: torch.Tensor
    worst: WorstCase
    seconds: dict
    cache_info: dict

    def accuracies(self) -> dict[str, float]:
        """Clean, PGD-40, PGD-40 × 5 and ensemble robust accuracy, as shares in [0, 1]."""
        return {"clean": float(self.worst.clean.float().mean()), "PGD-40": float(self.pgd40.float().mean()),
                "PGD-40 × 5": float(self.pgd40x5.float().mean()), "ensemble": self.worst.robust_accuracy}


def weights_id(model: torch.nn.Module) -> str:
    """A digest of ``model``'s weights: a cached result measured on them is reused only for these very weights."""
    digest = hashlib.sha1()
    for key, tensor in sorted(check_model(model).state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _pgd40(generator: torch.Generator) -> Callable:
    return functools.partial(attacks.pgd, eps=EPS, steps=40, alpha=0.01, generator=generator)


def _measure(name: str, n: int, progress: bool) -> dict:
    model = recipes.robust_model(name, device="cpu", progress=progress)
    mnist = load_mnist()
    x, y = mnist.x_test[:n], mnist.y_test[:n]
    seconds = {}
    start = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    pgd40 = robust_mask(model, x, y, _pgd40(g))
    seconds["PGD-40"] = time.perf_counter() - start
    pgd40x5 = robust_mask(model, x, y, _pgd40(g), restarts=4, alive=pgd40)  # four more starts on the survivors
    seconds["PGD-40 × 5"] = time.perf_counter() - start
    worst = worst_case(model, x, y, ensemble(EPS, **ENSEMBLE), progress=progress)
    seconds["ensemble"] = sum(worst.seconds.values())
    return {"pgd40": pgd40.tolist(), "pgd40x5": pgd40x5.tolist(), "clean": worst.clean.tolist(),
            "first": list(worst.first), "attacks": list(worst.attacks), "attack_seconds": worst.seconds,
            "seconds": seconds}


def lesson05(name: str, *, n: int = N_DIGITS, progress: bool = True) -> Audit:
    """Lesson 05's model ``name`` under PGD-40, PGD-40 × 5 and the ensemble (lesson 07).

    Measured on the first ``n`` test digits at ε = 0.3 the first time (about a minute for a
    robust model on a laptop CPU; ``make warm`` does it), then read from the cache.

    Args:
        name: a recipe of ``recipes.RECIPES`` (``"standard"``, ``"fgsm"``, ``"pgd"``, ``"fast_fgsm"``, ``"fast_fgsm_co"``, ``"pool"``).
        n: how many test digits (1 to 1,000).
        progress: show progress bars while measuring.

    Returns:
        An ``Audit``; ``audit.accuracies()`` gives the four numbers of lesson 05's summary table.
    """
    check_choice("name", name, tuple(recipes.RECIPES))  # every argument is checked before a model is loaded
    n = check_positive_int("n", n)
    if n > _TEST_DIGITS:
        raise ValueError(f"n must be at most {_TEST_DIGITS} (the test digits load_mnist() holds), got {n}")
    check_bool("progress", progress)
    model = recipes.robust_model(name, device="cpu", progress=progress)
    version = cache.fingerprint({"model": weights_id(model), "n": n, "eps": EPS, "ensemble": ENSEMBLE,
                                 "pgd": "40x0.01, 4 more"})
    found = cache.load("results", f"l07-audit-{name}", version)
    if found is not None:
        blob, path = found
        info = {"cached": True, "path": str(path)}
    else:
        with forked_rng():
            blob = _measure(name, n, progress)
        path = cache.save("results", f"l07-audit-{name}", version, blob)
        info = {"cached": False, "path": str(path) if path else None}
    worst = WorstCase(tuple(blob["attacks"]), torch.tensor(blob["clean"]), tuple(blob["first"]),
                      dict(blob["attack_seconds"]))
    return Audit(name, n, torch.tensor(blob["pgd40"]), torch.tensor(blob["pgd40x5"]), worst, dict(blob["seconds"]), info)


def sanity05(name: str, *, progress: bool = True) -> Checklist:
    """Carlini et al.'s sanity checks on lesson 05's model ``name`` (``checklist.sanity_checks``), cached.

    Run once on the first ``CHECKLIST_DIGITS`` test digits at ε = 0.3 with ``CHECKLIST``'s settings
    and lesson 00's CNN as the substitute (about 2-6 s a model on a laptop CPU; ``make warm`` does
    it), then read from the cache, keyed by both models' weights.

    Args:
        name: a recipe of ``recipes.RECIPES``.
        progress: show progress bars while measuring.

    Returns:
        The ``checklist.Checklist``; its ``cache_info`` says whether it was read from the cache.
    """
    check_choice("name", name, tuple(recipes.RECIPES))
    check_bool("progress", progress)
    model = recipes.robust_model(name, device="cpu", progress=progress)
    substitute = models.pretrained("cnn", device="cpu", progress=progress)
    version = cache.fingerprint({"model": weights_id(model), "substitute": weights_id(substitute), "eps": EPS,
                                 "n": CHECKLIST_DIGITS, **CHECKLIST})
    found = cache.load("results", f"l07-checklist-{name}", version)
    if found is not None:
        blob, path = found
        info = {"cached": True, "path": str(path)}
    else:
        mnist = load_mnist()
        x, y = mnist.x_test[:CHECKLIST_DIGITS], mnist.y_test[:CHECKLIST_DIGITS]
        with forked_rng():
            report = sanity_checks(model, x, y, EPS, substitute=substitute, progress=progress, **CHECKLIST)
        blob = {"accuracy": report.accuracy, "checks": [{"name": c.name, "passed": c.passed, "measured": c.measured,
                                                          "values": dict(c.values)} for c in report.checks]}
        path = cache.save("results", f"l07-checklist-{name}", version, blob)
        info = {"cached": False, "path": str(path) if path else None}
    return Checklist(tuple(Check(**c) for c in blob["checks"]), blob["accuracy"], info)


CACHED_MODELS: dict[str, Callable[[], object]] = {
    **{f"ensemble on '{name}'": (lambda name=name: lesson05(name, progress=False)) for name in recipes.RECIPES},
    **{f"checklist on '{name}'": (lambda name=name: sanity05(name, progress=False)) for name in recipes.RECIPES},
}
