"""Student copies of the lesson notebooks, made by nbgrader's own preprocessors.

Usage::

    python -m lessons.assign SRC DEST [--force]

``SRC`` is one notebook or a folder of notebooks (``*.ipynb`` directly inside it);
``DEST`` is a folder (created if needed), or a ``.ipynb`` path when ``SRC`` is one notebook.
Needs nbgrader (the ``instructor`` extra: ``pip install -e '.[instructor]'``; ``make assign``
installs it).

Each student copy is what ``nbgrader generate_assignment`` releases, made by the same
preprocessors in the same order (``LockCells``, ``ClearSolutions``, ``ClearOutput``,
``CheckCellMetadata``, ``ComputeChecksums``, ``ClearHiddenTests``, ``ClearMarkScheme``,
``ComputeChecksums``, ``CheckCellMetadata``) but without nbgrader's course folder and database:
solution regions become ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, hidden tests
are removed, outputs are cleared, answer and test cells are locked and carry checksums.

What this module adds, and why (a learner's work must never be lost):

- **it checks every notebook before writing anything**, and its errors name the notebook and
  the cell (``AssignError``). nbgrader's own errors name neither: a nested solution marker is
  "RuntimeError: encountered nested begin solution statements", and a region outside a
  solution cell "Solution region detected in a non-solution cell" — with no file or cell index;
- **a plan first, then atomic writes**: nothing in ``DEST`` is overwritten unless ``--force``,
  and even then only the student copies themselves; a notebook is never written over its own
  source; a failure leaves ``DEST`` as it was;
- saved widget state and run metadata (timings, collapse state) are removed too:
  ``ClearOutput`` keeps the notebook-level widget state, which is stale and large.

Introduced for instructors (see ``docs/instructors.md``); lessons do not call it.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    LockCells,
)
from nbgrader.utils import is_grade, is_locked, is_solution

from .utils import atomic_write

__all__ = [
    "AssignError",
    "student_copy",
    "plan",
    "assign",
    "is_grade",
    "is_solution",
    "is_locked",
    "grade_id",
    "validate",
    "clear_outputs",
    "write_notebook",
    "main",
]

MARKERS = (("BEGIN SOLUTION", "END SOLUTION", is_solution, "solution", '"solution": true'),
           ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", is_grade, "grade", '"grade": true, "points": ...'))
# Cell metadata that records a past run rather than the lesson (JupyterLab's timing, the
# classic notebook's collapse state, the ExecuteTime extension).
_RUN_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_\-]+$")  # nbgrader's schema (v3), non-empty
# generate_assignment's preprocessors, minus those that need a course folder or a database
# (IncludeHeaderFooter, InstantiateTests, SaveCells); ComputeChecksums runs again after the
# hidden tests are gone, as nbgrader does.
_PIPELINE = (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
             ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata)


class AssignError(ValueError):
    """A notebook cannot be turned into a student copy; the message names notebook and cell."""


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell) -> str | None:
    """The cell's ``grade_id`` or ``None``."""
    return _meta(cell).get("grade_id")


def _where(name: str, index: int, cell) -> str:
    gid = grade_id(cell)
    return f"{name}, cell {index}" + (f" (grade_id {gid!r})" if gid else "")


def _check_regions(source: str, begin: str, end: str, where: str) -> bool:
    """Balanced, unnested ``begin`` ... ``end`` lines (nbgrader's rule: anywhere in a line)?"""
    start = None
    found = False
    for number, line in enumerate(source.split("\n"), start=1):
        if begin in line:
            if start is not None:
                raise AssignError(f"{where}: nested '{begin}' on line {number} (the one on line {start} is not closed)")
            start, found = number, True
        elif end in line:
            if start is None:
                raise AssignError(f"{where}: '{end}' on line {number} has no '{begin}' before it")
            start = None
    if start is not None:
        raise AssignError(f"{where}: '{begin}' on line {start} is never closed by '{end}'")
    return found


def validate(nb, name: str = "notebook") -> None:
    """Check the nbgrader metadata (schema v3) and the markers, naming notebook and cell.

    Raises:
        AssignError: a missing or malformed key, an empty or invalid grade id, a grade cell
            without points, a markdown cell that is only a solution or only a grade cell, a
            grade id used twice, unbalanced or nested markers, or a region in a cell not
            marked for it.
    """
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        where = _where(name, index, cell)
        for begin, end, marked, role, meta_hint in MARKERS:
            if cell.cell_type in ("code", "markdown") and _check_regions(cell.source, begin, end, where) \
                    and not marked(cell):
                raise AssignError(f"{where}: has a '{begin}' region but is not a {role} cell; set metadata "
                                  f'{{"nbgrader": {{{meta_hint}, "grade_id": ...}}}} or remove the markers')
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta = _meta(cell)
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


def student_copy(nb, name: str = "notebook"):
    """Return the student version of an instructor notebook (the input is not modified).

    Args:
        nb: an ``nbformat`` v4 notebook with nbgrader-marked exercise cells.
        name: how errors refer to the notebook (usually its file name).

    Returns:
        A new notebook, as ``nbgrader generate_assignment`` releases it.

    Raises:
        AssignError: see ``validate``; the message names ``name`` and the cell index.
    """
    nb = copy.deepcopy(nb)
    validate(nb, name)
    resources: dict = {}
    for step in _PIPELINE:
        nb, resources = step().preprocess(nb, resources)
    clear_outputs(nb)
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


def plan(src: str | Path, dest: str | Path) -> list[tuple[Path, Path]]:
    """The ``(source notebook, student copy path)`` pairs ``assign`` would write."""
    src, dest = Path(src), Path(dest)
    sources = _sources(src)
    pairs = [(src, dest)] if src.is_file() and dest.suffix == ".ipynb" else [(s, dest / s.name) for s in sources]
    for s, d in pairs:
        if d.exists() and d.resolve() == s.resolve():
            raise AssignError(f"DEST would overwrite the instructor's notebook itself: {d}")
    return pairs


def write_notebook(nb, path: str | Path) -> Path:
    """Write a notebook atomically (``utils.atomic_write``): readers never see half a file."""
    return atomic_write(path, nbformat.writes(nb) + "\n")


def assign(src: str | Path, dest: str | Path, *, force: bool = False) -> list[Path]:
    """Write student copies of ``src`` (a notebook or a folder of them) into ``dest``.

    Every notebook is converted first and any existing target is checked before a single
    file is written, so a failure leaves ``dest`` exactly as it was.

    Args:
        src: an instructor notebook, or a folder whose ``*.ipynb`` files are all converted.
        dest: the folder for the copies (or a ``.ipynb`` path when ``src`` is one notebook).
        force: replace student copies that already exist. Other files in ``dest`` are never touched.

    Returns:
        The paths written.

    Raises:
        FileExistsError: a target exists and ``force`` is false (nothing is written).
        AssignError: a notebook is malformed (nothing is written).
    """
    copies = []
    for s, d in plan(src, dest):
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
    return [write_notebook(nb, d) for nb, d in copies]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m lessons.assign SRC DEST [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m lessons.assign",
        description="Write student copies of lesson notebooks with nbgrader's preprocessors: solutions "
        "replaced by '# YOUR CODE HERE / raise NotImplementedError()', hidden tests removed, outputs cleared.",
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
