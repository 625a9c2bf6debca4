"""Lesson 07's automated checklist: a masked defence fails it, an honest evaluation of a plain CNN passes."""

import pytest
import torch

from lessons import checklist, defences, models


@pytest.fixture(scope="module")
def few(mnist):
    return mnist.x_test[:30].clone(), mnist.y_test[:30].clone()


def test_masked_defence_raises_the_alarms(few, cnn):
    x, y = few
    report = checklist.sanity_checks(defences.quantised(device="cpu", progress=False), x, y, 0.3, substitute=cnn,
                                     steps=10, queries=200, progress=False)
    assert {"large-eps", "unbounded", "black-box", "transfer"} <= set(report.failed)
    assert report.accuracy > 0.9 and not report.passed
    assert "✗" in report.report() and report["black-box"].values["after_square"] < 0.2


def test_plain_cnn_passes(few, cnn):
    # A standard CNN at ε = 0.3 has no robustness to hide: every check passes.
    x, y = few
    other = models.pretrained("fc100", device="cpu", progress=False)
    report = checklist.sanity_checks(cnn, x, y, 0.3, substitute=other, steps=10, queries=100, progress=False)
    assert report.passed, report.report()
    assert [c.name for c in report.checks] == list(checklist.CHECKS)
    assert report.accuracy < 0.05


def test_custom_attack_and_errors(few, cnn):
    x, y = few
    calls = []

    def factory(eps, steps):
        calls.append((eps, steps))
        return checklist.pgd_under_test(eps, steps, generator=torch.Generator().manual_seed(0))

    checklist.sanity_checks(cnn, x, y, 0.3, substitute=cnn, attack=factory, steps=5, queries=10, progress=False)
    assert (0.3, 5) in calls and (0.5, 5) in calls and (1.0, 5) in calls and (0.3, 10) in calls
    with pytest.raises(TypeError, match="substitute must be a torch.nn.Module"):
        checklist.sanity_checks(cnn, x, y, 0.3, substitute="cnn", progress=False)
    with pytest.raises(ValueError, match="eps must be in"):
        checklist.sanity_checks(cnn, x, y, 1.5, substitute=cnn, progress=False)
    with pytest.raises(KeyError, match="no check named"):
        checklist.sanity_checks(cnn, x[:4], y[:4], 0.3, substitute=cnn, steps=2, queries=2, progress=False)["nope"]
