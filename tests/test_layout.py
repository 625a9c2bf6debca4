"""The library's layout: rooms with one job each, arrows that run one way, no room too big.

    utils → cache → data, models → attacks → lesson modules → viz → widgets, panels → checks, assign, grade, warm

Imports are read from the source (``ast``), at the top level *and* inside functions, so an
import hidden in a function body counts like any other. A module not named below is a lesson
module (the room a new lesson's code goes into).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LESSONS = Path(__file__).resolve().parents[1] / "lessons"

ROOMS = {  # room → level: a module may import modules of its own level or lower, never higher
    "utils": 0,
    "cache": 1,
    "data": 2,
    "models": 2,
    "attacks": 3,
    "viz": 5,
    "widgets": 6,
    "panels": 6,
    "checks": 7,
    "assign": 7,
    "grade": 7,
    "autograde": 7,
    "warm": 7,
}
LESSON_LEVEL = 4
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(LESSONS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(LESSONS.rglob("*.py"))}


def _room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _level(module: str) -> int:
    return -1 if module == "lessons" else ROOMS.get(_room(module), LESSON_LEVEL)


def _imports(module: str, path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported lessons module, line, inside a function?) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # `from . import viz` imports a module; `from .utils import check_images` a name
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names]
            for target in targets:
                while target and target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in known and target != module:
                    found.append((target, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, list[tuple[str, int, bool]]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_no_import_cycle(graph):
    edges = {m: {t for t, _, _ in deps if t != "lessons"} for m, deps in graph.items()}
    # A package imports its own submodules (to re-export them); that edge is not a cycle.
    for m in edges:
        edges[m] = {t for t in edges[m] if not t.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            dfs(node)


def test_arrows_run_one_way(graph):
    wrong = [f"{m}:{line} imports {t} ({_room(m)} is level {_level(m)}, {_room(t)} is level {_level(t)})"
             for m, deps in graph.items() for t, line, _ in deps
             if _level(t) > _level(m) and not t.startswith(m + ".")]
    assert not wrong, "a room imports a later room:\n" + "\n".join(wrong)


def test_lesson_modules_never_import_their_ui(graph):
    ui = {"viz", "widgets", "panels"}
    wrong = [f"{m}:{line} imports {t}" + (" inside a function" if inner else "")
             for m, deps in graph.items() if _level(m) <= LESSON_LEVEL
             for t, line, inner in deps if _room(t) in ui]
    assert not wrong, "lesson logic must not import figures or widgets:\n" + "\n".join(wrong)


def test_no_lessons_import_hides_inside_a_function(graph):
    hidden = [f"{m}:{line} imports {t}" for m, deps in graph.items() for t, line, inner in deps if inner]
    assert not hidden, "import lessons modules at the top, where a reader sees the graph:\n" + "\n".join(hidden)


def test_no_module_is_too_big():
    big = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines (split by concern): {big}"


def test_every_module_says_what_its_room_is_for():
    missing = [name for name, path in _modules().items() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert not missing, f"modules without a docstring: {missing}"


def test_the_checker_sees_a_planted_violation(tmp_path):
    # The graph checks above prove something only if they can fail: plant a lesson module that
    # imports viz inside a function, and a cycle, and see both found.
    pkg = tmp_path / "lessons"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""p"""\n')
    (pkg / "viz.py").write_text('"""v"""\nfrom . import topic\n')
    (pkg / "topic.py").write_text('"""t"""\ndef f():\n    from .viz import thing\n')
    known = {"lessons", "lessons.viz", "lessons.topic"}
    topic = _imports("lessons.topic", pkg / "topic.py", known)
    viz = _imports("lessons.viz", pkg / "viz.py", known)
    assert topic == [("lessons.viz", 3, True)] and viz == [("lessons.topic", 2, False)]
