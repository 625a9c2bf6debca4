"""Lesson 07's exercise checks: the reference solutions pass, typical mistakes get the right feedback."""

import pytest
import torch

from lessons import checks, defences


def my_dlr(logits, y):
    """The notebook's reference solution."""
    top = logits.sort(dim=1, descending=True).values
    own = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], -torch.inf).amax(1)
    return -(own - other) / (top[:, 0] - top[:, 2] + 1e-12)


def test_dlr_reference_passes(capsys):
    checks.check_dlr(my_dlr)
    checks.check_dlr(my_dlr, seed=3)
    assert capsys.readouterr().out.count("✓") == 2


def _top(logits):
    return logits.sort(dim=1, descending=True).values


@pytest.mark.parametrize("fn, message", [
    (lambda z, y: -my_dlr(z, y), "sign is flipped"),
    (lambda z, y: my_dlr(z, y).mean(), "one value per example"),
    (lambda z, y: my_dlr(z, y) * (_top(z)[:, 0] - _top(z)[:, 2]) / (_top(z)[:, 0] - _top(z)[:, 1]), "third"),
    (lambda z, y: -(z.gather(1, y[:, None])[:, 0] - _top(z)[:, 0]) / (_top(z)[:, 0] - _top(z)[:, 2]),
     "leaves the true class out"),
    (lambda z, y: my_dlr(z, y) * (_top(z)[:, 0] - _top(z)[:, 2] + 1e-12), "ignore the logits' scale"),
    (lambda z, y: my_dlr(z, y) * (1 if float(z.abs().max()) < 100 else 2), "multiplied by 1000"),  # scale-dependent
    (lambda z, y: torch.zeros(len(y)), "differs from DLR, e.g. for example"),
])
def test_dlr_mistakes_get_feedback(fn, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_dlr(fn)


def test_dlr_not_written_yet():
    def fn(logits, y):
        raise NotImplementedError()
    with pytest.raises(checks.ExerciseError, match="not written yet"):
        checks.check_dlr(fn)


def straight_through(x, levels):
    """The notebook's reference solution."""
    q = torch.round(x * (levels - 1)) / (levels - 1)
    return x + (q - x).detach()


def test_straight_through_reference_passes(capsys):
    checks.check_straight_through(straight_through)
    assert "BPDA works" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (lambda x, levels: torch.round(x * (levels - 1)) / (levels - 1), "gradient is zero everywhere"),
    (lambda x, levels: x, "forward pass must be the quantiser's"),
    (lambda x, levels: (torch.round(x * (levels - 1)) / (levels - 1)).detach(), "no gradient at all"),
    (lambda x, levels: x + (torch.round(x * (levels - 1)) / (levels - 1) - x).detach() * 1.0 + 0 * x ** 2 + x - x.detach(),
     "should be 1 for every pixel"),
])
def test_straight_through_mistakes_get_feedback(fn, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_straight_through(fn)


def test_mystery_checks():
    ref = defences.mystery_reference(progress=False)
    checks.check_mystery(ref["robust_accuracy"])
    checks.check_mystery_blackbox(ref["square_alone"])
    with pytest.raises(checks.ExerciseError, match="too high"):
        checks.check_mystery(min(1.0, ref["robust_accuracy"] + 0.2))
    with pytest.raises(checks.ExerciseError, match="a percentage"):
        checks.check_mystery(100 * ref["robust_accuracy"] + 2)
    with pytest.raises(checks.ExerciseError, match="as high as the clean accuracy"):
        checks.check_mystery(ref["clean_accuracy"])
    with pytest.raises(checks.ExerciseError, match="below the clean accuracy"):
        checks.check_mystery_blackbox(ref["clean_accuracy"])
