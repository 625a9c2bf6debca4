"""Our PGD against an independent implementation: torchattacks.PGD (Kim 2020), same model and images.

torchattacks draws its own random start from torch's global generator, so with random
starts the images differ; what must agree is the robust accuracy (within one percentage
point). Without random starts both are the same deterministic iteration, so the
predictions must agree image by image as well.
"""

import pytest
import torch

from lessons import attacks, models

torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is a test dependency (pip install -e '.[test]')")

N, EPS, STEPS = 200, 0.15, 10  # ε where the CNN's robust accuracy is mid-range, so a gap would show


@pytest.fixture(scope="module")
def batch(mnist):
    return mnist.x_test[:N].clone(), mnist.y_test[:N].clone()


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_matches_torchattacks_robust_accuracy(cnn, batch, random_start):
    x, y = batch
    ours = attacks.pgd(cnn, x, y, EPS, steps=STEPS, alpha=EPS / 4, random_start=random_start,
                       generator=torch.Generator().manual_seed(0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        peer = torchattacks.PGD(cnn, eps=EPS, alpha=EPS / 4, steps=STEPS, random_start=random_start)(x, y)
    pred_ours, pred_peer = models.predict(cnn, ours).argmax(1), models.predict(cnn, peer).argmax(1)
    acc_ours, acc_peer = float((pred_ours == y).float().mean()), float((pred_peer == y).float().mean())
    clean = models.accuracy(cnn, x, y)
    assert 0.1 < acc_peer < clean - 0.3, f"ε = {EPS} no longer separates the attacks (robust accuracy {acc_peer:.2f})"
    assert abs(acc_ours - acc_peer) <= 0.01, f"ours {acc_ours:.3f} vs torchattacks {acc_peer:.3f}"
    assert float((ours - x).abs().max()) <= EPS + 1e-6 and float((peer - x).abs().max()) <= EPS + 1e-6
    if not random_start:  # the same iteration: the same verdict on (nearly) every image
        assert float((pred_ours == pred_peer).float().mean()) >= 0.98
