"""Lesson 07's entries of the bad-input table (``tests/bad_inputs.py`` adds them to its ``CASES``).

APGD, the Square Attack and the losses they climb; the ensemble and the worst case over it; the
audit of lesson 05's models, Carlini et al.'s checklist, the masked defences and the figures.
Cached loaders that would train or measure models are not run (``run_good=False``); their
arguments are checked before any work starts, so every spoiled call returns at once.
"""

from __future__ import annotations

import torch
from fuzz_kit import A, Case, M, X, Y, _pgd_fast


def _g():
    return torch.Generator().manual_seed(0)


def _logits():
    return torch.randn(4, 10, generator=torch.Generator().manual_seed(3))


def _path():
    from lessons import attacks

    return attacks.apgd_path(M(), X(), Y(), 0.1, steps=2, generator=_g())


def _report():
    from lessons import checklist

    return checklist.Checklist((checklist.Check("single-step", True, "measured"),), 0.5)


_LOSS = {"logits": "logits"}
_TARGETED_LOSS = {"logits": "logits", "target": "targets"}

CASES = [
    # attacks
    Case("attacks.apgd.checkpoints", lambda: dict(steps=10)),
    Case("attacks.apgd.apgd_path", lambda: A(eps=0.1, target=(Y() + 1) % 10, steps=2, step_size=0.01, generator=_g()),
         {"loss": "choice", "target": "targets", "step_size": "positive", "rho": "unit", "norm": "choice"}),
    Case("attacks.apgd.apgd", lambda: A(eps=0.1, steps=2, n_target_classes=2, generator=_g()),
         {"loss": "choice", "targeted": "flag", "n_target_classes": "count", "rho": "unit"}),
    Case("attacks.square.square_share", lambda: dict(iteration=10, queries=100), {"iteration": "count0",
                                                                                 "queries": "count", "p_init": "unit"}),
    Case("attacks.square.square_attack", lambda: A(eps=0.1, queries=3, generator=_g()),
         {"queries": "count", "p_init": "unit", "resample": "flag"}),
    Case("attacks.square.square", lambda: A(eps=0.1, queries=3, generator=_g()), {"queries": "count", "p_init": "unit"}),
    Case("attacks.losses.cross_entropy", lambda: dict(logits=_logits(), y=Y()), _LOSS),
    Case("attacks.losses.margin_loss", lambda: dict(logits=_logits(), y=Y()), _LOSS),
    Case("attacks.losses.dlr", lambda: dict(logits=_logits(), y=Y()), _LOSS),
    Case("attacks.losses.targeted_cross_entropy", lambda: dict(logits=_logits(), y=Y(), target=(Y() + 1) % 10),
         _TARGETED_LOSS),
    Case("attacks.losses.targeted_margin", lambda: dict(logits=_logits(), y=Y(), target=(Y() + 1) % 10), _TARGETED_LOSS),
    Case("attacks.losses.targeted_dlr", lambda: dict(logits=_logits(), y=Y(), target=(Y() + 1) % 10), _TARGETED_LOSS),
    Case("attacks.losses.loss_fn", lambda: dict(name="dlr", targeted=True), {"name": "choice", "targeted": "flag"}),
    # evaluation, audit, checklist
    Case("evaluation.ensemble", lambda: dict(eps=0.1, queries=10, steps=2, n_target_classes=2),
         {"queries": "count", "n_target_classes": "count"}),
    Case("evaluation.worst_case", lambda: A(attacks={"pgd": _pgd_fast(), "fgsm": _pgd_fast()}, progress=False),
         {"attacks": "attack_dict"}),
    Case("audit.weights_id", lambda: dict(model=M())),
    Case("audit.lesson05", lambda: dict(name="pgd", n=10, progress=False), {"name": "choice"}, run_good=False),
    Case("audit.sanity05", lambda: dict(name="standard", progress=False), {"name": "choice"}, run_good=False),
    Case("checklist.pgd_under_test", lambda: dict(eps=0.1, steps=2, generator=_g())),
    Case("checklist.sanity_checks", lambda: A(eps=0.1, substitute=M(), steps=1, queries=2, progress=False),
         {"substitute": "model", "tol": "unit"}),
    # defences
    Case("defences.bpda", lambda: dict(model=M())),
    Case("defences.with_bpda", lambda: dict(attacks={"pgd": _pgd_fast(), "fgsm": _pgd_fast()}, names=("pgd",)),
         {"attacks": "attack_dict", "names": "subset"}),
    Case("defences.quantised", lambda: dict(device="cpu", progress=False), run_good=False),
    Case("defences.scaled", lambda: dict(scale=10.0, device="cpu", progress=False), {"scale": "positive"}, run_good=False),
    Case("defences.mystery", lambda: dict(device="cpu", progress=False), run_good=False),
    Case("defences.mystery_reference", lambda: dict(eps=0.3, progress=False), run_good=False),
    # figures
    Case("viz.attack_paths", lambda: dict(paths={"apgd": _path()}), {"paths": "paths"}),
    Case("viz.ensemble_curves", lambda: dict(cumulative={"m": {"clean": 0.9, "apgd-ce": 0.5}}, reference={"m": 0.6}),
         {"cumulative": "cumulatives", "reference": "rates"}),
    Case("viz.checklist_table", lambda: dict(reports={"m": _report()}), {"reports": "reports"}),
]
