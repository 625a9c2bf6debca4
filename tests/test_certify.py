"""Lesson 08's models, the best-attack helper, the course table's parts, the panel and the figures."""

from __future__ import annotations

import pytest
import torch
from matplotlib.figure import Figure

from lessons import audit, bounds, certify, evaluation, models, panels, smoothing, verify, viz


def test_recipes_and_cached_artefacts_are_declared():
    assert set(certify.RECIPES) == {"mlp", "mlp-pgd", "cnn", "ibp", "noise-0.25", "noise-0.50"}
    rows = {f"course-row '{name}'" for name, _, _ in certify.COURSE_MODELS}
    assert set(certify.CACHED_MODELS) == set(certify.RECIPES) | rows | {"course-table"}
    assert all(callable(load) for load in certify.CACHED_MODELS.values())
    names = [name for name, _, _ in certify.COURSE_MODELS]
    assert len(names) == len(set(names)) and {"pgd", "ibp", "mlp"} <= set(names)
    with pytest.raises(ValueError, match="model name"):
        certify.certified_model("resnet")


def test_small_cnn_is_what_ibp_and_smoothing_need(digits):
    torch.manual_seed(0)
    net = certify.small_cnn().eval()
    x = digits[0][:2]
    assert net(x).shape == (2, 10)
    lo, hi = bounds.interval_bounds(net, x, 0.1)
    assert (lo <= hi).all() and not verify.supports(net) and verify.supports(models.mlp((4,)))


def test_best_attack_is_an_upper_bound_of_the_clean_accuracy(digits):
    torch.manual_seed(0)
    net = models.mlp((16,)).eval()
    x, y = digits[0][:8], digits[1][:8]
    robust = certify.best_attack_mask(net, x, y, 0.05)
    clean = models.predict(net, x).argmax(1) == y
    assert robust.dtype == torch.bool and not (robust & ~clean).any()
    assert certify.best_attack_mask(net, x, y, 0.0).equal(clean)
    some = torch.tensor([True, False] * 4)
    assert not (certify.best_attack_mask(net, x, y, 0.05, alive=some) & ~some).any()
    larger = certify.best_attack_mask(net, x, y, 0.1, alive=robust)
    assert not (larger & ~robust).any()  # broken at 0.05 stays broken at 0.1
    # the course's evidence standard: lesson 07's ensemble with the audit's budgets, worst case per digit
    worst = evaluation.worst_case(net, x, y, evaluation.ensemble(0.05, **audit.ENSEMBLE), progress=False)
    assert robust.equal(worst.mask) and "ensemble" in certify.BEST_ATTACK


def test_contradictions_finds_a_proof_that_was_beaten():
    v = [verify.Verdict(s, None, None, 0.0, 0, 0, "") for s in ("verified", "broken", "verified", "unknown")]
    assert certify.contradictions(v, torch.tensor([True, False, False, True])) == [2]
    assert certify.contradictions(torch.tensor([True, True]), torch.tensor([True, True])) == []


def test_stored_facts_are_refused_for_models_without_them():
    with pytest.raises(ValueError, match="exact verdicts"):
        certify.exact_verdicts(models.mlp((4,)))
    with pytest.raises(ValueError, match="smoothing certificates"):
        certify.certificates(models.mlp((4,)))


def test_the_panel_renders_every_kind_of_model(digits):
    torch.manual_seed(0)
    mlp = models.mlp((8,)).eval()
    cnn = certify.small_cnn().eval()
    cnn.cache_info = {"smoothing": {"sigma": 0.25}}
    x, y = digits[0][:3], digits[1][:3]
    panel = panels.guarantees({"mlp": mlp, "noise-cnn": cnn}, x, y, eps=0.02, n=100)
    assert panel.error is None and "exact (MILP)" in panel.readout.value
    assert any(s in panel.readout.value for s in verify.STATUSES)
    assert "not trained with noise" in panel.readout.value
    panel.controls["model"].value = "noise-cnn"
    assert panel.error is None and "not attempted" in panel.readout.value
    assert "smoothing</b> (the smoothed classifier, σ = 0.25" in panel.readout.value
    panel.controls["digit"].value = 2
    panel.controls["eps"].value = 0.1
    assert panel.error is None and panel.image.value[:4] == b"\x89PNG" and panel.renders == 4
    with pytest.raises(ValueError, match="at least one"):
        panels.guarantees({}, x, y)


def test_lesson_figures():
    lo, hi = torch.tensor([-1.0, 0.5, -2.0]), torch.tensor([1.0, 2.0, 0.0])
    assert isinstance(viz.interval_bars(lo, hi, 1, logits=torch.zeros(3), image=torch.zeros(1, 1, 4, 4)), Figure)
    with pytest.raises(ValueError, match="same shape"):
        viz.interval_bars(lo, hi[:2], 0)
    assert isinstance(viz.box_widths({"ε = 0.1": [0.1, 1.0]}, ["input", "fc"]), Figure)
    with pytest.raises(ValueError, match="layers"):
        viz.box_widths({"a": [1.0]}, ["input", "fc"])
    assert isinstance(viz.sandwich_bars({"mlp": {"IBP": 0.1, "exact": 0.5}, "cnn": {"IBP": 0.2}}), Figure)
    certs = smoothing.Certificates(torch.tensor([1, -1]), torch.tensor([0.5, 0.0]), torch.tensor([1, 0]),
                                   0.25, 10, 100, 0.001, 1.0)
    radii = [0.0, 0.25, 0.5, 0.75]
    assert [certs.accuracy(r) for r in radii] == [0.5, 0.5, 0.5, 0.0]
    assert isinstance(viz.certified_curves({"σ = 0.25": (radii, [certs.accuracy(r) for r in radii])}), Figure)
