"""Grading: `lessons.grade` on a folder of fake submissions of a tiny synthetic course.

The course notebooks here use plain asserts (no torch import), so each graded notebook costs
little more than a kernel start. The students:

- alice solved everything;
- bob handed in the untouched student copy;
- carol hard-coded the visible test's answer (the hidden test catches it) and replaced the
  check cell by `pass` (grading restores it from the source);
- dave solved everything, added a cell that never ends (interrupted at the timeout) and
  deleted a check cell (grading puts it back);
- erin's second answer kills the kernel (the check after it did not run: 0).
"""

from __future__ import annotations

import csv
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader_helpers import KERNEL, nbg, nbgrader_course, run_nbgrader, write_notebook

from lessons import assign, autograde, grade


def tiny_lesson():
    """Two exercises: a function (2 points, with a hidden test) and a value (1 point)."""
    return new_notebook(metadata=dict(KERNEL), cells=[
        new_markdown_cell("# Tiny"),
        new_code_cell("SCALE = 2"),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return SCALE * x\n    ### END SOLUTION",
                      metadata=nbg("t-double", solution=True)),
        new_code_cell("assert double(2) == 4, 'double(2) should be 4'\n"
                      "### BEGIN HIDDEN TESTS\nassert double(-3) == -6, 'double(-3) should be -6'\n### END HIDDEN TESTS",
                      metadata=nbg("t-double-check", grade=True, locked=True, points=2)),
        new_markdown_cell("Now a value."),
        new_code_cell("answer = None\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION",
                      metadata=nbg("t-answer", solution=True)),
        new_code_cell("assert answer == 42, f'answer should be 42, got {answer}'",
                      metadata=nbg("t-answer-check", grade=True, locked=True, points=1)),
    ])


def more_lesson():
    """A second lesson that reuses a grade id (so CSV columns must be qualified)."""
    return new_notebook(metadata=dict(KERNEL), cells=[
        new_code_cell("def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION",
                      metadata=nbg("t-triple", solution=True)),
        new_code_cell("assert triple(2) == 6", metadata=nbg("t-double-check", grade=True, locked=True, points=2)),
    ])


def answered(student_nb, answers: dict[str, str]):
    nb = nbformat.from_dict(student_nb)
    for cell in nb.cells:
        if assign.grade_id(cell) in answers:
            cell.source = answers[assign.grade_id(cell)]
    return nb


GOOD = {"t-double": "def double(x):\n    return x + x", "t-answer": "answer = 6 * 7"}


@pytest.fixture()
def course(tmp_path):
    """source/ with the instructor notebooks, submissions/<student>/ with the students' copies."""
    source = tmp_path / "source"
    write_notebook(tiny_lesson(), source / "01_tiny.ipynb")
    write_notebook(more_lesson(), source / "02_more.ipynb")
    student = assign.student_copy(tiny_lesson(), "01_tiny.ipynb")
    subs = tmp_path / "submissions"
    write_notebook(answered(student, GOOD), subs / "alice" / "01_tiny.ipynb")
    write_notebook(answered(assign.student_copy(more_lesson()), {"t-triple": "def triple(x):\n    return 3 * x"}),
          subs / "alice" / "02_more.ipynb")
    write_notebook(student, subs / "bob" / "01_tiny.ipynb")
    carol = answered(student, {"t-double": "def double(x):\n    return 4", "t-answer": "answer = 42"})
    carol.cells[3].source = "pass  # the test is gone"
    write_notebook(carol, subs / "carol" / "01_tiny.ipynb")
    dave = answered(student, GOOD)
    del dave.cells[6]  # the answer's check cell
    dave.cells.insert(4, new_code_cell("while True:\n    pass"))
    write_notebook(dave, subs / "dave" / "nested" / "01_tiny.ipynb")  # deeper folders are fine
    write_notebook(answered(student, {**GOOD, "t-answer": "import os\nos._exit(1)"}), subs / "erin" / "01_tiny.ipynb")
    (subs / "erin" / ".ipynb_checkpoints").mkdir()
    write_notebook(student, subs / "erin" / ".ipynb_checkpoints" / "01_tiny-checkpoint.ipynb")  # ignored
    write_notebook(student, subs / "erin" / "scratch.ipynb")  # no source of that name: ignored, with a note
    return tmp_path


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lessons.grade", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=900)


# --------------------------------------------------------------------------- preparing (no kernel)

def test_check_cells_come_from_the_source_hidden_tests_included(course):
    source = tiny_lesson()
    carol = nbformat.read(course / "submissions" / "carol" / "01_tiny.ipynb", as_version=4)
    carol.cells.append(new_code_cell("print('sneaky')", metadata=nbg("made-up", grade=True, locked=True, points=9)))
    carol.cells[2].metadata["nbgrader"]["points"] = 100  # edited metadata of a solution cell
    nb = autograde.prepare(carol, source)
    assert nb.cells[3].source == source.cells[3].source and "double(-3)" in nb.cells[3].source
    assert "nbgrader" not in nb.cells[-1].metadata, "a made-up grade id is not graded"
    assert nb.cells[2].metadata["nbgrader"] == source.cells[2].metadata["nbgrader"]
    assert nb.cells[2].source == "def double(x):\n    return 4", "the learner's answer is kept"


def test_a_deleted_check_cell_is_put_back_after_the_answer(course):
    dave = nbformat.read(course / "submissions" / "dave" / "nested" / "01_tiny.ipynb", as_version=4)
    nb = autograde.prepare(dave, tiny_lesson())
    ids = [assign.grade_id(c) for c in nb.cells]
    assert ids.index("t-answer-check") == ids.index("t-answer") + 1
    assert [i for i in ids if i] == ["t-double", "t-double-check", "t-answer", "t-answer-check"]


# --------------------------------------------------------------------------- grading a folder

@pytest.mark.slow
def test_grade_folder_cli_scores_every_student_and_writes_the_csv(course):
    out = course / "grades.csv"
    res = run_cli(course / "submissions", "--source", course / "source", "--out", out, "--timeout", "10",
                  "--jobs", "2", "--feedback", course / "feedback", "--no-progress", cwd=course)
    assert res.returncode == 0, res.stdout + res.stderr
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert [r[:-1] for r in rows] == [
        ["student", "01_tiny:t-double-check", "t-answer-check", "02_more:t-double-check", "total"],
        ["alice", "2", "1", "2", "5"],
        ["bob", "0", "0", "0", "0"],
        ["carol", "0", "1", "0", "1"],
        ["dave", "2", "1", "0", "3"],
        ["erin", "2", "0", "0", "2"],
    ]
    notes = {r[0]: r[-1] for r in rows[1:]}
    assert rows[0][-1] == "notes" and notes["alice"] == "" and notes["bob"] == "02_more: not handed in"
    assert notes["erin"].startswith("01_tiny: the kernel died") and "02_more: not handed in" in notes["erin"]
    text = res.stdout
    assert "alice: 5 / 5" in text and "bob: 0 / 5" in text
    assert "t-double-check: 0 / 2 — AssertionError: double(-3) should be -6" in text  # carol, hidden test
    assert "NotImplementedError" in text  # bob's unanswered exercise
    assert "kernel died" in text and "did not run" in text  # erin
    assert "02_more.ipynb: not handed in" in text
    assert "ignored erin/scratch.ipynb" in res.stderr
    assert sorted(p.name for p in course.iterdir()) == ["feedback", "grades.csv", "source", "submissions"]
    fb = nbformat.read(course / "feedback" / "dave" / "01_tiny.ipynb", as_version=4)
    assert any(o.get("ename") == "CellTimeoutError" or o.get("ename") == "KeyboardInterrupt"
               for c in fb.cells if c.cell_type == "code" for o in c.outputs), "the endless cell was interrupted"

    before = out.read_bytes()
    res = run_cli(course / "submissions", "--source", course / "source", "--out", out, cwd=course)
    assert res.returncode == 2 and "already exists" in res.stderr and "--force" in res.stderr
    assert out.read_bytes() == before


def test_write_csv_is_atomic_and_never_clobbers(tmp_path):
    out = tmp_path / "g.csv"
    grade.write_csv([["student", "total"], ["a", "1"]], out)
    assert out.read_text() == "student,total\na,1\n"
    with pytest.raises(FileExistsError, match="--force"):
        grade.write_csv([["student", "total"]], out)
    assert out.read_text() == "student,total\na,1\n"
    grade.write_csv([["student", "total"], ["b", "2"]], out, force=True)
    assert out.read_text() == "student,total\nb,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["g.csv"]


def test_bad_folders_are_named(tmp_path):
    (tmp_path / "subs").mkdir()
    with pytest.raises(ValueError, match="no student folders"):
        grade.grade_folder(tmp_path / "subs", tmp_path)
    with pytest.raises(ValueError, match="SUBMISSIONS must be a folder"):
        grade.grade_folder(tmp_path / "nope", tmp_path)
    write_notebook(tiny_lesson(), tmp_path / "subs" / "x" / "other.ipynb")
    with pytest.raises(ValueError, match="none of the submitted notebooks has a source"):
        grade.grade_folder(tmp_path / "subs", write_notebook(tiny_lesson(), tmp_path / "src" / "01_tiny.ipynb").parent)


# --------------------------------------------------------------------------- nbgrader agrees

@pytest.mark.slow
def test_nbgrader_autograde_gives_the_same_points_to_our_student_copies(course, tmp_path):
    """Student copies made by lessons.assign, graded by nbgrader itself, score as lessons.grade scores them."""
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (it is in the [test] extra)")
    root = nbgrader_course(tmp_path / "nbgrader-course", tmp_path / "gradebook.db", {"01_tiny.ipynb": tiny_lesson()}, "ps1")
    for student in ("alice", "bob", "carol"):
        nb = nbformat.read(course / "submissions" / student / "01_tiny.ipynb", as_version=4)
        write_notebook(nb, root / "submitted" / student / "ps1" / "01_tiny.ipynb")
    for args in (["generate_assignment", "ps1", "--force"], ["autograde", "ps1", "--force"]):
        run_nbgrader(root, tmp_path, *args)
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + str(tmp_path / "gradebook.db")) as gb:
        theirs = {s: {g.name: g.score for g in gb.find_submission_notebook("01_tiny", "ps1", s).grades}
                  for s in ("alice", "bob", "carol")}
    read = lambda path: nbformat.read(path, as_version=4)  # noqa: E731
    ours = {s: {c.grade_id: c.points for c in autograde.grade_notebook(
                read(course / "submissions" / s / "01_tiny.ipynb"), read(course / "source" / "01_tiny.ipynb")).checks}
            for s in theirs}
    assert theirs == ours == {"alice": {"t-double-check": 2, "t-answer-check": 1},
                              "bob": {"t-double-check": 0, "t-answer-check": 0},
                              "carol": {"t-double-check": 0, "t-answer-check": 1}}


# --------------------------------------------------------------------------- one submission against the others

MALLORY = (
    "import glob, json, os\n"
    "# find the instructor's notebook and the other submissions from the grader's command line and folder\n"
    "grader = f'/proc/{os.getppid()}'\n"
    "cwd = os.readlink(f'{grader}/cwd')\n"
    "argv = open(f'{grader}/cmdline').read().split('\\0')\n"
    "source = os.path.join(cwd, argv[argv.index('--source') + 1])\n"
    "for path in glob.glob(os.path.join(source, '*.ipynb')) + glob.glob(os.path.join(cwd, 'submissions', 'zed', '*.ipynb')):\n"
    "    nb = json.load(open(path))\n"
    "    for cell in nb['cells']:\n"
    "        if cell['cell_type'] == 'code' and 'assert' in ''.join(cell['source']):\n"
    "            cell['source'] = ['pass  # every check passes now']\n"
    "        if cell.get('metadata', {}).get('nbgrader', {}).get('grade_id') == 't-answer':\n"
    "            cell['source'] = ['answer = 0']  # and zed's right answer is spoiled\n"
    "    json.dump(nb, open(path, 'w'))\n"
    "answer = 0")


@pytest.mark.slow
def test_a_submission_that_rewrites_the_source_and_a_classmate_changes_no_grade(course):
    student = assign.student_copy(tiny_lesson(), "01_tiny.ipynb")
    subs = course / "submissions"
    write_notebook(answered(student, {"t-answer": MALLORY}), subs / "mallory" / "01_tiny.ipynb")
    write_notebook(answered(student, GOOD), subs / "zed" / "01_tiny.ipynb")  # graded after mallory
    for name in ("bob", "carol", "dave", "erin"):  # keep the run short
        for path in (subs / name).rglob("*.ipynb"):
            path.unlink()
    out = course / "grades.csv"
    res = run_cli(subs, "--source", course / "source", "--out", out, "--timeout", "30", "--no-progress", cwd=course)
    assert res.returncode == 0, res.stdout + res.stderr
    source_text = (course / "source" / "01_tiny.ipynb").read_text()
    assert "every check passes now" in source_text, "the attack did reach the files (the grader is no sandbox)"
    rows = {r[0]: r for r in csv.reader(open(out, newline=""))}
    assert rows["mallory"][1:4] == ["0", "0", "0"]  # graded with the checks read before any code ran
    assert rows["zed"][1:3] == ["2", "1"]  # zed's file was spoiled on disk, but the copy read first is graded
    assert "changed on disk while mallory/01_tiny.ipynb was graded" in rows["mallory"][-1]
    assert "changed on disk" in res.stderr


@pytest.mark.slow
def test_a_grader_killed_half_way_leaves_the_rows_it_finished(course):
    student = assign.student_copy(tiny_lesson(), "01_tiny.ipynb")
    subs = course / "submissions"
    for name in ("carol", "dave", "erin"):
        for path in (subs / name).rglob("*.ipynb"):
            path.unlink()
    write_notebook(answered(student, {"t-answer": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"}),
          subs / "mallory" / "01_tiny.ipynb")  # kills the grader itself
    out = course / "grades.csv"
    res = run_cli(subs, "--source", course / "source", "--out", out, "--timeout", "30", "--no-progress", cwd=course)
    assert res.returncode == -9
    rows = list(csv.reader(open(out, newline="")))
    assert [r[0] for r in rows] == ["student", "alice", "bob"]  # graded before mallory (alphabetical)
    assert rows[1][4] == "5" and rows[2][4] == "0"
