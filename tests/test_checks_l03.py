"""Lesson 03's exercise checks: the reference solutions pass, typical mistakes get useful feedback."""

from __future__ import annotations

import pytest
import torch

from lessons import checks, encodings

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- my_mutate


def mutate(pixels, rate, strength, generator):
    """The notebook's reference solution."""
    chosen = torch.rand(pixels.shape, generator=generator) < rate
    noise = torch.randn(pixels.shape, generator=generator) * strength
    return torch.where(chosen, pixels + noise, pixels).clamp(0, 1)


def test_mutation_reference_passes(capsys):
    checks.check_mutation(mutate)
    checks.check_mutation(mutate, rate=0.3, strength=0.1, seed=5)
    assert "✓" in capsys.readouterr().out


def every_pixel(pixels, rate, strength, generator):
    return (pixels + torch.randn(pixels.shape, generator=generator) * strength).clamp(0, 1)


def inverted(pixels, rate, strength, generator):
    chosen = torch.rand(pixels.shape, generator=generator) > rate
    return torch.where(chosen, pixels + torch.randn(pixels.shape, generator=generator) * strength, pixels).clamp(0, 1)


def uniform_noise(pixels, rate, strength, generator):
    chosen = torch.rand(pixels.shape, generator=generator) < rate
    return torch.where(chosen, pixels + torch.rand(pixels.shape, generator=generator) * strength, pixels).clamp(0, 1)


def replaced(pixels, rate, strength, generator):
    chosen = torch.rand(pixels.shape, generator=generator) < rate
    return torch.where(chosen, torch.rand(pixels.shape, generator=generator), pixels)


def unclamped(pixels, rate, strength, generator):
    chosen = torch.rand(pixels.shape, generator=generator) < rate
    return torch.where(chosen, pixels + torch.randn(pixels.shape, generator=generator) * strength, pixels)


def in_place(pixels, rate, strength, generator):
    chosen = torch.rand(pixels.shape, generator=generator) < rate
    pixels[chosen] += torch.randn(int(chosen.sum()), generator=generator) * strength
    return pixels.clamp_(0, 1)


def no_generator(pixels, rate, strength, generator):
    chosen = torch.rand(pixels.shape) < rate
    return torch.where(chosen, pixels + torch.randn(pixels.shape) * strength, pixels).clamp(0, 1)


def not_written(pixels, rate, strength, generator):
    raise NotImplementedError()


@pytest.mark.parametrize(
    "fn, message",
    [
        (every_pixel, "changed 100% of the pixels"),
        (inverted, "mask is inverted"),
        (uniform_noise, "centred on zero"),
        (replaced, "standard deviation"),
        (unclamped, "near 1 with a large strength"),
        (in_place, "changed its input in place"),
        (no_generator, "same seed"),
        (not_written, "not written yet"),
        (lambda p, r, s, g: None, "still empty"),
    ],
)
def test_mutation_mistakes_get_feedback(fn, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_mutation(fn)


# --------------------------------------------------------------------------- my_fool


def fool(query, target, budget, generator):
    """The notebook's reference solution: a (1 + 32) hill climber on the pixels."""
    best = torch.rand((1, 1, 28, 28), generator=generator)
    best_p, used = float(query(best)[0, target]), 1
    while used + 32 <= budget and best_p < 0.999:
        children = encodings.mutate_direct(best.repeat(32, 1, 1, 1), rate=0.3, generator=generator)
        p = query(children)[:, target]
        used += 32
        if float(p.max()) > best_p:
            best, best_p = children[p.argmax()][None], float(p.max())
    return best


def test_fool_reference_passes(capsys):
    checks.check_fool_with_budget(fool)
    assert "✓" in capsys.readouterr().out


def greedy(query, target, budget, generator):
    x = torch.rand((budget + 1, 1, 28, 28), generator=generator)
    return x[query(x)[:, target].argmax()][None]


def random_guess(query, target, budget, generator):
    x = torch.rand((10, 1, 28, 28), generator=generator)
    return x[query(x)[:, target].argmax()][None]


def uses_gradients(query, target, budget, generator):
    x = torch.rand((1, 1, 28, 28), generator=generator, requires_grad=True)
    torch.autograd.grad(query(x)[0, target], x)
    return x.detach()


@pytest.mark.parametrize(
    "fn, message",
    [
        (greedy, "more than its budget"),
        (random_guess, "goal: ≥ 99%"),
        (uses_gradients, "carry no gradients"),
        (lambda q, t, b, g: torch.rand(1, 28, 28, generator=g), "batch of one"),
        (lambda q, t, b, g: torch.full((1, 1, 28, 28), 2.0), "leave \\[0, 1\\]"),
        (lambda q, t, b, g: torch.rand(1, 1, 28, 28, generator=g), "never called query"),
    ],
)
def test_fool_mistakes_get_feedback(fn, message):
    with pytest.raises(checks.ExerciseError, match=message):
        checks.check_fool_with_budget(fn)
