"""The adversarially trained models of lesson 05: their recipes, trained once and cached.

Introduced in lesson 05; lessons 07 and 08 measure the same models. Every recipe trains a
LeNet-style CNN with ``training.adversarial_train`` at ε = 0.3 on 3,500 of the 4,000 default
training digits (the other 500 pick the epoch); ``robust_model(name)`` trains on first use and
keeps the result in the cache, and ``python -m lessons.warm`` trains them all up front.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from . import cache
from .data import load_mnist, split_validation
from .models import lenet
from .training import adversarial_train
from .utils import check_choice, check_model

__all__ = ["N_VAL", "RECIPES", "fit_recipe", "robust_model", "CACHED_MODELS"]

N_VAL = 500  # training digits held out to pick the epoch (the 1,000 test digits are never used)

# Every recipe trains a LeNet-style CNN (``models.lenet``) at ε = 0.3 on 3,500 of the 4,000
# default training digits. The budgets are chosen so that training all of them from a cold
# cache takes a few minutes on a 2-core CPU: PGD gets the most (it is the point of the
# lesson); the others get what is enough to show what their method does.
RECIPES: dict[str, dict] = {
    "standard": dict(method="standard", epochs=10, ramp_epochs=0, batch_size=50, anneal=0.0,
                     description="standard training on clean digits"),
    "fgsm": dict(method="fgsm", epochs=8, ramp_epochs=0, batch_size=50, anneal=0.0, select="fgsm",
                 description="Goodfellow et al.: ½·CE(x) + ½·CE(FGSM(x)), ε = 0.3 from the start, "
                             "epoch picked on held-out FGSM accuracy"),
    "pgd": dict(method="pgd", epochs=16, ramp_epochs=4, steps=5, batch_size=32, anneal=0.3,
                description="Madry et al.: CE(PGD-5(x)), ε ramped 0 → 0.3 over 4 epochs"),
    "fast_fgsm": dict(method="fast_fgsm", epochs=8, ramp_epochs=3, fast_step=1.25, batch_size=32, anneal=0.3,
                      description="Wong et al.: CE(FGSM from a random start, step 1.25·ε), ε ramped over 3 epochs"),
    "pool": dict(method="pool", epochs=12, ramp_epochs=3, steps=5, pool_size=1000, pool_refresh=0.5, batch_size=32,
                 anneal=0.3, description="Szegedy et al.: clean batches + a pool of 1,000 PGD-5 examples, half "
                                         "regenerated each epoch; ε ramped over 3 epochs"),
}


def _split_recipe(name: str) -> tuple[dict, int, str, int | None]:
    check_choice("name", name, tuple(RECIPES))
    recipe = dict(RECIPES[name])
    width = recipe.pop("width", 1)
    description = recipe.pop("description", name)
    n_train = recipe.pop("n_train", None)  # a smaller training set (for tests); default all 3,500
    return recipe, width, description, n_train


def fit_recipe(name: str, model: nn.Module, *, progress: bool = True) -> dict:
    """Train ``model`` in place with recipe ``name`` of ``RECIPES``; return the facts to keep (lesson 05).

    The recipe trains on the default training digits minus the last ``N_VAL``, which pick the
    epoch. ``robust_model`` calls this once and caches the result; ``benchmarks/training.py``
    calls it directly to time it.

    Returns:
        A dict: ``method``, ``description``, ``epochs``, ``best_epoch``, ``catastrophic_epoch``,
        ``val_clean`` / ``val_fgsm`` / ``val_pgd`` at the chosen epoch, ``train_seconds`` (wall),
        ``cpu_seconds`` (process CPU time, all threads), ``threads`` and the per-epoch ``history``.
    """
    recipe, _, description, n_train = _split_recipe(name)
    check_model(model)
    mnist = load_mnist()
    (x, y), val = split_validation(mnist.x_train, mnist.y_train, N_VAL)
    if n_train is not None:
        x, y = x[:n_train], y[:n_train]
    h = adversarial_train(model, (x, y), val=val, progress=progress, desc=f"training '{name}'", **recipe)
    best = h["best_epoch"]
    return {
        "method": recipe["method"], "description": description, "epochs": recipe["epochs"],
        "best_epoch": best, "catastrophic_epoch": h["catastrophic_epoch"],
        "val_clean": h["val_clean"][best], "val_fgsm": h["val_fgsm"][best], "val_pgd": h["val_pgd"][best],
        "train_seconds": h["train_seconds"], "cpu_seconds": h["cpu_seconds"], "threads": torch.get_num_threads(),
        "history": {k: list(h[k]) for k in ("eps", "clean_loss", "adv_loss", "val_clean", "val_fgsm", "val_pgd", "seconds")},
    }


def robust_model(name: str, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """One of the lesson's trained CNNs (``RECIPES``): trained on first use, then cached (lesson 05).

    Args:
        name: ``"standard"``, ``"fgsm"``, ``"pgd"``, ``"fast_fgsm"`` or ``"pool"``.
        device: where the model lives (default ``get_device()``).
        progress: show the training progress bar on first use.

    Returns:
        The model in eval mode. ``model.cache_info`` holds what ``fit_recipe`` returned: the
        recipe's description, the chosen epoch, the validation accuracies (clean / FGSM /
        PGD-10 on the 500 held-out training digits), the per-epoch history, and
        ``train_seconds`` (wall) and ``cpu_seconds`` (process CPU) of the training run.
    """
    _, width, _, _ = _split_recipe(name)
    return cache.cached(f"l05-{name}", lambda: lenet(width=width), lambda model: fit_recipe(name, model, progress=progress),
                        recipe=RECIPES[name], device=device, progress=progress)


CACHED_MODELS: dict[str, Callable[[], nn.Module]] = {
    name: (lambda name=name: robust_model(name, progress=False)) for name in RECIPES
}
