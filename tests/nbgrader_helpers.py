"""Synthetic nbgrader notebooks and courses, shared by the tests of ``lessons.assign`` and ``lessons.grade``.

A module of its own, not ``conftest``: with ``tests/browser/conftest.py`` also on the path, the name
``conftest`` can resolve to either file depending on collection order (CI saw exactly that).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

KERNEL = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
          "language_info": {"name": "python"}}


def nbg(gid, *, grade=False, solution=False, locked=False, points=None) -> dict:
    """Cell metadata in nbgrader's schema v3."""
    meta = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def write_notebook(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def nbgrader_course(root: Path, db: Path, notebooks: dict[str, object], assignment: str) -> Path:
    """An nbgrader course folder at ``root`` with ``notebooks`` as the source of ``assignment``."""
    for name, nb in notebooks.items():
        write_notebook(nb, root / "source" / assignment / name)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'blind-spots'\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(db)!r}\n")
    return root


def run_nbgrader(root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader <args>`` in ``root``, isolated from any user-level Jupyter configuration."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # nbgrader runs `alembic`
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")
    res = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res
