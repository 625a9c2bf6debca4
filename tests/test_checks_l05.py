"""Lesson 05's exercise checks: the reference solutions pass, typical mistakes get the right feedback."""

import pytest
import torch
import torch.nn.functional as F

from lessons import attacks, checks, evaluation, models

# --------------------------------------------------------------------------- PGD training step


def pgd_step(model, optimizer, x, y, eps, generator):
    """The notebook's reference solution."""
    x_adv = attacks.pgd(model, x, y, eps, steps=7, alpha=2.5 * eps / 7, generator=generator)
    loss = F.cross_entropy(model(x_adv), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_pgd_step_reference_passes(capsys):
    checks.check_pgd_training_step(pgd_step)
    checks.check_pgd_training_step(pgd_step, n=24, eps=0.2, seed=1)
    assert capsys.readouterr().out.count("✓") == 2


def _variant(*, clean=False, zero_grad=True, step=True, ret="item", steps=7, inplace=False):
    def fn(model, optimizer, x, y, eps, generator):
        x_adv = attacks.pgd(model, x, y, eps, steps=steps, alpha=2.5 * eps / steps, generator=generator)
        if inplace:
            x.copy_(x_adv)
        loss = F.cross_entropy(model(x if clean else x_adv), y)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        if step:
            optimizer.step()
        return {"item": loss.item(), "none": None, "clean": F.cross_entropy(model(x), y).item()}[ret]
    return fn


@pytest.mark.parametrize("kwargs, message", [
    (dict(clean=True), "trained on the clean batch"),
    (dict(zero_grad=False), "zero_grad"),
    (dict(step=False), "optimizer.step()"),
    (dict(ret="none"), "still empty"),
    (dict(steps=3), "steps=7"),
    (dict(inplace=True), "in place"),
    (dict(ret="clean"), "returned"),
])
def test_pgd_step_mistakes_get_feedback(kwargs, message):
    with pytest.raises(checks.ExerciseError, match=message.replace("(", "\\(").replace(")", "\\)")):
        checks.check_pgd_training_step(_variant(**kwargs))


def test_pgd_step_not_written_yet():
    def fn(model, optimizer, x, y, eps, generator):
        raise NotImplementedError()

    with pytest.raises(checks.ExerciseError, match="not written yet"):
        checks.check_pgd_training_step(fn)


# --------------------------------------------------------------------------- breaking ε


def test_breaking_eps_accepts_the_first_grid_value_below_half_only(cnn, mnist):

    data = (mnist.x_test[:40], mnist.y_test[:40])
    grid = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]
    curve = evaluation.robustness_curve(cnn, data, grid, steps=10, generator=torch.Generator().manual_seed(0))
    first = next(i for i, a in enumerate(curve) if a < 0.5)
    assert 0 < first < len(grid) - 1, curve  # the case must have a break inside the grid
    checks.check_breaking_eps(grid[first], cnn, data, grid, steps=10, tol=0.0)
    with pytest.raises(checks.ExerciseError, match="comes at a larger ε"):
        checks.check_breaking_eps(grid[first - 1], cnn, data, grid, steps=10, tol=0.0)
    with pytest.raises(checks.ExerciseError, match="already below 50%"):
        checks.check_breaking_eps(grid[-1], cnn, data, grid, steps=10, tol=0.0)
    with pytest.raises(checks.ExerciseError, match="not on the grid"):
        checks.check_breaking_eps(0.123, cnn, data, grid)
    with pytest.raises(checks.ExerciseError, match="still empty"):
        checks.check_breaking_eps(None, cnn, data, grid)


# --------------------------------------------------------------------------- robust accuracy with restarts


def robust_accuracy(model, x, y, attack, restarts):
    """The notebook's reference solution."""
    robust = models.predict(model, x).argmax(1) == y
    for _ in range(restarts):
        robust &= models.predict(model, attack(model, x, y)).argmax(1) == y
    return robust.float().mean().item()


def test_robust_accuracy_reference_passes(capsys):
    checks.check_robust_accuracy(robust_accuracy)
    checks.check_robust_accuracy(robust_accuracy, n=50, restarts=2, seed=3)
    assert capsys.readouterr().out.count("✓") == 2


def _last_only(model, x, y, attack, restarts):
    for _ in range(restarts):
        ok = models.predict(model, attack(model, x, y)).argmax(1) == y
    return ok.float().mean().item()


def _any_restart(model, x, y, attack, restarts):
    ok = torch.zeros(len(x), dtype=torch.bool)
    for _ in range(restarts):
        ok |= models.predict(model, attack(model, x, y)).argmax(1) == y
    return ok.float().mean().item()


def _mean(model, x, y, attack, restarts):
    clean = models.predict(model, x).argmax(1) == y
    accs = [(clean & (models.predict(model, attack(model, x, y)).argmax(1) == y)).float().mean().item()
            for _ in range(restarts)]
    return sum(accs) / restarts


def _once(model, x, y, attack, restarts):
    clean = models.predict(model, x).argmax(1) == y
    return (clean & (models.predict(model, attack(model, x, y)).argmax(1) == y)).float().mean().item()


def _percent(model, x, y, attack, restarts):
    return 100 * robust_accuracy(model, x, y, attack, restarts)


@pytest.mark.parametrize("fn, message", [
    (_last_only, "only the last restart"),
    (_any_restart, "survived \\*some\\* restart"),
    (_mean, "averaged"),
    (_once, "once per restart"),
    (_percent, "percentage"),
])
def test_robust_accuracy_mistakes_get_feedback(fn, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_robust_accuracy(fn)
