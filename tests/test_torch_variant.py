"""`make setup`'s choice of torch build (tools/torch_variant.py), with fakes for the machine.

The decision is tested as a function (platform, GPU, index reachability faked), then the
script and the Makefile recipe are run for real with a fake ``nvidia-smi`` on PATH, a local
HTTP server standing in for PyTorch's CPU index, and a fake virtual environment whose
``python -m pip`` only records its arguments (nothing is installed).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "torch_variant.py"
sys.path.insert(0, str(SCRIPT.parent))  # tools/ holds scripts, not a package

import torch_variant as tv  # noqa: E402  (after the sys.path line above)

VERSIONS = {"torch": "2.14.1", "torchvision": "0.29.1"}
CPU_ARGS = ["--no-deps", "--index-url", tv.CPU_INDEX, "torch==2.14.1+cpu", "torchvision==0.29.1+cpu"]


def asked(answer):
    """A fake probe that records that it was asked."""
    calls = []

    def probe(*args):
        calls.append(args)
        return answer

    probe.calls = calls
    return probe


GPU = asked((True, "nvidia-smi sees GPU 0: Fake"))
NO_GPU = asked((False, "no nvidia-smi on PATH"))
UP = asked((True, "ok"))
DOWN = asked((False, "https://download.pytorch.org/whl/cpu/torch/: Name or service not known"))


# --------------------------------------------------------------------------- the decision


def test_linux_without_gpu_gets_the_cpu_build():
    choice = tv.choose("", "Linux", VERSIONS, gpu=NO_GPU, reachable=UP)
    assert choice.variant == "cpu" and choice.pip_args == CPU_ARGS
    assert "CPU build" in choice.message and "no nvidia-smi" in choice.message


def test_linux_with_gpu_keeps_the_default_cuda_wheels_and_does_not_probe_the_index():
    probe = asked((True, "ok"))
    choice = tv.choose("auto", "Linux", VERSIONS, gpu=GPU, reachable=probe)
    assert choice.variant == "default" and choice.pip_args == []
    assert "CUDA build" in choice.message and "TORCH_VARIANT=cpu" in choice.message
    assert probe.calls == []


def test_unreachable_cpu_index_falls_back_to_default_wheels_with_one_warning_line():
    choice = tv.choose("", "Linux", VERSIONS, gpu=NO_GPU, reachable=DOWN)
    assert choice.variant == "default" and choice.pip_args == []
    assert choice.message.startswith("torch: WARNING") and "\n" not in choice.message
    assert "cannot be reached" in choice.message and "Name or service not known" in choice.message
    assert "CUDA build" in choice.message  # says what you get instead


def test_explicit_cpu_never_falls_back():
    assert tv.choose("cpu", "Linux", VERSIONS, gpu=GPU, reachable=UP).pip_args == CPU_ARGS  # GPU or not
    with pytest.raises(tv.VariantError, match="TORCH_VARIANT=cpu, but PyTorch's CPU index cannot be reached"):
        tv.choose("cpu", "Linux", VERSIONS, gpu=NO_GPU, reachable=DOWN)


def test_explicit_cuda_skips_both_probes():
    gpu, probe = asked((False, "none")), asked((False, "down"))
    choice = tv.choose("CUDA", "Linux", VERSIONS, gpu=gpu, reachable=probe)
    assert choice.variant == "default" and "TORCH_VARIANT=cuda" in choice.message
    assert gpu.calls == [] and probe.calls == []


@pytest.mark.parametrize("system", ["Darwin", "Windows"])
def test_macos_and_windows_keep_the_default_wheels(system):
    gpu, probe = asked((False, "none")), asked((True, "ok"))
    for requested in ("", "cpu"):
        choice = tv.choose(requested, system, VERSIONS, gpu=gpu, reachable=probe)
        assert choice.variant == "default" and choice.pip_args == [] and system in choice.message
    assert gpu.calls == [] and probe.calls == []
    with pytest.raises(tv.VariantError, match=f"only on Linux, this is {system}"):
        tv.choose("cuda", system, VERSIONS, gpu=gpu, reachable=probe)


def test_an_existing_environment_keeps_its_build():
    """make setup reruns when the lock file changes: it must not swap builds under a learner."""
    gpu, probe = asked((False, "none")), asked((True, "ok"))
    cuda = tv.choose("", "Linux", VERSIONS, installed="2.14.1", gpu=gpu, reachable=probe)  # PyPI's CUDA build
    assert cuda.variant == "default" and cuda.pip_args == [] and "keeping" in cuda.message
    cpu = tv.choose("cpu", "Linux", VERSIONS, installed="2.14.1+cpu", gpu=gpu, reachable=probe)
    assert cpu.variant == "cpu" and cpu.pip_args == [] and "keeping the CPU build" in cpu.message
    assert gpu.calls == [] and probe.calls == []

    bumped = tv.choose("", "Linux", VERSIONS, installed="2.13.0+cpu", gpu=GPU, reachable=UP)  # even with a GPU
    assert bumped.pip_args == CPU_ARGS
    with pytest.raises(tv.VariantError, match=r"CPU build is installed here \(torch 2.13.0\+cpu\), but"):
        tv.choose("", "Linux", VERSIONS, installed="2.13.0+cpu", gpu=NO_GPU, reachable=DOWN)

    with pytest.raises(tv.VariantError, match=r"has the CUDA build \(torch 2.14.1\).*make clean"):
        tv.choose("cpu", "Linux", VERSIONS, installed="2.14.1", gpu=gpu, reachable=probe)
    with pytest.raises(tv.VariantError, match=r"has the CPU build \(torch 2.14.1\+cpu\).*make clean"):
        tv.choose("cuda", "Linux", VERSIONS, installed="2.14.1+cpu", gpu=gpu, reachable=probe)


def test_unknown_variant_is_an_error_naming_the_value():
    with pytest.raises(tv.VariantError, match="must be cpu, cuda or unset.*'gpu'"):
        tv.choose("gpu", "Linux", VERSIONS, gpu=GPU, reachable=UP)


def test_versions_come_from_the_lock_file(tmp_path):
    assert tv.pinned_versions(ROOT / "constraints.txt") == {"torch": "2.14.1", "torchvision": "0.29.1"}
    (tmp_path / "c.txt").write_text("numpy==2.4.6\ntorch==2.14.1\n")
    with pytest.raises(tv.VariantError, match="pins no version of torchvision"):
        tv.pinned_versions(tmp_path / "c.txt")


# --------------------------------------------------------------------------- the probes


def test_gpu_probe_reads_nvidia_smi():
    def run(returncode=0, stdout="", raises=None):
        def fake(argv, **kwargs):
            assert argv[0] == "nvidia-smi"
            if raises:
                raise raises
            return subprocess.CompletedProcess(argv, returncode, stdout, "")
        return fake

    assert tv.gpu_present(run(stdout="GPU 0: NVIDIA H200 (UUID: x)\n")) == (True, "nvidia-smi sees GPU 0: NVIDIA H200 (UUID: x)")
    assert tv.gpu_present(run(returncode=9)) == (False, "nvidia-smi exited with code 9")  # installed, no driver
    assert tv.gpu_present(run(raises=FileNotFoundError())) == (False, "no nvidia-smi on PATH")
    ok, why = tv.gpu_present(run(raises=subprocess.TimeoutExpired("nvidia-smi", 30)))
    assert not ok and "timed out" in why


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's captured output to what matters
        pass


@pytest.fixture()
def index(tmp_path):
    """A local stand-in for PyTorch's CPU index (PEP 503 layout: <index>/torch/)."""
    (tmp_path / "whl" / "cpu" / "torch").mkdir(parents=True)
    (tmp_path / "whl" / "cpu" / "torch" / "index.html").write_text("<html></html>")
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/whl/cpu"  # nothing listens there once the socket is closed


def test_index_probe_against_a_real_server(index):
    assert tv.index_reachable(index) == (True, index + "/torch/")
    ok, why = tv.index_reachable(index.replace("/cpu", "/nothing-here"))
    assert not ok and "404" in why
    ok, why = tv.index_reachable(closed_port_url(), timeout=5)
    assert not ok and "refused" in why.lower()


# --------------------------------------------------------------------------- the script and the Makefile


def fake_path(tmp_path: Path, gpu: bool) -> str:
    """PATH with a fake nvidia-smi first: one that lists a GPU, or one that fails like a driverless install."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake GPU (UUID: GPU-0)'\nexit 0\n" if gpu else
                   "#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    smi.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def run_script(tmp_path, *, gpu, index, variant=""):
    """The script as make runs it, in a Python that has no torch installed (-S: no site-packages)."""
    env = {**os.environ, "PATH": fake_path(tmp_path, gpu), "TORCH_CPU_INDEX": index, "TORCH_VARIANT": variant}
    return subprocess.run([sys.executable, "-S", str(SCRIPT), "--constraints", str(ROOT / "constraints.txt")],
                          check=False, capture_output=True, text=True, env=env, timeout=60)


def test_script_prints_pip_arguments_and_one_line_why(tmp_path, index):
    r = run_script(tmp_path, gpu=False, index=index)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["--no-deps", "--index-url", index, "torch==2.14.1+cpu", "torchvision==0.29.1+cpu"]
    assert r.stderr.count("\n") == 1 and "nvidia-smi exited with code 9" in r.stderr

    r = run_script(tmp_path, gpu=True, index=index)
    assert r.returncode == 0 and r.stdout.strip() == "" and "Fake GPU" in r.stderr

    r = run_script(tmp_path, gpu=False, index=closed_port_url())
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.startswith("torch: WARNING")

    r = run_script(tmp_path, gpu=False, index=closed_port_url(), variant="cpu")
    assert r.returncode == 2 and r.stdout.strip() == "" and r.stderr.startswith("torch: error: TORCH_VARIANT=cpu")


def run_make_setup(tmp_path, *, gpu, index, variant=""):
    """``make setup`` with VENV pointing at a fake environment whose pip only logs its arguments."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "pip.log"
    fake = venv / "bin" / "python"
    # -S: without site-packages the script sees a new environment, not the torch of the one running the tests.
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "pip" ]; then shift 2; echo "$*" >> "{log}"; exit 0; fi\n'
                    f'exec "{sys.executable}" -S "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": fake_path(tmp_path, gpu), "TORCH_CPU_INDEX": index, "TORCH_VARIANT": variant}
    r = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "setup", f"VENV={venv}", f"PYTHON={sys.executable}"],
                       check=False, capture_output=True, text=True, env=env, timeout=120)
    calls = log.read_text().splitlines() if log.exists() else []
    return r, calls, (venv / ".installed").exists()


def test_make_setup_installs_the_cpu_build_first_without_a_gpu(tmp_path, index):
    r, calls, stamped = run_make_setup(tmp_path, gpu=False, index=index)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(calls) == 2, calls
    assert calls[0].endswith(f"--no-deps --index-url {index} torch==2.14.1+cpu torchvision==0.29.1+cpu")
    assert "-c constraints.txt -e .[test]" in calls[1]
    assert "torch: CPU build from" in r.stderr and stamped


def test_make_setup_keeps_default_wheels_with_a_gpu_and_when_the_index_is_down(tmp_path, index):
    r, calls, stamped = run_make_setup(tmp_path / "gpu", gpu=True, index=index)
    assert r.returncode == 0 and len(calls) == 1 and "-c constraints.txt" in calls[0] and stamped
    assert "torch: CUDA build" in r.stderr

    r, calls, stamped = run_make_setup(tmp_path / "down", gpu=False, index=closed_port_url())
    assert r.returncode == 0 and len(calls) == 1 and stamped
    assert [line for line in r.stderr.splitlines() if "WARNING" in line and "cannot be reached" in line]


def test_make_setup_stops_when_an_explicit_cpu_request_cannot_be_met(tmp_path):
    r, calls, stamped = run_make_setup(tmp_path, gpu=False, index=closed_port_url(), variant="cpu")
    assert r.returncode != 0 and calls == [] and not stamped
    assert "TORCH_VARIANT=cpu, but PyTorch's CPU index cannot be reached" in r.stderr
