"""Lesson 07's worst case per example: the bookkeeping, on toy attacks whose victims are known."""

import functools

import pytest
import torch

from lessons import attacks, evaluation


def toy(n=20):
    """A linear "model" that says class 0 while pixel (0, 0) is bright, else 1; pixel (0, 1) holds the image's id."""
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[10.0, 0, 0, 0], [-10.0, 0, 0, 0]]))
        model[1].bias.copy_(torch.tensor([-5.0, 5.0]))
    x = torch.zeros(n, 1, 2, 2)
    x[:, 0, 0, 0] = 1.0
    x[:, 0, 0, 1] = torch.arange(n) / n
    y = torch.zeros(n, dtype=torch.long)
    y[[3, 7]] = 1  # misread before any attack
    return model.eval(), x, y


def fooling(ids, seen):
    """An attack that fools the images whose id is in ``ids`` and records which images it was shown."""
    def attack(model, xb, yb):
        got = (xb[:, 0, 0, 1] * 20).round().long()
        seen.extend(got.tolist())
        out = xb.clone()
        out[torch.isin(got, torch.tensor(ids)), 0, 0, 0] = 0.0
        return out
    return attack


def test_worst_case_bookkeeping():
    model, x, y = toy()
    seen_a, seen_b, seen_c = [], [], []
    result = evaluation.worst_case(model, x, y, {"a": fooling([0, 1, 3], seen_a), "b": fooling([1, 2], seen_b),
                                                 "c": fooling([5], seen_c)}, progress=False)
    assert result.attacks == ("a", "b", "c")
    assert result.first[0] == "a" and result.first[1] == "a" and result.first[2] == "b" and result.first[5] == "c"
    assert result.first[3] is None and not result.clean[3]  # misread clean: not robust, broken by nobody
    assert result.broken_by == {"clean": 2, "a": 2, "b": 1, "c": 1}
    assert result.robust_accuracy == pytest.approx(14 / 20)
    assert result.mask.sum() == 14 and not result.mask[[0, 1, 2, 3, 5, 7]].any()
    # each attack only sees the images still standing
    assert 3 not in seen_a and 7 not in seen_a and 0 not in seen_b and 1 not in seen_b and 2 not in seen_c
    assert list(result.cumulative().values()) == pytest.approx([18 / 20, 16 / 20, 15 / 20, 14 / 20])
    frame = result.to_frame()
    assert list(frame.columns) == ["clean", "first broken by", "robust"] and len(frame) == 20
    assert frame["robust"].sum() == 14 and set(result.seconds) == {"a", "b", "c"}


def test_worst_case_is_at_most_every_attack_alone(cnn, mnist):
    x, y = mnist.x_test[:60], mnist.y_test[:60]
    eps = 0.1
    fgsm = functools.partial(attacks.fgsm, eps=eps)
    pgd = functools.partial(attacks.pgd, eps=eps, steps=10, alpha=eps / 4, generator=torch.Generator().manual_seed(0))
    both = evaluation.worst_case(cnn, x, y, {"fgsm": fgsm, "pgd": pgd}, progress=False)
    for attack in (fgsm, pgd):
        assert both.robust_accuracy <= evaluation.robust_accuracy(cnn, (x, y), attack) + 1e-9


def test_ensemble_is_the_standard_one():
    linf = evaluation.ensemble(0.3)
    assert list(linf) == ["apgd-ce", "apgd-dlr", "apgd-t", "square"]
    assert linf["apgd-t"].keywords["targeted"] and linf["apgd-t"].keywords["loss"] == "dlr"
    assert linf["apgd-t"].keywords["n_target_classes"] == 9 and linf["apgd-ce"].keywords["steps"] == 100
    assert linf["square"].keywords["queries"] == 5000
    assert list(evaluation.ensemble(1.5, norm="l2")) == ["apgd-ce", "apgd-dlr", "apgd-t"]  # Square is L∞ only here


def test_ensemble_is_reproducible(cnn, mnist):
    x, y = mnist.x_test[:30], mnist.y_test[:30]
    runs = [evaluation.worst_case(cnn, x, y, evaluation.ensemble(0.1, steps=5, n_target_classes=2, queries=20),
                                  progress=False) for _ in range(2)]
    assert runs[0].first == runs[1].first


@pytest.mark.parametrize("bad, error", [({}, ValueError), ([("a", None)], TypeError), ({"a": 3}, TypeError)])
def test_worst_case_bad_attacks(bad, error):
    model, x, y = toy()
    with pytest.raises(error, match="attacks must"):
        evaluation.worst_case(model, x, y, bad, progress=False)


def test_ensemble_bad_arguments():
    with pytest.raises(ValueError, match="norm must be one of"):
        evaluation.ensemble(0.3, norm="l1")
    with pytest.raises(TypeError, match="queries must be an integer"):
        evaluation.ensemble(0.3, queries=1.5)
