"""Which build of torch ``make setup`` installs: CUDA where an NVIDIA GPU answers, else the CPU build.

PyPI's Linux wheels of torch are the CUDA build: about 4 GB of ``nvidia-*`` libraries and
``triton`` that a laptop without an NVIDIA GPU never uses. PyTorch publishes the same release
as a CPU-only build on its own index (``https://download.pytorch.org/whl/cpu``, versions
``X.Y.Z+cpu``). This script decides, prints the ``pip install`` arguments of a first install
step on stdout (nothing: keep the default wheels) and says what it chose, and why, in one
line on stderr. The Makefile runs that step with ``--no-deps`` before the main install, which
then keeps the installed ``torch==X.Y.Z+cpu`` because it satisfies ``torch==X.Y.Z``.

Decision:
- ``TORCH_VARIANT=cuda``: the default wheels (on Linux, PyPI's CUDA build).
- ``TORCH_VARIANT=cpu``: the CPU build; an error if PyTorch's CPU index cannot be reached
  (you asked for it explicitly, so we do not quietly give you 4 GB more).
- unset (or ``auto``): CUDA when ``nvidia-smi`` runs and succeeds, the CPU build otherwise;
  if the CPU index cannot be reached (a mirror that serves only PyPI), the default wheels,
  with one line saying so.
- macOS and Windows keep the default wheels (PyPI's are CPU/MPS builds there already).
- An environment that has torch already keeps its build (``make setup`` reruns whenever the
  lock file changes, and must not swap 4 GB under a learner); asking for the other build
  there is an error that says to ``make clean`` first.

``TORCH_CPU_INDEX`` replaces the index URL (a local mirror of PyTorch's CPU index).
Only the standard library is used: it runs before the virtual environment has anything in it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PACKAGES = ("torch", "torchvision")
PROBE_TIMEOUT = 10  # s: an index that does not answer in 10 s is not one to install 200 MB from


class VariantError(Exception):
    """A request that cannot be honoured (message says what to do instead)."""


@dataclass(frozen=True)
class Choice:
    variant: str  # "cpu" or "default" (the default wheels: CUDA on Linux)
    message: str
    pip_args: list[str] = field(default_factory=list)


def gpu_present(run: Callable = subprocess.run) -> tuple[bool, str]:
    """Whether ``nvidia-smi`` runs and succeeds (the driver sees a GPU), and what it said."""
    try:
        result = run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return False, "no nvidia-smi on PATH"
    except (OSError, subprocess.SubprocessError) as err:
        return False, f"nvidia-smi failed: {err}"
    if result.returncode != 0:
        return False, f"nvidia-smi exited with code {result.returncode}"
    first = (result.stdout or "").strip().splitlines()
    return True, f"nvidia-smi sees {first[0] if first else 'a GPU'}"


def index_reachable(index: str, timeout: float = PROBE_TIMEOUT,
                    opener: Callable = urllib.request.urlopen) -> tuple[bool, str]:
    """Whether the index's page for torch answers (PEP 503 layout: ``<index>/torch/``)."""
    url = index.rstrip("/") + "/torch/"
    try:
        with opener(url, timeout=timeout) as response:
            status = getattr(response, "status", 200)
    except urllib.error.HTTPError as err:
        return False, f"{url}: HTTP {err.code} {err.reason}"
    except (urllib.error.URLError, OSError, ValueError) as err:
        return False, f"{url}: {getattr(err, 'reason', err)}"
    if status != 200:
        return False, f"{url}: HTTP {status}"
    return True, url


def pinned_versions(constraints: Path) -> dict[str, str]:
    """The exact versions of torch and torchvision in the lock file (``name==version``)."""
    pins = {}
    for line in constraints.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)==([^\s#;]+)", line)
        if m and m.group(1).lower() in PACKAGES:
            pins[m.group(1).lower()] = m.group(2)
    missing = [p for p in PACKAGES if p not in pins]
    if missing:
        raise VariantError(f"{constraints} pins no version of {', '.join(missing)} (expected lines like torch==2.14.1)")
    return pins


def installed_torch() -> str | None:
    """The version of torch in the Python running this (the virtual environment), if any."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def choose(requested: str, system: str, versions: dict[str, str], *, installed: str | None = None,
           index: str = CPU_INDEX, gpu: Callable[[], tuple[bool, str]] = gpu_present,
           reachable: Callable[[str], tuple[bool, str]] = index_reachable) -> Choice:
    """Decide the build; ``gpu`` and ``reachable`` are only asked when the answer matters.

    ``installed`` is the torch version already in the environment (``2.14.1+cpu`` for the
    CPU build; PyPI's CUDA build reports ``2.14.1``), or None in a new environment.
    """
    requested = (requested or "").strip().lower()
    if requested in ("", "auto"):
        requested = "auto"
    elif requested not in ("cpu", "cuda"):
        raise VariantError(f"TORCH_VARIANT must be cpu, cuda or unset (auto), got {requested!r}")

    if system != "Linux":
        if requested == "cuda":
            raise VariantError(f"TORCH_VARIANT=cuda: make setup installs CUDA builds only on Linux, this is {system}; "
                               "unset TORCH_VARIANT for the default wheels")
        return Choice("default", f"torch: default wheels for {system} (PyPI's build there needs no CUDA libraries)")

    if installed:
        has = "cpu" if installed.endswith("+cpu") else "cuda"
        if requested not in ("auto", has):
            raise VariantError(f"TORCH_VARIANT={requested}, but this environment has the {has.upper()} build "
                               f"(torch {installed}), which pip would keep: `make clean` first, then "
                               f"TORCH_VARIANT={requested} make setup")
        if has == "cuda":
            return Choice("default", f"torch: keeping the build installed here (torch {installed}); "
                                     "`make clean` first to change it")
        if installed.split("+")[0] == versions["torch"]:
            return Choice("cpu", f"torch: keeping the CPU build installed here (torch {installed})")
        # The lock file moved on: the same build at the new version, and no fallback (the
        # default wheels would put the CUDA build over the CPU one).
        requested, why = "cpu", f"the CPU build is installed here (torch {installed})"
    elif requested == "cpu":
        why = "TORCH_VARIANT=cpu"

    if requested == "cuda":
        return Choice("default", "torch: CUDA build (PyPI's default Linux wheels), as TORCH_VARIANT=cuda asks")
    if requested == "auto":
        has_gpu, why = gpu()
        if has_gpu:
            return Choice("default", f"torch: CUDA build (PyPI's default Linux wheels): {why}; "
                                     "TORCH_VARIANT=cpu for the CPU build")
        why = f"no NVIDIA GPU: {why}"

    ok, detail = reachable(index)
    if ok:
        pins = [f"{name}=={versions[name]}+cpu" for name in PACKAGES]
        return Choice("cpu", f"torch: CPU build from {index} ({why}); TORCH_VARIANT=cuda for the CUDA build",
                      ["--no-deps", "--index-url", index, *pins])
    if requested == "cpu":
        raise VariantError(f"{why}, but PyTorch's CPU index cannot be reached ({detail}); set TORCH_CPU_INDEX "
                           "to a mirror of it, or `make clean` and unset TORCH_VARIANT to accept the default wheels")
    return Choice("default", f"torch: WARNING: CPU build wanted ({why}) but PyTorch's CPU index cannot be reached "
                             f"({detail}); installing PyPI's default wheels instead, the CUDA build (about 4 GB more). "
                             "TORCH_CPU_INDEX=<mirror> to use another index, TORCH_VARIANT=cuda to skip this check")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraints", type=Path, default=Path("constraints.txt"),
                        help="the lock file with torch==… and torchvision==… (default: constraints.txt)")
    args = parser.parse_args(argv)
    try:
        choice = choose(os.environ.get("TORCH_VARIANT", ""), platform.system(), pinned_versions(args.constraints),
                        installed=installed_torch(), index=os.environ.get("TORCH_CPU_INDEX") or CPU_INDEX)
    except (VariantError, OSError) as err:
        print(f"torch: error: {err}", file=sys.stderr)
        return 2
    print(choice.message, file=sys.stderr)
    print(" ".join(choice.pip_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
