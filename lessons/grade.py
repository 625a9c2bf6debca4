"""Grade a folder of submitted notebooks: run each one, score its check cells, write a CSV.

Usage::

    python -m lessons.grade SUBMISSIONS --out grades.csv [--source notebooks] [--force]
                            [--timeout 300] [--jobs 1] [--feedback DIR] [--kernel NAME]

Folder layout expected (one folder per student; the notebook keeps the name it was released
under, so it can be matched with the instructor's notebook of the same name in ``--source``)::

    SUBMISSIONS/
        alice/01_imperceptible_perturbations.ipynb
        alice/02_transferability.ipynb
        bob/01_imperceptible_perturbations.ipynb
        ...

Notebooks may sit deeper inside a student's folder (nbgrader's ``submitted/<student>/<assignment>/``
layout works as is); ``.ipynb_checkpoints`` and hidden folders are ignored.

How a submission is graded (the way ``nbgrader autograde`` does it):

1. The check ("grade") cells and read-only cells are taken from the instructor's *source*
   notebook, matched by ``grade_id`` — hidden tests included — whatever the student did to
   their copy. A check cell the student deleted is put back after the cell that preceded it
   in the source. Cells that claim a ``grade_id`` the source does not have lose that claim.
2. The notebook runs top to bottom in a fresh kernel (nbclient) in an empty temporary folder,
   continuing past errors; a cell running longer than ``--timeout`` seconds is interrupted.
3. Each check cell scores its ``points`` if it ran without error, else 0. A check cell that
   never ran (the kernel died) scores 0. Answers graded by hand (cells that are both solution
   and grade cells) are listed, not scored.

The CSV has one row per student: ``student``, one column per check cell (its ``grade_id``,
prefixed ``<notebook>:`` only where two notebooks share an id), and ``total``. It is written
atomically and never over an existing file unless ``--force``. A summary (totals, each failed
check with the first line of its feedback, per-exercise pass rates) is printed.

Grading runs the students' code: do it in a container or an account that holds nothing else.

Introduced for instructors (see ``docs/instructors.md``); lessons do not call it.
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from traitlets import default

from . import assign

__all__ = ["CheckResult", "NotebookResult", "prepare", "execute", "grade_notebook", "grade_folder",
           "table", "write_csv", "summary", "main"]

CURRENT_ENV = ":current-env"  # kernel name meaning "this Python", where `lessons` is installed


# --------------------------------------------------------------------------- kernel

class _CurrentEnvSpecs(KernelSpecManager):
    """Kernel specs plus one for the running interpreter (as nbval's --nbval-current-env).

    A notebook's ``python3`` kernelspec may point at another Python on an instructor's
    machine, where ``lessons`` is not installed: every check would then fail with
    ``ModuleNotFoundError`` and every student would score 0.
    """

    def get_kernel_spec(self, kernel_name):
        if kernel_name == CURRENT_ENV:
            from ipykernel.kernelspec import RESOURCES, get_kernel_dict

            return self.kernel_spec_class(resource_dir=RESOURCES, **get_kernel_dict())
        return super().get_kernel_spec(kernel_name)


class _KernelManager(AsyncKernelManager):
    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self):
        return _CurrentEnvSpecs(data_dir=self.data_dir)


# --------------------------------------------------------------------------- results

@dataclass
class CheckResult:
    """The score of one check cell."""

    grade_id: str
    points: float  # awarded
    max_points: float
    message: str = ""  # first line of the error ("ExerciseError: ..."), or why it did not run
    warning: str = ""  # ran fine but nbgrader would score it differently (stderr, a result value)


@dataclass
class NotebookResult:
    """Scores of one student's notebook."""

    student: str
    notebook: str  # file name, e.g. "01_imperceptible_perturbations.ipynb"
    checks: list[CheckResult] = field(default_factory=list)
    problem: str = ""  # unreadable file, kernel died, ...
    manual: list[str] = field(default_factory=list)  # grade_ids left to a human
    executed: object = None  # the executed notebook (for --feedback)


# --------------------------------------------------------------------------- preparing

def _grade_cells(source_nb) -> list:
    """Auto-graded cells of the instructor notebook, in order (hand-graded answers excluded)."""
    return [c for c in source_nb.cells if assign.is_grade(c) and not assign.is_solution(c)]


def prepare(submitted_nb, source_nb, name: str = "notebook"):
    """The notebook to execute: the student's cells, with check/read-only cells from the source.

    Args:
        submitted_nb: the student's notebook (not modified).
        source_nb: the instructor's notebook, with solutions and hidden tests.
        name: how errors refer to the source notebook.

    Returns:
        A new notebook, outputs cleared, in which every locked source cell (check cells and
        read-only cells) appears exactly once with the source's text and metadata.
    """
    assign.validate_metadata(source_nb, name)
    nb = copy.deepcopy(submitted_nb)
    assign.clear_outputs(nb)
    by_id = {assign.grade_id(c): c for c in source_nb.cells if assign.grade_id(c) and _has_role(c)}
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        gid = assign.grade_id(cell)
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        if gid not in by_id or gid in seen:
            # a made-up or duplicated id is not graded: the cell runs as a plain cell
            del cell.metadata["nbgrader"]
            continue
        seen.add(gid)
        src = by_id[gid]
        if assign.is_locked(src):
            nb.cells[i] = _fresh(src)
        else:
            cell.metadata["nbgrader"] = copy.deepcopy(src.metadata["nbgrader"])
    _reinsert_missing(nb, source_nb, seen)
    return nb


def _has_role(cell) -> bool:
    return assign.is_grade(cell) or assign.is_solution(cell) or assign.is_locked(cell)


def _fresh(src_cell):
    cell = copy.deepcopy(src_cell)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _reinsert_missing(nb, source_nb, present: set[str]) -> None:
    # Put a deleted locked cell back after the nearest earlier id'd source cell that the
    # submission still has (else before the nearest later one, else at the end).
    ids = [assign.grade_id(c) for c in source_nb.cells]
    for k, src in enumerate(source_nb.cells):
        gid = ids[k]
        if not gid or not assign.is_locked(src) or gid in present:
            continue
        where = {assign.grade_id(c): j for j, c in enumerate(nb.cells) if assign.grade_id(c)}
        before = [where[g] for g in ids[:k] if g in where]
        after = [where[g] for g in ids[k + 1:] if g in where]
        at = before[-1] + 1 if before else (after[0] if after else len(nb.cells))
        nb.cells.insert(at, _fresh(src))
        present.add(gid)


# --------------------------------------------------------------------------- running

def execute(nb, *, cwd: str | os.PathLike | None = None, timeout: int = 300,
            kernel: str = CURRENT_ENV) -> tuple[object, dict[int, str], str]:
    """Run a notebook top to bottom in a fresh kernel, continuing past errors.

    Args:
        nb: the notebook (not modified).
        cwd: the kernel's working folder (default: a new empty temporary folder).
        timeout: seconds a cell may run before it is interrupted (and counts as an error).
        kernel: a kernelspec name, or ``CURRENT_ENV`` for the Python running this code.

    Returns:
        ``(executed_notebook, status_by_cell_index, problem)``: each executed code cell's
        reply status (``"ok"`` or ``"error"``), and a message when the run stopped early
        (the kernel died or would not start), else ``""``.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = copy.deepcopy(nb)
    status: dict[int, str] = {}

    def record(cell, cell_index, execute_reply):
        status[cell_index] = (execute_reply or {}).get("content", {}).get("status", "error")

    with tempfile.TemporaryDirectory(prefix="lessons-grade-") as tmp:
        client = NotebookClient(
            nb, kernel_name=kernel, kernel_manager_class=_KernelManager,
            timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
            error_on_timeout={"ename": "CellTimeoutError",
                              "evalue": f"the cell ran longer than {timeout} s and was interrupted",
                              "traceback": []},
            record_timing=False, skip_cells_with_tag="", on_cell_executed=record,
            resources={"metadata": {"path": str(cwd or tmp)}},
        )
        problem = ""
        try:
            # the kernel process's own log (e.g. "running over TCP without encryption") is
            # noise here; what the notebook prints reaches its outputs either way
            client.execute(stderr=subprocess.DEVNULL)
        except DeadKernelError as err:
            problem = f"the kernel died ({err}); later cells did not run"
        except CellTimeoutError as err:  # only if the interrupt itself failed
            problem = f"a cell timed out and could not be interrupted ({str(err).splitlines()[0]})"
        except RuntimeError as err:  # kernel failed to start
            problem = f"the notebook could not be run ({type(err).__name__}: {err})"
    return nb, status, problem


def _first_error(cell) -> str:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            first = (str(out.get("evalue", "")).strip().splitlines() or [""])[0]
            return f"{out.get('ename', 'Error')}: {first}".rstrip(": ")
    return ""


def _nbgrader_disagrees(cell) -> str:
    # nbgrader's determine_grade gives 0 for any stderr output and reads a cell's result as
    # partial credit; flag both so an instructor using nbgrader is not surprised.
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "wrote to stderr (nbgrader would score this cell 0)"
        if out.get("output_type") == "execute_result":
            return "has a result value (nbgrader would read it as partial credit)"
    return ""


def grade_notebook(submission: str | os.PathLike, source: str | os.PathLike, *, student: str = "",
                   timeout: int = 300, kernel: str = CURRENT_ENV) -> NotebookResult:
    """Grade one submitted notebook against the instructor's source notebook.

    Args:
        submission: the student's ``.ipynb``.
        source: the instructor's ``.ipynb`` of the same lesson.
        student: the name recorded in the result.
        timeout: seconds a cell may run.
        kernel: kernelspec name, or ``CURRENT_ENV``.

    Returns:
        A ``NotebookResult`` with one ``CheckResult`` per auto-graded cell of the source.
    """
    submission, source = Path(submission), Path(source)
    source_nb = nbformat.read(source, as_version=4)
    cells = _grade_cells(source_nb)
    result = NotebookResult(student=student, notebook=submission.name,
                            manual=[assign.grade_id(c) for c in source_nb.cells
                                    if assign.is_grade(c) and assign.is_solution(c)])

    def zero(message: str) -> list[CheckResult]:
        return [CheckResult(assign.grade_id(c), 0.0, float(c.metadata.nbgrader["points"]), message) for c in cells]

    try:
        submitted = nbformat.read(submission, as_version=4)
    except Exception as err:
        result.problem = f"cannot read {submission} ({type(err).__name__})"
        result.checks = zero("the notebook could not be read")
        return result
    nb = prepare(submitted, source_nb, name=str(source))
    executed, status, problem = execute(nb, timeout=timeout, kernel=kernel)
    result.problem, result.executed = problem, executed
    index = {assign.grade_id(c): i for i, c in enumerate(executed.cells) if assign.grade_id(c)}
    for src in cells:
        gid, most = assign.grade_id(src), float(src.metadata.nbgrader["points"])
        i = index[gid]
        cell = executed.cells[i]
        if i not in status:
            result.checks.append(CheckResult(gid, 0.0, most, "did not run" + (f": {problem}" if problem else "")))
        elif status[i] != "ok" or _first_error(cell):
            result.checks.append(CheckResult(gid, 0.0, most, _first_error(cell) or "the cell failed"))
        else:
            result.checks.append(CheckResult(gid, most, most, warning=_nbgrader_disagrees(cell)))
    return result


def _grade_unit(unit: tuple) -> NotebookResult:
    student, submission, source, timeout, kernel, keep = unit
    result = grade_notebook(submission, source, student=student, timeout=timeout, kernel=kernel)
    if not keep:  # executed notebooks hold figures: megabytes each, times every student
        result.executed = None
    return result


# --------------------------------------------------------------------------- folders

def _find_submissions(root: Path) -> tuple[dict[str, dict[str, Path]], list[str]]:
    """``{student: {notebook file name: path}}`` and warnings about what was ignored."""
    found: dict[str, dict[str, Path]] = {}
    notes: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if entry.suffix == ".ipynb":
                notes.append(f"ignored {entry.name}: notebooks belong in SUBMISSIONS/<student>/")
            continue
        books: dict[str, Path] = {}
        for path in sorted(entry.rglob("*.ipynb")):
            rel = path.relative_to(entry)
            if any(part.startswith(".") for part in rel.parts):  # .ipynb_checkpoints, ...
                continue
            if path.name in books:
                raise ValueError(f"student {entry.name!r} has two notebooks named {path.name}: "
                                 f"{books[path.name]} and {path}; keep one")
            books[path.name] = path
        found[entry.name] = books
    return found, notes


def grade_folder(submissions: str | os.PathLike, source: str | os.PathLike = "notebooks", *,
                 timeout: int = 300, kernel: str = CURRENT_ENV, jobs: int = 1,
                 progress: bool = True, keep_executed: bool = False,
                 ) -> tuple[list[NotebookResult], dict[str, list], list[str]]:
    """Grade every ``SUBMISSIONS/<student>/<notebook>.ipynb`` against ``source/<notebook>.ipynb``.

    Args:
        submissions: the folder of student folders.
        source: the folder of instructor notebooks (with solutions and hidden tests).
        timeout: seconds a cell may run.
        kernel: kernelspec name, or ``CURRENT_ENV``.
        jobs: notebooks graded at once (each in its own process and kernel).
        progress: show a progress bar.
        keep_executed: keep each executed notebook in its result (for feedback).

    Returns:
        ``(results, columns, notes)``: one result per student and notebook (a notebook a student
        did not hand in scores 0 with a ``problem``), ``{notebook: [grade cells]}`` of the graded
        lessons, and warnings about files that were skipped.

    Raises:
        ValueError: no student folders, or nothing that matches a source notebook.
    """
    root, source = Path(submissions), Path(source)
    if not root.is_dir():
        raise ValueError(f"SUBMISSIONS must be a folder of student folders, got {str(root)!r}")
    if not source.is_dir():
        raise ValueError(f"--source must be the folder of instructor notebooks, got {str(source)!r}")
    found, notes = _find_submissions(root)
    if not found:
        raise ValueError(f"no student folders in {root} (expected {root}/<student>/<notebook>.ipynb)")
    lessons = sorted({n for books in found.values() for n in books if (source / n).is_file()})
    for student, books in found.items():
        for n in sorted(set(books) - set(lessons)):
            notes.append(f"ignored {student}/{n}: no notebook of that name in {source}")
    if not lessons:
        raise ValueError(f"none of the submitted notebooks has a source of the same name in {source}")
    columns = {n: _grade_cells(nbformat.read(source / n, as_version=4)) for n in lessons}
    units = [(s, books[n], source / n, timeout, kernel, keep_executed)
             for s, books in found.items() for n in lessons if n in books]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(units), desc="grading", unit="notebook", disable=not progress)
    results: list[NotebookResult] = []
    if jobs <= 1:
        for unit in units:
            results.append(_grade_unit(unit))
            bar.update()
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for r in pool.map(_grade_unit, units):
                results.append(r)
                bar.update()
    bar.close()
    for s, books in found.items():  # lessons a student did not hand in
        for n in lessons:
            if n not in books:
                results.append(NotebookResult(
                    s, n, [CheckResult(assign.grade_id(c), 0.0, float(c.metadata.nbgrader["points"]),
                                       "not handed in") for c in columns[n]], problem="not handed in"))
    results.sort(key=lambda r: (r.student, r.notebook))
    return results, columns, notes


def _column_names(columns: dict[str, list]) -> list[tuple[str, str, str]]:
    """``(notebook, grade_id, column name)`` for every check, ids qualified only when shared."""
    count: dict[str, int] = {}
    for cells in columns.values():
        for c in cells:
            count[assign.grade_id(c)] = count.get(assign.grade_id(c), 0) + 1
    out = []
    for n, cells in columns.items():
        for c in cells:
            gid = assign.grade_id(c)
            out.append((n, gid, gid if count[gid] == 1 else f"{Path(n).stem}:{gid}"))
    return out


def _fmt(x: float) -> str:
    return f"{x:g}"


def table(results: list[NotebookResult], columns: dict[str, list]) -> list[list[str]]:
    """The CSV rows (header first): student, one column per check, total."""
    names = _column_names(columns)
    scores = {(r.student, r.notebook, c.grade_id): c.points for r in results for c in r.checks}
    rows = [["student"] + [name for _, _, name in names] + ["total"]]
    for student in sorted({r.student for r in results}):
        points = [scores.get((student, n, gid), 0.0) for n, gid, _ in names]
        rows.append([student] + [_fmt(p) for p in points] + [_fmt(sum(points))])
    return rows


def write_csv(rows: list[list[str]], out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write rows atomically; never replace an existing file unless ``force``."""
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
        if force:
            os.replace(tmp, out)
        else:
            os.link(tmp, out)  # fails if the file appeared meanwhile: never clobber
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def summary(results: list[NotebookResult], columns: dict[str, list]) -> str:
    """A readable report: each student's total and failed checks, then pass rates per check."""
    lines = []
    most = sum(float(c.metadata.nbgrader["points"]) for cells in columns.values() for c in cells)
    by_student: dict[str, list[NotebookResult]] = {}
    for r in results:
        by_student.setdefault(r.student, []).append(r)
    for student, rs in sorted(by_student.items()):
        got = sum(c.points for r in rs for c in r.checks)
        lines.append(f"{student}: {_fmt(got)} / {_fmt(most)}")
        for r in rs:
            if r.problem:
                lines.append(f"    {r.notebook}: {r.problem}")
            for c in r.checks:
                if c.points < c.max_points and r.problem != "not handed in":
                    lines.append(f"    {c.grade_id}: 0 / {_fmt(c.max_points)} — {c.message}")
                if c.warning:
                    lines.append(f"    {c.grade_id}: note: {c.warning}")
            if r.manual:
                lines.append(f"    {r.notebook}: graded by hand, not scored here: {', '.join(r.manual)}")
    lines.append("")
    lines.append("pass rate per check:")
    for n, gid, name in _column_names(columns):
        got = [c.points == c.max_points for r in results if r.notebook == n for c in r.checks if c.grade_id == gid]
        lines.append(f"    {name}: {sum(got)} / {len(got)} students")
    return "\n".join(lines)


def _write_feedback(results: list[NotebookResult], folder: Path, force: bool) -> None:
    targets = [(r, folder / r.student / r.notebook) for r in results if r.executed is not None]
    clash = [str(p) for _, p in targets if p.exists()]
    if clash and not force:
        raise FileExistsError(f"refusing to overwrite feedback notebooks: {', '.join(clash)}; pass --force")
    for r, path in targets:
        assign._write_atomic(r.executed, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m lessons.grade SUBMISSIONS --out grades.csv``."""
    parser = argparse.ArgumentParser(
        prog="python -m lessons.grade",
        description="Run every SUBMISSIONS/<student>/<notebook>.ipynb with the check cells of the "
        "instructor's notebook of the same name (hidden tests included) and write points per "
        "check per student to a CSV.",
    )
    parser.add_argument("submissions", help="folder with one folder per student")
    parser.add_argument("--out", required=True, help="CSV file to write (e.g. grades.csv)")
    parser.add_argument("--source", default="notebooks", help="folder of instructor notebooks (default: notebooks)")
    parser.add_argument("--force", action="store_true", help="replace an existing CSV / feedback notebooks")
    parser.add_argument("--timeout", type=int, default=300, help="seconds a cell may run (default: 300)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default: 1)")
    parser.add_argument("--kernel", default=CURRENT_ENV,
                        help="kernelspec to run in (default: the Python running this command)")
    parser.add_argument("--feedback", metavar="DIR",
                        help="also save each executed notebook as DIR/<student>/<notebook>.ipynb")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not args.force:  # fail before an hour of grading, not after
        print(f"lessons.grade: error: {out} already exists; pass --force to replace it", file=sys.stderr)
        return 2
    feedback = Path(args.feedback) if args.feedback else None
    if feedback and feedback.is_dir() and any(feedback.rglob("*.ipynb")) and not args.force:
        print(f"lessons.grade: error: {feedback} already holds feedback notebooks; pass --force to replace them",
              file=sys.stderr)
        return 2
    if args.timeout < 1 or args.jobs < 1:
        print("lessons.grade: error: --timeout and --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        results, columns, notes = grade_folder(args.submissions, args.source, timeout=args.timeout,
                                               kernel=args.kernel, jobs=args.jobs,
                                               progress=not args.no_progress,
                                               keep_executed=bool(args.feedback))
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        write_csv(table(results, columns), out, force=args.force)
        if feedback:
            _write_feedback(results, feedback, args.force)
    except (ValueError, FileExistsError) as err:
        print(f"lessons.grade: error: {err}", file=sys.stderr)
        return 2
    print(summary(results, columns))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
