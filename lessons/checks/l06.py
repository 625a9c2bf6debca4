"""Exercise checks of lesson 06, beyond deep nets: feedback a learner can act on."""

from __future__ import annotations

import torch
from torch import nn

from ..blackbox import QueryModel
from ..classic import linear_attack
from .feedback import ExerciseError, call_learner, passed, require, require_number, require_tensor

__all__ = ["check_linear_attack", "check_simba_step"]


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
        p_new = require_number(result[1], "simba_step's new_p")
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
