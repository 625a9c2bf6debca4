"""Exercise checks of lesson 07, evaluating robustness: feedback a learner can act on."""

from __future__ import annotations

import functools

import torch

from .. import attacks, defences
from ..attacks import losses
from ..data import load_mnist
from ..evaluation import correct, robust_mask
from .feedback import ExerciseError, call_learner, passed, require, require_number, require_tensor

__all__ = ["check_dlr", "check_straight_through", "check_mystery_blackbox", "check_mystery"]


def _l07_logits(seed: int, n: int = 64, k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g) * 3
    y = torch.randint(0, k, (n,), generator=g)
    logits[: n // 4, :] = logits[: n // 4, :].scatter(1, y[: n // 4, None], 9.0)  # some confidently right
    return logits, y


def check_dlr(fn, *, seed: int = 0) -> None:
    """Lesson 07: ``fn(logits, y)`` is Croce & Hein's DLR loss, one value per example.

    DLR = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), z_π1 ≥ z_π2 ≥ ... the sorted logits.
    Checked on random logits (some confidently right, some wrong), and for invariance to
    scaling and shifting the logits.
    """
    logits, y = _l07_logits(seed)
    value = require_tensor(call_learner(fn, logits.clone(), y.clone(), what="my_dlr"), "my_dlr's result")
    require(value.dim() != 0, "my_dlr returned one number: return one value per example, shape (N,) — no .mean()")
    value = require_tensor(value, "my_dlr's result", shape=(len(y),)).detach().float()
    expected = losses.dlr(logits, y)
    if torch.allclose(value, expected, atol=1e-5, rtol=1e-4):
        scaled = require_tensor(call_learner(fn, 1000 * logits + 5, y.clone(), what="my_dlr"), "my_dlr's result")
        require(torch.allclose(scaled.detach().float(), expected, atol=1e-4, rtol=1e-3),
                "my_dlr is right on these logits but changes when every logit is multiplied by 1000 and shifted "
                "by 5: the point of DLR is that it does not (look for a constant you added)")
        passed("my_dlr matches Croce & Hein's DLR, and ignores the logits' scale and shift")
        return
    top = logits.sort(1, descending=True).values
    own = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], -torch.inf).amax(1)
    hints = [
        (-expected, "the sign is flipped: DLR is −(z_y − max_{i≠y} z_i)/(...), positive once the digit is misread"),
        ((other - own) / (top[:, 0] - top[:, 1]), "the denominator is z_π1 − z_π3 (first minus *third* largest logit)"),
        (-(own - top[:, 0]) / (top[:, 0] - top[:, 2]),
         "max_{i≠y} z_i leaves the true class out: for a correctly classified digit the top logit *is* z_y"),
        (other - own, "divide the margin by z_π1 − z_π3, which makes the loss ignore the logits' scale"),
    ]
    for wrong, hint in hints:
        if torch.allclose(value, wrong, atol=1e-5, rtol=1e-4):
            raise ExerciseError(f"my_dlr differs from DLR: {hint}")
    i = int((value - expected).abs().argmax())
    raise ExerciseError(f"my_dlr differs from DLR, e.g. for example {i}: {float(value[i]):.4f} instead of "
                        f"{float(expected[i]):.4f}. Sort each row of logits (descending), take max over the classes "
                        "other than y, and compute −(z_y − max_other) / (z_π1 − z_π3)")


def check_straight_through(fn, *, levels: int = 8, n: int = 100, eps: float = 0.3, seed: int = 0) -> None:
    """Lesson 07: ``fn(x, levels)`` rounds like the quantised defence forward, and is the identity backward (BPDA).

    Checked three ways: the values equal the defence's rounding; the gradient of the sum is
    all ones; and PGD through the learner's quantiser — inside the cached quantised defence —
    breaks at least 90% of the first ``n`` test digits that PGD on the defence itself cannot.
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(16, 1, 28, 28, generator=g)
    reference = defences.Quantize(levels)(x)
    leaf = x.clone().requires_grad_(True)
    out = require_tensor(call_learner(fn, leaf, levels, what="my_straight_through"), "my_straight_through's result",
                         shape=tuple(x.shape))
    require(torch.allclose(out.detach(), reference, atol=1e-6),
            "the forward pass must be the quantiser's: torch.round(x * (levels - 1)) / (levels - 1)"
            + (" — you returned x itself" if torch.allclose(out.detach(), x) else ""))
    require(out.requires_grad,
            "your result has no gradient at all (is everything inside .detach() or torch.no_grad()?): "
            "detach only the *difference* between the rounded and the original x")
    (grad,) = torch.autograd.grad(out.sum(), leaf)
    require(not torch.count_nonzero(grad) == 0,
            "the gradient is zero everywhere — that is the defence's own rounding, which is what masks the "
            "gradient. Make the backward pass the identity: x + (rounded - x).detach()")
    require(torch.allclose(grad, torch.ones_like(grad)), "the gradient should be 1 for every pixel (the identity's)")

    class Learner(torch.nn.Module):
        def forward(self, images):
            return fn(images, levels)

    defence = defences.quantised(device="cpu", progress=False)
    surrogate = torch.nn.Sequential(Learner(), defence.net)
    mnist = load_mnist()
    xs, ys = mnist.x_test[:n], mnist.y_test[:n]
    pgd = functools.partial(attacks.pgd, eps=eps, steps=20, alpha=2.5 * eps / 20,
                            generator=torch.Generator().manual_seed(seed))
    masked = robust_mask(defence, xs, ys, pgd)
    x_adv = pgd(surrogate, xs[masked], ys[masked])
    broken = float((~correct(defence, x_adv, ys[masked])).float().mean()) if masked.any() else 1.0
    require(broken >= 0.9, f"PGD through your quantiser broke only {broken:.0%} of the {int(masked.sum())} digits "
                           "PGD alone could not: check the gradient passes through unchanged")
    passed(f"BPDA works: PGD through your straight-through quantiser breaks {broken:.0%} of the {int(masked.sum())} "
           f"digits that looked robust to PGD (ε = {eps:g})")


def _reference() -> dict:
    return defences.mystery_reference(progress=False)


def check_mystery_blackbox(value, *, tol: float = 0.1) -> None:
    """Lesson 07 capstone, part 1: ``value`` is the mystery model's accuracy under a black-box attack.

    On the first ``defences.MYSTERY_DIGITS`` test digits at ε = 0.3. It must be a share in
    [0, 1], below the model's clean accuracy, and within ``tol`` of what the Square Attack alone
    (1,000 queries) leaves standing there.
    """
    ref = _reference()
    share = require_number(value, "blackbox_accuracy")
    require(not (1 < share <= 100), f"blackbox_accuracy is {share:g}, a percentage: give the share in [0, 1]")
    require(0 <= share <= 1, f"blackbox_accuracy must be a share in [0, 1], got {share:g}")
    require(share < ref["clean_accuracy"],
            f"blackbox_accuracy is {share:.0%}, not below the clean accuracy ({ref['clean_accuracy']:.0%}): run "
            "attacks.square on the mystery model (the black-box check) and measure what it leaves standing")
    require(abs(share - ref["square_alone"]) <= tol,
            f"blackbox_accuracy is {share:.0%}; the Square Attack alone (1,000 queries) leaves about "
            f"{ref['square_alone']:.0%} standing: did you attack the first {ref['n']} test digits at ε = {ref['eps']:g}?")
    passed(f"black-box check done: Square leaves {share:.0%} of the digits standing (clean {ref['clean_accuracy']:.0%})")


def check_mystery(value, *, tol: float = 0.05) -> None:
    """Lesson 07 capstone, part 2: ``value`` is the mystery model's true robust accuracy at ε = 0.3.

    Graded against the reference evaluation (``defences.mystery_reference``: the standard
    ensemble on the BPDA surrogate, then Square with 5,000 queries) on the same digits; within
    ``tol`` counts as right.
    """
    ref = _reference()
    share = require_number(value, "true_robust_accuracy")
    require(not (1 < share <= 100), f"true_robust_accuracy is {share:g}, a percentage: give the share in [0, 1]")
    require(0 <= share <= 1, f"true_robust_accuracy must be a share in [0, 1], got {share:g}")
    gap = share - ref["robust_accuracy"]
    if gap > tol:
        hint = ("too high: some attack is still being fooled. Which checks fail? A quantiser needs BPDA "
                "(defences.bpda); a huge logit scale needs a loss that ignores it (DLR); and count a digit as robust "
                "only if *every* attack fails on it")
        if share >= ref["clean_accuracy"] - 0.05:
            hint = "as high as the clean accuracy: the attacks you used did not move the model at all. " + hint
        raise ExerciseError(f"true_robust_accuracy is {share:.1%}, {hint}")
    require(gap >= -tol, f"true_robust_accuracy is {share:.1%}, below what the strongest evaluation here finds: "
                         f"did you use ε = {ref['eps']:g} (L∞) and the first {ref['n']} test digits?")
    passed(f"{share:.1%} — within {tol:.0%} of the reference {ref['robust_accuracy']:.1%} (standard ensemble + BPDA, "
           f"{ref['n']} digits)")
