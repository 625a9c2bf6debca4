"""Beyond pixels: one feature of a real table, pushed within its observed range, flips a model.

Introduced in lesson 06. Digits have 784 small features that each live in [0, 1]; real tables
have a few dozen features on wildly different scales (an area in hundreds of µm², a
smoothness near 0.1). There the attacker does not need many small coordinated changes:

- a **logistic regression** is monotone in every feature, so pushing one feature towards
  the end of its range moves the score as far as that feature can move it, and for a
  feature with a large weight that is past the decision boundary;
- a **decision tree** compares one feature with one threshold per node, so moving one
  feature just across one threshold on an example's path sends it to another leaf.

``one_feature_attack`` tries every feature of every example, keeping each feature inside
the range (min..max) seen in the training data — values the defender has seen before — and
reports the smallest change that flips the model. The data are scikit-learn's Wisconsin
breast cancer table (569 tumours, 30 features, shipped with scikit-learn: no download).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.datasets import load_breast_cancer as _sklearn_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from .classic import _just_inside
from .utils import check_in_range, check_positive_int

__all__ = [
    "Table",
    "OneFeatureResult",
    "load_breast_cancer",
    "logistic_regression",
    "decision_tree",
    "feature_ranges",
    "one_feature_attack",
    "check_table",
    "check_bounds",
]


class Table(NamedTuple):
    """A tabular data set, split: rows are examples, columns features (float64), labels int64."""

    x_train: np.ndarray  # (N, D)
    y_train: np.ndarray  # (N,)
    x_test: np.ndarray  # (M, D)
    y_test: np.ndarray  # (M,)
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]


class OneFeatureResult(NamedTuple):
    """What ``one_feature_attack`` returns, per example.

    Attributes:
        x_adv: (M, D) the rows with (at most) one feature changed.
        feature: (M,) int64, the changed feature's column, -1 where none was changed.
        change: (M,) float64, the size of that change as a fraction of the feature's observed
            range (0 where nothing changed).
        success: (M,) bool, the model is wrong on ``x_adv`` (True, unchanged, for rows it
            already got wrong: only correctly classified rows are attacked).
    """

    x_adv: np.ndarray
    feature: np.ndarray
    change: np.ndarray
    success: np.ndarray


def check_table(x: object, name: str = "x", *, features: int | None = None) -> np.ndarray:
    """Check that ``x`` is a non-empty 2-D array of finite numbers, (N, D) with D == features if given."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of rows (N, D), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows, features), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must hold finite numbers, got NaN or inf")
    if features is not None and x.shape[1] != features:
        raise ValueError(f"{name} must have {features} features (columns), got {x.shape[1]}")
    return x.astype(np.float64, copy=False)


def _check_row_labels(y: object, n: int, name: str = "y", classes: np.ndarray | None = None) -> np.ndarray:
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of integer labels, got {type(y).__name__}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the rows, got {y.shape}")
    if classes is not None and not np.isin(y, classes).all():
        raise ValueError(f"{name} must hold the model's classes {classes.tolist()}, got {sorted(set(y.tolist()))}")
    if classes is None and y.min() < 0:
        raise ValueError(f"{name} must hold classes 0..K-1, got values down to {int(y.min())}")
    return y.astype(np.int64, copy=False)


def check_bounds(bounds: object, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``bounds`` is a pair ``(low, high)`` of finite (d,) arrays with low <= high."""
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise TypeError(f"bounds must be a pair (low, high) of per-feature arrays, got {type(bounds).__name__}")
    for b in bounds:
        if not isinstance(b, np.ndarray):
            raise TypeError(f"bounds must hold two numpy arrays (low, high), got {type(b).__name__}")
        if b.shape != (d,) or not np.isfinite(b).all():
            raise ValueError(f"bounds must hold two finite arrays of shape ({d},), one value per feature, got {b.shape}")
    low, high = (b.astype(np.float64) for b in bounds)
    if (low > high).any():
        raise ValueError(f"bounds must have low <= high for every feature, not at {np.flatnonzero(low > high).tolist()}")
    return low, high


def load_breast_cancer(*, test_size: float = 0.3, seed: int = 0) -> Table:
    """The Wisconsin breast cancer table, split stratified into training and test rows (lesson 06).

    569 tumours, 30 real-valued features (mean, standard error and worst value of ten cell
    nucleus measurements); class 0 is malignant, 1 benign. Ships with scikit-learn.

    Args:
        test_size: share of rows held out for testing, in (0, 1).
        seed: the split's ``random_state``.
    """
    test_size = check_in_range("test_size", test_size, 0.05, 0.95)
    seed = check_positive_int("seed", seed, allow_zero=True)
    data = _sklearn_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=test_size, stratify=data.target, random_state=seed)
    return Table(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64),
                 tuple(data.feature_names), tuple(data.target_names))


def logistic_regression(x: np.ndarray, y: np.ndarray, *, C: float = 1.0) -> Pipeline:
    """Standardise the features, then fit a logistic regression (lesson 06).

    The scaling is inside the pipeline, so the fitted model takes rows in raw units (what an
    attacker would change) and is still affine in every raw feature.
    """
    x = check_table(x)
    y = _check_row_labels(y, len(x))
    C = check_in_range("C", C, 1e-8, 1e8)
    return Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(C=C, max_iter=5000))]).fit(x, y)


def decision_tree(x: np.ndarray, y: np.ndarray, *, max_depth: int | None = None, seed: int = 0) -> DecisionTreeClassifier:
    """Fit a decision tree on raw features (a tree does not care about their scale) (lesson 06)."""
    x = check_table(x)
    y = _check_row_labels(y, len(x))
    if max_depth is not None:
        max_depth = check_positive_int("max_depth", max_depth)
    seed = check_positive_int("seed", seed, allow_zero=True)
    return DecisionTreeClassifier(max_depth=max_depth, random_state=seed).fit(x, y)


def feature_ranges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The range each feature covers in ``x`` (N, D): ``(low, high)``, each (D,), the column min and max."""
    x = check_table(x)
    return x.min(0), x.max(0)


def _candidates(model, j: int, low: float, high: float, grid: int) -> np.ndarray:
    """Values to try for feature j: an even grid over [low, high] with both ends, and for a
    tree, the float32 values just either side of every threshold it tests on feature j."""
    values = [np.linspace(low, high, grid)]
    t = getattr(model, "tree_", None)
    if t is not None:
        thresholds = t.threshold[t.feature == j].astype(np.float64)
        if len(thresholds):
            # trees compare float32 features with `x <= threshold`: the largest value that goes
            # left and the smallest that goes right
            _, left = _just_inside(np.full_like(thresholds, -np.inf), thresholds)
            right, _ = _just_inside(thresholds, np.full_like(thresholds, np.inf))
            values += [left.astype(np.float64), right.astype(np.float64)]
    values = np.concatenate(values)
    return np.unique(values[(values >= low) & (values <= high)])


def one_feature_attack(model, x: np.ndarray, y: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], *,
                       grid: int = 101) -> OneFeatureResult:
    """Flip each correctly classified row by changing ONE feature, within its observed range.

    For every row the model gets right and every feature j with low_j < high_j, try the
    feature at each candidate value in [low_j, high_j] — ``grid`` evenly spaced values with
    both ends, plus, for a decision tree, the values just either side of each of its
    thresholds on j — and keep the flip with the smallest change |v − x_j| / (high_j − low_j).

    Exact, not a heuristic, for the two models of the lesson: a logistic regression is
    monotone in each feature, so if any value in the range flips it, an end does (the
    reported change is then the smallest on the grid, to within 1/(grid − 1) of the range);
    a tree's answer only changes at its thresholds, all of which are tried.

    Papers: Lowd & Meek, *Adversarial Learning*, KDD 2005 (evading linear classifiers by few
    feature changes); Papernot, McDaniel & Goodfellow 2016 (arXiv 1605.07277), §4 (trees).

    Args:
        model: a fitted scikit-learn classifier with ``predict`` on rows of D features.
        x: rows (M, D) to attack.
        y: their true labels (M,), among the model's ``classes_``.
        bounds: ``(low, high)``, each (D,): the range a feature may take, usually
            ``feature_ranges(x_train)``.
        grid: evenly spaced values tried per feature (≥ 2: both ends).

    Returns:
        ``OneFeatureResult(x_adv, feature, change, success)``.
    """
    if not hasattr(model, "predict") or not hasattr(model, "classes_"):
        raise TypeError(f"model must be a fitted scikit-learn classifier, got {type(model).__name__}")
    d = getattr(model, "n_features_in_", None)
    x = check_table(x, "x", features=d)
    y = _check_row_labels(y, len(x), "y", np.asarray(model.classes_))
    low, high = check_bounds(bounds, x.shape[1])
    grid = check_positive_int("grid", grid)
    if grid < 2:
        raise ValueError(f"grid must be at least 2 (both ends of the range), got {grid}")

    m, d = x.shape
    wrong = model.predict(x) != y
    best = np.full(m, np.inf)  # smallest change (fraction of the range) that flips each row
    feature = np.full(m, -1, dtype=np.int64)
    value = np.zeros(m)
    rows = np.flatnonzero(~wrong)
    for j in np.flatnonzero(high > low):
        values = _candidates(model, j, low[j], high[j], grid)  # (V,)
        trial = np.repeat(x[rows], len(values), axis=0)  # (R·V, D)
        trial[:, j] = np.tile(values, len(rows))
        flips = (model.predict(trial) != np.repeat(y[rows], len(values))).reshape(len(rows), len(values))
        cost = np.abs(values[None] - x[rows, j][:, None]) / (high[j] - low[j])  # (R, V)
        cost = np.where(flips, cost, np.inf)
        k = cost.argmin(1)
        c = cost[np.arange(len(rows)), k]
        better = c < best[rows]
        best[rows[better]], feature[rows[better]], value[rows[better]] = c[better], j, values[k[better]]
    x_adv = x.copy()
    changed = np.flatnonzero(feature >= 0)
    x_adv[changed, feature[changed]] = value[changed]
    success = wrong | (model.predict(x_adv) != y)
    return OneFeatureResult(x_adv, feature, np.where(feature >= 0, best, 0.0), success)
