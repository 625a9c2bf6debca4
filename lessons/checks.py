"""Exercise checks with feedback a learner can act on.

Exercise cells end with a call such as ``checks.check_fgsm(my_fgsm)``. A check raises
``ExerciseError`` (an ``AssertionError``, so nbgrader counts it as a failed test) whose
message says what is wrong and what to try, and prints a short success line otherwise.
Each lesson's checks are grouped under its heading below.
"""

from __future__ import annotations

import torch

__all__ = ["ExerciseError", "passed", "require", "require_tensor", "require_close", "call_learner"]


class ExerciseError(AssertionError):
    """A failed exercise check; the message is feedback for the learner."""


def passed(message: str) -> None:
    """Print the success line every check ends with."""
    print(f"✅ {message}")


def require(condition: bool, feedback: str) -> None:
    """Raise ``ExerciseError(feedback)`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseError(feedback)


def _not_implemented(value: object) -> bool:
    return value is NotImplemented or value is None or value is Ellipsis


def require_tensor(value: object, what: str, *, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Feedback when ``value`` is not a tensor (of ``shape``)."""
    require(not _not_implemented(value), f"{what} is still empty: replace `raise NotImplementedError()` with your code")
    require(isinstance(value, torch.Tensor), f"{what} should be a torch.Tensor, but it is a {type(value).__name__}")
    if shape is not None:
        require(tuple(value.shape) == tuple(shape),
                f"{what} should have shape {tuple(shape)}, but it has shape {tuple(value.shape)}")
    return value


def require_close(value: float, expected: float, what: str, *, tol: float, hint: str = "") -> None:
    """Feedback when a number is further than ``tol`` from the expected one."""
    require(abs(float(value) - float(expected)) <= tol,
            f"{what} is {float(value):.4g}, expected about {float(expected):.4g} (±{tol:g}). {hint}".strip())


def call_learner(fn: object, *args, what: str = "your function", **kwargs):
    """Call a learner's function, turning "not written yet" and crashes into feedback."""
    require(callable(fn), f"{what} should be a function, but it is a {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError(
            f"{what} is not written yet: replace `raise NotImplementedError()` with your code, then run the cell again"
        ) from None
    except ExerciseError:
        raise
    except Exception as err:
        raise ExerciseError(f"{what} raised {type(err).__name__}: {err}") from err


# --------------------------------------------------------------------------- lesson 01

# --------------------------------------------------------------------------- lesson 02

# --------------------------------------------------------------------------- lesson 03

# --------------------------------------------------------------------------- lesson 04

# --------------------------------------------------------------------------- lesson 05

# --------------------------------------------------------------------------- lesson 06
