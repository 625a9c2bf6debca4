"""Carlini et al.'s sanity checks, automated: is this robustness number believable?

Introduced in lesson 07. Carlini, Athalye, Papernot, Brendel, Rauber, Tsipras, Goodfellow,
Madry & Kurakin, *On Evaluating Adversarial Robustness* (arXiv 1902.06705, 2019), is a
checklist of mistakes that made published defences look robust. Six of its checks need
nothing but the model and a few digits, so ``sanity_checks`` runs them on any model and says
which pass. Each one compares the *attack under test* (by default PGD, as lesson 05 measured)
with something that must not beat it; when something does, the number is not to be trusted:

1. "Verify iterative attacks perform better than single-step attacks" — FGSM must not leave
   fewer digits standing than the iterative attack;
2. "With 'high' distortion, model accuracy should reach levels of random guessing" — at
   ε = 0.5 any digit can be turned grey: accuracy must fall to chance (10%);
3. "Perform an unbounded attack ... any attack should eventually reach 100% success" — at
   ε = 1 every digit must fall;
4. "Ensure doubling attack iterations does not increase attack success rate" (with restarts,
   "Start search from random offsets") — twice the steps and two more random starts must not
   find much more;
5. "Verify white-box attacks perform better than black-box attacks" — the Square Attack,
   which never sees a gradient, must not break digits the white-box attack could not;
6. "Perform a transferability analysis" — adversarial digits made on a substitute model must
   not break digits the white-box attack could not.

A failed check does not say what is wrong, only where to look — usually at a gradient that
is masked (lesson 07 §4).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from . import attacks
from .evaluation import Attack, correct, robust_mask
from .utils import check_bool, check_generator, check_in_range, check_labels, check_model_input, check_positive_int
from .utils import progress as progress_bar

__all__ = ["CHECKS", "Check", "Checklist", "pgd_under_test", "sanity_checks"]

CHECKS = {
    "single-step": "iterative attacks beat single-step ones",
    "large-eps": "accuracy falls to chance at a large ε (0.5)",
    "unbounded": "an unbounded attack (ε = 1) reaches 100% success",
    "more-effort": "twice the steps and more restarts find no more",
    "black-box": "black-box never beats white-box",
    "transfer": "transfer from a substitute never beats white-box",
}


@dataclass(frozen=True)
class Check:
    """One sanity check: its name (a key of ``CHECKS``), whether it passed, and what was measured."""

    name: str
    passed: bool
    measured: str
    values: dict = field(default_factory=dict)

    @property
    def item(self) -> str:
        """The checklist item in words."""
        return CHECKS[self.name]


@dataclass(frozen=True)
class Checklist:
    """What ``sanity_checks`` found: one ``Check`` per item, in ``CHECKS`` order."""

    checks: tuple[Check, ...]
    accuracy: float  # robust accuracy under the attack under test
    cache_info: dict = field(default_factory=dict, compare=False)  # where a cached report was read (audit.sanity05)

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        """Names of the checks that raised an alarm."""
        return [c.name for c in self.checks if not c.passed]

    def __getitem__(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; the checks are {list(CHECKS)}")

    def report(self) -> str:
        """One line per check: ✓ or ✗, the item, what was measured."""
        return "\n".join(f"{'✓' if c.passed else '✗'} {c.item:<50} {c.measured}" for c in self.checks)

    def __str__(self) -> str:
        return self.report()


def pgd_under_test(eps: float, steps: int = 40, *, generator: torch.Generator | None = None) -> Attack:
    """The default attack under test: L∞ PGD, ``steps`` steps of 2.5·ε/steps from a random start (lesson 05)."""
    eps = check_in_range("eps", eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    check_generator(generator)
    return functools.partial(attacks.pgd, eps=eps, steps=steps, alpha=2.5 * eps / steps, generator=generator)


def sanity_checks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    substitute: nn.Module,
    attack: Callable[[float, int], Attack] | None = None,
    steps: int = 40,
    queries: int = 1000,
    tol: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> Checklist:
    """Run Carlini et al.'s six sanity checks on ``model`` at budget ``eps`` (L∞) and say which pass.

    Args:
        model: the classifier (defence) under evaluation; left as it was.
        x: images (N, C, H, W) in [0, 1] — a few dozen are enough to raise an alarm.
        y: labels (N,) int64.
        eps: the L∞ budget the robustness is claimed at (e.g. 0.3).
        substitute: a model the attacker trains on their own (any other classifier of the same
            digits), for the transfer check.
        attack: the attack under test as a factory ``attack(eps, steps) -> bound attack``;
            default ``pgd_under_test`` (PGD, step 2.5·ε/steps, random start).
        steps: its steps (the "more effort" check doubles them).
        queries: the Square Attack's queries per digit for the black-box check.
        tol: the share of the N digits a competing measurement may break beyond the attack under
            test (or leave standing, for the ε checks) before the check fails; with a few dozen
            digits, a digit or two is noise.
        seed: seeds every random start, so the report is reproducible.
        progress: show a progress bar over the checks.

    Returns:
        A ``Checklist``: ``.passed``, ``.failed``, ``.report()``, ``checklist["black-box"]`` ...
    """
    num_classes = check_model_input(model, x)
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes)
    check_model_input(substitute, x, model_name="substitute")  # the transfer check runs it on x
    eps = check_in_range("eps", eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    queries = check_positive_int("queries", queries)
    tol = check_in_range("tol", tol, 0.0, 1.0)
    g = torch.Generator().manual_seed(check_positive_int("seed", seed, allow_zero=True))
    check_bool("progress", progress)

    def gen() -> torch.Generator:  # a fresh, seeded generator for each attack
        return torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))

    make = attack if attack is not None else (lambda e, k: pgd_under_test(e, k, generator=gen()))
    if not callable(make):
        raise TypeError(f"attack must be a factory attack(eps, steps) -> bound attack, got {type(make).__name__}")

    n = len(x)

    def share(mask: torch.Tensor) -> float:
        return float(mask.float().mean())

    bar = progress_bar(total=len(CHECKS) + 1, enabled=progress, desc="sanity checks", unit="check")
    clean = correct(model, x, y)
    base = robust_mask(model, x, y, make(eps, steps))
    acc = share(base)
    bar.update()
    checks = []

    single = robust_mask(model, x, y, functools.partial(attacks.fgsm, eps=eps))
    checks.append(Check("single-step", share(base) <= share(single) + tol,
                        f"iterative {share(base):.0%} vs FGSM {share(single):.0%}",
                        {"iterative": share(base), "fgsm": share(single)}))
    bar.update()
    chance = 1.0 / num_classes
    large = share(robust_mask(model, x, y, make(0.5, steps)))
    checks.append(Check("large-eps", large <= chance + tol, f"ε = 0.5: {large:.0%} (chance {chance:.0%})",
                        {"accuracy": large, "chance": chance}))
    bar.update()
    unbounded = share(robust_mask(model, x, y, make(1.0, steps)))
    checks.append(Check("unbounded", unbounded <= tol, f"ε = 1: {unbounded:.0%} still right",
                        {"accuracy": unbounded}))
    bar.update()
    more = robust_mask(model, x, y, make(eps, 2 * steps), restarts=2, alive=base)
    checks.append(Check("more-effort", share(base) - share(more) <= tol,
                        f"{share(base):.0%} → {share(more):.0%} with 2× steps, 2 restarts",
                        {"accuracy": share(base), "more": share(more)}))
    bar.update()
    square = functools.partial(attacks.square, eps=eps, queries=queries, generator=gen())
    black = robust_mask(model, x, y, square, alive=base)
    checks.append(Check("black-box", share(base) - share(black) <= tol,
                        f"Square ({queries} queries) breaks {int((base & ~black).sum())} of the {int(base.sum())} "
                        "the white-box attack left",
                        {"white_box": share(base), "after_square": share(black)}))
    bar.update()
    crafted = make(eps, steps)(substitute, x, y)
    transferred = correct(model, crafted, y)
    extra = base & ~transferred
    checks.append(Check("transfer", float(extra.float().sum()) / n <= tol,
                        f"transfer breaks {int(extra.sum())} of the {int(base.sum())} the white-box attack left",
                        {"white_box": share(base), "transfer_only": float(extra.float().sum()) / n,
                         "transfer_accuracy": share(clean & transferred)}))
    bar.update()
    bar.close()
    return Checklist(tuple(checks), acc)
