"""Lesson 04's exercise checks: the reference solutions pass, typical mistakes get useful feedback."""

from __future__ import annotations

import pytest
import torch

from lessons import checks

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- my_top_k


def my_top_k(scores, k):
    """The notebook's reference solution."""
    return scores.topk(k, dim=0).indices.T


def test_top_k_reference_passes(capsys):
    checks.check_top_k(my_top_k)
    checks.check_top_k(my_top_k, n=1000, n_directions=100, k=20, seed=3)
    assert "✓" in capsys.readouterr().out


def test_top_k_with_sort_passes():
    checks.check_top_k(lambda s, k: torch.sort(s, dim=0, descending=True).indices[:k].T)


@pytest.mark.parametrize("wrong, message", [
    (lambda s, k: s.topk(k, dim=0), "pair"),
    (lambda s, k: s.topk(k, dim=0).indices, "transpose"),
    (lambda s, k: s.topk(k, dim=0).values.T, "top scores themselves"),
    (lambda s, k: s.topk(k, dim=0, largest=False).indices.T, "lowest"),
    (lambda s, k: s.topk(k, dim=0).indices.T.flip(1), "not best first"),
    (lambda s, k: s.topk(k, dim=0).indices.T + 500, "outside"),
    (lambda s, k: s.mul_(-1).topk(k, dim=0, largest=False).indices.T, "in place"),
    (lambda s, k: None, "still empty"),
])
def test_top_k_typical_mistakes(wrong, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_top_k(wrong)


def test_top_k_not_written_yet():
    def todo(scores, k):
        raise NotImplementedError()

    with pytest.raises(checks.ExerciseError, match="not written yet"):
        checks.check_top_k(todo)


# --------------------------------------------------------------------------- digit_direction


def digit_direction(acts, labels, digit):
    """The notebook's reference solution."""
    v = acts[labels == digit].mean(0) - acts.mean(0)
    return v / v.norm()


def test_digit_direction_reference_passes(capsys):
    checks.check_digit_direction(digit_direction)
    checks.check_digit_direction(digit_direction, digits=range(10), threshold=0.85)
    assert "✓" in capsys.readouterr().out


def test_digit_direction_mistakes():
    with pytest.raises(checks.ExerciseError, match="divide it by its norm"):
        checks.check_digit_direction(lambda a, y, d: a[y == d].mean(0) - a.mean(0))
    with pytest.raises(checks.ExerciseError, match="shape \\(128,\\)"):
        checks.check_digit_direction(lambda a, y, d: digit_direction(a, y, d)[None])
    # The plain class mean points at what all digits share: it fails for some digits.
    with pytest.raises(checks.ExerciseError, match="subtract the average over all training images"):
        checks.check_digit_direction(lambda a, y, d: a[y == d].mean(0) / a[y == d].mean(0).norm(), digits=range(10))
    # Pointing away from the digit selects everything but it.
    with pytest.raises(checks.ExerciseError, match="only 0% of the top 20"):
        checks.check_digit_direction(lambda a, y, d: -digit_direction(a, y, d))
    with pytest.raises(checks.ExerciseError, match="changed acts in place"):
        checks.check_digit_direction(lambda a, y, d: digit_direction(a.sub_(a.mean(0)), y, d))
