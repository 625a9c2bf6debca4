"""GPU parity: the attacks and a training step give the CPU's answer on every accelerator.

For each non-CPU device torch offers here (CUDA, Apple's MPS), ``attacks.fgsm``,
``attacks.pgd`` and one step of ``models.train`` run from the same weights and inputs on the
CPU and on the device, and must agree within a stated tolerance. Where only a CPU exists the
device tests are skipped with the reason: nothing is faked.

Why we compare *outcomes* (loss reached, predictions, ε-ball) and not pixels: FGSM and PGD
take the sign of the input gradient, and two correct fp32 computations legitimately disagree
on it for some pixels: max-pooling picks a different winner among near-equal activations, and
on confidently classified digits the softmax saturates so the gradient is mostly rounding.
Measured here with the course's CNN, fp32 against fp64 (a stand-in for "same maths, different
rounding"): 4% of FGSM signs differ (25% on one saturated digit), and after 10 PGD steps 31% of
pixels do, yet the loss reached agrees to 0.2% and at most 1–2 of 64 predictions differ. A real
bug (wrong device, a gradient on the wrong tensor, a skipped step) moves these by far more.
TF32 convolutions, which cuDNN allows by default and which round inputs to 10 mantissa bits,
are switched off inside these tests: a deliberate speed-for-precision trade, not a bug.

Also here: ``LESSONS_DEVICE=cpu`` is honoured end to end (library and a Jupyter kernel), and
an unavailable device is a clear error, not a silent fallback.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from lessons import attacks, models, utils

CUDA = torch.cuda.is_available()
MPS = utils._mps_available()
DEVICES = [
    pytest.param("cuda", marks=pytest.mark.skipif(
        not CUDA, reason="no CUDA device here (torch.cuda.is_available() is False): CPU-only machine")),
    pytest.param("mps", marks=pytest.mark.skipif(not MPS, reason="no Apple MPS device here: not a Mac with Metal")),
]
EPS = 0.1
N = 64  # digits per comparison
LOSS_RTOL = 0.05  # relative difference allowed in the loss an attack reaches
MAX_PRED_MISMATCH = 3  # of N predictions on the adversarial digits


@pytest.fixture()
def exact_fp32():
    """Full fp32 on CUDA for the duration of a test (no TF32), restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture()
def batch(mnist):
    return mnist.x_test[:N].clone(), mnist.y_test[:N].clone()


def compare_attacks(model, a_cpu, a_dev, x, y, eps, device):
    """Both adversarial batches valid, and the same outcome: loss reached and predictions."""
    assert a_dev.device.type == device, "the attack must return its result on the caller's device"
    a_dev = a_dev.cpu()
    for name, adv in (("cpu", a_cpu), (device, a_dev)):
        assert float((adv - x).abs().max()) <= eps + 1e-6, f"{name}: outside the ε-ball"
        assert float(adv.min()) >= 0 and float(adv.max()) <= 1, f"{name}: outside [0, 1]"
    with torch.no_grad():  # judged by the same CPU model, so only the attacks differ
        out_cpu, out_dev = model(a_cpu), model(a_dev)
    loss_cpu, loss_dev = F.cross_entropy(out_cpu, y).item(), F.cross_entropy(out_dev, y).item()
    assert loss_dev == pytest.approx(loss_cpu, rel=LOSS_RTOL), f"loss reached: cpu {loss_cpu:.4f}, {device} {loss_dev:.4f}"
    clean = F.cross_entropy(model(x), y).item()
    assert loss_cpu > clean * 1.5, f"the attack barely raised the loss ({clean:.3f} -> {loss_cpu:.3f}): comparison meaningless"
    mismatch = int((out_cpu.argmax(1) != out_dev.argmax(1)).sum())
    assert mismatch <= MAX_PRED_MISMATCH, f"{mismatch} of {len(y)} predictions on the adversarial digits differ"


@pytest.mark.parametrize("device", DEVICES)
def test_fgsm_matches_cpu(device, cnn, batch, exact_fp32):
    x, y = batch
    dev_model = copy.deepcopy(cnn).to(device)
    a_cpu = attacks.fgsm(cnn, x, y, EPS)
    a_dev = attacks.fgsm(dev_model, x.to(device), y.to(device), EPS)
    compare_attacks(cnn, a_cpu, a_dev, x, y, EPS, device)


@pytest.mark.parametrize("device", DEVICES)
def test_pgd_matches_cpu(device, cnn, batch, exact_fp32):
    x, y = batch
    dev_model = copy.deepcopy(cnn).to(device)
    kw = dict(steps=10, alpha=0.025, random_start=True)
    # The random start is drawn on the CPU from the generator, so both runs start alike.
    a_cpu = attacks.pgd(cnn, x, y, EPS, generator=torch.Generator().manual_seed(0), **kw)
    a_dev = attacks.pgd(dev_model, x.to(device), y.to(device), EPS, generator=torch.Generator().manual_seed(0), **kw)
    compare_attacks(cnn, a_cpu, a_dev, x, y, EPS, device)


@pytest.mark.parametrize("device", DEVICES)
def test_one_training_step_matches_cpu(device, batch, exact_fp32):
    x, y = batch
    torch.manual_seed(0)
    start = models.lenet()
    m_cpu, m_dev = copy.deepcopy(start), copy.deepcopy(start)
    lr = 1e-3
    # One epoch over the batch in one mini-batch: exactly one Adam step, same data order.
    h_cpu = models.train(m_cpu, (x, y), epochs=1, batch_size=len(x), lr=lr, device="cpu", progress=False)
    h_dev = models.train(m_dev, (x, y), epochs=1, batch_size=len(x), lr=lr, device=device, progress=False)
    assert next(m_dev.parameters()).device.type == device
    # The loss is computed before the step: plain fp32 agreement.
    assert h_dev["loss"][0] == pytest.approx(h_cpu["loss"][0], rel=1e-4)
    total = moved = flipped = 0
    for (name, p0), p_cpu, p_dev in zip(start.named_parameters(), m_cpu.parameters(), m_dev.parameters()):
        p_dev = p_dev.detach().cpu()
        diff = (p_cpu.detach() - p_dev).abs()
        # Adam's first step is ±lr per weight (g/|g|): where g ≈ 0 the sign can flip (2·lr).
        assert float(diff.max()) <= 2 * lr + 1e-6, f"{name}: differs by {float(diff.max()):.2e} > 2·lr"
        flipped += int((diff > 1e-6).sum())
        moved += int(((p_dev - p0.detach()).abs() > 0.5 * lr).sum())
        total += diff.numel()
    assert moved > 0.5 * total, "the device step barely moved the weights: was a step taken?"
    assert flipped / total <= 1e-3, f"{flipped} of {total} weights differ after one step"
    with torch.no_grad():  # and the step has the same effect on the loss
        after_cpu = F.cross_entropy(m_cpu(x), y).item()
        after_dev = F.cross_entropy(m_dev.cpu()(x), y).item()
    assert after_dev == pytest.approx(after_cpu, rel=1e-3)
    assert after_cpu < h_cpu["loss"][0]


# --------------------------------------------------------------------------- LESSONS_DEVICE

_PROBE = """
import torch
from lessons import attacks, cache, models, utils
d = utils.get_device()
m = cache.cached("probe", models.softmax_regression,
                 lambda m: models.train(m, (torch.rand(8, 1, 28, 28), torch.arange(8) % 10), epochs=1, progress=False),
                 recipe="devices-test")
x = torch.rand(2, 1, 28, 28).to(d)
a = attacks.fgsm(m, x, torch.tensor([0, 1]).to(d), 0.1)
print(d.type, next(m.parameters()).device.type, a.device.type)
"""


def run_probe(tmp_path, device_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LESSONS_DEVICE": device_env, "LESSONS_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)


def test_lessons_device_cpu_is_honoured_by_the_library(tmp_path):
    """With LESSONS_DEVICE=cpu the device, a cached-and-trained model and an attack all stay on the CPU,
    even where CUDA or MPS exists (there this is the real check; on a CPU-only machine it is the baseline)."""
    out = run_probe(tmp_path, "cpu")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cpu", "cpu", "cpu"]


@pytest.mark.skipif(CUDA, reason="CUDA exists here, so LESSONS_DEVICE=cuda is not an error")
def test_unavailable_device_is_a_clear_error_not_a_fallback(tmp_path):
    out = run_probe(tmp_path, "cuda")
    assert out.returncode != 0
    assert "RuntimeError" in out.stderr and "CUDA is not available" in out.stderr and "LESSONS_DEVICE" in out.stderr


def test_lessons_device_cpu_reaches_the_notebook_kernel(tmp_path, monkeypatch):
    """End to end through Jupyter: a kernel started with LESSONS_DEVICE=cpu computes on the CPU."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import torch\nfrom lessons import utils, models\n"
        "net = models.lenet().to(utils.get_device())\n"
        "print(utils.get_device().type, next(net.parameters()).device.type)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    monkeypatch.setenv("LESSONS_DEVICE", "cpu")  # the kernel inherits this process's environment
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert text.split() == ["cpu", "cpu"], nb.cells[0].outputs
