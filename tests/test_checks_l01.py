"""Lesson 01's exercise checks pass the reference solutions and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lessons import attacks, checks, models


def reference_fgsm(model, x, y, eps):
    """The notebook's solution."""
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def _grad(model, x, y):
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(F.cross_entropy(model(x), y), x)[0]


WRONG_FGSM = {
    "perturbation": (lambda m, x, y, e: e * _grad(m, x, y).sign(), "returned the perturbation"),
    "no clamp": (lambda m, x, y, e: x + e * _grad(m, x, y).sign(), "clamp"),
    "descends": (lambda m, x, y, e: (x - e * _grad(m, x, y).sign()).clamp(0, 1), "stepped \\*down\\*"),
    "raw gradient": (lambda m, x, y, e: (x + e * _grad(m, x, y)).clamp(0, 1), "sign"),
    "too far": (lambda m, x, y, e: (x + 2 * e * _grad(m, x, y).sign()).clamp(0, 1), "at most eps"),
    "not written": (lambda m, x, y, e: (_ for _ in ()).throw(NotImplementedError()), "not written yet"),
    "returns None": (lambda m, x, y, e: None, "still empty"),
    "graph": (lambda m, x, y, e: (x.clone().requires_grad_(True) + e * _grad(m, x, y).sign()).clamp(0, 1), "detach"),
}


def in_place(model, x, y, eps):
    x += eps * _grad(model, x, y).sign()
    return x.clamp_(0, 1)


def test_fgsm_check_passes_the_solution_and_the_library(capsys):
    checks.check_fgsm(reference_fgsm)
    checks.check_fgsm(reference_fgsm, n=64, eps=0.2, seed=1)  # the hidden test
    checks.check_fgsm(attacks.fgsm)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("mistake", WRONG_FGSM)
def test_fgsm_check_explains_the_mistake(mistake):
    fn, message = WRONG_FGSM[mistake]
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_fgsm(fn)


def test_fgsm_check_catches_in_place_changes():
    with pytest.raises(checks.ExerciseError, match="in place"):
        checks.check_fgsm(in_place)


def test_fgsm_case_needs_clipping():
    _, x, _ = checks.l01._l01_case(16, 0)
    assert float(x.min()) == 0 and float(x.max()) == 1  # black and white pixels: clipping shows


def reference_rms(x, x_adv):
    return (x_adv - x).flatten(1).pow(2).mean(1).sqrt()


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda x, a: (a - x).flatten(1).norm(dim=1), "L2 norm"),
        (lambda x, a: (a - x).flatten(1).pow(2).mean(1), "square root"),
        (lambda x, a: (a - x).flatten(1).abs().mean(1), "mean absolute"),
        (lambda x, a: (a - x).flatten(1).abs().amax(1), "L∞"),
        (lambda x, a: (a - x).pow(2).mean().sqrt(), "one number for the whole batch"),
        (lambda x, a: (a - x).flatten(1).pow(2).sum(0).sqrt(), "shape \\(4,\\)"),
    ],
)
def test_rms_check(fn, message, capsys):
    checks.check_rms(reference_rms)
    checks.check_rms(reference_rms, seed=1)
    assert capsys.readouterr().out.count("✓") == 2
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_rms(fn)


@pytest.fixture(scope="module")
def digit(cnn, mnist):
    """A test digit the CNN gets right, and the boundary of FGSM on it."""
    x, y = mnist.x_test[7:8], mnist.y_test[7:8]
    assert int(models.predict(cnn, x).argmax(1)) == int(y)
    eps, _ = attacks.smallest_eps(cnn, x, y, eps_max=1.0, search_steps=12, progress=False)
    return x, y, float(eps[0])


def scan(model, x, y, step=0.005):
    """The notebook's solution: the first ε on a grid that flips the prediction."""
    for i in range(int(1 / step) + 1):
        eps = i * step
        if int(models.predict(model, attacks.fgsm(model, x, y, eps)).argmax(1)) != int(y):
            return eps
    return None


def test_smallest_eps_check_passes_the_solution(cnn, digit, capsys):
    x, y, boundary = digit
    value = scan(cnn, x, y)
    assert abs(value - boundary) <= 0.01
    checks.check_smallest_eps(value, cnn, x, y)
    checks.check_smallest_eps(value, cnn, x, y, reference=True)  # the hidden test
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize(
    "answer, message",
    [
        (None, "still empty"),
        ([0.1, 0.2], "should be a number"),
        (lambda b: b * 255, "pixel units"),
        (lambda b: max(b - 0.03, 0.0), "does not change the prediction yet"),
        (lambda b: b + 0.05, "not the smallest"),
    ],
)
def test_smallest_eps_check_explains_the_mistake(cnn, digit, answer, message):
    x, y, boundary = digit
    value = answer(boundary) if callable(answer) else answer
    if isinstance(value, float) and value > 1:
        assert value <= 255  # the case must be a grey-level answer
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_smallest_eps(value, cnn, x, y)
