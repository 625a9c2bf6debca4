"""Student copies of the lesson notebooks, following nbgrader's conventions without nbgrader.

Usage::

    python -m lessons.assign SRC DEST [--force]

``SRC`` is one notebook or a folder of notebooks (``*.ipynb`` directly inside it);
``DEST`` is a folder (created if needed), or a ``.ipynb`` path when ``SRC`` is one notebook.
Each student copy is the instructor's notebook with

- every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the indentation of the
  ``BEGIN`` line (a solution cell without a region is replaced whole; a markdown solution
  cell becomes ``YOUR ANSWER HERE``),
- every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region removed, markers included,
- outputs, execution counts, execution timings and saved widget state cleared,
- the ``nbgrader`` cell metadata kept, and completed the way ``nbgrader generate_assignment``
  completes it (grade and read-only cells locked, a ``checksum`` and ``cell_type`` per
  graded/solution/locked cell), so nbgrader's ``validate`` and ``autograde`` accept the copies.

The result is the same cell for cell as ``nbgrader generate_assignment`` (``tests/test_assign.py``
compares the two). A marker is recognised as nbgrader recognises it: anywhere in a line.

Safety: nothing already in ``DEST`` is overwritten unless ``--force`` is given (a learner's
work is never lost), and even then only the student copies themselves are replaced; files are
written atomically; a notebook is never written over its own source. Unbalanced or nested
markers, a region outside a cell marked for it, and broken nbgrader metadata stop the run
*before anything is written*, with an ``AssignError`` naming the notebook and the cell index.

Introduced for instructors (see ``docs/instructors.md``); lessons do not call it.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat

__all__ = [
    "AssignError",
    "student_copy",
    "plan",
    "assign",
    "is_grade",
    "is_solution",
    "is_locked",
    "grade_id",
    "checksum",
    "validate_metadata",
    "strip_solutions",
    "strip_hidden_tests",
    "clear_outputs",
    "main",
]

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")  # nbgrader's python stub
TEXT_STUB = ("YOUR ANSWER HERE",)
# Cell metadata that records a past run rather than the lesson (JupyterLab's timing, the
# classic notebook's collapse state, the ExecuteTime extension).
_RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")  # nbgrader's schema (v3), non-empty


class AssignError(ValueError):
    """A notebook cannot be turned into a student copy; the message names notebook and cell."""


# --------------------------------------------------------------------------- nbgrader metadata
# The same predicates as ``nbgrader.utils`` so both tools agree on what a cell is.

def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_grade(cell) -> bool:
    """True for an autograded test cell (``nbgrader.grade``)."""
    return bool(_meta(cell).get("grade", False))


def is_solution(cell) -> bool:
    """True for a cell whose answer the learner writes (``nbgrader.solution``)."""
    return bool(_meta(cell).get("solution", False))


def is_locked(cell) -> bool:
    """True when nbgrader restores the cell's source at grading time (grade or read-only cells)."""
    meta = _meta(cell)
    if not meta or is_solution(cell):
        return False
    return is_grade(cell) or bool(meta.get("locked", False))


def grade_id(cell) -> str | None:
    """The cell's ``grade_id`` or ``None``."""
    return _meta(cell).get("grade_id")


def checksum(cell) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``), an md5 hex string.

    nbgrader compares it with the released one to notice an edited read-only cell or an
    unanswered solution cell; computing it the same way keeps our copies valid for nbgrader.
    """
    m = hashlib.md5()
    m.update(cell.source.encode("utf-8"))
    m.update(cell.cell_type.encode("utf-8"))
    m.update(str(is_grade(cell)).encode("utf-8"))
    m.update(str(is_solution(cell)).encode("utf-8"))
    m.update(str(is_locked(cell)).encode("utf-8"))
    m.update(grade_id(cell).encode("utf-8"))
    if is_grade(cell):
        m.update(str(float(_meta(cell)["points"])).encode("utf-8"))
    return m.hexdigest()


def _where(name: str, index: int, cell=None) -> str:
    gid = grade_id(cell) if cell is not None else None
    return f"{name}, cell {index}" + (f" (grade_id {gid!r})" if gid else "")


def validate_metadata(nb, name: str = "notebook") -> None:
    """Check the ``nbgrader`` metadata the way nbgrader's schema v3 does, with clearer errors.

    Raises:
        AssignError: naming the notebook and cell index: a missing or malformed key, an empty
            or invalid grade id, a grade cell without points, a markdown cell that is only a
            solution or only a grade cell, or a grade id used twice.
    """
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta, where = _meta(cell), _where(name, index, cell)
        if meta.get("schema_version") != 3:
            raise AssignError(f"{where}: nbgrader schema_version must be 3, got {meta.get('schema_version')!r}")
        for key in ("grade", "solution", "locked"):
            if not isinstance(meta.get(key), bool):
                raise AssignError(f"{where}: nbgrader metadata needs {key!r} true or false, got {meta.get(key)!r}")
        if not (meta["grade"] or meta["solution"] or meta["locked"]):
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not _GRADE_ID.match(gid):
            raise AssignError(f"{where}: grade_id must be a non-empty string of letters, digits, '-' or '_', got {gid!r}")
        if gid in seen:
            raise AssignError(f"{where}: grade_id {gid!r} is already used by cell {seen[gid]}")
        seen[gid] = index
        if meta["grade"]:
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
                raise AssignError(f"{where}: a grade cell needs points >= 0, got {points!r}")
        if cell.cell_type == "markdown" and not meta.get("task", False) and meta["grade"] != meta["solution"]:
            raise AssignError(f"{where}: a markdown answer cell must be marked both solution and grade")


# --------------------------------------------------------------------------- regions

def _cut_regions(source: str, begin: str, end: str, stub: Sequence[str] | None, where: str) -> tuple[str, bool]:
    """Replace each ``begin``...``end`` region (marker lines included) by ``stub`` lines.

    The stub is indented like the ``begin`` line so a region inside a function body stays
    valid Python. ``stub=None`` deletes the region. Returns ``(new_source, found_a_region)``.
    """
    out: list[str] = []
    start: int | None = None  # 1-based line of the open region's begin marker
    found = False
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            if start is not None:
                raise AssignError(f"{where}: nested '{begin}' on line {number} (the one on line {start} is not closed)")
            start, found = number, True
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                out.extend(indent + s for s in stub)
        elif end in line:
            if start is None:
                raise AssignError(f"{where}: '{end}' on line {number} has no '{begin}' before it")
            start = None
        elif start is None:
            out.append(line)
    if start is not None:
        raise AssignError(f"{where}: '{begin}' on line {start} is never closed by '{end}'")
    return "\n".join(out), found


def strip_solutions(nb, name: str = "notebook") -> None:
    """Replace solution regions (and solution cells without one) by the stub, in place."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("code", "markdown"):
            continue
        where = _where(name, index, cell)
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        source, found = _cut_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub, where)
        if found and not is_solution(cell):
            raise AssignError(
                f"{where}: has a solution region but is not a solution cell; "
                'set metadata {"nbgrader": {"solution": true, "grade_id": ...}} or remove the markers'
            )
        if is_solution(cell) and not found:
            source = "\n".join(stub)  # nbgrader's rule: a solution cell without region is all answer
        cell.source = source


def strip_hidden_tests(nb, name: str = "notebook") -> None:
    """Delete hidden-test regions, marker lines included, in place."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type not in ("code", "markdown"):
            continue
        where = _where(name, index, cell)
        source, found = _cut_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if found and not is_grade(cell):
            raise AssignError(
                f"{where}: has a hidden-test region but is not a grade cell; "
                'set metadata {"nbgrader": {"grade": true, "grade_id": ..., "points": ...}} or remove the markers'
            )
        cell.source = source


def clear_outputs(nb) -> None:
    """Drop outputs, execution counts, run metadata and saved widget state, in place."""
    nb.metadata.pop("widgets", None)  # saved ipywidgets state: stale and large
    nb.metadata.pop("celltoolbar", None)  # the classic notebook's "Create Assignment" toolbar
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in _RUN_METADATA:
            cell.metadata.pop(key, None)


def _lock(nb) -> None:
    # nbgrader's LockCells defaults: learners cannot delete answer or test cells, nor edit tests.
    for cell in nb.cells:
        if is_solution(cell):
            cell.metadata["deletable"] = False
        elif is_grade(cell) or is_locked(cell):
            cell.metadata["deletable"] = False
            cell.metadata["editable"] = False


def _stamp_checksums(nb) -> None:
    for cell in nb.cells:
        if is_grade(cell) or is_solution(cell) or is_locked(cell):
            cell.metadata["nbgrader"]["checksum"] = checksum(cell)
            cell.metadata["nbgrader"]["cell_type"] = cell.cell_type


def student_copy(nb, name: str = "notebook"):
    """Return the student version of an instructor notebook (the input is not modified).

    Args:
        nb: an ``nbformat`` v4 notebook with nbgrader-marked exercise cells.
        name: how errors refer to the notebook (usually its file name).

    Returns:
        A new notebook: solutions stubbed, hidden tests removed, outputs cleared, nbgrader
        metadata kept, locks and checksums added as ``nbgrader generate_assignment`` adds them.

    Raises:
        AssignError: unbalanced or nested markers, a region in a cell not marked for it, or
            broken nbgrader metadata; the message names ``name`` and the cell index.
    """
    nb = copy.deepcopy(nb)
    validate_metadata(nb, name)
    _lock(nb)
    strip_solutions(nb, name)
    clear_outputs(nb)
    strip_hidden_tests(nb, name)
    _stamp_checksums(nb)
    nbformat.validate(nb)
    return nb


# --------------------------------------------------------------------------- files

def _sources(src: Path) -> list[Path]:
    if src.is_dir():
        found = sorted(p for p in src.glob("*.ipynb") if p.is_file())
        if not found:
            raise AssignError(f"no notebooks (*.ipynb) directly inside {src}")
        return found
    if src.is_file() and src.suffix == ".ipynb":
        return [src]
    raise AssignError(f"SRC must be a notebook (.ipynb) or a folder of notebooks, got {str(src)!r}")


def plan(src: str | os.PathLike, dest: str | os.PathLike) -> list[tuple[Path, Path]]:
    """The ``(source notebook, student copy path)`` pairs ``assign`` would write."""
    src, dest = Path(src), Path(dest)
    sources = _sources(src)
    if src.is_file() and dest.suffix == ".ipynb":
        pairs = [(src, dest)]
    else:
        pairs = [(s, dest / s.name) for s in sources]
    for s, d in pairs:
        if d.exists() and d.resolve() == s.resolve():
            raise AssignError(f"DEST would overwrite the instructor's notebook itself: {d}")
    return pairs


def _write_atomic(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def assign(src: str | os.PathLike, dest: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Write student copies of ``src`` (a notebook or a folder of them) into ``dest``.

    Every notebook is converted first and any existing target is checked before a single
    file is written, so a failure leaves ``dest`` exactly as it was.

    Args:
        src: an instructor notebook, or a folder whose ``*.ipynb`` files are all converted.
        dest: the folder for the copies (or a ``.ipynb`` path when ``src`` is one notebook).
        force: replace student copies that already exist. Other files in ``dest`` are never
            touched.

    Returns:
        The paths written.

    Raises:
        FileExistsError: a target exists and ``force`` is false (nothing is written).
        AssignError: a notebook is malformed (nothing is written).
    """
    pairs = plan(src, dest)
    copies = []
    for s, d in pairs:
        try:
            nb = nbformat.read(s, as_version=4)
        except Exception as err:  # unreadable JSON, wrong format: name the file
            raise AssignError(f"{s}: cannot be read as a notebook ({type(err).__name__}: {err})") from err
        copies.append((student_copy(nb, name=str(s)), d))
    existing = [d for _, d in copies if d.exists()]
    if existing and not force:
        names = ", ".join(str(d) for d in existing)
        raise FileExistsError(
            f"refusing to overwrite {len(existing)} existing file(s) in DEST: {names}. "
            "They may hold a learner's work; move them away or pass --force to replace them"
        )
    for nb, d in copies:
        _write_atomic(nb, d)
    return [d for _, d in copies]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m lessons.assign SRC DEST [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m lessons.assign",
        description="Write student copies of lesson notebooks: solutions replaced by "
        "'# YOUR CODE HERE / raise NotImplementedError()', hidden tests removed, outputs cleared.",
    )
    parser.add_argument("src", help="an instructor notebook, or a folder of them (e.g. notebooks)")
    parser.add_argument("dest", help="folder for the student copies (e.g. student)")
    parser.add_argument("--force", action="store_true",
                        help="replace student copies that already exist in DEST (other files are left alone)")
    args = parser.parse_args(argv)
    try:
        written = assign(args.src, args.dest, force=args.force)
    except (AssignError, FileExistsError) as err:
        print(f"lessons.assign: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
