"""Lesson 06's panel: every kind of model against every kind of attacker."""

from __future__ import annotations

import torch

from .. import classic, viz, widgets
from ..queries import KINDS, attack_with_knowledge
from ..utils import check_images, check_labels

__all__ = ["knowledge"]


def knowledge(targets: dict, substitutes: dict, x: torch.Tensor, y: torch.Tensor, *, eps: float = 0.25,
                    max_queries: int = 300, pgd_steps: int = 20, n_show: int = 6):
    """Lesson 06's widget: model kind × attacker's knowledge → success rate and perturbation.

    Args:
        targets: ``{"linear": model, "tree": model, "cnn": model}``.
        substitutes: the attacker's substitute for each kind (same keys).
        x, y: a small batch (16 digits is ~1 s per update on a CPU) and its labels.
        eps: the starting L∞ budget.
        max_queries: per-image limit of the query attack.
        pgd_steps: PGD steps of the white-box (CNN) and substitute attackers.
        n_show: adversarial digits drawn (the first ones the target got right).

    Returns:
        A ``widgets.Panel`` with controls ``kind``, ``knowledge``, ``eps`` and an "Attack" button.
    """
    missing = [k for k in KINDS if k not in targets or k not in substitutes]
    if missing:
        raise ValueError(f"targets and substitutes need the keys {KINDS}, missing {missing}")
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    names = {"linear": "softmax regression", "tree": "decision tree", "cnn": "CNN"}

    def render(kind: str, knowledge: str, eps: float):
        model = targets[kind]
        budget = getattr(substitutes[kind], "cache_info", {}).get("budget", "?")
        right = classic.predict_labels(model, x).cpu() == y.cpu()
        res = attack_with_knowledge(kind, knowledge, model, x, y, eps, substitute=substitutes[kind],
                                    max_queries=max_queries, pgd_steps=pgd_steps,
                                    generator=torch.Generator().manual_seed(0))
        pred = classic.predict_labels(model, res.x_adv).cpu()
        delta = (res.x_adv - x).flatten(1).cpu()
        rate = float(res.success[right].float().mean()) if right.any() else float("nan")
        changed = (delta != 0).sum(1)[right].float()
        shown = right.nonzero().flatten()[:n_show]
        if len(shown):
            fig = viz.attacked_digits(x[shown], res.x_adv[shown], y[shown], pred[shown], res.success[shown])
        else:
            fig = viz.message_figure(f"the {names[kind]} gets none of these digits right: nothing to attack")
        cost = {"white-box": "no queries (has the model)",
                "substitute": f"1 query per image + the substitute's {budget:,} training labels"
                              if isinstance(budget, int) else "1 query per image + the substitute's training labels",
                "queries": f"median {float(res.queries[right].float().median()):.0f} queries per image"}[knowledge]
        text = (f"{names[kind]}, {knowledge} attacker, ε = {eps:.2f}: <b>{100 * rate:.0f}%</b> of the "
                f"{int(right.sum())} digits it got right are now wrong · median |Δ|∞ = "
                f"{255 * float(delta.abs().max(1).values[right].median()):.0f}/255 · median pixels changed "
                f"{float(changed.median()):.0f} of {delta.shape[1]} · {cost}")
        return fig, text

    controls = {
        "kind": widgets.dropdown("model", [(f"{names[k]} ({k})", k) for k in KINDS], "cnn"),
        "knowledge": widgets.dropdown("attacker knows", [("the weights (white-box)", "white-box"),
                                                         ("a substitute (label queries)", "substitute"),
                                                         ("only scores (queries)", "queries")], "white-box"),
        "eps": widgets.slider("ε", eps, 0.0, 0.4, 0.01, unit="L∞", readout_format=".2f"),
    }
    return widgets.Panel("Every model, every attacker", controls, render, auto=False, run_button="Attack")
