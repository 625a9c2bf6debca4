"""Lesson 07's attacks against an independent implementation: torchattacks' APGD, APGDT and Square.

What is compared, every time: the robust accuracy (share of digits still classified correctly)
after our attack and after torchattacks' on the same model, digits, ε and budget. Both draw
their own random numbers, so images differ; the accuracies must agree within one point.

- APGD (CE and DLR) and APGD-T follow Croce & Hein's code in both libraries: they agree.
- Square: torchattacks ports AutoAttack's batched version, which spends a query on a window
  whose new signs leave the image unchanged (on MNIST: black background pushed darker); the
  paper's own code redraws such signs, and so does ours by default. With ``resample=False``
  ours is the batched algorithm and must agree within a point; with the default it must be at
  least as strong. Square is compared on the small MLP (fc100), where 1,000 digits × 200
  queries take a second or two, so the comparison is not drowned in sampling noise.
"""

import pytest
import torch

from lessons import attacks, evaluation, models

torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is a test dependency (pip install -e '.[test]')")

EPS, STEPS = 0.1, 20  # ε where the CNN's robust accuracy is mid-range, so a gap would show


def accuracy(model, x, y):
    return float((models.predict(model, x).argmax(1) == y).float().mean())


def peer(attack_cls, model, x, y, **kwargs):
    with torch.random.fork_rng(devices=[]):  # torchattacks seeds torch's global generator
        return attack_cls(model, **kwargs)(x, y)


@pytest.fixture(scope="module")
def batch(mnist):
    return mnist.x_test[:200].clone(), mnist.y_test[:200].clone()


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_matches_torchattacks(cnn, batch, loss):
    x, y = batch
    ours = attacks.apgd(cnn, x, y, EPS, loss=loss, steps=STEPS, generator=torch.Generator().manual_seed(0))
    theirs = peer(torchattacks.APGD, cnn, x, y, eps=EPS, steps=STEPS, loss=loss, seed=0)
    a, b = accuracy(cnn, ours, y), accuracy(cnn, theirs, y)
    assert 0.2 < b < accuracy(cnn, x, y) - 0.2, f"ε = {EPS} no longer separates the attacks ({b:.2f})"
    assert abs(a - b) <= 0.01, f"APGD-{loss}: ours {a:.3f} vs torchattacks {b:.3f}"


def test_apgd_targeted_matches_torchattacks(cnn, batch):
    x, y = batch
    ours = attacks.apgd(cnn, x, y, EPS, loss="dlr", targeted=True, n_target_classes=3, steps=STEPS,
                        generator=torch.Generator().manual_seed(0))
    theirs = peer(torchattacks.APGDT, cnn, x, y, eps=EPS, steps=STEPS, seed=0, n_classes=4)  # 3 target classes
    a, b = accuracy(cnn, ours, y), accuracy(cnn, theirs, y)
    assert abs(a - b) <= 0.01, f"APGD-T: ours {a:.3f} vs torchattacks {b:.3f}"


@pytest.fixture(scope="module")
def mlp_batch(mnist):
    return models.pretrained("fc100", device="cpu", progress=False), mnist.x_test.clone(), mnist.y_test.clone()


def test_square_matches_torchattacks(mlp_batch):
    model, x, y = mlp_batch
    eps, queries, seeds = 0.08, 200, (0, 1, 2, 3)
    batched = [accuracy(model, attacks.square_attack(model, x, y, eps, queries=queries, resample=False,
                                                     generator=torch.Generator().manual_seed(s)).x_adv, y) for s in seeds]
    theirs = [accuracy(model, peer(torchattacks.Square, model, x, y, eps=eps, n_queries=queries, seed=s), y) for s in seeds]
    ours = [accuracy(model, attacks.square(model, x, y, eps, queries=queries, generator=torch.Generator().manual_seed(s)),
                     y) for s in seeds[:2]]
    a, b, c = (sum(v) / len(v) for v in (batched, theirs, ours))
    assert 0.2 < b < accuracy(model, x, y) - 0.2, f"ε = {eps} no longer separates the attacks ({b:.2f})"
    assert abs(a - b) <= 0.01, f"Square (batched): ours {a:.3f} vs torchattacks {b:.3f}"
    assert c <= b + 0.005, f"Square (paper's resampling) should be at least as strong: ours {c:.3f} vs {b:.3f}"


def test_worst_case_matches_torchattacks_multiattack(mlp_batch):
    # The same four attacks, small budgets, run one after another on the survivors by both.
    model, x, y = mlp_batch
    x, y = x[:500], y[:500]
    eps, steps, queries = 0.08, 10, 100
    ours = evaluation.worst_case(model, x, y, evaluation.ensemble(eps, steps=steps, n_target_classes=3, queries=queries),
                                 progress=False)
    with torch.random.fork_rng(devices=[]):
        multi = torchattacks.MultiAttack([
            torchattacks.APGD(model, eps=eps, steps=steps, loss="ce", seed=0),
            torchattacks.APGD(model, eps=eps, steps=steps, loss="dlr", seed=1),
            torchattacks.APGDT(model, eps=eps, steps=steps, seed=2, n_classes=4),
            torchattacks.Square(model, eps=eps, n_queries=queries, seed=3),
        ])
        theirs = accuracy(model, multi(x, y), y)
    assert abs(ours.robust_accuracy - theirs) <= 0.01, f"ours {ours.robust_accuracy:.3f} vs torchattacks {theirs:.3f}"
