"""The feedback framework every exercise check is built from.

A check raises ``ExerciseError`` (an ``AssertionError``, so nbgrader counts it as a failed
test) whose message says what is wrong and what to try, and prints a short success line
otherwise. The helpers, used by every lesson's checks (``lessons.checks.l01`` ...):

- ``call_learner(fn, *args, what="my_fgsm")`` calls the learner's function; "not written
  yet" (``NotImplementedError``) and crashes become feedback that names ``what``.
- ``require(condition, feedback)``, ``require_tensor(value, what, shape=...)``,
  ``require_number(value, what)``, ``require_close(value, expected, what, tol=...)`` raise
  ``ExerciseError(feedback)``.
- ``passed(message)`` prints the success line a check ends with. A check returns ``None``:
  nbgrader would read a returned value as partial credit.

In Jupyter an ``ExerciseError`` shows as its feedback alone (plus the learner's own frames
when their code crashed), not as a traceback through this module.
"""

from __future__ import annotations

import math
import os
import traceback

import torch

__all__ = ["ExerciseError", "passed", "require", "require_tensor", "require_number", "require_close", "call_learner"]

_HERE = os.path.dirname(os.path.abspath(__file__))  # the checks package: its frames are not shown


class ExerciseError(AssertionError):
    """A failed exercise check; the message is feedback for the learner."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback. The frames inside the checks
        # would only distract; when the learner's code crashed (``raise ... from err``) its
        # own frames are what they need to see.
        lines: list[str] = []
        cause = self.__cause__
        if cause is not None and cause.__traceback__ is not None:
            frames = [f for f in traceback.extract_tb(cause.__traceback__)
                      if os.path.dirname(os.path.abspath(f.filename)) != _HERE]
            if frames:
                lines.append("Your code failed here (most recent call last):")
                lines.extend(s.rstrip("\n") for s in traceback.format_list(frames))
                lines.extend(s.rstrip("\n") for s in traceback.format_exception_only(type(cause), cause))
                lines.append("")
        lines.append(f"ExerciseError: {self}")
        return lines


def passed(message: str) -> None:
    """Print the success line every check ends with."""
    print(f"✓ {message}")


def require(condition: bool, feedback: str) -> None:
    """Raise ``ExerciseError(feedback)`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseError(feedback)


def _not_implemented(value: object) -> bool:
    return value is NotImplemented or value is None or value is Ellipsis


def require_tensor(value: object, what: str, *, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Feedback when ``value`` is not a tensor (of ``shape``); returns ``value``."""
    require(not _not_implemented(value),
            f"{what} is still empty: replace `raise NotImplementedError()` with your code"
            + (" (and check that your function ends with `return`)" if value is None else ""))
    require(isinstance(value, torch.Tensor), f"{what} should be a torch.Tensor, but it is a {type(value).__name__}")
    if shape is not None:
        require(tuple(value.shape) == tuple(shape),
                f"{what} should have shape {tuple(shape)}, but it has shape {tuple(value.shape)}")
    return value


def require_number(value: object, what: str) -> float:
    """Feedback unless ``value`` is one finite-or-infinite, non-NaN number; returns it as a float.

    Accepts Python numbers, NumPy scalars and one-element tensors, so a learner may answer
    ``0.3``, ``np.float32(0.3)`` or ``torch.tensor(0.3)``.
    """
    require(not _not_implemented(value),
            f"{what} is still empty: replace `raise NotImplementedError()` with your code")
    if isinstance(value, torch.Tensor):
        require(value.numel() == 1, f"{what} should be one number, but it is a tensor of shape {tuple(value.shape)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExerciseError(f"{what} should be a number, but it is a {type(value).__name__}") from None
    require(not math.isnan(number), f"{what} is NaN: look for a division by zero or a log of 0")
    return number


def require_close(value: float, expected: float, what: str, *, tol: float, hint: str = "") -> None:
    """Feedback when a number is further than ``tol`` from the expected one."""
    number = require_number(value, what)
    require(abs(number - float(expected)) <= tol,
            f"{what} is {number:.4g}, expected about {float(expected):.4g} (±{tol:g}). {hint}".strip())


def call_learner(fn: object, *args, what: str = "your function", **kwargs):
    """Call a learner's function, turning "not written yet" and crashes into feedback."""
    require(not _not_implemented(fn), f"{what} is still empty: replace `raise NotImplementedError()` with your code")
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
