"""Every public function, fed a table of bad inputs, answers with a clear error.

Clear means a ``TypeError`` (wrong type) or ``ValueError`` (wrong value) whose message names the
parameter — never a raw torch error, an ``IndexError``, or silence. The table is
``tests/bad_inputs.py``; ``benchmarks/errors.py`` prints it per module.
"""

from __future__ import annotations

import bad_inputs as B
import pytest

CASES = {c.name: c for c in B.CASES}
SPOILED = [(c.name, p, what) for c in B.CASES for p, what, _, _ in c.spoiled()]

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_public_function_has_an_entry():
    missing = [f for f in B.public_functions() if f not in CASES and f not in B.EXEMPT]
    assert not missing, f"public functions with no bad-input entry in tests/bad_inputs.py (add one, or an EXEMPT reason): {missing}"
    stale = [name for name in [*CASES, *B.EXEMPT] if name not in B.public_functions()]
    assert not stale, f"entries for functions that are not public any more: {stale}"


@pytest.mark.parametrize("name", [c.name for c in B.CASES if c.run_good])
def test_the_good_call_works(name, isolated_cache):
    case = CASES[name]
    case.fn(**case.good())  # otherwise every "clear" error below could be about something else


@pytest.mark.parametrize("name, param, what", SPOILED, ids=[f"{n}:{p}:{w}" for n, p, w in SPOILED])
def test_bad_input_gets_a_clear_error(name, param, what, isolated_cache):
    case = CASES[name]
    for p, w, value, expected in case.spoiled():
        if (p, w) == (param, what):
            verdict, detail = B.outcome(case, p, value, expected)
            assert verdict == "clear", f"{name}({param}={what}): {verdict}: {detail}"
            return
    pytest.fail("case not found")
