"""The base helpers of lessons.checks (the part above the lesson sections)."""

from __future__ import annotations

import math

import pytest
import torch

from lessons import checks
from lessons.checks import ExerciseError


def test_exercise_error_is_an_assertion_error_so_nbgrader_counts_it():
    assert issubclass(ExerciseError, AssertionError)


def test_require_and_passed(capsys):
    checks.require(True, "never shown")
    with pytest.raises(ExerciseError, match="^values leave \\[0, 1\\]: clamp$"):
        checks.require(False, "values leave [0, 1]: clamp")
    assert checks.passed("well done") is None  # a value would be partial credit for nbgrader
    assert capsys.readouterr().out == "✓ well done\n"


def test_call_learner_turns_stubs_and_crashes_into_feedback():
    def stub(x):
        # YOUR CODE HERE
        raise NotImplementedError()

    with pytest.raises(ExerciseError, match="my_fgsm is not written yet: replace `raise NotImplementedError\\(\\)`"):
        checks.call_learner(stub, 1, what="my_fgsm")
    with pytest.raises(ExerciseError, match="my_fgsm raised ZeroDivisionError: division by zero") as info:
        checks.call_learner(lambda x: x / 0, 1, what="my_fgsm")
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    with pytest.raises(ExerciseError, match="my_fgsm should be a function, but it is a int"):
        checks.call_learner(3, what="my_fgsm")
    with pytest.raises(ExerciseError, match="my_fgsm is still empty"):
        checks.call_learner(None, what="my_fgsm")
    assert checks.call_learner(lambda x, k=1: x + k, 1, k=2, what="f") == 3


def test_require_tensor():
    t = torch.zeros(2, 3)
    assert checks.require_tensor(t, "x_adv", shape=(2, 3)) is t
    with pytest.raises(ExerciseError, match="x_adv is still empty.*ends with `return`"):
        checks.require_tensor(None, "x_adv")
    with pytest.raises(ExerciseError, match="x_adv should be a torch.Tensor, but it is a list"):
        checks.require_tensor([1.0], "x_adv")
    with pytest.raises(ExerciseError, match=r"x_adv should have shape \(2, 3\), but it has shape \(3, 2\)"):
        checks.require_tensor(t.T, "x_adv", shape=(2, 3))


@pytest.mark.parametrize("value", [0.3, torch.tensor(0.3), torch.tensor([0.3]), 3 / 10])
def test_require_close_accepts_numbers_and_one_element_tensors(value):
    checks.require_close(value, 0.3, "eps", tol=1e-6)


@pytest.mark.parametrize("value, message", [
    (0.5, r"eps is 0.5, expected about 0.3 \(±0.01\). try a smaller step"),
    (None, r"eps is still empty"),
    (..., r"eps is still empty"),
    ("0.3x", r"eps should be a number, but it is a str"),
    (torch.zeros(3), r"eps should be one number, but it is a tensor of shape \(3,\)"),
    (math.nan, r"eps is NaN"),
])
def test_require_close_feedback(value, message):
    with pytest.raises(ExerciseError, match=message):
        checks.require_close(value, 0.3, "eps", tol=0.01, hint="try a smaller step")


def test_in_jupyter_the_feedback_replaces_the_traceback():
    def learner(x):
        return x.missing_attribute

    with pytest.raises(ExerciseError) as info:
        checks.call_learner(learner, 1, what="my_fgsm")
    lines = info.value._render_traceback_()
    text = "\n".join(lines)
    assert lines[-1] == "ExerciseError: my_fgsm raised AttributeError: 'int' object has no attribute 'missing_attribute'"
    assert "return x.missing_attribute" in text, "the learner's own line is shown"
    assert "checks.py" not in text, "frames inside the checks are hidden"
    with pytest.raises(ExerciseError) as info:
        checks.require(False, "add the perturbation to x")
    assert info.value._render_traceback_() == ["ExerciseError: add the perturbation to x"]


def test_require_number_accepts_what_learners_type():
    import numpy as np

    assert checks.require_number(np.float32(0.25), "eps") == 0.25
    assert checks.require_number(torch.tensor([2]), "k") == 2.0
    assert checks.require_number(float("inf"), "eps") == float("inf")
    with pytest.raises(ExerciseError, match="eps should be a number, but it is a list"):
        checks.require_number([0.1, 0.2], "eps")
