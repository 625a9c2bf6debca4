"""How ε and the learning rate change along adversarial training: pure functions of progress (lesson 05).

``training.adversarial_train`` asks these at every optimiser step: ``ramp`` for the ε to train
with, ``learning_rate`` for Adam's rate.
"""

from __future__ import annotations

import math

from .utils import check_choice, check_in_range, check_positive_int

__all__ = ["SCHEDULES", "ramp", "learning_rate"]

SCHEDULES = ("anneal", "cyclic")


def ramp(epoch: float, eps: float, ramp_epochs: float) -> float:
    """ε at a (fractional) epoch: linear from 0 to ``eps`` over ``ramp_epochs``, then ``eps`` (lesson 05).

    Madry et al.'s MNIST model trains at ε = 0.3 from the start, with 60,000 digits and a
    larger network; on our 4,000 digits a fixed ε = 0.3 can leave a CNN stuck at chance
    (the attack wins every batch before the network has learnt any digit). Growing ε lets
    it learn the digits first.

    Args:
        epoch: training progress in epochs, ≥ 0 (1.5 = half-way through the second epoch).
        eps: the final L∞ budget, in [0, 1].
        ramp_epochs: epochs over which ε grows; 0 means ``eps`` from the start.

    Returns:
        The ε to train with now, in [0, eps].
    """
    epoch = check_in_range("epoch", epoch, 0.0, math.inf)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    ramp_epochs = check_in_range("ramp_epochs", ramp_epochs, 0.0, math.inf)
    if ramp_epochs == 0:
        return eps
    return eps * min(1.0, epoch / ramp_epochs)


def learning_rate(step: int, total_steps: int, lr: float, *, schedule: str = "anneal", anneal: float = 0.0,
                  peak: float = 0.4) -> float:
    """The learning rate at optimiser step ``step`` of ``total_steps`` (lesson 05).

    - ``"anneal"``: ``lr`` until the last ``anneal`` share of the steps, then linearly down
      to 0 (a short final descent helps robust accuracy noticeably when there is little time);
    - ``"cyclic"``: one triangle, 0 → ``lr`` at the ``peak`` share of training → 0 at the end
      (Wong, Rice & Kolter 2020's cyclic schedule, which fast FGSM training relies on).

    Args:
        step: optimiser steps taken so far, in [0, total_steps].
        total_steps: steps in the whole run (≥ 1).
        lr: the largest learning rate.
        schedule: ``"anneal"`` or ``"cyclic"``.
        anneal: for ``"anneal"``, the final share of steps that decays, in [0, 1].
        peak: for ``"cyclic"``, where the rate peaks, as a share of training in (0, 1).

    Returns:
        The learning rate, in [0, lr].
    """
    total_steps = check_positive_int("total_steps", total_steps)
    step = check_positive_int("step", step, allow_zero=True)
    lr = check_in_range("lr", lr, 0.0, 10.0)
    check_choice("schedule", schedule, SCHEDULES)
    peak = check_in_range("peak", peak, 1e-6, 1 - 1e-6)
    anneal = check_in_range("anneal", anneal, 0.0, 1.0)
    if schedule == "cyclic":
        at = step / total_steps
        return lr * (at / peak if at < peak else max(0.0, (1 - at) / (1 - peak)))
    decay_from = total_steps * (1 - anneal)
    return lr if step < decay_from else lr * (total_steps - step) / max(1.0, total_steps - decay_from)
