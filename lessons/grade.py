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

How one notebook is graded (check cells from the source, a fresh kernel, points per check cell)
is ``lessons.autograde``'s job; this module finds the submissions, grades them and reports.

The CSV has one row per student: ``student``, one column per check cell (its ``grade_id``,
prefixed ``<notebook>:`` only where two notebooks share an id), ``total`` and ``notes`` (a
kernel that died, a notebook not handed in, a file changed during grading). A row is written
the moment the student's notebooks are graded, so a grader that is killed leaves the rows it
finished; the complete table then replaces the file atomically. It is never written over an
existing file unless ``--force``. A summary (totals, each failed check with the first line of
its feedback, per-exercise pass rates) is printed.

What one submission can and cannot do to the others: every source notebook and every
submission is read into memory *before any student code runs*, and grading uses only those
copies, so a submission that rewrites the instructor's notebook or another student's file on
disk changes nobody's grade (the change is detected by checksum and reported in ``notes``).
Each notebook runs in a fresh, empty temporary folder and is handed to the kernel in memory,
so no path to the source or to other submissions is given to it. This is **not a sandbox**:
the kernel runs with the grader's rights and can read, change or delete any file the grader
can. Grade untrusted work in a container or an account that holds nothing else (nbgrader's
advice for autograding applies).

Introduced for instructors (see ``docs/instructors.md``); lessons do not call it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

from . import assign, autograde
from .autograde import CURRENT_ENV, CheckResult, NotebookResult
from .utils import atomic_write
from .utils import progress as progress_bar

__all__ = ["grade_folder", "row", "table", "write_csv", "summary", "main"]


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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def grade_folder(submissions: str | os.PathLike, source: str | os.PathLike = "notebooks", *,
                 timeout: int = 300, kernel: str = CURRENT_ENV, jobs: int = 1,
                 progress: bool = True, keep_executed: bool = False,
                 on_student: Callable[[str, list[NotebookResult], dict[str, list]], None] | None = None,
                 ) -> tuple[list[NotebookResult], dict[str, list], list[str]]:
    """Grade every ``SUBMISSIONS/<student>/<notebook>.ipynb`` against ``source/<notebook>.ipynb``.

    Every source notebook and every submission is read into memory before any student code
    runs, and only those copies are used; after each notebook the files on disk are compared
    with them (SHA-256), and a change is reported in the student's notes.

    Args:
        submissions: the folder of student folders.
        source: the folder of instructor notebooks (with solutions and hidden tests).
        timeout: seconds a cell may run.
        kernel: kernelspec name, or ``CURRENT_ENV``.
        jobs: notebooks graded at once (each in its own process and kernel).
        progress: show a progress bar.
        keep_executed: keep each executed notebook in its result (for feedback).
        on_student: called with ``(student, results, columns)`` as soon as a student is fully
            graded (``main`` writes the student's CSV row there).

    Returns:
        ``(results, columns, notes)``: one result per student and notebook (a notebook a student
        did not hand in scores 0 with a ``problem``), ``{notebook: [grade cells]}`` of the graded
        lessons, and warnings about files that were skipped or changed.

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
    # Read once, before any student code runs: what a submission does to the files later
    # cannot change what is graded.
    sources = {n: (source / n).read_bytes() for n in lessons}
    columns = {n: autograde.grade_cells(nbformat.reads(sources[n].decode("utf-8"), as_version=4)) for n in lessons}
    files = {(s, n): books[n] for s, books in found.items() for n in lessons if n in books}
    texts = {key: path.read_bytes() for key, path in files.items()}
    units = [(s, n, texts[s, n].decode("utf-8", errors="replace"), sources[n].decode("utf-8"), timeout, kernel,
              keep_executed) for (s, n) in files]

    def tampered(after: str) -> list[str]:
        changed = [f"the source {source / n} changed on disk" for n, data in sources.items()
                   if not (source / n).is_file() or _sha((source / n).read_bytes()) != _sha(data)]
        changed += [f"{path} changed on disk" for key, path in files.items()
                    if not path.is_file() or _sha(path.read_bytes()) != _sha(texts[key])]
        return [f"{c} while {after} was graded; the copy read before grading was used" for c in changed]

    results: list[NotebookResult] = []
    by_student: dict[str, list[NotebookResult]] = {}
    reported: set[str] = set()
    bar = progress_bar(total=len(units), enabled=progress, desc="grading", unit="notebook")

    def finish(result: NotebookResult) -> None:
        results.append(result)
        by_student.setdefault(result.student, []).append(result)
        for note in tampered(f"{result.student}/{result.notebook}"):
            if note.split(" while ")[0] not in reported:
                reported.add(note.split(" while ")[0])
                notes.append(note)
                result.problem = "; ".join(filter(None, [result.problem, note]))
        bar.update()
        if len(by_student[result.student]) == len(found[result.student]) - _unmatched(found[result.student], lessons):
            _complete(result.student, found, lessons, columns, by_student, results, on_student)

    if jobs <= 1:
        for unit in units:
            finish(autograde.grade_unit(unit))
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for r in pool.map(autograde.grade_unit, units):
                finish(r)
    bar.close()
    for student in found:  # students with nothing to grade still get their zero row
        if student not in by_student:
            by_student[student] = []
            _complete(student, found, lessons, columns, by_student, results, on_student)
    results.sort(key=lambda r: (r.student, r.notebook))
    return results, columns, notes


def _unmatched(books: dict[str, Path], lessons: list[str]) -> int:
    return sum(1 for n in books if n not in lessons)


def _complete(student, found, lessons, columns, by_student, results, on_student) -> None:
    """Add the zero results of a student's missing notebooks, then report the student."""
    for n in lessons:
        if n not in found[student]:
            missing = NotebookResult(student, n, [CheckResult(assign.grade_id(c), 0.0, float(c.metadata.nbgrader["points"]),
                                                              "not handed in") for c in columns[n]], problem="not handed in")
            results.append(missing)
            by_student[student].append(missing)
    if on_student is not None:
        on_student(student, sorted(by_student[student], key=lambda r: r.notebook), columns)


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


def _notes(results: list[NotebookResult]) -> str:
    return "; ".join(f"{Path(r.notebook).stem}: {r.problem}" for r in results if r.problem)


def row(student: str, results: list[NotebookResult], columns: dict[str, list]) -> list[str]:
    """One CSV row: the student, points per check (in ``columns`` order), total, notes."""
    scores = {(r.notebook, c.grade_id): c.points for r in results for c in r.checks}
    points = [scores.get((n, gid), 0.0) for n, gid, _ in _column_names(columns)]
    return [student] + [_fmt(p) for p in points] + [_fmt(sum(points)), _notes(results)]


def table(results: list[NotebookResult], columns: dict[str, list]) -> list[list[str]]:
    """The CSV rows (header first): student, one column per check, total, notes."""
    header = ["student"] + [name for _, _, name in _column_names(columns)] + ["total", "notes"]
    students = sorted({r.student for r in results})
    return [header] + [row(s, [r for r in results if r.student == s], columns) for s in students]


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def write_csv(rows: list[list[str]], out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write rows atomically; never replace an existing file unless ``force``."""
    out = Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    return atomic_write(out, _csv(rows))


class _RowsAsTheyComplete:
    """The CSV file while grading runs: the header, then each student's row once graded, flushed
    to disk at once — a grader killed half-way leaves every row it finished."""

    def __init__(self, out: Path, header: list[str], *, force: bool) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(out, "w" if force else "x", encoding="utf-8", newline="")  # "x": never clobber
        self.write(header)

    def write(self, fields: list[str]) -> None:
        self.file.write(_csv([fields]))
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


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
        assign.write_notebook(r.executed, path)


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
    rows: list[_RowsAsTheyComplete] = []

    def on_student(student: str, results: list[NotebookResult], columns: dict[str, list]) -> None:
        if not rows:  # the header needs the columns, known once the sources are read
            rows.append(_RowsAsTheyComplete(out, table([], columns)[0], force=args.force))
        rows[0].write(row(student, results, columns))

    try:
        results, columns, notes = grade_folder(args.submissions, args.source, timeout=args.timeout,
                                               kernel=args.kernel, jobs=args.jobs, progress=not args.no_progress,
                                               keep_executed=bool(args.feedback), on_student=on_student)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        if rows:
            rows[0].close()
        write_csv(table(results, columns), out, force=True)  # the whole table, atomically, from memory
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
