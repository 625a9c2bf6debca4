"""Grading one notebook: the check cells from the instructor's source, a fresh kernel, points per check.

The engine behind ``lessons.grade`` (which grades folders and writes the CSV), done the way
``nbgrader autograde`` does it:

1. The check ("grade") cells and read-only cells are taken from the instructor's *source*
   notebook, matched by ``grade_id`` — hidden tests included — whatever the student did to
   their copy. A check cell the student deleted is put back after the cell that preceded it
   in the source. Cells that claim a ``grade_id`` the source does not have lose that claim.
2. The notebook runs top to bottom in a fresh kernel (nbclient) in an empty temporary folder,
   handed over in memory, continuing past errors; a cell running longer than ``timeout``
   seconds is interrupted.
3. Each check cell scores its ``points`` if it ran without error, else 0. A check cell that
   never ran (the kernel died) scores 0. Answers graded by hand (cells that are both solution
   and grade cells) are listed, not scored.

Introduced for instructors (see ``docs/instructors.md``); lessons do not call it.
"""

from __future__ import annotations

import copy
import os
import subprocess
import tempfile
from dataclasses import dataclass, field

import nbformat
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import default

from . import assign

__all__ = ["CURRENT_ENV", "CheckResult", "NotebookResult", "grade_cells", "prepare", "execute", "grade_notebook",
           "grade_unit"]

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

def grade_cells(source_nb) -> list:
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
    assign.validate(source_nb, name)
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


def grade_notebook(submitted, source, *, student: str = "", notebook: str = "notebook.ipynb",
                   timeout: int = 300, kernel: str = CURRENT_ENV) -> NotebookResult:
    """Grade one submitted notebook against the instructor's source notebook.

    Args:
        submitted: the student's notebook (an ``nbformat`` notebook), or ``None`` if unreadable.
        source: the instructor's notebook of the same lesson (``nbformat``), hidden tests included.
        student, notebook: the names recorded in the result.
        timeout: seconds a cell may run.
        kernel: kernelspec name, or ``CURRENT_ENV``.

    Returns:
        A ``NotebookResult`` with one ``CheckResult`` per auto-graded cell of the source.
    """
    cells = grade_cells(source)
    result = NotebookResult(student=student, notebook=notebook,
                            manual=[assign.grade_id(c) for c in source.cells if assign.is_grade(c) and assign.is_solution(c)])
    if submitted is None:
        result.problem = "the notebook could not be read"
        result.checks = [CheckResult(assign.grade_id(c), 0.0, float(c.metadata.nbgrader["points"]), result.problem)
                         for c in cells]
        return result
    executed, status, problem = execute(prepare(submitted, source, name=notebook), timeout=timeout, kernel=kernel)
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


def grade_unit(unit: tuple) -> NotebookResult:
    student, notebook, submitted_text, source_text, timeout, kernel, keep = unit
    try:
        submitted = nbformat.reads(submitted_text, as_version=4)
    except Exception:
        submitted = None
    result = grade_notebook(submitted, nbformat.reads(source_text, as_version=4), student=student,
                            notebook=notebook, timeout=timeout, kernel=kernel)
    if not keep:  # executed notebooks hold figures: megabytes each, times every student
        result.executed = None
    return result
