"""Lesson 06's exercise checks: the reference solutions pass, typical mistakes get their feedback."""

import pytest
import torch

from lessons import checks
from lessons.checks import ExerciseError

# ---- exercise 1: the closed-form attack on binary logistic regression

def reference_linear_attack(w, b, x, y, eps):
    direction = torch.where(y.view(-1, 1, 1, 1) == 1, -1.0, 1.0) * w.sign().view_as(x[0])
    return (x + eps * direction).clamp(0, 1)


def test_linear_attack_reference_passes(capsys):
    checks.check_linear_attack(reference_linear_attack)
    checks.check_linear_attack(reference_linear_attack, n=100, seed=3, eps=0.1)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda w, b, x, y, eps: reference_linear_attack(w, b, x, y, eps) - x, "perturbation"),
    (lambda w, b, x, y, eps: reference_linear_attack(w, b, x, 1 - y, eps), "sign is backwards"),
    (lambda w, b, x, y, eps: x + eps * torch.where(y.view(-1, 1, 1, 1) == 1, -1.0, 1.0) * w.sign().view_as(x[0]),
     "clamp"),
    (lambda w, b, x, y, eps: (x - 2 * eps * w.sign().view_as(x[0])).clamp(0, 1), "more than ε"),
    (lambda w, b, x, y, eps: (x - eps * w.sign().view_as(x[0])).clamp(0, 1), "differs from the closed form"),
    (lambda w, b, x, y, eps: reference_linear_attack(w, b, x, y, eps)[0], "shape"),
])
def test_linear_attack_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_linear_attack(wrong)


def test_linear_attack_not_written_yet():
    def empty(w, b, x, y, eps):
        raise NotImplementedError()

    with pytest.raises(ExerciseError, match="not written yet"):
        checks.check_linear_attack(empty)


# ---- exercise 2: one SimBA step

def reference_simba_step(oracle, x, y, x_adv, p, mask, eps):
    for sign in (1.0, -1.0):
        cand = torch.where(mask, x + sign * eps, x_adv).clamp(0, 1)
        p_cand = oracle(cand)[0, y]
        if p_cand < p:
            return cand, float(p_cand)
    return x_adv, p


def test_simba_step_reference_passes(capsys):
    checks.check_simba_step(reference_simba_step)
    checks.check_simba_step(reference_simba_step, seed=5, eps=0.3)
    assert "✓" in capsys.readouterr().out


def test_simba_case_exercises_every_branch():
    # the fixed case must need +ε, −ε and "keep nothing" at least once, or the check proves little
    model, QueryModel, x, y, masks = checks.l06._l06_simba_case(0)
    api = QueryModel(model, output="probs")
    p, x_adv, outcomes = float(api(x)[0, y]), x.clone(), []
    for mask in masks:
        outcome = "none"
        for sign in (1.0, -1.0):
            cand = torch.where(mask, x + sign * 0.2, x_adv).clamp(0, 1)
            p_cand = float(api(cand)[0, y])
            if p_cand < p:
                x_adv, p, outcome = cand, p_cand, sign
                break
        outcomes.append(outcome)
    assert {1.0, -1.0, "none"} <= set(outcomes), outcomes


def _accumulates(oracle, x, y, x_adv, p, mask, eps):
    for sign in (1.0, -1.0):
        cand = torch.where(mask, x_adv + sign * eps, x_adv).clamp(0, 1)
        p_cand = oracle(cand)[0, y]
        if p_cand < p:
            return cand, float(p_cand)
    return x_adv, p


def _always_keeps(oracle, x, y, x_adv, p, mask, eps):
    cand = torch.where(mask, x + eps, x_adv).clamp(0, 1)
    return cand, float(oracle(cand)[0, y])


def _no_clamp(oracle, x, y, x_adv, p, mask, eps):
    for sign in (1.0, -1.0):
        cand = torch.where(mask, x + sign * eps, x_adv)
        p_cand = oracle(cand.clamp(0, 1))[0, y]
        if p_cand < p:
            return cand, float(p_cand)
    return x_adv, p


def _three_queries(oracle, x, y, x_adv, p, mask, eps):
    oracle(x)
    return reference_simba_step(oracle, x, y, x_adv, p, mask, eps)


def _stale_p(oracle, x, y, x_adv, p, mask, eps):
    return reference_simba_step(oracle, x, y, x_adv, p, mask, eps)[0], p


def _minus_first(oracle, x, y, x_adv, p, mask, eps):
    for sign in (-1.0, 1.0):
        cand = torch.where(mask, x + sign * eps, x_adv).clamp(0, 1)
        p_cand = oracle(cand)[0, y]
        if p_cand < p:
            return cand, float(p_cand)
    return x_adv, p


@pytest.mark.parametrize("wrong, message", [
    (_accumulates, "more than ε"),
    (_always_keeps, "does not lower p"),
    (_no_clamp, "clamp"),
    (_three_queries, "two at most"),
    (_stale_p, "return the probability of the image you keep"),
    (_minus_first, "try x \\+ ε on the block first"),
    (lambda oracle, x, y, x_adv, p, mask, eps: x_adv, "should return a pair"),
])
def test_simba_step_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_simba_step(wrong)
