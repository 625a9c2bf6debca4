"""Exercise checks of lesson 04, random-basis semantics: feedback a learner can act on."""

from __future__ import annotations

import torch

from ..data import load_mnist
from ..directions import project, top_k
from ..layers import activations
from ..models import pretrained
from .feedback import ExerciseError, call_learner, passed, require, require_tensor

__all__ = ["check_top_k", "check_digit_direction"]


def check_top_k(fn, *, n: int = 300, n_directions: int = 12, k: int = 8, seed: int = 0) -> None:
    """Lesson 04: ``fn(scores, k)`` returns the indices (K, k) of each direction's top-k images.

    ``scores`` is (N, K): image n's score ⟨φ(x_n), v_k⟩ along direction k. Row j of the result
    lists the k images with the highest scores in column j, best first.
    """

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

    mnist = load_mnist()
    acts = activations(model, torch.cat([mnist.x_train, mnist.x_test]), "fc1", progress=False)
    return acts[: len(mnist.x_train)], mnist.y_train, acts[len(mnist.x_train):], mnist.y_test


def check_digit_direction(fn, *, digits=(3,), k: int = 20, threshold: float = 0.9) -> None:
    """Lesson 04: ``fn(acts, labels, digit)`` returns a unit direction in ``fc1`` space that selects ``digit``.

    ``acts`` (N, 128) are the CNN's ``fc1`` activations of the *training* digits and
    ``labels`` (N,) their labels. The check ranks the 1,000 held-out digits along the
    returned direction and requires a share ≥ ``threshold`` of ``digit`` among the top ``k``.
    """

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
        require(abs(norm - 1) < 1e-3,
                f"your direction has length {norm:.4g}; a direction is a unit vector: divide it by its norm (v / v.norm())")
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
