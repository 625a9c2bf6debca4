"""Blind spots of classic models: logistic regression and decision trees (lesson 06).

Deep networks are not special. A linear model that adds up hundreds of small weighted pixel
changes can be pushed across its boundary by a perturbation too small to matter in any one
pixel (Goodfellow et al. 2015, §5), and for a linear model the best such perturbation has a
closed form: no gradient, no iterations. A decision tree compares one pixel with one
threshold at each node, so moving a single pixel across a single threshold can send an
image down another path to a leaf of another class.

Both attacks follow the course's contract: ``attack(model, x, y, eps, *, ...)`` on
(N, 1, 28, 28) images in [0, 1], returning the adversarial *images*, inside the ε-ball
(L∞) and the [0, 1] box. The models are scikit-learn estimators (``coef_``/``intercept_``,
``tree_``) or, for the linear attack, any torch model that is affine in its input.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from torch import nn

from .encodings import check_shape
from .models import predict
from .utils import check_images, check_in_range, check_labels, check_positive_int, eval_mode

__all__ = [
    "logistic_regression",
    "decision_tree",
    "linear_parameters",
    "linear_attack",
    "tree_attack",
    "tree_leaves",
    "predict_labels",
]


def _flat(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) tensor → (N, C·H·W) float32 array: the feature rows scikit-learn expects."""
    return x.detach().cpu().flatten(1).numpy().astype(np.float32, copy=False)


def _check_classes(estimator) -> int:
    """Number of classes K; scikit-learn's ``classes_`` must be 0..K-1 so a column is a label."""
    classes = np.asarray(getattr(estimator, "classes_", []))
    if classes.size < 2 or not np.array_equal(classes, np.arange(classes.size)):
        raise ValueError(
            f"the estimator's classes_ must be 0, 1, ..., K-1 (train it on integer labels), got {classes.tolist()!r}"
        )
    return int(classes.size)


def logistic_regression(x: torch.Tensor, y: torch.Tensor, *, C: float = 1.0, max_iter: int = 1000):
    """Fit scikit-learn's ``LogisticRegression`` on flattened images (lesson 06).

    Args:
        x: training images (N, C, H, W) in [0, 1]; each pixel is one feature.
        y: labels (N,) int64 in 0..K-1 (two classes give Goodfellow's binary model).
        C: inverse L2 regularisation strength (scikit-learn's default, 1.0).
        max_iter: L-BFGS iterations.

    Returns:
        The fitted ``LogisticRegression`` (features: raw pixels in [0, 1]).
    """
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    check_in_range("C", C, 1e-8, 1e8)
    max_iter = check_positive_int("max_iter", max_iter)
    clf = LogisticRegression(C=C, max_iter=max_iter)
    return clf.fit(_flat(x), y.cpu().numpy())


def decision_tree(x: torch.Tensor, y: torch.Tensor, *, max_depth: int | None = 12, seed: int = 0):
    """Fit scikit-learn's ``DecisionTreeClassifier`` on flattened images (lesson 06).

    Args:
        x: training images (N, C, H, W) in [0, 1]; each pixel is one feature.
        y: labels (N,) int64 in 0..K-1.
        max_depth: depth limit (12 gives ~450 leaves and ~78% test accuracy on the course's
            4,000 digits, about the same as an unlimited tree).
        seed: the tree's ``random_state`` (ties between equally good splits), so refits agree.

    Returns:
        The fitted ``DecisionTreeClassifier``.
    """
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    if max_depth is not None:
        max_depth = check_positive_int("max_depth", max_depth)
    seed = check_positive_int("seed", seed, allow_zero=True)
    if seed >= 2**32:
        raise ValueError(f"seed must be below 2**32 (scikit-learn's random_state), got {seed}")
    return DecisionTreeClassifier(max_depth=max_depth, random_state=seed).fit(_flat(x), y.cpu().numpy())


def predict_labels(model, x: torch.Tensor) -> torch.Tensor:
    """Predicted classes (N,) int64 of a torch model or a scikit-learn estimator, on ``x``'s device."""
    check_images(x, "x")
    if isinstance(model, nn.Module):
        return predict(model, x).argmax(1)
    if not hasattr(model, "predict"):
        raise TypeError(f"model must be a torch.nn.Module or a fitted scikit-learn classifier, got {type(model).__name__}")
    _check_classes(model)
    return torch.as_tensor(np.asarray(model.predict(_flat(x))), dtype=torch.int64, device=x.device)


# --------------------------------------------------------------------------- linear models


def linear_parameters(model, *, shape: tuple[int, int, int] = (1, 28, 28)) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight matrix W (K, D) and bias b (K,) with logits = W·x + b on flattened pixels.

    Accepts a fitted scikit-learn linear classifier (``coef_``, ``intercept_``; a binary one
    with a single row w becomes W = [0, w], so class 1's logit minus class 0's is w·x + b),
    an already split pair ``(W, b)``, or a torch model that is affine in its input (softmax
    regression with its normalisation layer): then W's columns are read off by feeding the
    D one-hot images, and the model is checked to really be affine.

    Args:
        model: one of the above.
        shape: image shape (C, H, W) the torch model takes.

    Returns:
        ``(W, b)`` float32 tensors on the CPU, W of shape (K, D), b of shape (K,).

    Raises:
        ValueError: a torch model that is not affine in its input (use a gradient attack).
    """
    shape = check_shape(shape)
    if isinstance(model, tuple) and len(model) == 2:
        weight, bias = (torch.as_tensor(t, dtype=torch.float32).cpu() for t in model)
    elif hasattr(model, "coef_") and hasattr(model, "intercept_"):
        _check_classes(model)
        weight = torch.as_tensor(np.asarray(model.coef_), dtype=torch.float32)
        bias = torch.as_tensor(np.asarray(model.intercept_), dtype=torch.float32).reshape(-1)
        if weight.shape[0] == 1:  # binary: one score s = w·x + b for class 1 against class 0
            weight = torch.cat([torch.zeros_like(weight), weight])
            bias = torch.cat([torch.zeros_like(bias), bias])
    elif isinstance(model, nn.Module):
        weight, bias = _affine_from_module(model, shape)
    else:
        raise TypeError(
            "model must be a fitted scikit-learn linear classifier, a (W, b) pair or an affine "
            f"torch model, got {type(model).__name__}"
        )
    if weight.dim() != 2 or bias.shape != (weight.shape[0],):
        raise ValueError(f"W must be (K, D) and b (K,), got {tuple(weight.shape)} and {tuple(bias.shape)}")
    return weight, bias


def _affine_from_module(model: nn.Module, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    device = next(model.parameters()).device
    d = int(np.prod(shape))
    with torch.no_grad(), eval_mode(model):
        zero = torch.zeros(1, *shape, device=device)
        bias = model(zero)[0].double()
        # f(e_i) − f(0) is column i of W for an affine f: D one-hot images, one batch.
        eye = torch.eye(d, device=device).reshape(d, *shape)
        weight = (model(eye).double() - bias).T
        # An affine model must reproduce itself at random points; a ReLU net would not.
        probe = torch.rand((4, *shape), generator=torch.Generator().manual_seed(0)).to(device)
        got, want = model(probe).double(), probe.flatten(1).double() @ weight.T + bias
    err = float((got - want).abs().max())
    scale = float(got.abs().max()) + 1.0
    if err > 1e-3 * scale:
        raise ValueError(
            f"model is not affine in its input (W·x + b misses its logits by {err:.3g}); "
            "the closed-form attack needs a linear model: use attacks.pgd instead"
        )
    return weight.float().cpu(), bias.float().cpu()


def linear_attack(model, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """The best L∞ attack on a linear classifier, in closed form (lesson 06).

    For logits W·x + b the margin of class t over the true class y changes by
    (w_t − w_y)·δ, which over the box |δᵢ| ≤ ε, 0 ≤ xᵢ + δᵢ ≤ 1 is largest at
    δ = clip(x + ε·sign(w_t − w_y), 0, 1) − x, one pixel at a time. Trying every t and keeping
    the largest margin gives the exact optimum: if any image in the ε-ball is misclassified,
    this one is. For a binary model (W = [0, w]) it is Goodfellow's x ± ε·sign(w): the same
    image FGSM finds, without a gradient.

    Paper: Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*,
    ICLR 2015 (arXiv 1412.6572), §5 (logistic regression). Distance: L∞.

    Args:
        model: a fitted scikit-learn linear classifier, a ``(W, b)`` pair or an affine torch
            model (see ``linear_parameters``).
        x: images (N, C, H, W), float in [0, 1].
        y: true labels (N,) int64.
        eps: L∞ budget in [0, 1].

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, with ``|x_adv − x|∞ ≤ eps``
        and values in [0, 1]. ``eps = 0`` returns an equal copy.

    Example:
        >>> clf = classic.logistic_regression(x_train, y_train)
        >>> x_adv = classic.linear_attack(clf, x_test, y_test, eps=0.25)
    """
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    eps = check_in_range("eps", eps, 0.0, 1.0)
    weight, bias = linear_parameters(model, shape=tuple(x.shape[1:]))
    k, d = weight.shape
    if d != x[0].numel():
        raise ValueError(f"the model takes {d} features but the images have {x[0].numel()} pixels")
    if int(y.max()) >= k:
        raise ValueError(f"y must hold classes in [0, {k - 1}], got values up to {int(y.max())}")
    if eps == 0:
        return x.detach().clone()
    xf = x.detach().cpu().flatten(1).float()  # (N, D)
    yc = y.cpu()
    diff = weight[None] - weight[yc][:, None]  # (N, K, D): w_t − w_y for every target t
    delta = (xf[:, None] + eps * diff.sign()).clamp(0, 1) - xf[:, None]  # (N, K, D)
    margin = (bias[None] - bias[yc][:, None]) + (xf @ weight.T - (xf * weight[yc]).sum(1, keepdim=True))
    margin = margin + (diff * delta).sum(-1)  # (N, K): margin of t over y after the move
    margin[torch.arange(len(yc)), yc] = -torch.inf  # the true class is no target
    best = margin.argmax(1)
    x_adv = xf + delta[torch.arange(len(yc)), best]
    return x_adv.clamp_(0, 1).reshape(x.shape).to(dtype=x.dtype, device=x.device)


# --------------------------------------------------------------------------- trees


def tree_leaves(tree) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Every leaf of a fitted scikit-learn tree as the box of inputs that reach it.

    Returns:
        One ``(label, features, low, high)`` per leaf: the leaf's predicted class and, for
        each feature tested on the path, the interval ``low < x[f] <= high`` (float64;
        ±inf where a side is open) an input must lie in to arrive there.
    """
    t = getattr(tree, "tree_", None)
    if t is None:
        raise TypeError(f"tree must be a fitted scikit-learn decision tree, got {type(tree).__name__}")
    _check_classes(tree)
    leaves = []
    stack = [(0, {})]  # (node, {feature: [low, high]})
    while stack:
        node, box = stack.pop()
        left, right = int(t.children_left[node]), int(t.children_right[node])
        if left == -1:  # a leaf
            feats = np.array(sorted(box), dtype=np.int64)
            low = np.array([box[f][0] for f in feats], dtype=np.float64)
            high = np.array([box[f][1] for f in feats], dtype=np.float64)
            leaves.append((int(np.argmax(t.value[node][0])), feats, low, high))
            continue
        f, thr = int(t.feature[node]), float(t.threshold[node])
        lo, hi = box.get(f, (-np.inf, np.inf))
        # scikit-learn sends x[f] <= threshold to the left child
        stack.append((left, {**box, f: (lo, min(hi, thr))}))
        stack.append((right, {**box, f: (max(lo, thr), hi)}))
    return leaves


def _just_inside(low: np.ndarray, high: np.ndarray, levels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Closest float32 values v with v > low and v <= high (trees compare float32 pixels).

    With ``levels`` (255 for 8-bit images) v is also a multiple of 1/levels, so the changed
    image can be saved as a PNG and read back with the same prediction.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if levels is None:
            up = low.astype(np.float32)
            up = np.where(up.astype(np.float64) > low, up, np.nextafter(up, np.float32(np.inf)))
            down = high.astype(np.float32)
            down = np.where(down.astype(np.float64) <= high, down, np.nextafter(down, np.float32(-np.inf)))
            return up, down
        grid = np.arange(levels + 1, dtype=np.float32) / np.float32(levels)  # the representable values
        k_up = np.searchsorted(grid.astype(np.float64), low, side="right")  # first grid value > low
        k_down = np.searchsorted(grid.astype(np.float64), high, side="right") - 1  # last <= high
        up = np.where(k_up <= levels, grid[np.minimum(k_up, levels)], np.float32(np.inf))
        down = np.where(k_down >= 0, grid[np.maximum(k_down, 0)], np.float32(-np.inf))
        return up, down


def tree_attack(tree, x: torch.Tensor, y: torch.Tensor, eps: float = 1.0, *, levels: int | None = None) -> torch.Tensor:
    """Flip a decision tree with the fewest pixel changes: walk to the nearest leaf of another class.

    Every leaf is a box of inputs (``tree_leaves``). For each image and each leaf whose class
    is not ``y``, the cheapest way in moves only the pixels that are outside the leaf's
    interval, each just across its threshold. Among the leaves reachable with an L∞ change of
    at most ``eps`` we take the one needing the fewest changed pixels (then the smallest
    L∞ change): the exact minimum-L0 attack within the ε-ball, often a single pixel.

    Paper: Papernot, McDaniel & Goodfellow, *Transferability in Machine Learning: from
    Phenomena to Black-Box Attacks using Adversarial Samples* (arXiv 1605.07277), §4 (the
    tree attack); Kantchelian et al., *Evasion and Hardening of Tree Ensemble Classifiers*,
    ICML 2016 (exact attacks). Distance: L0 (pixels changed), within an L∞ ball.

    Args:
        tree: a fitted scikit-learn ``DecisionTreeClassifier`` on flattened pixels.
        x: images (N, C, H, W), float in [0, 1].
        y: true labels (N,) int64.
        eps: L∞ budget in [0, 1] (1.0: no limit on how far a pixel moves).
        levels: if given (255 for 8-bit images), changed pixels land on multiples of
            1/levels, the smallest such move across the threshold; ``None``: the smallest
            float32 move, which may be a fraction of a grey level.

    Returns:
        Adversarial images, same shape/dtype/device as ``x``. An image the tree already
        misclassifies, or one with no other-class leaf within ``eps``, comes back unchanged.
        Changed pixels sit just across a threshold (float32-exact), so they stay in [0, 1].
        Trees split halfway between training values, so on MNIST the move is often half a
        grey level (or one, with ``levels=255``).

    Example:
        >>> x_adv = classic.tree_attack(tree, x, y)            # any size of change
        >>> (x_adv != x).flatten(1).sum(1)                      # pixels changed per image
    """
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y", num_classes=_check_classes(tree) if hasattr(tree, "tree_") else None)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    if levels is not None:
        levels = check_positive_int("levels", levels)
        if not torch.equal(x, (x * levels).round() / levels):
            raise ValueError(f"levels={levels} needs images on that grid (multiples of 1/{levels}); use levels=None")
    xs = _flat(x).copy()  # (N, D) float32, exactly what the tree compares
    yn = y.cpu().numpy()
    n = len(xs)
    best_l0 = np.full(n, np.iinfo(np.int64).max)
    best_linf = np.full(n, np.inf)
    best_leaf = np.full(n, -1)
    leaves = tree_leaves(tree)
    for i, (label, feats, low, high) in enumerate(leaves):
        up, down = _just_inside(low, high, levels)
        v = xs[:, feats]  # (N, p): the pixels this path tests
        below, above = v <= low, v > high  # outside the leaf's box on either side
        move = np.where(below, up - v, np.where(above, v - down, 0.0))  # (N, p) ≥ 0
        l0 = (below | above).sum(1)
        linf = move.max(1, initial=0.0)
        feasible = bool(np.all(up <= down))  # some float32 fits in every interval of the path
        ok = (label != yn) & (linf <= eps) & feasible
        better = ok & ((l0 < best_l0) | ((l0 == best_l0) & (linf < best_linf)))
        best_l0[better], best_linf[better], best_leaf[better] = l0[better], linf[better], i
    x_adv = xs
    for j in np.flatnonzero(best_leaf >= 0):
        _, feats, low, high = leaves[best_leaf[j]]
        up, down = _just_inside(low, high, levels)
        v = x_adv[j, feats]
        x_adv[j, feats] = np.where(v <= low, up, np.where(v > high, down, v))
    out = torch.from_numpy(x_adv).reshape(x.shape)
    return out.to(dtype=x.dtype, device=x.device)
