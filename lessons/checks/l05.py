"""Exercise checks of lesson 05, adversarial training: feedback a learner can act on."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import training
from ..data import load_mnist
from ..evaluation import robustness_curve
from ..models import lenet
from .feedback import ExerciseError, call_learner, passed, require, require_number

__all__ = ["check_pgd_training_step", "check_breaking_eps", "check_robust_accuracy"]


def _l05_params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _l05_same(a, b, tol: float = 1e-5) -> bool:
    return all(torch.allclose(p, q, atol=tol, rtol=1e-4) for p, q in zip(a, b))


def _l05_run_steps(step, n_steps: int, x, y, seed: int):
    """A seeded CNN and Adam, ``n_steps`` calls of ``step(model, opt, generator)``; returns (params, losses)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = lenet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    losses = [step(model, opt, gen) for _ in range(n_steps)]
    return model, _l05_params(model), losses


def check_pgd_training_step(fn, *, n: int = 16, eps: float = 0.3, seed: int = 0) -> None:
    """Lesson 05: ``fn(model, optimizer, x, y, eps, generator)`` takes one step of Madry's PGD training.

    The reference is ``training.training_step(..., method="pgd", steps=7)`` on an identical
    seeded CNN with an identical generator; two steps are taken, so a missing
    ``zero_grad`` shows up too.
    """


    mnist = load_mnist()
    x, y = mnist.x_train[seed * n : (seed + 1) * n].clone(), mnist.y_train[seed * n : (seed + 1) * n].clone()
    x_in, y_in = x.clone(), y.clone()

    def learner(model, opt, gen):
        return call_learner(fn, model, opt, x_in, y_in, eps, gen, what="my_pgd_step")

    def reference(method):
        return lambda model, opt, gen: training.training_step(model, opt, x, y, method=method, eps=eps, steps=7,
                                                              generator=gen)["loss"]

    before = _l05_run_steps(lambda m, o, g: 0.0, 0, x, y, seed)[1]
    model, got, losses = _l05_run_steps(learner, 2, x, y, seed)
    require(torch.equal(x_in, x) and torch.equal(y_in, y),
            "my_pgd_step changed the batch x (or y) in place: make the adversarial images a new tensor "
            "(attacks.pgd returns one), and never write into x")
    value = require_number(losses[-1], "my_pgd_step's return value")
    require(not _l05_same(before, got, tol=0.0),
            "the model did not change: after loss.backward(), call optimizer.step()")
    _, expected, ref_losses = _l05_run_steps(reference("pgd"), 2, x, y, seed)
    if not _l05_same(got, expected):
        if _l05_same(got, _l05_run_steps(reference("standard"), 2, x, y, seed)[1]):
            hint = ("your step trained on the clean batch x: compute x_adv = attacks.pgd(...) and take the "
                    "loss of model(x_adv)")
        else:
            def no_zero_grad(model, opt, gen):
                x_adv = training.adversarial_examples("pgd", model, x, y, eps, steps=7, generator=gen)
                loss = F.cross_entropy(model(x_adv), y)
                loss.backward()  # gradients pile up across steps
                opt.step()
                return float(loss.detach())

            if _l05_same(got, _l05_run_steps(no_zero_grad, 2, x, y, seed)[1]):
                hint = ("the gradients of the two steps added up: call optimizer.zero_grad() before "
                        "loss.backward()")
            else:
                hint = ("make the examples with attacks.pgd(model, x, y, eps, steps=7, alpha=2.5 * eps / 7, "
                        "generator=generator), then one optimizer step on F.cross_entropy(model(x_adv), y)")
        raise ExerciseError(f"after two steps your model's weights differ from Madry-style PGD training: {hint}")
    require(abs(value - ref_losses[-1]) <= 1e-4 * max(1.0, abs(ref_losses[-1])),
            f"the weights are right, but my_pgd_step returned {value:.4f} instead of the adversarial batch's "
            f"loss {ref_losses[-1]:.4f}: return loss.item() of F.cross_entropy(model(x_adv), y) (the batch mean)")
    passed(f"your PGD training step matches the reference (adversarial loss {value:.3f} on {n} digits at ε = {eps:g})")


def check_breaking_eps(value, model, data, eps_grid, *, steps: int = 20, seed: int = 0, tol: float = 0.05) -> None:
    """Lesson 05: ``value`` is the first ε of ``eps_grid`` where PGD accuracy falls below 50%.

    Accuracy at ε is measured as ``evaluation.robustness_curve`` does (PGD with ``steps`` steps
    of 2.5·ε/steps from a random start, seeded). A learner measuring in their own way may
    land one grid step off near the threshold; within ``tol`` of 50% both answers count.
    """

    grid = [float(e) for e in eps_grid]
    eps = require_number(value, "breaking_eps")
    require(any(abs(eps - e) < 1e-9 for e in grid),
            f"breaking_eps is {eps:g}, which is not on the grid {grid}: answer with one of the grid's values")
    i = min(range(len(grid)), key=lambda k: abs(grid[k] - eps))

    def acc(k: int) -> float:
        return robustness_curve(model, data, [grid[k]], steps=steps, generator=torch.Generator().manual_seed(seed))[0]

    here = acc(i)
    require(here < 0.5 + tol,
            f"at ε = {eps:g} the model still classifies {here:.0%} of the digits correctly: the break (below 50%) "
            "comes at a larger ε")
    if i > 0:
        before = acc(i - 1)
        require(before >= 0.5 - tol,
                f"the model is already below 50% at ε = {grid[i - 1]:g} ({before:.0%} correct): look for the "
                "*first* grid value where accuracy drops below 50%")
    passed(f"ε = {eps:g} is where this model breaks: {here:.0%} of the digits survive PGD-{steps} there")


class _L05Marker(torch.nn.Module):
    """Says class 0 when pixel (0, 0) is bright, else class 1."""
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        bright = x[:, 0, 0, 0] - 0.5
        return torch.stack([self.scale * bright, -self.scale * bright], dim=1)


def check_robust_accuracy(fn, *, n: int = 40, restarts: int = 3, seed: int = 0) -> None:
    """Lesson 05: ``fn(model, x, y, attack, restarts)`` counts a digit as robust only if no restart fools it.

    The test case is a toy: a model that reads one pixel, and an "attack" whose r-th call
    fools a different quarter of the images, so every way of combining restarts gives its
    own number.
    """
    g = torch.Generator().manual_seed(seed)
    model = _L05Marker()
    x = torch.zeros(n, 1, 2, 2)
    x[:, 0, 0, 0] = 1.0
    x[:, 0, 0, 1] = torch.arange(n) / n  # the image's id, so the toy attack can tell them apart
    y = torch.zeros(n, dtype=torch.long)
    wrong = torch.randperm(n, generator=g)[: max(1, n // 10)]
    y[wrong] = 1  # the model misreads these before any attack
    # unequal groups (40/30/20/10%), so that the wrong ways of combining restarts differ
    group = torch.bucketize((torch.arange(n) + seed) % 10, torch.tensor([3, 6, 8]), right=False)
    calls: list[int] = []

    def attack(m, xb, yb):
        r = len(calls)
        calls.append(len(xb))
        ids = (xb[:, 0, 0, 1] * n).round().long()
        out = xb.clone()
        out[group[ids] == r % 4, 0, 0, 0] = 0.0  # call r fools group r
        return out

    value = require_number(call_learner(fn, model, x.clone(), y.clone(), attack, restarts, what="my_robust_accuracy"),
                           "my_robust_accuracy's result")
    require(len(calls) >= 1, "my_robust_accuracy never called attack(model, x, y)")
    clean = y == 0
    fooled = [group == (r % 4) for r in range(restarts)]
    expected = float((clean & ~torch.stack(fooled).any(0)).float().mean())
    require(not (1 < value <= 100 and abs(value / 100 - expected) < 1e-6),
            f"my_robust_accuracy returned {value:.4g}, a percentage: return the share in [0, 1]")
    if abs(value - expected) > 1e-6:
        # Right after call r: a fooled digit is read as 1, the others as 0 (with or without the clean check).
        after = [(f.long() == y) for f in fooled]

        def share(mask: torch.Tensor) -> set[float]:
            return {float(mask.float().mean()), float((clean & mask).float().mean())}

        def near(options: set[float]) -> bool:
            return any(abs(value - o) < 1e-6 for o in options)

        mean_ok = {sum(float(a.float().mean()) for a in after) / restarts,
                   sum(float((clean & a).float().mean()) for a in after) / restarts}
        if len(calls) < restarts and near(share(after[0])):
            hint = f"attack was called {len(calls)} time(s); call it once per restart ({restarts} here)"
        elif near(share(after[-1])):
            hint = "you kept only the last restart's result; a digit must survive every restart (combine them with &)"
        elif near(share(torch.stack(after).any(0))):
            hint = "you counted a digit as robust if it survived *some* restart; it must survive *all* (use &, not |)"
        elif near(mean_ok):
            hint = "you averaged the restarts' accuracies; a digit counts only if no restart fooled it"
        else:
            hint = ("start from which digits the model gets right, then for each restart keep only those still "
                    "right on attack(model, x, y)")
        raise ExerciseError(f"my_robust_accuracy returned {value:.3f}, expected {expected:.3f}: {hint}")
    passed(f"robust accuracy {value:.1%} after {restarts} restarts — a digit counts only if no restart fooled it")
