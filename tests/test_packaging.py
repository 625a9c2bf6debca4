"""The install routes agree with each other: pyproject ranges, constraints pins, conda, Binder."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_environment_files_are_identical():
    assert (ROOT / "environment.yml").read_text() == (ROOT / "binder" / "environment.yml").read_text()


CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _env_pip_section():
    """The pip section of environment.yml: (option lines, requirements)."""
    import yaml
    from packaging.requirements import Requirement

    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    lines = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    return [x for x in lines if x.startswith("-")], [Requirement(x) for x in lines if not x.startswith("-")]


def _env_pins(sys_platform):
    """name -> exact version that pip would install from environment.yml on ``sys_platform``."""
    pins = {}
    for req in _env_pip_section()[1]:
        if req.marker is None or req.marker.evaluate({"sys_platform": sys_platform}):
            (spec,) = req.specifier
            assert spec.operator == "==", f"environment.yml: {req} is not an exact pin"
            name = req.name.lower().replace("_", "-")
            assert name not in pins, f"environment.yml pins {name} twice for {sys_platform}"
            pins[name] = spec.version
    return pins


@pytest.mark.parametrize("sys_platform", ["linux", "darwin", "win32"])
def test_environment_pins_match_constraints(sys_platform):
    from packaging.version import Version

    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    env = _env_pins(sys_platform)
    assert {"torch", "torchvision"} <= set(env) and len(env) > 10, env
    # Same release: a local label (2.14.1+cpu) names a build of the version, not another version.
    mismatched = {k: (v, constraints.get(k)) for k, v in env.items()
                  if k not in constraints or Version(v).public != Version(constraints[k]).public}
    assert not mismatched, f"environment.yml ({sys_platform}) vs constraints.txt: {mismatched}"


def test_binder_and_conda_ask_for_the_cpu_build_of_torch():
    """Binder (Linux, no GPU) gets torch's CPU build: PyPI's Linux wheels are the ~4 GB CUDA build."""
    options, _ = _env_pip_section()
    assert f"--extra-index-url {CPU_INDEX}" in options, options
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    linux, mac = _env_pins("linux"), _env_pins("darwin")
    for name in ("torch", "torchvision"):
        # "+cpu" exists only on PyTorch's CPU index: pip cannot quietly take PyPI's CUDA build instead.
        assert linux[name] == constraints[name] + "+cpu", (name, linux[name])
        assert mac[name] == constraints[name], (name, mac[name])  # macOS/Windows: PyPI's wheels
    assert not any(k.startswith(("nvidia-", "cuda-")) or k == "triton" for k in linux), "CUDA packages pinned"


def test_constraints_pin_the_torch_ci_uses():
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    assert constraints["torch"] == "2.14.1" and constraints["torchvision"] == "0.29.1"


def test_pyproject_declares_ranges_not_pins():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    assert not [d for d in deps if "==" in d], "pin exact versions in constraints.txt, not pyproject.toml"
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for dep in deps:  # every declared dependency is locked
        name = re.split(r"[<>=!\[ ;]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in constraints, f"{name} is not pinned in constraints.txt"


def test_every_runtime_dependency_is_in_the_environment_file():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = _env_pins("linux")
    missing = [d for d in deps if re.split(r"[<>=!\[ ;]", d, maxsplit=1)[0].lower() not in env]
    assert not missing, f"runtime dependencies missing from environment.yml: {missing}"


def test_postbuild_is_strict_and_warms_the_cache():
    text = (ROOT / "binder" / "postBuild").read_text().splitlines()
    assert text[0].startswith("#!")
    assert "set -e" in [line.strip() for line in text[1:] if line.strip() and not line.startswith("#")][:1]
    assert any("lessons.warm" in line for line in text)
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_repo2docker_accepts_the_binder_folder(tmp_path):
    exe = Path(sys.executable).with_name("jupyter-repo2docker")
    if not exe.exists():
        pytest.skip("jupyter-repo2docker is not installed in this environment (pip install -e '.[test]')")
    # repo2docker reads a git checkout; validate a copy of what is committed plus the working tree.
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".cache", "*.pyc", "__pycache__", "screenshots", "student"))
    result = subprocess.run([str(exe), "--no-build", "--debug", str(copy)], capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "binder/environment.yml" in out and "./binder/postBuild" in out


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("## ", readme.index("make test"))] if "make test" in readme else ""
    assert "make lab" in head and "make test" in head
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
