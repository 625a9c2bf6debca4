"""Shared fixtures: a small, fixed batch of digits and cheap models, all on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from lessons import data, models


@pytest.fixture(scope="session")
def mnist():
    return data.load_mnist()


@pytest.fixture(scope="session")
def digits(mnist):
    """32 held-out digits and their labels."""
    return mnist.x_test[:32].clone(), mnist.y_test[:32].clone()


@pytest.fixture(scope="session")
def cnn():
    """The cached LeNet-style CNN on the CPU (trained on first use)."""
    return models.pretrained("cnn", device="cpu", progress=False)


@pytest.fixture()
def tiny_cnn():
    """An untrained, seeded CNN: cheap, with conv layers, for property tests."""
    torch.manual_seed(0)
    return models.lenet().eval()


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """Point LESSONS_CACHE at an empty folder for the duration of a test."""
    monkeypatch.setenv("LESSONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LESSONS_SHARED_CACHE", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for the module's tests: the suite shares a small CPU, and tiny tensors
    gain nothing from threads. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- synthetic nbgrader notebooks
# Shared by the tests of lessons.assign and lessons.grade: import them with `from conftest import ...`.

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
