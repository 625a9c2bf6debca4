"""Lesson 07's figures and panel: built from small, known results, driven without a browser."""

import pytest
import torch
from matplotlib.figure import Figure

from lessons import attacks, evaluation, panels, viz, widgets
from lessons.audit import Audit


def fake_audit(name, first, pgd40):
    worst = evaluation.WorstCase(("apgd-ce", "apgd-dlr", "apgd-t", "square"), torch.tensor([True] * len(first)),
                                 tuple(first), {"apgd-ce": 1.0, "apgd-dlr": 1.0, "apgd-t": 1.0, "square": 1.0})
    return Audit(name, len(first), torch.tensor(pgd40), torch.tensor(pgd40), worst, {"ensemble": 4.0},
                 {"cached": True, "path": None})


@pytest.fixture()
def audits():
    return {"pool": fake_audit("pool", ["apgd-ce", "square", None, None], [True, True, True, False]),
            "pgd": fake_audit("pgd", [None, None, "apgd-t", None], [True, True, True, True])}


def test_panel_shrinks_with_the_ensemble(audits):
    panel = panels.ensemble(audits, model="pool")
    assert isinstance(panel, widgets.Panel) and panel.error is None
    text = panel.readout.value
    assert "ensemble up to square leaves <b>50.0%</b>" in text and "PGD-40 leaves <b>75.0%</b>" in text
    panel.controls["upto"].value = "apgd-ce"
    assert "up to apgd-ce leaves <b>75.0%</b>" in panel.readout.value
    panel.controls["model"].value = "pgd"
    assert panel.error is None and "<b>pgd</b>" in panel.readout.value and "leaves <b>100.0%</b>" in panel.readout.value
    assert panel.image.value  # a figure was drawn


def test_panel_rejects_bad_input(audits):
    with pytest.raises(TypeError, match="audits must be a non-empty mapping"):
        panels.ensemble({})
    with pytest.raises(TypeError, match=r"audits\['x'\] must be an audit.Audit"):
        panels.ensemble({"x": 1}, model="x")
    with pytest.raises(ValueError, match="model must be one of"):
        panels.ensemble(audits, model="fgsm")


def test_figures(cnn, digits, audits):
    x, y = digits
    paths = {"APGD": attacks.apgd_path(cnn, x[:6], y[:6], 0.1, steps=4),
             "PGD": attacks.apgd_path(cnn, x[:6], y[:6], 0.1, steps=4, step_size=0.01)}
    fig = viz.attack_paths(paths, title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    fig = viz.ensemble_curves({k: a.worst.cumulative() for k, a in audits.items()}, reference={"pool": 0.75})
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 3  # two curves, one dotted reference
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][:2] == ["clean", "+ apgd-ce"]
