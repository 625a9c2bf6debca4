"""Exercise checks with feedback a learner can act on.

Exercise cells end with a call such as ``checks.check_fgsm(my_fgsm)``. A check raises
``ExerciseError`` (an ``AssertionError``, so nbgrader counts it as a failed test) whose
message says what is wrong and what to try, and prints a short success line otherwise.
Each lesson's checks are grouped under its heading below.

The base helpers (this part) are used by every lesson's checks:

- ``call_learner(fn, *args, what="my_fgsm")`` calls the learner's function; "not written
  yet" (``NotImplementedError``) and crashes become feedback that names ``what``.
- ``require(condition, feedback)``, ``require_tensor(value, what, shape=...)``,
  ``require_number(value, what)``, ``require_close(value, expected, what, tol=...)`` raise
  ``ExerciseError(feedback)``.
- ``passed(message)`` prints the success line a check ends with. A check returns ``None``:
  nbgrader would read a returned value as partial credit.

In Jupyter an ``ExerciseError`` shows as its feedback alone (plus the learner's own frames
when their code crashed), not as a traceback through this module.
"""

from __future__ import annotations

import math
import os
import traceback

import torch

__all__ = ["ExerciseError", "passed", "require", "require_tensor", "require_number", "require_close", "call_learner"]

_HERE = os.path.abspath(__file__)


class ExerciseError(AssertionError):
    """A failed exercise check; the message is feedback for the learner."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback. The frames inside the checks
        # would only distract; when the learner's code crashed (``raise ... from err``) its
        # own frames are what they need to see.
        lines: list[str] = []
        cause = self.__cause__
        if cause is not None and cause.__traceback__ is not None:
            frames = [f for f in traceback.extract_tb(cause.__traceback__)
                      if os.path.abspath(f.filename) != _HERE]
            if frames:
                lines.append("Your code failed here (most recent call last):")
                lines.extend(s.rstrip("\n") for s in traceback.format_list(frames))
                lines.extend(s.rstrip("\n") for s in traceback.format_exception_only(type(cause), cause))
                lines.append("")
        lines.append(f"ExerciseError: {self}")
        return lines


def passed(message: str) -> None:
    """Print the success line every check ends with."""
    print(f"✅ {message}")


def require(condition: bool, feedback: str) -> None:
    """Raise ``ExerciseError(feedback)`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseError(feedback)


def _not_implemented(value: object) -> bool:
    return value is NotImplemented or value is None or value is Ellipsis


def require_tensor(value: object, what: str, *, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Feedback when ``value`` is not a tensor (of ``shape``); returns ``value``."""
    require(not _not_implemented(value),
            f"{what} is still empty: replace `raise NotImplementedError()` with your code"
            + (" (and check that your function ends with `return`)" if value is None else ""))
    require(isinstance(value, torch.Tensor), f"{what} should be a torch.Tensor, but it is a {type(value).__name__}")
    if shape is not None:
        require(tuple(value.shape) == tuple(shape),
                f"{what} should have shape {tuple(shape)}, but it has shape {tuple(value.shape)}")
    return value


def require_number(value: object, what: str) -> float:
    """Feedback unless ``value`` is one finite-or-infinite, non-NaN number; returns it as a float.

    Accepts Python numbers, NumPy scalars and one-element tensors, so a learner may answer
    ``0.3``, ``np.float32(0.3)`` or ``torch.tensor(0.3)``.
    """
    require(not _not_implemented(value),
            f"{what} is still empty: replace `raise NotImplementedError()` with your code")
    if isinstance(value, torch.Tensor):
        require(value.numel() == 1, f"{what} should be one number, but it is a tensor of shape {tuple(value.shape)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExerciseError(f"{what} should be a number, but it is a {type(value).__name__}") from None
    require(not math.isnan(number), f"{what} is NaN: look for a division by zero or a log of 0")
    return number


_as_number = require_number  # the name lesson checks first used


def require_close(value: float, expected: float, what: str, *, tol: float, hint: str = "") -> None:
    """Feedback when a number is further than ``tol`` from the expected one."""
    number = _as_number(value, what)
    require(abs(number - float(expected)) <= tol,
            f"{what} is {number:.4g}, expected about {float(expected):.4g} (±{tol:g}). {hint}".strip())


def call_learner(fn: object, *args, what: str = "your function", **kwargs):
    """Call a learner's function, turning "not written yet" and crashes into feedback."""
    require(not _not_implemented(fn), f"{what} is still empty: replace `raise NotImplementedError()` with your code")
    require(callable(fn), f"{what} should be a function, but it is a {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError(
            f"{what} is not written yet: replace `raise NotImplementedError()` with your code, then run the cell again"
        ) from None
    except ExerciseError:
        raise
    except Exception as err:
        raise ExerciseError(f"{what} raised {type(err).__name__}: {err}") from err


# --------------------------------------------------------------------------- lesson 01


def _l01_case(n: int, seed: int):
    """A small seeded classifier on 6×6 images with black and white bands (so clipping matters)."""
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    x = torch.rand(n, 1, 6, 6, generator=g)
    x[:, :, :2] = 0.0
    x[:, :, -1] = 1.0
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def check_fgsm(fn, *, n: int = 16, eps: float = 0.1, seed: int = 0) -> None:
    """Lesson 01: ``fn(model, x, y, eps)`` returns FGSM's adversarial images (untargeted)."""
    import torch.nn.functional as F

    from .attacks import fgsm

    model, x, y = _l01_case(n, seed)
    x_in, y_in = x.clone(), y.clone()
    out = require_tensor(call_learner(fn, model, x_in, y_in, eps, what="my_fgsm"), "my_fgsm's result", shape=tuple(x.shape))
    require(torch.equal(x_in, x), "my_fgsm changed x in place: build a new tensor (x_adv = x + ..., not x += ...)")
    out_f = out.detach().float()
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)
    expected = fgsm(model, x, y, eps)
    step = eps * grad.sign()
    if not torch.allclose(out_f, expected, atol=1e-5):
        if torch.allclose(out_f, step, atol=1e-5) or torch.allclose(out_f, expected - x, atol=1e-5):
            hint = "my_fgsm returned the perturbation, not the image: add it to x (x + eps * grad.sign())"
        elif torch.allclose(out_f, x + step, atol=1e-5):
            hint = (f"values leave [0, 1] (from {float(out_f.min()):.2f} to {float(out_f.max()):.2f}): "
                    "clamp the result with .clamp(0, 1)")
        elif torch.allclose(out_f, (x - step).clamp(0, 1), atol=1e-5) or torch.allclose(out_f, x - step, atol=1e-5):
            hint = ("you stepped *down* the loss, which makes the true class likelier; untargeted FGSM steps up: "
                    "x + eps * grad.sign()")
        elif torch.allclose(out_f, (x + eps * grad).clamp(0, 1), atol=1e-5):
            hint = "use the *sign* of the gradient (grad.sign()), not the gradient itself: every pixel moves by exactly eps"
        elif float((out_f - x).abs().max()) > eps + 1e-5:
            hint = (f"some pixels moved by {float((out_f - x).abs().max()):.3f} > eps = {eps}: "
                    "each pixel moves by at most eps")
        else:
            hint = ("compute the cross-entropy loss of model(x) against y, its gradient with respect to x "
                    "(torch.autograd.grad(loss, x_var)), then x + eps * grad.sign(), clamped to [0, 1]")
        raise ExerciseError(f"my_fgsm's images differ from FGSM's: {hint}")
    require(not out.requires_grad,
            "my_fgsm's result still carries the autograd graph: return x_adv.detach() so it can be used as plain data")
    zero = require_tensor(call_learner(fn, model, x.clone(), y.clone(), 0.0, what="my_fgsm"), "my_fgsm(..., eps=0)",
                          shape=tuple(x.shape))
    require(torch.allclose(zero.detach().float(), x), "with eps = 0, my_fgsm should return the images unchanged")
    with torch.no_grad():
        fooled = float((model(out_f).argmax(1) != y).float().mean())
    passed(f"my_fgsm matches attacks.fgsm on {n} images (ε = {eps:g}); it changes {fooled:.0%} of the predictions")


def check_rms(fn, *, seed: int = 0) -> None:
    """Lesson 01: ``fn(x, x_adv)`` returns the RMS distortion √(Σ(x′ − x)²/n) of each image, shape (N,)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 1, 5, 5, generator=g)
    x_adv = (x + 0.1 * torch.randn(x.shape, generator=g) * torch.arange(1, 5).view(-1, 1, 1, 1)).clamp(0, 1)
    x_adv[0] = x[0]  # an untouched image: RMS 0
    d = (x_adv - x).flatten(1)
    expected = d.pow(2).mean(1).sqrt()
    out = call_learner(fn, x.clone(), x_adv.clone(), what="my_rms")
    if (isinstance(out, torch.Tensor) and out.numel() == 1) or isinstance(out, float):
        raise ExerciseError("my_rms returned one number for the whole batch: return one value per image, shape (N,) "
                            "(flatten each image with x.flatten(1) and reduce over dim 1)")
    out = require_tensor(out, "my_rms's result", shape=(4,)).detach().float()
    if not torch.allclose(out, expected, atol=1e-5):
        if torch.allclose(out, d.norm(dim=1), atol=1e-5):
            hint = "that is the L2 norm √(Σ d²); the RMS divides by the number of pixel values first: √(Σ d² / n), i.e. .mean(1)"
        elif torch.allclose(out, d.pow(2).mean(1), atol=1e-5):
            hint = "that is the mean square; take its square root"
        elif torch.allclose(out, d.abs().mean(1), atol=1e-5):
            hint = "that is the mean absolute change; square the changes, average, then take the square root"
        elif torch.allclose(out, d.abs().amax(1), atol=1e-5):
            hint = "that is the largest change (L∞); average the squared changes instead, then take the square root"
        else:
            hint = "per image: d = x_adv − x, then √(mean of d²) over its C·H·W values"
        raise ExerciseError(f"my_rms gave {[round(float(v), 4) for v in out]}, expected "
                            f"{[round(float(v), 4) for v in expected]}: {hint}")
    passed("my_rms computes Szegedy's 'average pixel-level distortion' per image")


def check_smallest_eps(value, model, x, y, *, tol: float = 0.01, reference: bool = False) -> None:
    """Lesson 01: ``value`` is the smallest FGSM ε (to ``tol``) that changes the prediction on ``x``.

    Accepted when FGSM at ``value`` changes the label and FGSM at ``value − tol`` does not.
    With ``reference=True`` the value must also be within ``tol`` of ``attacks.smallest_eps``'s
    bisection (which rules out a boundary found far above a smaller one).
    """
    from .attacks import fgsm, smallest_eps
    from .models import predict

    eps = require_number(value, "smallest_eps")
    require(not (1 < eps <= 255), f"smallest_eps is {eps:g}: use pixel units in [0, 1] (divide grey levels by 255)")
    require(0 <= eps <= 1, f"smallest_eps is {eps:g}; FGSM's ε is a pixel change in [0, 1]")
    label = int(y[0])

    def top(e: float) -> tuple[int, float]:
        p = predict(model, fgsm(model, x, y, float(e)))[0]
        return int(p.argmax()), float(p.max())

    k, p = top(eps)
    require(k != label, f"at ε = {eps:.4g}, FGSM does not change the prediction yet (still {label}, {p:.0%}): "
                        "try larger values")
    if eps - tol >= 0:
        k2, _ = top(eps - tol)
        require(k2 == label, f"FGSM already changes the prediction at ε = {eps - tol:.4g} (to {k2}): your ε is not the "
                             f"smallest; search in steps of at most {tol:g} from 0 upward")
    if reference:
        ref, _ = smallest_eps(model, x, y, eps_max=1.0, search_steps=12, progress=False)
        require(abs(eps - float(ref[0])) <= tol, f"attacks.smallest_eps finds a boundary at ε = {float(ref[0]):.4f}, "
                                                 f"yours is {eps:.4f}: scan from 0 upward and stop at the first flip")
    passed(f"ε = {eps:.3f} flips the digit {label} → {k} ({p:.0%}); ε − {tol:g} does not")


# --------------------------------------------------------------------------- lesson 02


def _l02_pair(n: int, seed: int):
    """A source and a target classifier (fixed random linear maps), images, labels, examples.

    No training and no cache. The two models share part of their weights, so a perturbation
    made for the source fools the target only sometimes; a few labels are wrong on purpose
    and the target disagrees with the source on some clean images, so that "both models
    right on the clean image" matters.
    """
    import torch.nn.functional as F
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(4, 36, generator=g)

    def linear(weight: torch.Tensor) -> nn.Module:
        layer = nn.Linear(36, 4)
        layer.weight.data.copy_(weight)
        layer.bias.data.copy_(-0.5 * weight.sum(1))  # logits = W (x − 0.5): no class wins everywhere
        return nn.Sequential(nn.Flatten(), layer).eval()

    source = linear(shared + 0.6 * torch.randn(4, 36, generator=g))
    target = linear(shared + 0.6 * torch.randn(4, 36, generator=g))
    x = torch.rand(n, 1, 6, 6, generator=g)
    with torch.no_grad():
        y = source(x).argmax(1)
    wrong = torch.rand(n, generator=g) < 0.15  # the source is wrong on these clean images
    y[wrong] = (y[wrong] + 1) % 4
    # FGSM on the source with a different ε per image: some examples fool it, some do not.
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(source(x_req), y, reduction="sum"), x_req)
    eps = 0.08 * torch.rand(n, generator=g).view(-1, 1, 1, 1)
    x_adv = (x + eps * grad.sign()).clamp(0, 1)
    return source, target, x, y, x_adv


def check_transfer_rate(fn, *, n: int = 120, seed: int = 0) -> None:
    """Lesson 02: ``fn(source, target, x, y, x_adv)`` returns the transfer rate in [0, 1]."""
    from .transfer import transfer_report

    source, target, x, y, x_adv = _l02_pair(n, seed)
    with torch.no_grad():
        s_clean, t_clean = source(x).argmax(1), target(x).argmax(1)
        s_adv, t_adv = source(x_adv).argmax(1), target(x_adv).argmax(1)
    expected = transfer_report(source, target, x, y, x_adv)["transfer_rate"]
    value = _as_number(call_learner(fn, source, target, x.clone(), y.clone(), x_adv.clone(), what="my_transfer_rate"),
                       "my_transfer_rate's result")

    def rate(mask: torch.Tensor) -> float:
        return float((mask & (t_adv != y)).sum()) / max(int(mask.sum()), 1)

    require(not (1 < value <= 100 and abs(value / 100 - expected) < 1e-6),
            f"my_transfer_rate returned {value:.4g}, a percentage: return the share in [0, 1] (drop the × 100)")
    require(0 <= value <= 1, f"my_transfer_rate returned {value:.4g}; a rate is a share in [0, 1]")
    if abs(value - expected) > 1e-6:
        if abs(value - float((t_adv != y).float().mean())) < 1e-6:
            hint = ("you counted every image: that is the target's error on x_adv (a cell of Szegedy's table). "
                    "Count only the images both models get right on x and whose x_adv fools the source")
        elif abs(value - rate(s_adv != y)) < 1e-6:
            hint = ("you kept every image that fools the source, including ones a model already gets wrong on the "
                    "clean x; keep only images that source *and* target classify correctly on x")
        elif abs(value - rate((s_clean == y) & (s_adv != y))) < 1e-6:
            hint = "leave out the images the *target* already gets wrong on the clean x, too"
        elif abs(value - rate((s_clean == y) & (t_clean == y))) < 1e-6:
            hint = "among the images both models get right on x, keep only those whose x_adv fools the source"
        else:
            hint = ("keep the images with source(x) == y, target(x) == y and source(x_adv) != y; among them, "
                    "return the share with target(x_adv) != y")
        raise ExerciseError(f"my_transfer_rate returned {value:.4f}, expected {expected:.4f}: {hint}")
    passed(f"transfer rate {value:.1%} over {int(((s_clean == y) & (t_clean == y) & (s_adv != y)).sum())} eligible images "
           "— the examples that fool the source and also fool the target")


def _l02_amplify_case(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    x[:, :, :3] = 0.0  # a black band, like MNIST's background: the box matters
    x[:, :, -1] = 1.0
    sizes = torch.linspace(0.01, 0.06, n).view(-1, 1, 1, 1)  # every image its own perturbation size
    x_adv = (x + sizes * torch.randn(x.shape, generator=g)).clamp(0, 1)
    x_adv[0] = x[0]  # one image was not perturbed at all
    return x, x_adv


def check_amplify(fn, *, n: int = 6, seed: int = 0, rms: float = 0.1) -> None:
    """Lesson 02: ``fn(x, x_adv, rms)`` stretches each perturbation to RMS ``rms``, then clips."""
    x, x_adv = _l02_amplify_case(n, seed)
    x_in, x_adv_in = x.clone(), x_adv.clone()
    out = require_tensor(call_learner(fn, x_in, x_adv_in, rms, what="my_amplify"), "my_amplify's result",
                         shape=tuple(x.shape))
    require(torch.equal(x_in, x) and torch.equal(x_adv_in, x_adv),
            "my_amplify changed its inputs in place: build a new tensor (x + ..., not x += ...)")
    out = out.detach().float()
    d = x_adv - x
    size = d.flatten(1).pow(2).mean(1).sqrt().view(-1, 1, 1, 1)
    scale = torch.where(size > 0, rms / size.clamp_min(1e-12), torch.zeros_like(size))
    expected = (x + d * scale).clamp(0, 1)
    require(not bool(out.isnan().any()),
            "my_amplify returned NaN: an image with no perturbation (x_adv == x) has RMS 0; leave it unchanged "
            "instead of dividing by 0 (e.g. torch.where(rms_now > 0, rms / rms_now, 0))")
    require(not torch.allclose(out, expected - x, atol=1e-4) or torch.allclose(expected, expected - x),
            "my_amplify returned the perturbation: return the image x + stretched perturbation")
    require(float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6,
            f"values leave [0, 1] (from {float(out.min()):.3f} to {float(out.max()):.3f}): clip with .clamp(0, 1)")
    if not torch.allclose(out, expected, atol=1e-4):
        global_scale = rms / d.flatten().pow(2).mean().sqrt()
        l2_scale = torch.where(size > 0, rms / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1).clamp_min(1e-12), 0.0)
        if torch.allclose(out, (x + d * global_scale).clamp(0, 1), atol=1e-4):
            hint = ("you used one factor for the whole batch; stretch each image by its own factor "
                    "(its RMS: d.flatten(1).pow(2).mean(1).sqrt(), reshaped to (N, 1, 1, 1))")
        elif torch.allclose(out, (x + d * l2_scale).clamp(0, 1), atol=1e-4):
            hint = "RMS is √(mean of d²) over the pixels, not the L2 norm √(sum of d²): use .mean(1), not .sum(1)"
        elif torch.allclose(out, x + d * scale, atol=1e-4):
            hint = "clip the result to [0, 1]"
        else:
            hint = "scale d = x_adv − x per image by rms / RMS(d), add it to x, clip to [0, 1]"
        got = (out - x).flatten(1).pow(2).mean(1).sqrt()
        raise ExerciseError(f"my_amplify's images differ from the expected ones (RMS distortion per image: "
                            f"{[round(float(v), 3) for v in got]}): {hint}")
    passed(f"every perturbation stretched to RMS {rms:g} before clipping, in its own direction")


# --------------------------------------------------------------------------- lesson 03


def check_mutation(fn, *, rate: float = 0.1, strength: float = 0.05, seed: int = 0) -> None:
    """Lesson 03: ``fn(pixels, rate, strength, generator)`` returns a Gaussian-mutated copy.

    Each pixel, independently with probability ``rate``, moves by N(0, strength²) noise; the
    result is clipped to [0, 1]; the input is left alone; all randomness comes from ``generator``.
    """
    what = "my_mutate"
    x = torch.full((64, 1, 28, 28), 0.5)
    x_in = x.clone()
    out = require_tensor(call_learner(fn, x_in, rate, strength, torch.Generator().manual_seed(seed), what=what),
                         f"{what}'s result", shape=tuple(x.shape))
    require(torch.equal(x_in, x), f"{what} changed its input in place: work on a copy (pixels.clone(), or build a new tensor)")
    out = out.detach().float()
    require(float(out.min()) >= 0 and float(out.max()) <= 1,
            f"values leave [0, 1] (from {float(out.min()):.3f} to {float(out.max()):.3f}): clamp the result with .clamp(0, 1)")
    changed = out != x
    share = float(changed.float().mean())
    if share > 0.95 and rate < 0.5:
        raise ExerciseError(f"{what} changed {share:.0%} of the pixels, but only a share `rate` = {rate:g} should change: "
                            "pick the pixels with a mask, torch.rand(pixels.shape, generator=generator) < rate")
    if abs(share - (1 - rate)) < 0.02 and abs(rate - 0.5) > 0.1:
        raise ExerciseError(f"{what} changed {share:.0%} of the pixels instead of {rate:.0%}: your mask is inverted "
                            "(use `< rate`, so each pixel is chosen with probability rate)")
    require(abs(share - rate) < 0.01,
            f"{what} changed {share:.1%} of the pixels; about {rate:.0%} (`rate`) should change, each pixel independently")
    steps = (out - x)[changed]
    mean, std = float(steps.mean()), float(steps.std())
    require(abs(mean) < 0.2 * strength,
            f"the changes average {mean:+.4f}, not 0: the noise should be centred on zero, "
            "torch.randn(...) (a normal distribution), not torch.rand(...) (uniform on [0, 1))")
    require(abs(std - strength) < 0.15 * strength,
            f"the changes have a standard deviation of {std:.4f}; it should be `strength` = {strength:g}: "
            "add torch.randn(...) * strength to the chosen pixels (add to them, do not replace them)")
    again = call_learner(fn, x.clone(), rate, strength, torch.Generator().manual_seed(seed), what=what)
    require(isinstance(again, torch.Tensor) and torch.equal(again.detach().float(), out),
            f"{what} gave different results for two generators with the same seed: draw every random number "
            "from the generator argument (torch.rand(..., generator=generator), torch.randn(..., generator=generator))")
    other = call_learner(fn, x.clone(), rate, strength, torch.Generator().manual_seed(seed + 1), what=what)
    require(isinstance(other, torch.Tensor) and not torch.equal(other.detach().float(), out),
            f"{what} ignores the generator: a different seed should give a different mutation")
    edge = call_learner(fn, torch.full((4, 1, 28, 28), 0.98), 0.5, 0.3, torch.Generator().manual_seed(seed), what=what)
    require(isinstance(edge, torch.Tensor) and float(edge.max()) <= 1 and float(edge.min()) >= 0,
            "for pixels near 1 with a large strength, values leave [0, 1]: clamp the result with .clamp(0, 1)")
    passed(f"{what} mutates {share:.1%} of the pixels (rate {rate:g}) by steps of std {std:.4f} (strength {strength:g})")


class _Oracle:
    """A black box that only answers queries: class probabilities, no gradients, a budget."""

    def __init__(self, model, budget: int):
        self.model, self.budget, self.used = model, budget, 0

    def __call__(self, images):
        from .models import predict

        require(isinstance(images, torch.Tensor) and images.dim() == 4 and tuple(images.shape[1:]) == (1, 28, 28),
                f"query takes a batch of digits of shape (N, 1, 28, 28), got {getattr(images, 'shape', type(images).__name__)}")
        self.used += len(images)
        require(self.used <= self.budget,
                f"my_fool asked for {self.used} evaluations, more than its budget of {self.budget}: count the images "
                "you send to query, and stop (returning your best image) before the budget runs out")
        # .detach(): the answer carries no gradient, as from a remote service
        return predict(self.model, images.detach().clamp(0, 1)).detach()


def check_fool_with_budget(fn, *, target: int = 3, budget: int = 3000, seed: int = 0, threshold: float = 0.99) -> None:
    """Lesson 03: ``fn(query, target, budget, generator)`` returns one digit image the CNN calls ``target``.

    ``query(images)`` returns the CNN's probabilities (N, 10) without gradients; at most
    ``budget`` images may be sent to it in total. The image must score ≥ ``threshold``.
    """
    from .models import predict, pretrained

    cnn = pretrained("cnn", device="cpu", progress=False)
    oracle = _Oracle(cnn, budget)
    try:
        out = call_learner(fn, oracle, target, budget, torch.Generator().manual_seed(seed), what="my_fool")
    except ExerciseError as err:
        if isinstance(err.__cause__, RuntimeError) and "grad" in str(err.__cause__):
            raise ExerciseError(f"{err}. query's answers carry no gradients (like a remote service's): "
                                "search by mutating images and keeping the better ones instead") from err.__cause__
        raise
    out = require_tensor(out, "my_fool's result")
    if out.dim() == 3:
        raise ExerciseError(f"my_fool returned shape {tuple(out.shape)}: return one image as a batch of one, (1, 1, 28, 28) "
                            "(add .unsqueeze(0) or index with [None])")
    require_tensor(out, "my_fool's result", shape=(1, 1, 28, 28))
    out = out.detach().float()
    require(float(out.min()) >= 0 and float(out.max()) <= 1,
            f"the image's values leave [0, 1] (from {float(out.min()):.3f} to {float(out.max()):.3f}): clamp it")
    require(oracle.used > 0, "my_fool never called query: score candidate images with query(images)[:, target]")
    p = float(predict(cnn, out)[0, target])
    require(p >= threshold,
            f"the CNN gives your image {p:.2%} for '{target}' (goal: ≥ {threshold:.0%}) after {oracle.used} of "
            f"{budget} evaluations. Keep the best image so far; each round, mutate it into a batch of children, "
            "score them with one query, and keep the best child if it beats the parent")
    passed(f"the CNN calls your image a '{target}' with {p:.4%} confidence; you used {oracle.used} of {budget} evaluations")


# --------------------------------------------------------------------------- lesson 04


def check_top_k(fn, *, n: int = 300, n_directions: int = 12, k: int = 8, seed: int = 0) -> None:
    """Lesson 04: ``fn(scores, k)`` returns the indices (K, k) of each direction's top-k images.

    ``scores`` is (N, K): image n's score ⟨φ(x_n), v_k⟩ along direction k. Row j of the result
    lists the k images with the highest scores in column j, best first.
    """
    from .directions import top_k

    what = "my_top_k"
    scores = torch.randn(n, n_directions, generator=torch.Generator().manual_seed(seed))
    scores_in = scores.clone()
    out = call_learner(fn, scores_in, k, what=what)
    if isinstance(out, tuple) and len(out) == 2:
        raise ExerciseError(f"{what} returned a pair (values, indices), as torch.topk does: return only the indices")
    out = require_tensor(out, f"{what}'s result")
    require(torch.equal(scores_in, scores), f"{what} changed the scores in place: sort a copy, or use torch.topk/torch.sort")
    expected = top_k(scores, k)
    if tuple(out.shape) == (k, n_directions) and n_directions != k:
        raise ExerciseError(f"{what} returned shape {tuple(out.shape)}: one row per direction is expected, "
                            f"({n_directions}, {k}); transpose with .T")
    require_tensor(out, f"{what}'s result", shape=(n_directions, k))
    if out.is_floating_point():
        best = scores.topk(k, dim=0).values.T
        if torch.allclose(out, best):
            raise ExerciseError(f"{what} returned the top scores themselves: return their indices (the .indices of torch.topk)")
        raise ExerciseError(f"{what} returned floats; image indices are integers (torch.long)")
    out = out.long()
    require(int(out.min()) >= 0 and int(out.max()) < n,
            f"{what} returned indices outside [0, {n - 1}]: rank the images (dim=0 of scores), not the directions")
    lowest = torch.sort(scores, dim=0, descending=False, stable=True).indices[:k].T
    if torch.equal(out, lowest):
        raise ExerciseError(f"{what} returned the {k} *lowest*-scoring images: sort in descending order "
                            "(torch.topk does by default; torch.sort needs descending=True)")
    if not torch.equal(out, expected):
        same_sets = all(set(a.tolist()) == set(b.tolist()) for a, b in zip(out, expected))
        if same_sets:
            raise ExerciseError(f"{what} found the right images but not best first: order each row by decreasing score")
        bad = next(j for j in range(n_directions) if not torch.equal(out[j], expected[j]))
        raise ExerciseError(f"for direction {bad}, {what} gave images {out[bad].tolist()}, but the {k} highest scores "
                            f"in column {bad} of scores belong to images {expected[bad].tolist()}: rank along dim=0")
    passed(f"{what} finds the top {k} of {n} images for each of {n_directions} directions, best first")


def _l04_fc1(model) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from .data import load_mnist
    from .directions import activations

    mnist = load_mnist()
    acts = activations(model, torch.cat([mnist.x_train, mnist.x_test]), "fc1", progress=False)
    return acts[: len(mnist.x_train)], mnist.y_train, acts[len(mnist.x_train):], mnist.y_test


def check_digit_direction(fn, *, digits=(3,), k: int = 20, threshold: float = 0.9) -> None:
    """Lesson 04: ``fn(acts, labels, digit)`` returns a unit direction in ``fc1`` space that selects ``digit``.

    ``acts`` (N, 128) are the CNN's ``fc1`` activations of the *training* digits and
    ``labels`` (N,) their labels. The check ranks the 1,000 held-out digits along the
    returned direction and requires a share ≥ ``threshold`` of ``digit`` among the top ``k``.
    """
    from .directions import project, top_k
    from .models import pretrained

    what = "digit_direction"
    cnn = pretrained("cnn", device="cpu", progress=False)
    acts_train, y_train, acts_test, y_test = _l04_fc1(cnn)
    shares = {}
    for digit in digits:
        acts_in = acts_train.clone()
        v = require_tensor(call_learner(fn, acts_in, y_train.clone(), digit, what=what), f"{what}'s result")
        require(torch.equal(acts_in, acts_train), f"{what} changed acts in place: compute with new tensors")
        if v.dim() == 2 and 1 in v.shape:
            raise ExerciseError(f"{what} returned shape {tuple(v.shape)}: return a plain vector of shape (128,) "
                                "(.flatten() or .squeeze(0))")
        require_tensor(v, f"{what}'s result", shape=(acts_train.shape[1],))
        v = v.detach().float().cpu()
        require(bool(torch.isfinite(v).all()), f"{what} returned NaN or infinite values: look for a division by zero")
        norm = float(v.norm())
        require(abs(norm - 1) < 1e-3, f"your direction has length {norm:.4g}; a direction is a unit vector: divide it by its norm (v / v.norm())")
        idx = top_k(project(acts_test, v[None]), k)[0]
        share = float((y_test[idx] == digit).float().mean())
        if share < threshold:
            class_mean = acts_train[y_train == digit].mean(0)
            hint = ("Take the average activation of the training images of that digit and subtract the average over "
                    "all training images, so the direction points at what is *special* about the digit")
            if float(torch.nn.functional.cosine_similarity(v, class_mean, dim=0)) > 0.99:
                hint = ("Your direction is the plain average activation of the digit, which also points at what every "
                        "digit has in common: subtract the average over all training images first")
            raise ExerciseError(f"only {share:.0%} of the top {k} held-out images along your direction are {digit}s "
                                f"(goal: ≥ {threshold:.0%}). {hint}")
        shares[digit] = share
    listed = ", ".join(f"{d}: {s:.0%}" for d, s in shares.items())
    passed(f"along your direction the top {k} held-out digits are the requested digit ({listed})")


# --------------------------------------------------------------------------- lesson 05


def _l05_params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _l05_same(a, b, tol: float = 1e-5) -> bool:
    return all(torch.allclose(p, q, atol=tol, rtol=1e-4) for p, q in zip(a, b))


def _l05_run_steps(step, n_steps: int, x, y, seed: int):
    """A seeded CNN and Adam, ``n_steps`` calls of ``step(model, opt, generator)``; returns (params, losses)."""
    from .models import lenet

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
    import torch.nn.functional as F

    from . import training
    from .data import load_mnist

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

    Accuracy at ε is measured as ``training.robustness_curve`` does (PGD with ``steps`` steps
    of 2.5·ε/steps from a random start, seeded). A learner measuring in their own way may
    land one grid step off near the threshold; within ``tol`` of 50% both answers count.
    """
    from .training import robustness_curve

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


# --------------------------------------------------------------------------- lesson 06


def _l06_images(n: int, seed: int, side: int = 8) -> torch.Tensor:
    """Small digit-like images: a black band and a white band, so the [0, 1] box matters."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, side, side, generator=g)
    x[:, :, :2] = 0.0
    x[:, :, -2:] = 1.0
    return x


def check_linear_attack(fn, *, n: int = 40, seed: int = 0, eps: float = 0.25) -> None:
    """Lesson 06: ``fn(w, b, x, y, eps)`` is the closed-form attack on binary logistic regression.

    The model scores s = w·x + b (x flattened) and predicts class 1 when s > 0; the
    adversarial image moves every pixel by ε against the true class, clipped to [0, 1].
    """
    from .classic import linear_attack

    g = torch.Generator().manual_seed(seed + 1)
    x = _l06_images(n, seed)
    w = torch.randn(x[0].numel(), generator=g)
    b = float(-(x.flatten(1) @ w).median())  # half the images on each side
    y = ((x.flatten(1) @ w + b) > 0).long()
    y[:3] = 1 - y[:3]  # a few that the model already gets wrong
    expected = linear_attack((torch.stack([torch.zeros_like(w), w]), torch.tensor([0.0, b])), x, y, eps)
    out = require_tensor(call_learner(fn, w.clone(), b, x.clone(), y.clone(), eps, what="my_linear_attack"),
                         "my_linear_attack's result", shape=tuple(x.shape))
    out = out.detach().float()

    def error(images: torch.Tensor) -> float:
        return float((((images.flatten(1) @ w + b) > 0).long() != y).float().mean())

    if torch.allclose(out, expected - x, atol=1e-5):
        raise ExerciseError("my_linear_attack returned the perturbation δ, not the image: return x + δ (clipped)")
    require(float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6,
            f"values leave [0, 1] (from {float(out.min()):.3f} to {float(out.max()):.3f}): clamp the result to [0, 1]")
    require(float((out - x).abs().max()) <= eps + 1e-5,
            f"some pixel moved by {float((out - x).abs().max()):.3f}, more than ε = {eps}: move each pixel by ε at most")
    if not torch.allclose(out, expected, atol=1e-5):
        flipped = (x + (2 * y.view(-1, 1, 1, 1) - 1) * eps * w.sign().view_as(x[0])).clamp(0, 1)
        if torch.allclose(out, flipped, atol=1e-5):
            hint = ("the sign is backwards: a class-1 image (s > 0) must move to *lower* s, i.e. by −ε·sign(w); "
                    "a class-0 image by +ε·sign(w)")
        elif error(out) < error(x):
            hint = "your images are classified *better* than the originals: move against the true class"
        else:
            hint = "expected clip(x − ε·sign(w), 0, 1) for y = 1 and clip(x + ε·sign(w), 0, 1) for y = 0"
        raise ExerciseError(f"my_linear_attack differs from the closed form on some images: {hint}")
    passed(f"closed-form attack: error {error(x):.0%} → {error(out):.0%} at ε = {eps} — no gradient needed")


def _l06_simba_case(seed: int):
    from torch import nn

    from .blackbox import QueryModel

    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(64, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(4, 64, generator=g))
        layer.bias.zero_()
    model = nn.Sequential(nn.Flatten(), layer).eval()
    x = _l06_images(1, seed)
    with torch.no_grad():
        y = int(model(x).argmax(1))
    masks = []
    for size in (4, 2):  # coarse to fine, as in the library: the 2×2 blocks revisit pixels
        per_side = 8 // size
        for block in torch.randperm(per_side ** 2, generator=g).tolist():
            m = torch.zeros(1, 8, 8, dtype=torch.bool)
            top, left = size * (block // per_side), size * (block % per_side)
            m[:, top:top + size, left:left + size] = True
            masks.append(m)
    masks = torch.stack(masks)  # (20, 1, 8, 8)
    return model, QueryModel, x, y, masks


def check_simba_step(fn, *, seed: int = 0, eps: float = 0.2) -> None:
    """Lesson 06: ``fn(oracle, x, y, x_adv, p, mask, eps)`` is one SimBA step for one image.

    It tries the block at x + ε, then at x − ε (clipped to [0, 1]; elsewhere x_adv is kept),
    keeps the first candidate whose true-class probability is lower than ``p``, and returns
    ``(new_x_adv, new_p)``, spending at most two queries.
    """
    model, QueryModel, x, y, masks = _l06_simba_case(seed)
    learner_api, ref_api = QueryModel(model, output="probs"), QueryModel(model, output="probs")
    p = p_ref = float(ref_api(x)[0, y])
    x_adv = x_ref = x.clone()
    accepted = 0
    for step, mask in enumerate(masks):
        before = learner_api.queries
        result = call_learner(fn, learner_api, x.clone(), y, x_adv.clone(), p, mask.clone(), eps, what="simba_step")
        require(isinstance(result, tuple) and len(result) == 2,
                f"simba_step should return a pair (new_x_adv, new_p), got {type(result).__name__}")
        x_new = require_tensor(result[0], "simba_step's new_x_adv", shape=tuple(x.shape)).detach().float()
        p_new = _as_number(result[1], "simba_step's new_p")
        spent = learner_api.queries - before
        require(spent <= 2, f"step {step + 1} spent {spent} queries: try +ε, then (only if needed) −ε — two at most")
        # the reference step
        for sign in (1.0, -1.0):
            cand = torch.where(mask, x + sign * eps, x_ref).clamp(0, 1)
            p_cand = float(ref_api(cand)[0, y])
            if p_cand < p_ref:
                x_ref, p_ref = cand, p_cand
                accepted += 1
                break
        require(float(x_new.min()) >= -1e-6 and float(x_new.max()) <= 1 + 1e-6,
                f"step {step + 1}: values leave [0, 1]: clamp the candidate to [0, 1]")
        require(float((x_new - x).abs().max()) <= eps + 1e-5,
                f"step {step + 1}: a pixel is {float((x_new - x).abs().max()):.3f} away from x, more than ε = {eps}: "
                "set the block to x ± ε (torch.where(mask, x + sign * eps, x_adv)), don't add ε to x_adv again")
        outside = ~mask.expand_as(x_new)
        require(torch.allclose(x_new[outside], x_adv[outside], atol=1e-6),
                f"step {step + 1}: pixels outside the block changed: only the block may move")
        if not torch.allclose(x_new, x_ref, atol=1e-6):
            with torch.no_grad():
                p_learner = float(torch.softmax(model(x_new), 1)[0, y])
            if p_learner >= p - 1e-9 and not torch.allclose(x_new, x_adv, atol=1e-6):
                hint = "you kept a candidate that does not lower p: keep it only if its probability is below p"
            else:
                hint = "try x + ε on the block first, then x − ε; keep the first one that lowers p, else keep x_adv"
            raise ExerciseError(f"step {step + 1} differs from SimBA's: {hint}")
        require(abs(p_new - p_ref) < 1e-5,
                f"step {step + 1}: new_p is {p_new:.4f} but the kept image's probability is {p_ref:.4f}: "
                "return the probability of the image you keep (p unchanged if nothing was kept)")
        x_adv, p = x_new, p_new
    passed(f"{len(masks)} SimBA steps, {accepted} kept, {learner_api.queries} queries: "
           f"p(true class) {float(ref_api(x)[0, y]):.3f} → {p:.3f}")
