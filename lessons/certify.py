"""Lesson 08's models and measurements: certified (lower bound) ≤ true robust accuracy ≤ best attack (upper bound).

Introduced in lesson 08. Every robustness number of lessons 05–07 counts the digits an attack
failed on: a stronger attack could only lower it. A *certificate* is the other side: a proof
that no input within ε changes the answer. On the same digits,

    certified (IBP, smoothing)  ≤  exact  ≤  best attack,

and on a network small enough (``RECIPES["mlp"]``, 784-20-20-10) mixed-integer programming
(``lessons.verify``) computes the exact value in between.

The lesson's models are trained once and cached (``certified_model``); facts that take a while
to compute are stored with the weights they describe: the exact verdicts of the tiny networks
(``exact_verdicts``) and the smoothing certificates of the noise-trained CNNs (``certificates``).
``course_table`` measures every model of the course side by side (cached as a result).
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from . import bounds, cache, recipes
from .attacks.common import check_attack
from .audit import ENSEMBLE, lesson05, weights_id
from .audit import EPS as AUDIT_EPS
from .audit import N_DIGITS as AUDIT_DIGITS
from .certified_training import fit, gaussian_loss, ibp_loss
from .data import load_mnist
from .evaluation import correct, ensemble, worst_case
from .models import MNIST_MEAN, MNIST_STD, Normalize, accuracy, mlp
from .models import train as train_standard
from .smoothing import Certificates, certify_all
from .training import adversarial_train
from .utils import check_bool, check_choice, check_model, check_model_input, check_pair, check_positive_int, get_device, model_device
from .utils import progress as progress_bar
from .verify import Verdict, supports, verify, verify_all

__all__ = ["N_EXACT", "N_TABLE", "RECIPES", "small_cnn", "fit_recipe", "certified_model", "exact_verdicts", "certificates",
           "BEST_ATTACK", "best_attack_mask", "contradictions", "COURSE_MODELS", "course_table", "CACHED_MODELS"]

N_EXACT = 24   # test digits each tiny network is exactly verified on (a few seconds each)
N_TABLE = 100  # test digits of the course table and of the smoothing certificates
_TIME_LIMIT = 30.0  # seconds per digit for the stored exact verdicts
_SMOOTHING = dict(n0=100, n=1000, alpha=0.001, seed=0)  # Cohen et al. used n = 100,000; see the notebook

# Every recipe trains on all 4,000 default training digits (no epoch is picked on held-out digits).
RECIPES: dict[str, dict] = {
    "mlp": dict(arch="mlp", method="standard", epochs=20, verify_eps=0.03,
                description="784-20-20-10 ReLU network, standard training"),
    "mlp-pgd": dict(arch="mlp", method="pgd", eps=0.1, epochs=10, ramp_epochs=3, steps=10, verify_eps=0.1,
                    description="784-20-20-10 ReLU network, PGD-10 training at ε = 0.1 (ramped over 3 epochs)"),
    "cnn": dict(arch="small-cnn", method="standard", epochs=10,
                description="Gowal et al.'s small CNN, standard training (the clean baseline)"),
    "ibp": dict(arch="small-cnn", method="ibp", eps=0.3, epochs=12, warmup=1, ramp=6, kappa_final=0.5,
                description="Gowal et al.'s small CNN, IBP training: ε_train 0 → 0.3 and κ 1 → ½ over "
                            "epochs 2–7, then 5 more epochs"),
    "noise-0.25": dict(arch="small-cnn", method="gaussian", sigma=0.25, epochs=10,
                       description="Gowal et al.'s small CNN trained on x + N(0, 0.25²) (Cohen et al.)"),
    "noise-0.50": dict(arch="small-cnn", method="gaussian", sigma=0.5, epochs=10,
                       description="Gowal et al.'s small CNN trained on x + N(0, 0.5²) (Cohen et al.)"),
}


def small_cnn(num_classes: int = 10) -> nn.Sequential:
    """Gowal et al.'s "small" model: conv 16×4×4 stride 2, conv 32×4×4, dense 100, logits (no pooling).

    No max-pool: interval bounds go through it, but certified training is usually done without.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    return nn.Sequential(OrderedDict(
        normalize=Normalize(MNIST_MEAN, MNIST_STD),
        conv1=nn.Conv2d(1, 16, 4, stride=2),  # (N, 16, 13, 13)
        relu1=nn.ReLU(),
        conv2=nn.Conv2d(16, 32, 4),  # (N, 32, 10, 10)
        relu2=nn.ReLU(),
        flatten=nn.Flatten(),
        fc1=nn.Linear(32 * 10 * 10, 100),
        relu3=nn.ReLU(),
        fc2=nn.Linear(100, num_classes),
    ))


def _build(recipe: dict) -> nn.Module:
    return mlp((20, 20)) if recipe["arch"] == "mlp" else small_cnn()


def fit_recipe(name: str, model: nn.Module, *, progress: bool = True) -> dict:
    """Train ``model`` in place with recipe ``name`` of ``RECIPES``; return the facts to store with it (lesson 08).

    ``certified_model`` calls this once and caches the result; ``benchmarks/certify.py`` calls
    it directly to time the training. The facts: see ``certified_model``.
    """
    check_choice("model name", name, tuple(RECIPES))
    check_model(model)
    check_bool("progress", progress)
    r, mnist = RECIPES[name], load_mnist()
    check_model_input(model, mnist.x_train[:1], "MNIST digits")
    data, device = (mnist.x_train, mnist.y_train), model_device(model)
    desc, start = f"training '{name}'", time.perf_counter()
    if r["method"] == "standard":
        history = train_standard(model, data, epochs=r["epochs"], device=device, progress=progress, desc=desc)
    elif r["method"] == "pgd":
        history = adversarial_train(model, data, method="pgd", eps=r["eps"], epochs=r["epochs"], steps=r["steps"],
                                    ramp_epochs=r["ramp_epochs"], batch_size=50, progress=progress, desc=desc)
        history = {k: v for k, v in history.items() if k in ("eps", "adv_loss", "clean_loss", "seconds")}
    else:
        loss = (ibp_loss(r["eps"], warmup=r["warmup"], ramp=r["ramp"], kappa_final=r["kappa_final"])
                if r["method"] == "ibp" else gaussian_loss(r["sigma"]))
        history = fit(model, data, loss, epochs=r["epochs"], device=device, progress=progress, desc=desc)
    info = {"description": r["description"], "history": history, "train_seconds": time.perf_counter() - start,
            "threads": torch.get_num_threads(), "clean_accuracy": accuracy(model, mnist.x_test, mnist.y_test)}
    x, y = mnist.x_test, mnist.y_test
    if "verify_eps" in r:  # facts about these weights that take a minute: stored with them
        verdicts = verify_all(model, x[:N_EXACT], y[:N_EXACT], r["verify_eps"], time_limit=_TIME_LIMIT,
                              progress=progress)
        info["exact"] = {"eps": r["verify_eps"], "verdicts": [_verdict_to_dict(v) for v in verdicts]}
    if r["method"] == "gaussian":
        certs = certify_all(model, x[:N_TABLE], y[:N_TABLE], r["sigma"], progress=progress, **_SMOOTHING)
        info["smoothing"] = {"prediction": certs.prediction, "radius": certs.radius, "seconds": certs.seconds,
                             "sigma": r["sigma"], **_SMOOTHING}
    return info


def certified_model(name: str, *, device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """One of lesson 08's models (``RECIPES``), trained on first use and cached.

    Args:
        name: ``"mlp"``, ``"mlp-pgd"``, ``"cnn"``, ``"ibp"``, ``"noise-0.25"`` or ``"noise-0.50"``.
        device: where the model lives (default ``get_device()``).
        progress: progress bars on first use.

    Returns:
        The model in eval mode. ``model.cache_info`` holds the recipe's ``description``, the
        training ``history``, ``train_seconds``, the ``clean_accuracy`` on the 1,000 test digits,
        and for the tiny networks their exact verdicts on the first ``N_EXACT`` test digits
        (``exact_verdicts``), for the noise-trained CNNs their smoothing certificates on the
        first ``N_TABLE`` (``certificates``).
    """
    check_choice("model name", name, tuple(RECIPES))
    check_bool("progress", progress)
    if device is not None:
        get_device(device)
    # The stored facts' settings are part of the recipe: change them and the model is rebuilt.
    recipe = dict(RECIPES[name], n_exact=N_EXACT, time_limit=_TIME_LIMIT, n_table=N_TABLE, smoothing=_SMOOTHING)
    return cache.cached(f"l08-{name}", functools.partial(_build, RECIPES[name]),
                        lambda model: fit_recipe(name, model, progress=progress), recipe=recipe, device=device,
                        progress=progress)


# --------------------------------------------------------------------------- stored facts


def _verdict_to_dict(v: Verdict) -> dict:
    return {"status": v.status, "x_adv": v.x_adv, "label": v.label, "seconds": v.seconds, "unstable": v.unstable,
            "solves": v.solves, "reason": v.reason}


def exact_verdicts(model: nn.Module) -> tuple[float, list[Verdict]]:
    """``(ε, verdicts)``: the exact verification stored with a tiny network of ``certified_model``.

    One ``Verdict`` per test digit ``0 … N_EXACT − 1``, at the recipe's ``verify_eps``,
    computed when the network was trained (``verify.verify_all``, 30 s per digit at most).
    """
    stored = getattr(check_model(model), "cache_info", {}).get("exact")
    if stored is None:
        raise ValueError("this model carries no exact verdicts: use certified_model('mlp') or certified_model('mlp-pgd')")
    return stored["eps"], [Verdict(**v) for v in stored["verdicts"]]


def certificates(model: nn.Module) -> Certificates:
    """The smoothing certificates stored with a noise-trained CNN of ``certified_model``.

    ``smoothing.certify_all`` on test digits ``0 … N_TABLE − 1`` (n0 = 100, n = 1,000,
    α = 0.001; digit i's noise from seed i, so any digit can be re-certified alone).
    """
    s = getattr(check_model(model), "cache_info", {}).get("smoothing")
    if s is None:
        raise ValueError("this model carries no smoothing certificates: use certified_model('noise-0.25') or "
                         "certified_model('noise-0.50')")
    labels = load_mnist().y_test[: len(s["prediction"])]
    return Certificates(s["prediction"], s["radius"], labels, s["sigma"], s["n0"], s["n"], s["alpha"], s["seconds"])


# --------------------------------------------------------------------------- the best attack

# The course's standard of evidence (lesson 07): the worst case per digit over the attack ensemble,
# with the budgets lesson 07's audit uses on lesson 05's models, so the two lessons' numbers agree.
BEST_ATTACK = (f"lesson 07's ensemble, worst case per digit: APGD-CE, APGD-DLR ({ENSEMBLE['steps']} steps each), "
               f"APGD-T ({ENSEMBLE['n_target_classes']} target classes), Square ({ENSEMBLE['queries']:,} queries)")


def best_attack_mask(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, seed: int = 0,
                     alive: torch.Tensor | None = None) -> torch.Tensor:
    """Per digit (N,) bool: right when clean and not fooled by the course's strongest attack (``BEST_ATTACK``).

    The upper bound of the sandwich: a digit marked True might still be broken by a stronger
    attack; a digit marked False is certainly not robust (the attack found an example). The
    attack is ``evaluation.worst_case`` over ``evaluation.ensemble(eps, **audit.ENSEMBLE)``.

    Args:
        seed: seeds the ensemble's generators (same seed, same answer).
        alive: optional (N,) bool, the digits still standing after an earlier attack (for
            instance at a smaller ε, whose examples lie inside this ball too); only those are attacked.
    """
    y, eps, _ = check_attack(model, x, y, eps=eps)
    seed = check_positive_int("seed", seed, allow_zero=True)
    standing = correct(model, x, y)
    if alive is not None:
        if not isinstance(alive, torch.Tensor) or alive.dtype != torch.bool:
            raise TypeError(f"alive must be a ({len(standing)},) bool tensor, got {type(alive).__name__}"
                            + (f" of dtype {alive.dtype}" if isinstance(alive, torch.Tensor) else ""))
        if alive.shape != standing.shape:
            raise ValueError(f"alive must have shape ({len(standing)},) (one entry per digit), got {tuple(alive.shape)}")
        standing &= alive.cpu()
    todo = standing.nonzero().flatten()
    if eps == 0 or len(todo) == 0:
        return standing
    attacks_ = ensemble(eps, **dict(ENSEMBLE, seed=seed))
    standing[todo] = worst_case(model, x[todo.to(x.device)], y[todo.to(y.device)], attacks_, progress=False).mask
    return standing


def contradictions(verdicts: list[Verdict], robust: torch.Tensor) -> list[int]:
    """Digits a verifier calls verified but an attack broke: must be empty (a proof cannot be beaten).

    Args:
        verdicts: exact verdicts, or any per-digit proofs as a (N,) bool tensor (True = verified).
        robust: (N,) bool, True where the attack failed (``best_attack_mask``).
    """
    if isinstance(verdicts, torch.Tensor):
        proved = verdicts
    elif isinstance(verdicts, (list, tuple)) and all(isinstance(v, Verdict) for v in verdicts):
        proved = torch.tensor([v.status == "verified" for v in verdicts], dtype=torch.bool)
    else:
        raise TypeError(f"verdicts must be a list of verify.Verdict or a (N,) bool tensor, got {type(verdicts).__name__}")
    for name, value in (("verdicts", proved), ("robust", robust)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a (N,) bool tensor, got {type(value).__name__}")
        if value.dtype != torch.bool:
            raise TypeError(f"{name} must be a (N,) bool tensor, got dtype {value.dtype}")
        if value.shape != (len(proved),):
            raise ValueError(f"{name} must have shape ({len(proved)},) (one entry per digit), got {tuple(value.shape)}")
    return (proved.cpu() & ~robust.cpu()).nonzero().flatten().tolist()


# --------------------------------------------------------------------------- the course table

# (row name, lesson, loader). Lesson 07's models are added here at merge.
COURSE_MODELS: list[tuple[str, str, Callable[[], nn.Module]]] = (
    [(f"{name}", "05", functools.partial(recipes.robust_model, name, progress=False)) for name in recipes.RECIPES]
    + [(name, "08", functools.partial(certified_model, name, progress=False)) for name in RECIPES]
)
_TABLE = dict(eps=(0.1, 0.3), radii=(0.5, 1.0), n=N_TABLE, n_exact=N_EXACT, exact_eps=0.1, time_limit=30.0,
              lesson05_at_audit_eps="from lesson 07's audit")


def _row(name: str, lesson: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, progress: bool) -> dict:
    cfg = _TABLE
    row = {"model": name, "lesson": lesson, "clean": float(correct(model, x, y).float().mean())}
    standing = None
    for eps in sorted(cfg["eps"]):  # a digit broken at a smaller ε is broken at a larger one
        if lesson == "05" and eps == AUDIT_EPS and len(x) <= AUDIT_DIGITS:
            # Lesson 07's audit already ran this ensemble, with these budgets, on these digits.
            measured = lesson05(name, progress=progress).worst.mask[: len(x)]
            standing = measured if standing is None else measured & standing
            row[f"attack_mask@{eps}"] = standing
        else:
            standing = row[f"attack_mask@{eps}"] = best_attack_mask(model, x, y, eps, alive=standing)
        row[f"ibp_mask@{eps}"] = bounds.verified(model, x, y, eps)
    info = getattr(model, "cache_info", {})
    if _stored_exact(model) is None and supports(model):
        n, eps = cfg["n_exact"], cfg["exact_eps"]
        # A digit the attack broke is broken: its image was checked by running the network. Only
        # the survivors need a MILP (a proof, or a counter-example the attack missed).
        status = ["broken"] * n
        for i in progress_bar(row[f"attack_mask@{eps}"][:n].nonzero().flatten().tolist(), enabled=progress,
                              desc=f"exact verification of '{name}'", unit="digit"):
            status[i] = verify(model, x[i : i + 1], y[i], eps, time_limit=cfg["time_limit"]).status
        row["exact"] = status
    if "smoothing" in info:
        certs = certificates(model)
        row["sigma"] = certs.sigma
        for r in cfg["radii"]:
            row[f"smoothing@{r}"] = certs.accuracy(r)
    return row


def _stored_exact(model: nn.Module) -> list[str] | None:
    """The statuses stored with the model, if they are at the table's ε (read at load time, never copied)."""
    exact = getattr(model, "cache_info", {}).get("exact", {})
    return [v["status"] for v in exact["verdicts"]] if exact.get("eps") == _TABLE["exact_eps"] else None


def course_table(*, device: torch.device | str | None = None, progress: bool = True) -> list[dict]:
    """Every model of ``COURSE_MODELS`` on the first ``N_TABLE`` test digits: the course's summary (lesson 08).

    Per model: ``clean`` accuracy; per ε in (0.1, 0.3) the digits the best attack leaves
    (``attack_mask@ε``) and the digits IBP verifies (``ibp_mask@ε``); for networks ``verify``
    can encode, the exact verdicts at ε = 0.1 on the first ``N_EXACT`` digits (``exact``: the
    ones stored with the model if they are at that ε; else digits the attack broke count as
    broken and the others are solved); for noise-trained models the smoothing certified
    accuracy at L2 radii 0.5 and 1.0. Computed once (minutes) and cached row by row; each row's
    version covers the settings, the attack and that model's weights, so retraining a model
    recomputes its row.

    Returns:
        One dict per model, in ``COURSE_MODELS`` order (masks are (N,) bool tensors).
    """
    check_bool("progress", progress)
    return _course_table(get_device(device) if device is not None else None, progress)[0]


def _cached_row(name: str, lesson: str, model: nn.Module, device: torch.device | str | None, progress: bool
                ) -> tuple[dict, bool]:
    """One model's row, computed once and cached; the version covers the settings, the attack and its weights."""
    version = cache.fingerprint(dict(_TABLE, attack=BEST_ATTACK, model=name, lesson=lesson, weights=weights_id(model)))
    found = cache.load("results", f"l08-course-row-{name}", version)
    if found is not None:
        return found[0]["row"], True
    mnist = load_mnist()
    x, y = check_pair((mnist.x_test[:N_TABLE], mnist.y_test[:N_TABLE]))
    row = _row(name, lesson, model.to(device) if device is not None else model, x, y, progress)
    cache.save("results", f"l08-course-row-{name}", version, {"row": row, "torch": str(torch.__version__)})
    return row, False


def _course_table(device: torch.device | str | None, progress: bool) -> tuple[list[dict], bool]:
    loaded = [(name, lesson, load()) for name, lesson, load in COURSE_MODELS]
    rows, all_cached = [], True
    for name, lesson, model in progress_bar(loaded, enabled=progress, desc="course table", unit="model"):
        row, cached = _cached_row(name, lesson, model, device, progress)
        all_cached &= cached
        stored = _stored_exact(model)
        if stored is not None:
            row["exact"] = stored
        rows.append(row)
    return rows, all_cached


class _RowArtefact:
    """What ``python -m lessons.warm`` gets for one row of the table (rows are built in parallel)."""

    def __init__(self, name: str) -> None:
        lesson, load = next((lesson, load) for n, lesson, load in COURSE_MODELS if n == name)
        self.row, cached = _cached_row(name, lesson, load(), None, progress=False)
        self.cache_info = {"cached": cached}


class _TableArtefact:
    """What ``python -m lessons.warm`` gets for the course table: the rows, and whether they were cached."""

    def __init__(self) -> None:
        self.rows, cached = _course_table(None, progress=False)
        self.cache_info = {"cached": cached}


CACHED_MODELS: dict[str, Callable[[], object]] = {
    **{name: functools.partial(certified_model, name, progress=False) for name in RECIPES},
    **{f"course-row '{name}'": functools.partial(_RowArtefact, name) for name, _, _ in COURSE_MODELS},
    "course-table": _TableArtefact,
}
