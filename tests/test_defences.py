"""Lesson 07's broken defences: they fool PGD, and the right attack breaks them."""

import functools

import pytest
import torch

from lessons import attacks, defences, evaluation, models


@pytest.fixture(scope="module")
def few(mnist):
    return mnist.x_test[:40].clone(), mnist.y_test[:40].clone()


def test_quantize_rounds_and_its_gradient_is_zero():
    x = torch.tensor([[[[0.0, 0.07, 0.08, 0.5, 0.93, 1.0]]]], requires_grad=True)
    q = defences.Quantize(8)(x)
    torch.testing.assert_close(q.detach(), torch.round(x.detach() * 7) / 7)
    (grad,) = torch.autograd.grad(q.sum(), x)
    assert torch.count_nonzero(grad) == 0
    with pytest.raises(ValueError, match="levels must be at least 2"):
        defences.Quantize(1)
    with pytest.raises(TypeError, match="levels must be an integer"):
        defences.Quantize(2.5)


def test_bpda_same_outputs_identity_gradient(few):
    x, _ = few
    defence = defences.quantised(device="cpu", progress=False)
    surrogate = defences.bpda(defence)
    assert surrogate is not defence and not defence.quantize.straight_through  # the defence is untouched
    torch.testing.assert_close(surrogate(x), defence(x))
    leaf = x[:2].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(surrogate(leaf)[:, 0].sum(), leaf)
    assert torch.count_nonzero(grad) > 0
    leaf = x[:2].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(defence(leaf)[:, 0].sum(), leaf)
    assert torch.count_nonzero(grad) == 0


def test_quantised_defence_fools_pgd_and_bpda_breaks_it(few):
    x, y = few
    defence = defences.quantised(device="cpu", progress=False)
    pgd = functools.partial(attacks.pgd, eps=0.3, steps=10, alpha=0.075, generator=torch.Generator().manual_seed(0))
    clean = models.accuracy(defence, x, y)
    looks = evaluation.robust_accuracy(defence, (x, y), pgd)
    broken = evaluation.robust_accuracy(defence, (x, y), lambda m, xb, yb: pgd(defences.bpda(m), xb, yb))
    assert clean > 0.9 and looks > clean - 0.1 and broken < 0.1


def test_scaled_defence_fools_ce_and_dlr_breaks_it(few):
    x, y = few
    defence = defences.scaled(device="cpu", progress=False)
    standard = defence.model
    torch.testing.assert_close(defence(x), 1000 * standard(x))
    g = torch.Generator().manual_seed(0)
    ce = attacks.apgd(defence, x, y, 0.3, loss="ce", steps=10, generator=g)
    dlr = attacks.apgd(defence, x, y, 0.3, loss="dlr", steps=10, generator=g)
    clean = models.accuracy(defence, x, y)
    assert models.accuracy(defence, ce, y) > clean - 0.15 and models.accuracy(defence, dlr, y) < 0.1


def test_with_bpda_wraps_only_the_named_attacks():
    wrapped = defences.with_bpda(evaluation.ensemble(0.3), names=("apgd-ce", "apgd-t"))
    assert list(wrapped) == ["apgd-ce+bpda", "apgd-dlr", "apgd-t+bpda", "square"]
    assert list(defences.with_bpda({"a": lambda m, x, y: x})) == ["a+bpda"]


def test_mystery_is_defended_and_its_reference_is_cached():
    model = defences.mystery(device="cpu", progress=False)
    assert any(isinstance(m, defences.Quantize) for m in model.modules())
    ref = defences.mystery_reference(progress=False)
    assert set(ref) >= {"robust_accuracy", "mask", "first", "clean_accuracy", "square_alone", "n", "eps"}
    assert len(ref["mask"]) == ref["n"] == defences.MYSTERY_DIGITS
    assert 0 <= ref["robust_accuracy"] <= ref["clean_accuracy"] <= 1 and ref["square_alone"] <= ref["clean_accuracy"]
    assert ref == defences.mystery_reference(progress=False)
