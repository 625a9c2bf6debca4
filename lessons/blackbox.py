"""Attacks without the model: a query-only API, and substitute models trained through it.

Introduced in lesson 06. "But the attacker does not have the model" is the usual reply to
adversarial examples. The spammer who can only send e-mails and see which ones get through
has a *query interface*: ``QueryModel`` is exactly that — it answers with a label (or the
class scores), keeps no autograd graph, and counts and limits every image it is shown.
Two ways to attack through it:

- **substitute transfer** (Papernot et al. 2017): spend the query budget on labels for
  images you own, train your own *substitute* on them, attack the substitute with white-box
  PGD and send the result — adversarial examples transfer (lesson 02);
- **a query attack** (``lessons.queries``): change the image step by step, keeping what the
  answers say helps.

The closed-form attacks on logistic regression and decision trees live in ``lessons.classic``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import cache, classic
from .data import load_mnist
from .models import MNIST_MEAN, MNIST_STD, Normalize, predict, pretrained, train
from .utils import (
    check_choice,
    check_images,
    check_labels,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)

__all__ = [
    "QueryBudgetExceeded",
    "QueryModel",
    "substitute_net",
    "train_substitute",
    "transfer_success",
    "cached_substitute",
    "CACHED_MODELS",
    "OUTPUTS",
    "check_oracle",
]

OUTPUTS = ("label", "probs")


class QueryBudgetExceeded(RuntimeError):
    """A query would take a ``QueryModel`` past its budget; nothing of that query was served."""


def _probabilities_fn(model) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor, str], int]]:
    """Closures: images → class probabilities (N, K) on the images' device, with no graph; and
    ``check(x, name)`` → K, which rejects images the model cannot take (no query is spent)."""
    if isinstance(model, nn.Module):
        device = model_device(model)

        def check(x: torch.Tensor, name: str) -> int:
            return check_model_input(model, x, name)

        def probs(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad(), eval_mode(model):
                return F.softmax(model(x.to(device)), dim=1).to(x.device)

        return probs, check
    if hasattr(model, "predict_proba"):  # a fitted scikit-learn classifier on flat pixels
        classes = np.asarray(getattr(model, "classes_", []))
        if classes.size < 2 or not np.array_equal(classes, np.arange(classes.size)):
            raise ValueError(f"the estimator's classes_ must be 0..K-1, got {classes.tolist()!r}")
        features = getattr(model, "n_features_in_", None)

        def check(x: torch.Tensor, name: str) -> int:
            check_images(x, name)
            if features is not None and x[0].numel() != features:
                raise ValueError(f"the model takes {features} pixel values per image but {name} has "
                                 f"{x[0].numel()} (shape {tuple(x.shape)})")
            return int(classes.size)

        def probs(x: torch.Tensor) -> torch.Tensor:
            flat = x.detach().cpu().flatten(1).numpy().astype(np.float32, copy=False)
            return torch.as_tensor(model.predict_proba(flat), dtype=torch.float32).to(x.device)

        return probs, check
    raise TypeError(
        f"model must be a torch.nn.Module or a fitted scikit-learn classifier, got {type(model).__name__}"
    )


class QueryModel:
    """A model behind an API: it answers queries, counts them, and shows nothing else (lesson 06).

    Calling it with images (N, C, H, W) in [0, 1] returns, depending on ``output``, the top
    labels (N,) int64 — what the spammer sees: delivered or not — or the class probabilities
    (N, K), as some prediction APIs return. The answer is computed under ``torch.no_grad``
    and carries no autograd graph, so an attack that calls ``backward`` (or
    ``torch.autograd.grad``) through it fails; it is not an ``nn.Module`` (no parameters, no
    ``eval``/``train``), so the course's gradient attacks refuse it. The wrapped model is held
    only in a closure — a convention, not security: Python can always dig it out, but an
    attack that does so is not a query-only attack.

    Every image counts as one query (a batch of n counts n). With a ``budget``, a call that
    would take the total past it raises ``QueryBudgetExceeded`` and is **not served at all**
    (no partial batch: the count stays where it was, so ``remaining`` is exact and the
    caller can send a smaller batch).

    Args:
        model: the secret model: a torch classifier returning logits, or a fitted
            scikit-learn classifier with ``predict_proba`` on flattened pixels.
        output: ``"label"`` (top-1 class only) or ``"probs"`` (class probabilities).
        budget: the most images it will ever answer for, or ``None`` for no limit.

    Attributes:
        queries: images answered so far. ``remaining``: budget minus queries (or ``None``).

    Example:
        >>> api = blackbox.QueryModel(cnn, output="label", budget=1000)
        >>> api(x[:10])            # tensor of 10 labels; api.queries == 10
    """

    def __init__(self, model, *, output: str = "label", budget: int | None = None) -> None:
        check_choice("output", output, OUTPUTS)
        if budget is not None:
            budget = check_positive_int("budget", budget, allow_zero=True)
        self._probs, self._check = _probabilities_fn(model)
        self.output = output
        self.budget = budget
        self._queries = 0

    @property
    def queries(self) -> int:
        """Images answered so far (a batch of n counts n)."""
        return self._queries

    @property
    def remaining(self) -> int | None:
        """Queries left before the budget is spent, or ``None`` without a budget."""
        return None if self.budget is None else self.budget - self._queries

    def check(self, x: torch.Tensor, y: object = ..., *, name: str = "x") -> torch.Tensor | None:
        """Reject a request the model cannot answer, as an API would, without spending a query:
        images of the wrong type, range or shape, and labels that are not among its classes.

        Returns:
            The labels as int64 (``None`` when no ``y`` is given).
        """
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}")
        num_classes = self._check(x.detach(), name)
        return None if y is ... else check_labels(y, x.shape[0], "y", num_classes=num_classes)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.check(x)
        n = x.shape[0]
        if self.budget is not None and self._queries + n > self.budget:
            raise QueryBudgetExceeded(
                f"this query of {n} image(s) would bring the total to {self._queries + n}, over the "
                f"budget of {self.budget} ({self.remaining} left); nothing was answered — send at most "
                f"{self.remaining} image(s)"
            )
        probs = self._probs(x.detach())
        self._queries += n
        return probs.argmax(1) if self.output == "label" else probs

    def __repr__(self) -> str:
        budget = "no budget" if self.budget is None else f"budget={self.budget}"
        return f"QueryModel(output={self.output!r}, queries={self._queries}, {budget})"


def check_oracle(oracle: object, output: str | None = None, why: str = "") -> QueryModel:
    """Check that ``oracle`` is a ``QueryModel`` (answering with ``output``, if given; ``why`` is
    said in the error: what the attack needs that output for)."""
    if not isinstance(oracle, QueryModel):
        raise TypeError(f"oracle must be a QueryModel (the target behind its API), got {type(oracle).__name__}")
    if output is not None and oracle.output != output:
        raise ValueError(f"oracle must answer with output={output!r}{': ' + why if why else ''}; "
                         f"wrap the model with QueryModel(model, output={output!r})")
    return oracle


def _answers_to_labels(answer: torch.Tensor) -> torch.Tensor:
    return answer if answer.dim() == 1 else answer.argmax(1)


# --------------------------------------------------------------------------- substitute


def substitute_net() -> nn.Sequential:
    """The attacker's own model: a small CNN with two strided 5×5 convolutions (lesson 06).

    Its architecture need not match the target's (Papernot et al. used a CNN against
    unknown models), but a CNN substitute transfers better to a CNN target than a
    fully connected one (measured here: ~64% against ~43% at 1,000 labels, ε = 0.25), and
    with strided convolutions and no pooling it still trains in a few seconds.
    """
    return nn.Sequential(OrderedDict(
        normalize=Normalize(MNIST_MEAN, MNIST_STD),
        conv1=nn.Conv2d(1, 16, 5, stride=2, padding=2),  # (N, 16, 14, 14)
        relu1=nn.ReLU(),
        conv2=nn.Conv2d(16, 32, 5, stride=2, padding=2),  # (N, 32, 7, 7)
        relu2=nn.ReLU(),
        flatten=nn.Flatten(),
        fc1=nn.Linear(32 * 7 * 7, 100),
        relu3=nn.ReLU(),
        fc2=nn.Linear(100, 10),
    ))


def train_substitute(
    oracle: QueryModel,
    pool: torch.Tensor,
    budget: int,
    *,
    build: Callable[[], nn.Module] = substitute_net,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> nn.Module:
    """Spend ``budget`` queries on labels for your own images, and train a substitute on them.

    Paper: Papernot, McDaniel, Goodfellow, Jha, Celik & Swami, *Practical Black-Box Attacks
    against Machine Learning*, AsiaCCS 2017 (arXiv 1602.02697). Simplified: the attacker owns
    enough unlabelled digits (``pool``) and labels a random ``budget`` of them through the
    oracle, instead of growing a small seed set with Jacobian-based augmentation.

    Args:
        oracle: the target behind its API; only its top label is used (the spammer's view).
        pool: the attacker's unlabelled images (M, C, H, W) in [0, 1], M ≥ ``budget``.
        budget: how many of them to label: exactly this many queries are spent, in one call.
        build: returns a fresh, untrained substitute (default ``substitute_net``).
        steps: about this many Adam steps of ``batch_size`` images, whatever the budget, so
            small budgets are not under-trained and training time stays a few seconds.
        lr: Adam's learning rate.
        seed: picks the images and seeds the substitute's initial weights and training.
        device: where to train (default ``get_device()``).
        progress: show the training progress bar.

    Returns:
        The trained substitute in eval mode; ``substitute.cache_info`` has ``budget`` and
        ``queries_spent``.

    Raises:
        QueryBudgetExceeded: the oracle has fewer than ``budget`` queries left (nothing spent).
    """
    check_oracle(oracle)
    oracle.check(pool, name="pool")
    if not callable(build):
        raise TypeError(f"build must be a function returning a fresh model, got {type(build).__name__}")
    seed = check_positive_int("seed", seed, allow_zero=True)
    budget = check_positive_int("budget", budget)
    if budget > len(pool):
        raise ValueError(f"budget must be at most the pool size {len(pool)}, got {budget}")
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(pool), generator=gen)[:budget]
    x = pool[idx.to(pool.device)]
    before = oracle.queries
    labels = _answers_to_labels(oracle(x)).cpu()
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, caller's stream untouched
        torch.manual_seed(seed)
        model = build()
    batches_per_epoch = math.ceil(budget / batch_size)
    epochs = max(1, round(steps / batches_per_epoch))
    train(model, (x.cpu(), labels), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
          progress=progress, desc=f"substitute on {budget} labels")
    model.cache_info = {"budget": budget, "queries_spent": oracle.queries - before}
    return model


def transfer_success(oracle: QueryModel, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Which adversarial images the oracle gets wrong: (N,) bool; spends N queries."""
    check_oracle(oracle)
    y = oracle.check(x_adv, y, name="x_adv")
    return _answers_to_labels(oracle(x_adv)).cpu() != y.cpu()


# --------------------------------------------------------------------------- cached substitutes


def cached_substitute(target: str = "cnn", budget: int = 1000, *, device=None, progress: bool = True) -> nn.Module:
    """A substitute for one of lesson 06's targets, trained on ``budget`` label queries, cached.

    The lesson's widget uses these so that switching the attacker to "substitute" is
    instant. ``target``: ``"cnn"`` (``pretrained("cnn")``), ``"linear"``
    (``pretrained("softmax-wd1e-4")``) or ``"tree"`` (``classic.decision_tree`` on the
    training digits). The attacker's pool is the training digits, without their labels.
    """
    check_choice("target", target, ("cnn", "linear", "tree"))
    budget = check_positive_int("budget", budget)

    def fit(model: nn.Module) -> dict:
        mnist = load_mnist()
        if target == "tree":
            secret = classic.decision_tree(mnist.x_train, mnist.y_train)
        else:
            secret = pretrained("cnn" if target == "cnn" else "softmax-wd1e-4", device="cpu", progress=progress)
        oracle = QueryModel(secret, output="label", budget=budget)
        trained = train_substitute(oracle, mnist.x_train, budget, device=model_device(model), progress=progress)
        model.load_state_dict(trained.state_dict())
        agree = float((QueryModel(secret)(mnist.x_test) == predict(model, mnist.x_test).argmax(1).cpu()).float().mean())
        return {"target": target, "budget": budget, "test_agreement": agree}

    plan = {"target": target, "budget": budget, "steps": 300, "batch_size": 64, "lr": 1e-3, "seed": 0}
    return cache.cached(f"substitute-{target}-q{budget}", substitute_net, fit, recipe=plan, device=device,
                        progress=progress)


CACHED_MODELS = {
    f"substitute-{target}-q1000": (lambda target=target: cached_substitute(target, 1000, progress=False))
    for target in ("cnn", "linear", "tree")
}
