"""Lesson 02's exercise checks pass the reference solutions and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch

from lessons import checks, models

# --------------------------------------------------------------------------- my_transfer_rate


def _predict(model, x):
    return models.predict(model, x).argmax(1)


def reference_transfer_rate(source, target, x, y, x_adv):
    """The notebook's solution."""
    eligible = (_predict(source, x) == y) & (_predict(target, x) == y) & (_predict(source, x_adv) != y)
    fooled = eligible & (_predict(target, x_adv) != y)
    return fooled.sum().item() / eligible.sum().item()


def test_transfer_rate_check_passes_the_solution(capsys):
    checks.check_transfer_rate(reference_transfer_rate)
    checks.check_transfer_rate(reference_transfer_rate, n=300, seed=1)  # the hidden test
    assert capsys.readouterr().out.count("✓") == 2


def test_transfer_rate_cases_tell_the_mistakes_apart():
    # the generated case must make every typical mistake give a different number
    for n, seed in ((120, 0), (300, 1)):
        source, target, x, y, x_adv = checks.l02._l02_pair(n, seed)
        s_clean, t_clean, s_adv, t_adv = (_predict(m, v) for m, v in ((source, x), (target, x), (source, x_adv), (target, x_adv)))
        masks = [torch.ones_like(y, dtype=torch.bool), s_adv != y, (s_clean == y) & (s_adv != y),
                 (s_clean == y) & (t_clean == y), (s_clean == y) & (t_clean == y) & (s_adv != y)]
        rates = [float((m & (t_adv != y)).sum()) / float(m.sum()) for m in masks]
        assert len({round(r, 6) for r in rates}) == len(rates), rates
        assert int(masks[-1].sum()) >= 20 and 0.2 < rates[-1] < 0.9


@pytest.mark.parametrize("wrong, message", [
    (lambda s, t, x, y, xa: 100 * reference_transfer_rate(s, t, x, y, xa), "a percentage"),
    (lambda s, t, x, y, xa: (_predict(t, xa) != y).float().mean(), "you counted every image"),
    (lambda s, t, x, y, xa: ((_predict(s, xa) != y) & (_predict(t, xa) != y)).sum().item() / (_predict(s, xa) != y).sum().item(),
     "including ones a model already gets wrong"),
    (lambda s, t, x, y, xa: (((_predict(s, x) == y) & (_predict(s, xa) != y) & (_predict(t, xa) != y)).sum().item()
                             / ((_predict(s, x) == y) & (_predict(s, xa) != y)).sum().item()),
     "the images the \\*target\\* already gets wrong"),
    (lambda s, t, x, y, xa: 0.5, "keep the images with source\\(x\\) == y"),
    (lambda s, t, x, y, xa: [0.4], "should be a number"),
])
def test_transfer_rate_check_explains_mistakes(wrong, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_transfer_rate(wrong)


def test_transfer_rate_check_not_written_yet():
    def blank(source, target, x, y, x_adv):
        raise NotImplementedError()

    with pytest.raises(checks.ExerciseError, match="not written yet"):
        checks.check_transfer_rate(blank)


# --------------------------------------------------------------------------- my_amplify


def reference_amplify(x, x_adv, rms):
    """The notebook's solution."""
    d = x_adv - x
    size = d.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1)
    scale = torch.where(size > 0, rms / size, torch.zeros_like(size))
    return (x + scale * d).clamp(0, 1)


def test_amplify_check_passes_the_solution(capsys):
    checks.check_amplify(reference_amplify)
    checks.check_amplify(reference_amplify, n=12, seed=1, rms=0.15)  # the hidden test
    assert capsys.readouterr().out.count("✓") == 2


def _no_guard(x, x_adv, rms):
    d = x_adv - x
    return (x + d * rms / d.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1)).clamp(0, 1)


def _in_place(x, x_adv, rms):
    x_adv -= x  # overwrites the caller's tensor
    size = x_adv.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1)
    return (x + torch.where(size > 0, rms / size, 0.0) * x_adv).clamp(0, 1)


def _scaled(x, x_adv, rms, how):
    d = x_adv - x
    if how == "global":
        return (x + d * rms / d.pow(2).mean().sqrt()).clamp(0, 1)
    size = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)  # L2 norm instead of RMS
    return (x + torch.where(size > 0, rms / size, 0.0) * d).clamp(0, 1)


@pytest.mark.parametrize("wrong, message", [
    (_no_guard, "returned NaN"),
    (_in_place, "changed its inputs in place"),
    (lambda x, xa, rms: reference_amplify(x, xa, rms) - x, "returned the perturbation"),
    (lambda x, xa, rms: x + (reference_amplify(x, xa, rms) - x) * 1.0 + (xa - x) * 3, "values leave \\[0, 1\\]"),
    (lambda x, xa, rms: _scaled(x, xa, rms, "global"), "one factor for the whole batch"),
    (lambda x, xa, rms: _scaled(x, xa, rms, "l2"), "not the L2 norm"),
    (lambda x, xa, rms: reference_amplify(x, xa, rms / 2), "scale d = x_adv − x per image"),
    (lambda x, xa, rms: reference_amplify(x, xa, rms)[:2], "should have shape"),
])
def test_amplify_check_explains_mistakes(wrong, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_amplify(wrong)


def test_amplify_check_asks_for_clipping_when_that_is_all_that_is_missing():
    def unclipped(x, x_adv, rms):
        d = x_adv - x
        size = d.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1)
        return x + torch.where(size > 0, rms / size, 0.0) * d

    with pytest.raises(checks.ExerciseError, match="clip with .clamp\\(0, 1\\)"):
        checks.check_amplify(unclipped)
