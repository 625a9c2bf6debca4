"""Student copies: `lessons.assign` on synthetic notebooks, on every lesson, and against nbgrader.

The real lessons are globbed from notebooks/, so these tests cover each lesson as it lands.
Executing a lesson is slow, so a student copy runs only up to (and including) its first
check cell; nbval runs the full solution notebooks elsewhere in the suite.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.utils import compute_checksum
from nbgrader_helpers import KERNEL, nbg, nbgrader_course, run_nbgrader, write_notebook

from lessons import assign, autograde

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


# --------------------------------------------------------------------------- synthetic notebooks

def course_notebook():
    """A small instructor notebook using every convention the lessons use (and a few more)."""
    nb = new_notebook(metadata=dict(KERNEL), cells=[
        new_markdown_cell("# A tiny lesson"),
        new_code_cell("import math\nSCALE = 2", metadata={"execution": {"iopub.execute_input": "2024"}}),
        new_code_cell(
            "def double(x):\n"
            "    \"\"\"Return 2 x.\"\"\"\n"
            "    if True:\n"
            "        ### BEGIN SOLUTION\n"
            "        secret_helper = SCALE * x\n"
            "        return secret_helper\n"
            "        ### END SOLUTION",
            metadata=nbg("t-double", solution=True)),
        new_code_cell(
            "assert double(2) == 4, 'double(2) should be 4'\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert double(-3) == -6, 'hidden: double(-3) should be -6'\n"
            "### END HIDDEN TESTS",
            metadata=nbg("t-double-check", grade=True, locked=True, points=2)),
        new_code_cell("answer = None\n### BEGIN SOLUTION\nanswer = 6 * 7\n### END SOLUTION",
                      metadata=nbg("t-answer", solution=True)),
        new_code_cell("assert answer == 42, f'answer should be 42, got {answer}'",
                      metadata=nbg("t-answer-check", grade=True, locked=True, points=1)),
        new_code_cell("whole_cell_answer = 'the whole cell is the answer'", metadata=nbg("t-whole", solution=True)),
        new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause the gradient says so.\n### END SOLUTION",
                          metadata=nbg("t-why", grade=True, solution=True, points=1)),
        new_markdown_cell("Read-only instructions.", metadata=nbg("t-readonly", locked=True)),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": 1}}}
    nb.metadata["celltoolbar"] = "Create Assignment"
    nb.cells[1].outputs = [new_output("stream", name="stdout", text="leftover output")]
    nb.cells[1].execution_count = 7
    return nb


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lessons.assign", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def region_lines(source: str, begin: str, end: str) -> list[str]:
    """The stripped lines strictly inside ``begin``...``end`` regions."""
    inside, out = False, []
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            out.append(line.strip())
    return out


def leaked_lines(source: str, copy: str) -> list[str]:
    """Lines of ``source``'s solution/hidden-test regions that reappear in ``copy``.

    A line that also stands outside the regions in ``source`` (say a bare ``return x``) is
    allowed to stay; the stub lines are expected.
    """
    secret = (region_lines(source, "BEGIN SOLUTION", "END SOLUTION")
              + region_lines(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))
    inside = set(secret)
    open_lines, depth = [], 0
    for line in source.split("\n"):
        if any(m in line for m in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS")):
            depth += 1
        elif any(m in line for m in ("END SOLUTION", "END HIDDEN TESTS")):
            depth -= 1
        elif depth == 0:
            open_lines.append(line.strip())
    kept = {ln.strip() for ln in copy.split("\n")}
    stubs = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}  # nbgrader's python stubs
    allowed = set(open_lines) | stubs
    return [ln for ln in secret if ln in kept and ln in inside and ln not in allowed]


# --------------------------------------------------------------------------- the conversion

def test_solution_regions_become_stubs_at_their_indentation():
    student = assign.student_copy(course_notebook(), "tiny.ipynb")
    assert student.cells[2].source == (
        "def double(x):\n"
        "    \"\"\"Return 2 x.\"\"\"\n"
        "    if True:\n"
        "        # YOUR CODE HERE\n"
        "        raise NotImplementedError()")
    assert student.cells[4].source == "answer = None\n# YOUR CODE HERE\nraise NotImplementedError()"
    # nbgrader's rule: a solution cell without a region is all answer
    assert student.cells[6].source == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert student.cells[7].source == "Why?\n\nYOUR ANSWER HERE"
    compile(student.cells[2].source, "cell", "exec")  # still valid Python


def test_hidden_tests_removed_visible_tests_kept():
    student = assign.student_copy(course_notebook(), "tiny.ipynb")
    assert student.cells[3].source == "assert double(2) == 4, 'double(2) should be 4'"
    text = json.dumps(student)
    assert "hidden: double(-3)" not in text and "secret_helper" not in text and "6 * 7" not in text
    assert not any(m in text for m in MARKERS)


def test_outputs_counts_and_widget_state_cleared_metadata_kept():
    source = course_notebook()
    before = json.dumps(source, sort_keys=True)
    student = assign.student_copy(source, "tiny.ipynb")
    assert json.dumps(source, sort_keys=True) == before, "the instructor's notebook must not be modified"
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")
    assert "widgets" not in student.metadata and "celltoolbar" not in student.metadata
    assert "execution" not in student.cells[1].metadata
    assert student.metadata["kernelspec"] == KERNEL["kernelspec"]
    for s, t in zip(source.cells, student.cells):
        for key in ("grade", "grade_id", "locked", "points", "schema_version", "solution", "task"):
            assert s.metadata.get("nbgrader", {}).get(key) == t.metadata.get("nbgrader", {}).get(key)
    check = student.cells[3].metadata
    assert check["editable"] is False and check["deletable"] is False  # learners cannot edit a test
    assert student.cells[2].metadata["deletable"] is False and "editable" not in student.cells[2].metadata
    assert check["nbgrader"]["checksum"] == compute_checksum(student.cells[3])
    assert check["nbgrader"]["cell_type"] == "code"
    nbformat.validate(student)


def test_notebook_without_exercises_is_unchanged_but_for_outputs():
    nb = new_notebook(metadata=dict(KERNEL), cells=[new_markdown_cell("# t"), new_code_cell("x = 1")])
    nb.cells[1].outputs = [new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]
    student = assign.student_copy(nb, "plain.ipynb")
    assert [c.source for c in student.cells] == [c.source for c in nb.cells]
    assert student.cells[1].outputs == []


@pytest.mark.parametrize("cell, meta, expected", [
    ("x = 1\n### BEGIN SOLUTION\nx = 2", nbg("e", solution=True), r"'BEGIN SOLUTION' on line 2 is never closed"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\nx=1\n### END SOLUTION", nbg("e", solution=True), r"nested 'BEGIN SOLUTION' on line 2"),
    ("x = 1\n### END SOLUTION", nbg("e", solution=True), r"'END SOLUTION' on line 2 has no 'BEGIN SOLUTION'"),
    ("assert 1\n### BEGIN HIDDEN TESTS\nassert 2", nbg("e", grade=True, locked=True, points=1),
     r"'BEGIN HIDDEN TESTS' on line 2 is never closed"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", {}, r"not a solution cell"),
    ("### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS", {}, r"not a grade cell"),
    ("assert 1", nbg("e", grade=True, locked=True), r"needs points >= 0, got None"),
    ("x = 1", nbg("", solution=True), r"grade_id must be a non-empty string"),
])
def test_bad_markers_and_metadata_name_notebook_and_cell(cell, meta, expected):
    nb = new_notebook(metadata=dict(KERNEL), cells=[new_markdown_cell("# t"), new_code_cell("y = 0"),
                                                    new_code_cell(cell, metadata=meta)])
    with pytest.raises(assign.AssignError, match=r"^broken\.ipynb, cell 2\b.*" + expected):
        assign.student_copy(nb, "broken.ipynb")


def test_duplicate_grade_id_is_named():
    nb = new_notebook(metadata=dict(KERNEL), cells=[
        new_code_cell("x = 1", metadata=nbg("same", solution=True)),
        new_code_cell("y = 1", metadata=nbg("same", solution=True))])
    with pytest.raises(assign.AssignError, match=r"dup\.ipynb, cell 1 \(grade_id 'same'\): grade_id 'same' is already used by cell 0"):
        assign.student_copy(nb, "dup.ipynb")


# --------------------------------------------------------------------------- files and the command line

def test_cli_writes_copies_and_refuses_to_overwrite_without_force(tmp_path):
    src = tmp_path / "notebooks"
    write_notebook(course_notebook(), src / "01_tiny.ipynb")
    write_notebook(new_notebook(metadata=dict(KERNEL), cells=[new_code_cell("z = 3")]), src / "00_plain.ipynb")
    dest = tmp_path / "student"
    dest.mkdir()
    learner_work = b'{"not": "a notebook, but a learner\'s work"}'
    (dest / "01_tiny.ipynb").write_bytes(learner_work)
    (dest / "notes.txt").write_text("unrelated")

    res = run_cli(src, dest)
    assert res.returncode == 2
    assert "refusing to overwrite" in res.stderr and "01_tiny.ipynb" in res.stderr and "--force" in res.stderr
    assert (dest / "01_tiny.ipynb").read_bytes() == learner_work
    assert not (dest / "00_plain.ipynb").exists(), "nothing is written when one target exists"
    assert sorted(p.name for p in dest.iterdir()) == ["01_tiny.ipynb", "notes.txt"]  # no temp files left

    res = run_cli(src, dest, "--force")
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout
    copy = nbformat.read(dest / "01_tiny.ipynb", as_version=4)
    assert copy.cells[2].source.endswith("raise NotImplementedError()")
    assert (dest / "notes.txt").read_text() == "unrelated"
    assert sorted(p.name for p in dest.iterdir()) == ["00_plain.ipynb", "01_tiny.ipynb", "notes.txt"]


def test_a_broken_notebook_stops_the_run_before_anything_is_written(tmp_path):
    src = tmp_path / "notebooks"
    write_notebook(course_notebook(), src / "01_good.ipynb")
    bad = course_notebook()
    bad.cells[2].source = bad.cells[2].source.replace("        ### END SOLUTION", "")
    write_notebook(bad, src / "02_bad.ipynb")
    res = run_cli(src, tmp_path / "student")
    assert res.returncode == 2
    assert "02_bad.ipynb, cell 2 (grade_id 't-double')" in res.stderr and "never closed" in res.stderr
    assert not (tmp_path / "student").exists() or not any((tmp_path / "student").iterdir())


def test_single_notebook_and_own_source(tmp_path):
    path = write_notebook(course_notebook(), tmp_path / "a.ipynb")
    assert assign.assign(path, tmp_path / "out" / "b.ipynb") == [tmp_path / "out" / "b.ipynb"]
    assert assign.assign(path, tmp_path / "dir") == [tmp_path / "dir" / "a.ipynb"]
    with pytest.raises(assign.AssignError, match="overwrite the instructor's notebook itself"):
        assign.assign(path, tmp_path, force=True)
    with pytest.raises(assign.AssignError, match="SRC must be a notebook"):
        assign.assign(tmp_path / "missing.ipynb", tmp_path / "x")


# --------------------------------------------------------------------------- the real lessons

def exercises(nb) -> list[tuple[int, int]]:
    """``(solution cell, check cell)`` index pairs: each auto-graded check and the answer before it."""
    pairs = []
    for i, cell in enumerate(nb.cells):
        if assign.is_grade(cell) and not assign.is_solution(cell):
            before = [j for j in range(i) if assign.is_solution(nb.cells[j])]
            pairs.append((before[-1] if before else None, i))
    return pairs


def test_there_are_lessons():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_exercises_follow_the_conventions(path):
    nb = nbformat.read(path, as_version=4)
    pairs = exercises(nb)
    number = path.name[:2]
    if number == "00":
        assert not pairs
        return
    assert len(pairs) >= 2, f"{path.name}: every lesson has at least two exercises, found {len(pairs)}"
    for sol, check in pairs:
        cell = nb.cells[check]
        gid = assign.grade_id(cell)
        assert sol is not None, f"{path.name}: check {gid} has no solution cell before it"
        assert gid.startswith(f"l{number}-"), f"{path.name}: grade id {gid!r} should start with 'l{number}-'"
        assert assign.grade_id(nb.cells[sol]).startswith(f"l{number}-")
        assert re.search(r"\bchecks\.\w+\(", cell.source), f"{path.name}: {gid} should call a check from lessons.checks"
        assert cell.metadata.nbgrader["points"] > 0 and cell.metadata.nbgrader["locked"] is True


def module_names(source: str, kind) -> set[str]:
    """Names a cell binds (``ast.Store``) or reads (``ast.Load``) at module level."""
    import ast

    code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n"))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names: set[str] = set()

    def visit(node, top):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if top and kind is ast.Store:
                names.add(node.name)
            top = False  # names bound inside a function are local to it
        elif isinstance(node, ast.Lambda):
            top = False
        elif isinstance(node, ast.Name) and isinstance(node.ctx, kind) and (top or kind is ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and top and kind is ast.Store:
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    visit(tree, True)
    return names


def unanswered_names(source_nb, student_nb) -> dict[str, set[str]]:
    """For each check, the names it reads that only the removed solution defined.

    In a student copy those are undefined, so the unanswered check fails with a NameError
    instead of feedback.
    """
    import ast

    out = {}
    for sol, check in exercises(source_nb):
        if sol is None:
            continue
        before = set().union(*[module_names(c.source, ast.Store) for c in student_nb.cells[:sol] if c.cell_type == "code"])
        only_in_solution = (module_names(source_nb.cells[sol].source, ast.Store)
                            - module_names(student_nb.cells[sol].source, ast.Store) - before)
        missing = only_in_solution & module_names(source_nb.cells[check].source, ast.Load)
        if missing:
            out[assign.grade_id(source_nb.cells[check])] = missing
    return out


def test_the_unanswered_name_detector_can_fail():
    bad = course_notebook()
    bad.cells[4].source = "### BEGIN SOLUTION\nanswer = 6 * 7\n### END SOLUTION"
    assert unanswered_names(bad, assign.student_copy(bad)) == {"t-answer-check": {"answer"}}
    good = course_notebook()
    assert unanswered_names(good, assign.student_copy(good)) == {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_unanswered_check_can_give_feedback(path):
    """A value exercise must give its name a value before the solution region (e.g. `x = None`)."""
    source = nbformat.read(path, as_version=4)
    missing = unanswered_names(source, assign.student_copy(source, path.name))
    assert not missing, (
        f"{path.name}: in the student copy these checks read names that only the removed solution "
        f"defines, so an unanswered exercise fails with NameError instead of feedback: {missing}. "
        "Put `name = None` before `### BEGIN SOLUTION` (and let the check say 'still empty' for None).")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_has_no_solution_and_no_hidden_test(path):
    source = nbformat.read(path, as_version=4)
    student = assign.student_copy(source, path.name)
    assert len(student.cells) == len(source.cells)
    text = "\n".join(c.source for c in student.cells)
    assert not any(m in text for m in MARKERS)
    for i, (s, t) in enumerate(zip(source.cells, student.cells)):
        leaked = leaked_lines(s.source, t.source)
        assert not leaked, f"{path.name}, cell {i}: solution/hidden-test lines left in the student copy: {leaked}"
        if assign.is_solution(s) and s.cell_type == "code":
            assert "raise NotImplementedError()" in t.source
        if not (assign.is_solution(s) or assign.is_grade(s)):
            assert t.source == s.source, f"{path.name}, cell {i}: only exercise cells may change"
    if not exercises(source):
        assert [c.source for c in student.cells] == [c.source for c in source.cells]


def first_exercise_behaves(source, name: str, cwd: Path) -> None:
    """Run the student copy up to its first check cell, then the instructor's version of that exercise.

    Everything before the first exercise is the same in both copies, so one kernel serves
    both: the student's check must fail with an ExerciseError a learner can act on, and the
    source's solution must then pass the same check with its hidden tests, in a way nbgrader
    scores in full (no error, nothing on stderr, no result value).
    """
    sol, check = exercises(source)[0]
    student = assign.student_copy(source, name)
    assert [c.source for c in student.cells[:sol]] == [c.source for c in source.cells[:sol]]
    answer, test = (copy.deepcopy(source.cells[i]) for i in (sol, check))
    answer["id"], test["id"] = "instructor-answer", "instructor-check"  # ids stay unique
    run = nbformat.v4.new_notebook(metadata=source.metadata, cells=student.cells[:check + 1] + [answer, test])
    assign.clear_outputs(run)
    executed, status, problem = autograde.execute(run, cwd=cwd, timeout=600)
    assert not problem, problem

    def error(i):
        for out in executed.cells[i].get("outputs", []):
            if out.output_type == "error":
                return out.ename, out.evalue
        return None

    for i in range(sol):
        if executed.cells[i].cell_type == "code":
            assert status.get(i) == "ok", (
                f"{name}: the student copy fails at cell {i}, before its first exercise: {error(i)} "
                "(the cell is the same in the instructor's notebook, so the lesson itself fails there)")
    for i in range(sol, check):
        if executed.cells[i].cell_type == "code" and status.get(i) != "ok":
            assert error(i) and error(i)[0] == "NotImplementedError", f"{name}, cell {i}: {error(i)}"
    gid = assign.grade_id(source.cells[check])
    got = error(check)
    assert got is not None, f"{name}: the unanswered exercise {gid} passed its check"
    ename, evalue = got
    assert ename == "ExerciseError", (
        f"{name}: the unanswered exercise {gid} fails with {ename}: {evalue!r}; a learner needs an "
        "ExerciseError with feedback (call the learner's code through checks.call_learner, and give "
        "variable answers a value before the solution region, e.g. `smallest_eps = None`)")
    assert len(evalue) >= 20 and " " in evalue, f"{name}: {gid} feedback is too terse: {evalue!r}"
    shown = "\n".join(next(o for o in executed.cells[check].outputs if o.output_type == "error").traceback)
    assert "checks.py" not in shown, f"{name}: the learner sees the checks' internals:\n{shown}"
    n = len(student.cells[:check + 1])
    for i in (n, n + 1):
        assert status.get(i) == "ok", f"{name}: the solution of {gid} fails its check: {error(i)}"
    outputs = executed.cells[n + 1].outputs
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], \
        f"{name}: {gid} writes to stderr when it passes; nbgrader would score that 0"
    assert not [o for o in outputs if o.output_type == "execute_result"], \
        f"{name}: {gid}'s check cell shows a value; nbgrader would read it as partial credit"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_copy_fails_its_first_check_helpfully_and_the_solution_passes(path):
    source = nbformat.read(path, as_version=4)
    if not exercises(source):
        pytest.skip(f"{path.name} has no exercises (its student copy equals it; nbval runs it)")
    first_exercise_behaves(source, path.name, NOTEBOOK_DIR)


def lesson_like(answer_default: str = "answer = None\n"):
    """A lesson-shaped notebook whose first exercise is a value, checked with lessons.checks."""
    return new_notebook(metadata=dict(KERNEL), cells=[
        new_markdown_cell("# Lesson-like"),
        new_code_cell("from lessons import checks\nx = 3"),
        new_code_cell(answer_default + "### BEGIN SOLUTION\nanswer = 2 * x\n### END SOLUTION",
                      metadata=nbg("l99-answer", solution=True)),
        new_code_cell("checks.require_close(answer, 6, 'answer', tol=0)\nchecks.passed('right')\n"
                      "### BEGIN HIDDEN TESTS\nchecks.require(isinstance(answer, int), 'answer should be an int')\n"
                      "### END HIDDEN TESTS",
                      metadata=nbg("l99-answer-check", grade=True, locked=True, points=1)),
    ])


@pytest.mark.slow
def test_first_exercise_check_passes_on_a_good_lesson_and_fails_on_a_bad_one(tmp_path):
    first_exercise_behaves(lesson_like(), "good.ipynb", tmp_path)
    # no value before the solution region: the unanswered check dies of a NameError, not feedback
    with pytest.raises(AssertionError, match=r"fails with NameError"):
        first_exercise_behaves(lesson_like(answer_default=""), "bad.ipynb", tmp_path)


# --------------------------------------------------------------------------- nbgrader itself

@pytest.mark.slow
def test_nbgrader_generate_assignment_releases_the_same_student_copies(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (it is in the [test] extra)")
    books = {p.name: nbformat.read(p, as_version=4) for p in NOTEBOOKS}
    books["99_tiny.ipynb"] = course_notebook()  # conventions the lessons may not use yet
    root = nbgrader_course(tmp_path / "course", tmp_path / "gradebook.db", books, "course")
    run_nbgrader(root, tmp_path, "generate_assignment", "course", "--force")
    for name, source in books.items():
        released = nbformat.read(root / "release" / "course" / name, as_version=4)
        ours = assign.student_copy(source, name)
        text = json.dumps(released)
        assert not any(m in text for m in MARKERS), f"{name}: nbgrader's release still has markers"
        for i, (s, r, o) in enumerate(zip(source.cells, released.cells, ours.cells)):
            assert not leaked_lines(s.source, r.source), f"{name}, cell {i}: nbgrader left solution lines"
            # lessons.assign produces what nbgrader produces, cell for cell
            assert o.source == r.source, f"{name}, cell {i}: lessons.assign and nbgrader disagree on the text"
            r_meta = {k: v for k, v in r.metadata.items() if k not in ("execution", "collapsed", "scrolled", "ExecuteTime")}
            assert dict(o.metadata) == r_meta, f"{name}, cell {i}: metadata differ"
        assert len(released.cells) == len(ours.cells)


def test_the_leak_detector_can_fail():
    nb = course_notebook()
    assert leaked_lines(nb.cells[2].source, nb.cells[2].source) == ["secret_helper = SCALE * x", "return secret_helper"]
    assert leaked_lines(nb.cells[3].source, nb.cells[3].source) == ["assert double(-3) == -6, 'hidden: double(-3) should be -6'"]
    student = assign.student_copy(nb)
    assert all(not leaked_lines(s.source, t.source) for s, t in zip(nb.cells, student.cells))


# --------------------------------------------------------------------------- the instructors' guide

GUIDE = ROOT / "docs" / "instructors.md"


def guide_section(number: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    m = re.search(rf"^### {number} · .*?(?=^### |^## )", text, flags=re.M | re.S)
    assert m, f"docs/instructors.md has no '### {number} · ...' section"
    return m.group(0)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_instructors_guide_lists_each_exercise_with_its_points(path):
    """A lesson's section in docs/instructors.md names every check (grade id and points) once written."""
    number = path.name[:2]
    section = guide_section(number)
    nb = nbformat.read(path, as_version=4)
    checks = {assign.grade_id(c): c.metadata.nbgrader["points"] for c in nb.cells
              if assign.is_grade(c) and not assign.is_solution(c)}
    if re.search(r"^TODO", section.split("\n", 2)[-1].strip(), flags=re.M) and len(section.strip().split("\n")) <= 4:
        pytest.skip(f"docs/instructors.md: the section for lesson {number} is still marked TODO")
    listed = dict(re.findall(r"^\|[^|\n]*\| `(l\d\d-[\w-]+)` \| ([\d.]+) \|", section, flags=re.M))
    assert set(listed) == set(checks), f"lesson {number}: the guide lists {sorted(listed)}, the notebook has {sorted(checks)}"
    for gid, points in checks.items():
        assert float(listed[gid]) == float(points), f"{gid}: the guide says {listed[gid]} points, the notebook {points}"
    total = sum(checks.values())
    row = re.search(rf"^\| {number} \| .*$", GUIDE.read_text(encoding="utf-8"), flags=re.M).group(0)
    expected = "none" if not checks else f"{len(checks)} ({total:g} points)"
    assert f"| {expected} |" in row, f"lesson {number}: the overview table should say '{expected}': {row}"
