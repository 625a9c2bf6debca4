"""Exercise checks with feedback a learner can act on: the framework, then one module per lesson.

Exercise cells end with a call such as ``checks.check_fgsm(my_fgsm)``. A check raises
``ExerciseError`` (an ``AssertionError``, so nbgrader counts it as a failed test) whose
message says what is wrong and what to try, and prints a short success line otherwise.

- ``feedback``: ``ExerciseError``, ``require``, ``call_learner``, ... — what every check uses;
- ``l01`` ... ``l08``: each lesson's checks, named after the lesson that introduces them.

Every check is also available here, flat, so a notebook writes ``from lessons import checks``
and ``checks.check_fgsm(my_fgsm)``.
"""

from .feedback import ExerciseError, call_learner, passed, require, require_close, require_number, require_tensor
from .l01 import check_fgsm, check_rms, check_smallest_eps
from .l02 import check_amplify, check_transfer_rate
from .l03 import check_fool_with_budget, check_mutation
from .l04 import check_digit_direction, check_top_k
from .l05 import check_breaking_eps, check_pgd_training_step, check_robust_accuracy
from .l06 import check_linear_attack, check_simba_step
from .l07 import check_dlr, check_mystery, check_mystery_blackbox, check_straight_through
from .l08 import check_certify, check_interval_layer

__all__ = [
    "ExerciseError", "passed", "require", "require_tensor", "require_number", "require_close", "call_learner",
    "check_fgsm", "check_rms", "check_smallest_eps",
    "check_transfer_rate", "check_amplify",
    "check_mutation", "check_fool_with_budget",
    "check_top_k", "check_digit_direction",
    "check_pgd_training_step", "check_breaking_eps", "check_robust_accuracy",
    "check_linear_attack", "check_simba_step",
    "check_dlr", "check_straight_through", "check_mystery_blackbox", "check_mystery",
    "check_interval_layer", "check_certify",
]
