"""The adversarially trained models of lesson 05: their recipes, trained once and cached.

Introduced in lesson 05; lessons 07 and 08 measure the same models. Every recipe trains with
``training.adversarial_train`` on 3,500 of the 4,000 default training digits (the other 500
pick the epoch); ``robust_model(name)`` trains on first use and keeps the result in the cache,
and ``python -m lessons.warm`` trains them all up front.

Besides ``RECIPES`` (one model each), ``POOL_STUDY`` repeats Szegedy et al.'s pool experiment
(§4.2) on their own FC100-100-10 network over several seeds (``study_model``,
``study_errors``), to put a confidence interval on "a pool of adversarial examples improves
generalisation" and on "examples of higher layers are more useful".
"""

from __future__ import annotations

import inspect
import math
import statistics
from collections.abc import Callable, Sequence

import torch
from torch import nn

from . import cache
from .data import load_mnist, split_validation
from .models import accuracy, lenet, mlp, small_cnn
from .training import adversarial_train
from .utils import check_bool, check_choice, check_in_range, check_model, check_positive_int, forked_rng, get_device

__all__ = ["N_VAL", "ARCHITECTURES", "RECIPES", "build_model", "fit_recipe", "robust_model", "POOL_STUDY", "SEEDS", "study_model",
           "study_errors", "mean_interval", "CACHED_MODELS"]

N_VAL = 500  # training digits held out to pick the epoch (the 1,000 test digits are never used)

# The networks a recipe may name with "arch" (default "lenet"); "width" widens lenet.
ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "lenet": lenet,
    "small_cnn": small_cnn,  # Wong et al.'s MNIST network
    "fc100": lambda: mlp((100, 100)),  # Szegedy's FC100-100-10
}

# Every recipe trains at ε = 0.3 on 3,500 of the 4,000 default training digits. The budgets
# are chosen so that training all of them from a cold cache takes a few minutes on a 2-core
# CPU: PGD gets the most (it is the point of the lesson); the others get what is enough to
# show what their method does. "fast_fgsm_co" is a failure case, kept on purpose.
# Wong, Rice & Kolter's MNIST recipe (locuslab/fast_adversarial, MNIST/train_mnist.py): 10 epochs
# of 60,000 digits = 6,000 steps of 100; 100 epochs of our 3,500 digits = 3,500 steps.
WONG = dict(arch="small_cnn", method="fast_fgsm", epochs=100, ramp_epochs=0, fast_step=1.25, batch_size=100, lr=5e-3,
            schedule="cyclic", peak=0.4, val_every=5)
RECIPES: dict[str, dict] = {
    "standard": dict(method="standard", epochs=10, ramp_epochs=0, batch_size=50, anneal=0.0,
                     description="standard training on clean digits"),
    "fgsm": dict(method="fgsm", epochs=8, ramp_epochs=0, batch_size=50, anneal=0.0, select="fgsm",
                 description="Goodfellow et al.: ½·CE(x) + ½·CE(FGSM(x)), ε = 0.3 from the start, "
                             "epoch picked on held-out FGSM accuracy"),
    "pgd": dict(method="pgd", epochs=16, ramp_epochs=4, steps=5, batch_size=32, anneal=0.3,
                description="Madry et al.: CE(PGD-5(x)), ε ramped 0 → 0.3 over 4 epochs"),
    "fast_fgsm": dict(WONG, description="Wong et al.'s MNIST recipe: their small CNN, FGSM from a random start with "
                                        "step 1.25·ε, ε = 0.3 from the start, Adam with a cyclic rate peaking at 5e-3, "
                                        "batch 100; epoch picked on held-out PGD every 5 epochs"),
    # Kept on purpose: the first edition's recipe, which collapses. (Wong's recipe with only the
    # start clipped collapsed in one run and not in another with a different thread count.)
    "fast_fgsm_co": dict(method="fast_fgsm", epochs=8, ramp_epochs=3, fast_step=1.25, batch_size=32, anneal=0.3,
                         clip_start=True,
                         description="FAILURE CASE: the first edition's fast FGSM: our LeNet with the PGD recipe's "
                                     "schedule (ε ramped over 3 epochs, batch 32, flat rate 1e-3 then annealed) and the "
                                     "random start clipped into [0, 1]"),
    "pool": dict(method="pool", epochs=12, ramp_epochs=3, steps=5, pool_size=1000, pool_refresh=0.5, batch_size=32,
                 anneal=0.3, description="Szegedy et al.: clean batches + a pool of 1,000 PGD-5 examples, half "
                                         "regenerated each epoch; ε ramped over 3 epochs"),
}


# What a recipe may hold: adversarial_train's keyword arguments, plus the network and notes.
_RECIPE_KEYS = {p for p in inspect.signature(adversarial_train).parameters if p not in ("model", "data", "val", "seed",
                                                                                         "progress", "desc")} | {
    "arch", "width", "description", "n_train"}


def _split_recipe(recipe: dict) -> tuple[dict, Callable[[], nn.Module], str, int | None]:
    recipe = dict(recipe)
    arch = check_choice("arch", recipe.pop("arch", "lenet"), tuple(ARCHITECTURES))
    width = recipe.pop("width", 1)
    build = (lambda: lenet(width=width)) if arch == "lenet" else ARCHITECTURES[arch]
    description = recipe.pop("description", "")
    n_train = recipe.pop("n_train", None)  # a smaller training set (for tests); default all 3,500
    return recipe, build, description, n_train


def _fit(recipe: dict, model: nn.Module, *, seed: int, progress: bool, desc: str) -> dict:
    recipe, _, description, n_train = _split_recipe(recipe)
    check_model(model)
    mnist = load_mnist()
    (x, y), val = split_validation(mnist.x_train, mnist.y_train, N_VAL)
    if n_train is not None:
        x, y = x[:n_train], y[:n_train]
    h = adversarial_train(model, (x, y), val=val, seed=seed, progress=progress, desc=desc, **recipe)
    best = h["best_epoch"]
    return {
        "method": recipe["method"], "description": description, "epochs": recipe["epochs"],
        "best_epoch": best, "catastrophic_epoch": h["catastrophic_epoch"],
        "val_clean": h["val_clean"][best], "val_fgsm": h["val_fgsm"][best], "val_pgd": h["val_pgd"][best],
        "train_seconds": h["train_seconds"], "cpu_seconds": h["cpu_seconds"], "threads": torch.get_num_threads(),
        "history": {k: list(h[k]) for k in ("eps", "clean_loss", "adv_loss", "val_clean", "val_fgsm", "val_pgd", "seconds")},
    }


def build_model(name: str) -> nn.Module:
    """The untrained network of recipe ``name``, with the initial weights ``robust_model`` starts from."""
    check_choice("name", name, tuple(RECIPES))
    _, build, _, _ = _split_recipe(RECIPES[name])
    with forked_rng():
        torch.manual_seed(0)  # as cache.cached seeds it
        return build()


def fit_recipe(name: str, model: nn.Module, *, recipe: dict | None = None, progress: bool = True) -> dict:
    """Train ``model`` in place with recipe ``name`` of ``RECIPES``; return the facts to keep (lesson 05).

    The recipe trains on the default training digits minus the last ``N_VAL``, which pick the
    epoch. ``robust_model`` calls this once and caches the result; ``benchmarks/training.py``
    calls it directly to time it, on ``build_model(name)``, and with ``recipe`` (a variant of
    ``RECIPES[name]``, same keys) to try changes of it.

    Returns:
        A dict: ``method``, ``description``, ``epochs``, ``best_epoch``, ``catastrophic_epoch``,
        ``val_clean`` / ``val_fgsm`` / ``val_pgd`` at the chosen epoch, ``train_seconds`` (wall),
        ``cpu_seconds`` (process CPU time, all threads), ``threads`` and the per-epoch ``history``.
    """
    check_choice("name", name, tuple(RECIPES))
    if recipe is not None and not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict like RECIPES[{name!r}], got {type(recipe).__name__}")
    unknown = sorted(set(recipe or {}) - _RECIPE_KEYS)
    if unknown:
        raise ValueError(f"recipe has keys adversarial_train does not take: {unknown}; known: {sorted(_RECIPE_KEYS)}")
    return _fit(RECIPES[name] if recipe is None else recipe, model, seed=0, progress=progress, desc=f"training '{name}'")


def robust_model(name: str, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """One of the lesson's trained models (``RECIPES``): trained on first use, then cached (lesson 05).

    Args:
        name: a key of ``RECIPES``: ``"standard"``, ``"fgsm"``, ``"pgd"``, ``"fast_fgsm"``,
            ``"fast_fgsm_co"`` (the catastrophic-overfitting failure case) or ``"pool"``.
        device: where the model lives (default ``get_device()``).
        progress: show the training progress bar on first use.

    Returns:
        The model in eval mode (the recipe's ``arch``: LeNet unless it says otherwise).
        ``model.cache_info`` holds what ``fit_recipe`` returned: the recipe's description, the
        chosen epoch, the validation accuracies (clean / FGSM / PGD-10 on the 500 held-out
        training digits), the per-epoch history, and ``train_seconds`` (wall) and
        ``cpu_seconds`` (process CPU) of the training run.
    """
    check_choice("name", name, tuple(RECIPES))
    _, build, _, _ = _split_recipe(RECIPES[name])
    return cache.cached(f"l05-{name}", build, lambda model: fit_recipe(name, model, progress=progress),
                        recipe=RECIPES[name], device=device, progress=progress)


# --------------------------------------------------------------------------- Szegedy's pool, over seeds

# Szegedy et al. §4.2: FC100-100-10, clean digits plus a pool of adversarial examples, a random
# half of which is remade every epoch. Every variant shares STUDY_COMMON and differs only in
# where the pool's examples live. Their size: Szegedy's L-BFGS examples for FC100-100-10 were
# 0.058 RMS from the digit on average (Table 1, as lesson 01 quotes it): 0.058·28 ≈ 1.62 in L2,
# 0.176 of our training digits' mean norm (9.25); every pool perturbs its layer's output by
# that share of its norm. ε = 0.1 is only the budget of the held-out FGSM/PGD numbers.
STUDY_COMMON = dict(arch="fc100", eps=0.1, epochs=20, steps=10, batch_size=50, pool_size=1000, pool_refresh=0.5,
                    select="clean")
POOL_STUDY: dict[str, dict] = {
    "standard": dict(STUDY_COMMON, method="standard", description="FC100-100-10, clean digits only"),
    "input": dict(STUDY_COMMON, method="pool", pool_rel_eps=0.176,
                  description="FC100-100-10 + a pool of adversarial images (relative L2 radius 0.176)"),
    "relu1": dict(STUDY_COMMON, method="pool", pool_layer="relu1", pool_rel_eps=0.176,
                  description="FC100-100-10 + a pool of adversarial outputs of the first hidden layer"),
    "relu2": dict(STUDY_COMMON, method="pool", pool_layer="relu2", pool_rel_eps=0.176,
                  description="FC100-100-10 + a pool of adversarial outputs of the second (top) hidden layer"),
}
SEEDS = (0, 1, 2, 3, 4)


def study_model(variant: str, seed: int, *, device: torch.device | str | None = None,
                progress: bool = True) -> nn.Module:
    """One run of the pool study (``POOL_STUDY[variant]``, initial weights and order from ``seed``).

    Trained on first use, then cached, like ``robust_model``; ``model.cache_info`` has the
    same facts. The epoch is picked on held-out *clean* accuracy (the claim is about
    generalisation), and the test digits are never used for it.
    """
    check_choice("variant", variant, tuple(POOL_STUDY))
    seed = check_positive_int("seed", seed, allow_zero=True)
    _, build, _, _ = _split_recipe(POOL_STUDY[variant])

    def seeded() -> nn.Module:
        torch.manual_seed(seed)  # cache.cached forks the RNG around build: the caller's stream is untouched
        return build()

    return cache.cached(f"l05-study-{variant}-s{seed}", seeded,
                        lambda model: _fit(POOL_STUDY[variant], model, seed=seed, progress=progress,
                                           desc=f"pool study: {variant}, seed {seed}"),
                        recipe=dict(POOL_STUDY[variant], seed=seed), device=device, progress=progress)


def study_errors(*, device: torch.device | str | None = None, progress: bool = False) -> dict[str, list[float]]:
    """Clean test error of every pool-study run: variant → one error per seed of ``SEEDS``, in [0, 1]."""
    check_bool("progress", progress)
    mnist = load_mnist()
    device = get_device(device)
    return {variant: [1 - accuracy(study_model(variant, s, device=device, progress=progress), mnist.x_test, mnist.y_test)
                      for s in SEEDS] for variant in POOL_STUDY}


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its ``level`` confidence interval, Student's t over the values.

    With n seeds: half-width = t(1 − (1 − level)/2, n − 1) · s / √n, s the sample standard
    deviation — it assumes the per-seed numbers are independent draws of a normal variable.

    Returns:
        ``(mean, half_width)``; the interval is mean ± half_width.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"values must be a list of numbers, got {type(values).__name__}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"values must hold numbers, got {list(values)!r}")
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must hold at least 2 finite numbers, got {list(values)!r}")
    level = check_in_range("level", level, 1e-6, 1 - 1e-6)
    from scipy import stats

    n = len(values)
    half = float(stats.t.ppf(1 - (1 - level) / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)
    return statistics.fmean(values), half


CACHED_MODELS: dict[str, Callable[[], nn.Module]] = {
    **{name: (lambda name=name: robust_model(name, progress=False)) for name in RECIPES},
    **{f"study-{v}-s{s}": (lambda v=v, s=s: study_model(v, s, progress=False)) for v in POOL_STUDY for s in SEEDS},
}
