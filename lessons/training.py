"""Adversarial training: standard, FGSM, PGD, fast FGSM, TRADES and a refreshed adversarial pool.

Introduced in lesson 05. One training loop (``adversarial_train``) with interchangeable
ways of making the examples a step trains on (``METHODS``):

- ``"standard"``: clean digits only.
- ``"fgsm"``: Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*,
  ICLR 2015 (arXiv 1412.6572) §6: loss = α·CE(x) + (1 − α)·CE(FGSM(x)), α = 0.5.
- ``"pgd"``: Madry et al., *Towards Deep Learning Models Resistant to Adversarial Attacks*,
  ICLR 2018 (arXiv 1706.06083): loss = CE(PGD(x)), the inner maximisation of a min-max problem.
- ``"fast_fgsm"``: Wong, Rice & Kolter, *Fast is better than free*, ICLR 2020
  (arXiv 2001.03994): FGSM from a uniform random start with step 1.25·ε — PGD with one step.
- ``"trades"``: Zhang et al. 2019: CE(x) + β·KL(f(x) ‖ f(x′)) (``lessons.remedies``).
- ``"pool"``: Szegedy et al., *Intriguing properties of neural networks*, ICLR 2014
  (arXiv 1312.6199) §4.2: a pool of adversarial examples, part of which is regenerated against
  the current model every epoch, mixed into every batch of clean digits (``lessons.pools``: PGD
  at the input, or examples of a hidden layer's output; Szegedy used L-BFGS).

The schedules (``lessons.schedules``) are pure functions of where training is: ``ramp`` (ε grows
from 0) and ``learning_rate`` (anneal or cyclic). With
held-out digits (``val=``) the loop keeps the most robust epoch (adversarial training on few
digits *overfits robustly*) and flags catastrophic overfitting (``catastrophic_overfitting``).
Recipes and trained models: ``lessons.recipes``; measurements: ``lessons.evaluation``.
"""

from __future__ import annotations

import copy
import functools
import math
import time
import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import attacks
from .evaluation import check_data, correct, robust_accuracy
from .pools import refresh_pool, split_model
from .remedies import average_weights, random_shift, trades_examples, trades_loss
from .schedules import learning_rate, ramp
from .utils import (
    check_bool,
    check_choice,
    check_generator,
    check_in_range,
    check_labels,
    check_model_input,
    check_pair,
    check_positive_int,
    eval_mode,
    model_device,
)
from .utils import (
    progress as progress_bar,
)

__all__ = [
    "METHODS",
    "adversarial_examples",
    "training_step",
    "validate",
    "adversarial_train",
    "catastrophic_overfitting",
]

METHODS = ("standard", "fgsm", "pgd", "fast_fgsm", "trades", "pool")


# --------------------------------------------------------------------------- one step


def adversarial_examples(
    method: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 7,
    fast_step: float = 1.25,
    clip_start: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The adversarial images one training step of ``method`` adds (lesson 05).

    Args:
        method: one of ``METHODS``. ``"standard"`` returns a copy of ``x``; ``"fgsm"``: FGSM;
            ``"pgd"`` and ``"pool"``: PGD with ``steps`` steps of 2.5·ε/steps from a random
            start (Madry et al.); ``"fast_fgsm"``: one step of ``fast_step``·ε from a uniform
            random start (Wong et al. use 1.25), as in their code (``_fast_fgsm``);
            ``"trades"``: ``remedies.trades_examples`` (``steps`` steps on the KL divergence).
        model: the classifier being trained; its mode and parameters are left as they were.
        x, y, eps: images (N, C, H, W) in [0, 1], int64 labels (N,), the L∞ budget in [0, 1].
        steps, fast_step: PGD steps for ``"pgd"`` and ``"pool"``; the step of ``"fast_fgsm"`` as a
            multiple of ε, in (0, 2].
        clip_start: ``"fast_fgsm"`` clips its random start into [0, 1] before taking the
            gradient, as ``attacks.pgd`` does (lesson 05's catastrophic-overfitting case).
        generator: CPU ``torch.Generator`` for the random starts.

    Returns:
        Images of ``x``'s shape within ε of ``x`` (L∞) and in [0, 1], detached.
    """
    check_choice("method", method, METHODS)
    check_model_input(model, x)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    fast_step = check_in_range("fast_step", fast_step, 1e-6, 2.0)
    check_bool("clip_start", clip_start)
    if method == "standard":
        return x.detach().clone()
    if method == "fgsm":
        return attacks.fgsm(model, x, y, eps)
    if method == "fast_fgsm" and clip_start:
        return attacks.pgd(model, x, y, eps, steps=1, alpha=fast_step * eps, generator=generator)
    if method == "fast_fgsm":
        return _fast_fgsm(model, x, y, eps, fast_step * eps, generator)
    if method == "trades":
        return trades_examples(model, x, eps, steps=steps, generator=generator)
    return attacks.pgd(model, x, y, eps, steps=steps, alpha=2.5 * eps / steps, generator=generator)


def _fast_fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float,
               generator: torch.Generator | None) -> torch.Tensor:
    """Wong et al.'s FGSM step, as in their code (``locuslab/fast_adversarial``, ``train_mnist.py``).

    δ ~ U(−ε, ε) — the random start is what keeps one step from overfitting at once, and it
    is *not* clipped to [0, 1] before the gradient is taken (clipping would pin half the
    blank background's start at 0) — then δ += step·sign(∇), back into the ε-box, and only
    the final image is clipped to [0, 1]. ``attacks.pgd(..., steps=1)`` clips the start; on our
    digits at ε = 0.3 that version overfits catastrophically (lesson 05).
    """
    delta = torch.rand(x.shape, generator=generator, dtype=x.dtype).mul_(2).sub_(1).mul_(eps).to(x.device)
    with eval_mode(model):
        start = (x.detach() + delta).requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(start), y, reduction="sum"), start)
    delta = (delta + step * grad.sign()).clamp_(-eps, eps)
    return (x.detach() + delta).clamp_(0, 1)


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    method: str,
    eps: float,
    steps: int = 7,
    clean_weight: float = 0.5,
    fast_step: float = 1.25,
    clip_start: bool = False,
    beta: float = 6.0,
    pool: tuple[torch.Tensor, torch.Tensor] | None = None,
    pool_layer: str | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One optimiser step of ``method`` on a batch; returns the clean and adversarial losses (lesson 05).

    The losses: ``"standard"`` CE(x); ``"fgsm"`` clean_weight·CE(x) + (1 − clean_weight)·CE(x_fgsm)
    (Goodfellow et al. use 0.5); ``"pgd"`` and ``"fast_fgsm"`` CE(x_adv) alone (Madry et al.,
    Wong et al.); ``"trades"`` ``remedies.trades_loss``; ``"pool"`` CE over the clean batch and
    the ``pool`` batch together (Szegedy et al.: the pool's examples were made against an
    *earlier* state of the model; a ``pool_layer`` pool holds that layer's outputs and trains
    only the layers above it).

    Args:
        model, optimizer: the classifier, trained in place (left in train mode), and its optimiser.
        x, y: images (N, C, H, W) in [0, 1] (never written to) and int64 labels (N,).
        method, eps: one of ``METHODS``; the L∞ budget in [0, 1] (unused by standard and pool).
        steps, clean_weight, fast_step, clip_start: PGD steps; α of the ``"fgsm"`` loss; the
            ``"fast_fgsm"`` step as a multiple of ε (Wong et al.: 1.25) and its start's clipping
            (``adversarial_examples``).
        beta: TRADES's weight of the KL term.
        pool, pool_layer: ``(examples, labels)`` for ``"pool"`` (required there): images, or
            outputs of the layer named ``pool_layer`` (``pools.layer_examples``).
        generator: CPU ``torch.Generator`` for the attacks' random starts.

    Returns:
        ``{"loss": ..., "clean_loss": ..., "adv_loss": ...}`` as floats (``adv_loss`` is the
        clean loss for ``"standard"``, the pool batch's loss for ``"pool"``).
    """
    num_classes = check_model_input(model, x)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes)
    check_choice("method", method, METHODS)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    clean_weight = check_in_range("clean_weight", clean_weight, 0.0, 1.0)
    beta = check_in_range("beta", beta, 0.0, 1e3)
    check_bool("clip_start", clip_start)
    generator = check_generator(generator)
    if method == "pool":
        if pool is None:
            raise ValueError("method 'pool' needs pool=(x_pool, y_pool): a batch of adversarial examples")
        if pool_layer is None:
            x_pool, y_pool = check_pair(pool, "pool")
            head = model
        else:  # a layer's outputs: any shape the layers above take
            if not isinstance(pool, (tuple, list)) or len(pool) != 2 or not isinstance(pool[0], torch.Tensor):
                raise TypeError(f"pool must be a pair (outputs of {pool_layer!r}, labels), got {type(pool).__name__}")
            head = split_model(model, pool_layer)[1]
            x_pool, y_pool = pool[0], check_labels(pool[1], len(pool[0]), "pool[1]", num_classes=num_classes)
    device = model_device(model)
    x, y = x.to(device), y.to(device)

    x_adv = None
    if method in ("fgsm", "pgd", "fast_fgsm", "trades"):
        x_adv = adversarial_examples(method, model, x, y, eps, steps=steps, fast_step=fast_step, clip_start=clip_start,
                                     generator=generator)
    model.train()
    if method == "standard":
        clean = F.cross_entropy(model(x), y)
        loss, adv = clean, clean
    elif method == "fgsm":
        logits = model(torch.cat([x, x_adv]))  # one forward pass for both halves
        clean, adv = F.cross_entropy(logits[: len(x)], y), F.cross_entropy(logits[len(x):], y)
        loss = clean_weight * clean + (1 - clean_weight) * adv
    elif method == "trades":
        logits = model(torch.cat([x, x_adv]))
        loss = trades_loss(logits[: len(x)], logits[len(x):], y, beta)
        clean, adv = F.cross_entropy(logits[: len(x)], y), F.cross_entropy(logits[len(x):], y)
    elif method == "pool":
        x_pool, y_pool = x_pool.to(device), y_pool.to(device)
        clean, adv = F.cross_entropy(model(x), y), F.cross_entropy(head(x_pool), y_pool)
        loss = (len(x) * clean + len(x_pool) * adv) / (len(x) + len(x_pool))
    else:  # pgd, fast_fgsm: train on the adversarial batch only
        adv = loss = F.cross_entropy(model(x_adv), y)
        with torch.no_grad():  # for the progress bar only
            clean = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": float(loss.detach()), "clean_loss": float(clean.detach()), "adv_loss": float(adv.detach())}


# --------------------------------------------------------------------------- the loop


def validate(model: nn.Module, val: tuple[torch.Tensor, torch.Tensor], eps: float, *, steps: int = 10,
             seed: int = 0, clean_only: bool = False) -> dict[str, float]:
    """Clean, FGSM and PGD-``steps`` accuracy on held-out digits, as the loop measures them (lesson 05).

    PGD takes steps of 2.5·ε/steps from a random start drawn from ``seed + 1``, the same starts
    every epoch, so epochs are compared on equal terms. With ``clean_only`` the attacks are
    skipped (NaN), as for standard training, which has nothing to be robust about.
    """
    x, y = check_data(model, val, "val")
    eps = check_in_range("eps", eps, 0.0, 1.0)
    steps = check_positive_int("steps", steps)
    seed = check_positive_int("seed", seed, allow_zero=True)
    check_bool("clean_only", clean_only)
    clean = float(correct(model, x, y).float().mean())
    if clean_only:
        return {"clean": clean, "fgsm": math.nan, "pgd": math.nan}
    pgd = functools.partial(attacks.pgd, eps=eps, steps=steps, alpha=2.5 * eps / steps,
                            generator=torch.Generator().manual_seed(seed + 1))
    return {"clean": clean, "fgsm": robust_accuracy(model, (x, y), functools.partial(attacks.fgsm, eps=eps)),
            "pgd": robust_accuracy(model, (x, y), pgd)}


def adversarial_train(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    method: str = "pgd",
    eps: float = 0.3,
    epochs: int = 10,
    ramp_epochs: float = 0.0,
    steps: int = 7,
    clean_weight: float = 0.5,
    fast_step: float = 1.25,
    clip_start: bool = False,
    batch_size: int = 100,
    lr: float = 1e-3,
    schedule: str = "anneal",
    anneal: float = 0.0,
    peak: float = 0.4,
    beta: float = 6.0,
    shift: int = 0,
    ema: float = 0.0,
    pool_size: int = 1000,
    pool_refresh: float = 0.5,
    pool_layer: str | None = None,
    pool_rel_eps: float | None = None,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    val_steps: int = 10,
    val_every_epoch: bool = False,
    val_every: int = 1,
    select: str = "pgd",
    co_drop: float = 0.2,
    co_gap: float = 0.5,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> dict:
    """Train ``model`` in place with ``method``'s examples; keep the most robust epoch (lesson 05).

    Adam, its rate following ``learning_rate`` (``schedule``, ``anneal``, ``peak``); ε follows
    ``ramp``. With ``val`` the model is measured after every ``val_every``-th epoch and the last
    (``validate``: clean, FGSM and PGD-``val_steps`` at the full ε; only once ε has reached it
    unless ``val_every_epoch``) and the state with the best ``select`` accuracy is restored at
    the end (for ``"standard"``: the best clean accuracy, and only that is measured). With
    ``ema`` the weights' moving average is what is measured, kept and returned.

    Args:
        model: classifier taking (N, C, H, W) images in [0, 1]; trained in place on its device.
        data: ``(x, y)`` training images in [0, 1] and int64 labels; never written to.
        method: one of ``METHODS`` (see the module docstring).
        eps: final L∞ training budget in [0, 1].
        epochs: passes over ``data``.
        ramp_epochs: epochs over which ε grows from 0 (``ramp``).
        steps: PGD steps per training example for ``"pgd"`` (and for the pool's examples).
        clean_weight: α of Goodfellow's ``"fgsm"`` loss.
        fast_step, clip_start: the ``"fast_fgsm"`` step as a multiple of ε (Wong et al.: 1.25);
            clip its random start into [0, 1] first (``adversarial_examples``).
        batch_size: clean examples per step.
        lr, schedule, anneal, peak: Adam's largest learning rate and its schedule (``learning_rate``).
        beta: TRADES's weight of the KL term (``"trades"``).
        shift: each batch's digits move by up to this many pixels (``remedies.random_shift``).
        ema: decay of the weights' moving average (``remedies.average_weights``); 0: none.
        pool_size: examples in Szegedy's pool (``"pool"``).
        pool_refresh: share of the pool regenerated against the current model each epoch.
        pool_layer, pool_rel_eps: with ``pool_rel_eps``, the pool holds ``pools.layer_examples``
            of the output of ``pool_layer`` (``None``: the input) at that relative L2 radius,
            instead of L∞ PGD examples at ``eps``.
        val: ``(x_val, y_val)`` held-out digits to pick the epoch with (never the test set).
        val_steps: PGD steps (α = 2.5·ε/steps, random start) of the validation attack.
        val_every_epoch: also measure while ε is still ramping up.
        val_every: measure every this many epochs (and after the last).
        select: the validation number that picks the epoch: ``"pgd"`` (robust accuracy, the
            default), ``"fgsm"`` (Goodfellow et al. early-stopped on FGSM error) or ``"clean"``.
        co_drop, co_gap: the thresholds of ``catastrophic_overfitting``; a warning is issued
            when it fires.
        seed: seeds the shuffling and the attacks' random starts.
        progress: ``tqdm`` bar with live clean/adversarial loss and validation accuracy.
        desc: the bar's label (default: the method).

    Returns:
        A history dict: per epoch ``eps``, ``clean_loss``, ``adv_loss``, ``val_clean``,
        ``val_fgsm``, ``val_pgd`` (NaN when not measured), ``seconds``; and ``best_epoch``,
        ``catastrophic_epoch`` (or ``None``), ``train_seconds``, ``cpu_seconds``.
    """
    x, y = check_pair(data)
    y = check_labels(y, len(x), "data[1]", num_classes=check_model_input(model, x, "data[0]"))
    check_choice("method", method, METHODS)
    eps = check_in_range("eps", eps, 0.0, 1.0)
    epochs = check_positive_int("epochs", epochs)
    ramp_epochs = check_in_range("ramp_epochs", ramp_epochs, 0.0, epochs)
    steps = check_positive_int("steps", steps)
    check_in_range("clean_weight", clean_weight, 0.0, 1.0)
    check_in_range("fast_step", fast_step, 1e-6, 2.0)
    check_bool("clip_start", clip_start)
    batch_size = check_positive_int("batch_size", batch_size)
    learning_rate(0, 1, lr, schedule=schedule, anneal=anneal, peak=peak)  # validates the schedule's arguments
    check_in_range("beta", beta, 0.0, 1e3)
    shift = check_positive_int("shift", shift, allow_zero=True)
    ema = check_in_range("ema", ema, 0.0, 1.0 - 1e-9)
    pool_size = check_positive_int("pool_size", pool_size)
    pool_refresh = check_in_range("pool_refresh", pool_refresh, 0.0, 1.0)
    if pool_rel_eps is not None:
        check_in_range("pool_rel_eps", pool_rel_eps, 0.0, 1.0)
    if pool_layer is not None:
        split_model(model, pool_layer, name="pool_layer")  # a clear error now rather than after the first epoch
        if pool_rel_eps is None:
            raise ValueError(f"pool_layer={pool_layer!r} needs pool_rel_eps: a layer's outputs have no [0, 1] box "
                             "for an L∞ budget, so its examples take a radius relative to their size")
    if val is not None:
        val = check_pair(val, "val")
    val_steps = check_positive_int("val_steps", val_steps)
    check_bool("val_every_epoch", val_every_epoch)
    val_every = check_positive_int("val_every", val_every)
    select = check_choice("select", select, ("pgd", "fgsm", "clean"))
    check_in_range("co_drop", co_drop, 0.0, 1.0)
    check_in_range("co_gap", co_gap, 0.0, 1.0)
    seed = check_positive_int("seed", seed, allow_zero=True)

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_batches = math.ceil(len(x) / batch_size)
    total_steps = epochs * n_batches
    history: dict = {k: [] for k in ("eps", "clean_loss", "adv_loss", "val_clean", "val_fgsm", "val_pgd", "seconds")}
    best_state, best_score, best_epoch = None, -math.inf, None
    pool = (torch.empty(0, *x.shape[1:]), torch.empty(0, dtype=torch.long))
    average = copy.deepcopy(model) if ema else None
    wall0, cpu0 = time.perf_counter(), time.process_time()

    bar = progress_bar(range(epochs), enabled=progress, desc=desc or method, unit="epoch")
    for epoch in bar:
        start = time.perf_counter()
        if method == "pool" and epoch > 0:  # epoch 0 trains on clean digits: nothing to attack yet
            pool = refresh_pool(pool, model, x, y, ramp(epoch, eps, ramp_epochs), size=pool_size, refresh=pool_refresh,
                                steps=steps, generator=gen, rel_eps=pool_rel_eps, layer=pool_layer)
        order = torch.randperm(len(x), generator=gen)
        sums = {"clean_loss": 0.0, "adv_loss": 0.0}
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            step = epoch * n_batches + b
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, total_steps, lr, schedule=schedule, anneal=anneal, peak=peak)
            step_method, pool_batch = method, None
            if method == "pool" and len(pool[0]):
                pick = torch.randint(len(pool[0]), (len(idx),), generator=gen)
                pool_batch = (pool[0][pick], pool[1][pick])
            elif method == "pool":
                step_method = "standard"
            e = ramp(epoch + b / n_batches, eps, ramp_epochs)
            xb = random_shift(x[idx], shift, generator=gen) if shift else x[idx]
            losses = training_step(model, opt, xb, y[idx], method=step_method, eps=e, steps=steps,
                                   clean_weight=clean_weight, fast_step=fast_step, clip_start=clip_start, beta=beta,
                                   pool=pool_batch,
                                   pool_layer=pool_layer, generator=gen)
            if average is not None:  # a short memory at first, so the average soon forgets the initial weights
                average_weights(average, model, min(ema, (1 + step) / (10 + step)))
            for k in sums:
                sums[k] += losses[k] * len(idx)
        model.eval()
        judge = model if average is None else average.eval()
        history["eps"].append(ramp(epoch + 1, eps, ramp_epochs))
        history["clean_loss"].append(sums["clean_loss"] / len(x))
        history["adv_loss"].append(sums["adv_loss"] / len(x))
        measured = (val is not None and (val_every_epoch or epoch + 1 >= ramp_epochs)
                    and ((epoch + 1) % val_every == 0 or epoch + 1 == epochs))
        row = (validate(judge, val, eps, steps=val_steps, seed=seed, clean_only=method == "standard") if measured
               else {"clean": math.nan, "fgsm": math.nan, "pgd": math.nan})
        score = row["clean" if method == "standard" else select]
        if measured and score >= best_score:  # ties: the later epoch, which has seen more data
            best_score, best_epoch, best_state = score, epoch, copy.deepcopy(judge.state_dict())
        for k in ("clean", "fgsm", "pgd"):
            history[f"val_{k}"].append(row[k])
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix({"ε": f"{history['eps'][-1]:.2f}", "clean": f"{history['clean_loss'][-1]:.3f}",
                         "adv": f"{history['adv_loss'][-1]:.3f}",
                         **({"val_clean": f"{row['clean']:.2f}", "val_pgd": f"{row['pgd']:.2f}"} if measured else {})})

    history["catastrophic_epoch"] = (catastrophic_overfitting(history, drop=co_drop, gap=co_gap)
                                     if val is not None and method != "standard" else None)
    history["best_epoch"] = best_epoch if best_epoch is not None else epochs - 1
    if history["catastrophic_epoch"] is not None:
        _warn_catastrophic(history, method, select)
    if best_state is not None or average is not None:
        model.load_state_dict(best_state if best_state is not None else average.state_dict())
    history["train_seconds"] = time.perf_counter() - wall0
    history["cpu_seconds"] = time.process_time() - cpu0
    model.eval()
    return history


def _warn_catastrophic(history: dict, method: str, select: str) -> None:
    e = history["catastrophic_epoch"]  # 0-based
    warnings.warn(
        f"catastrophic overfitting in epoch {e + 1} of {method} training: on the held-out digits PGD accuracy "
        f"was {history['val_pgd'][e]:.0%} while FGSM accuracy was {history['val_fgsm'][e]:.0%} — the model "
        f"resists the single step it trains on, not the attack; keeping epoch {history['best_epoch'] + 1} "
        f"(best held-out {select} accuracy)", RuntimeWarning, stacklevel=3)


def catastrophic_overfitting(history: Mapping[str, Sequence[float]], *, drop: float = 0.2, gap: float = 0.5) -> int | None:
    """The first epoch showing catastrophic overfitting on held-out digits, or ``None`` (lesson 05).

    Wong et al. (2020) saw FGSM-trained networks suddenly lose their robustness to PGD within
    an epoch, while their accuracy under FGSM itself stays high or even rises: the network
    learns to bend its loss surface so that one gradient step points nowhere useful. Two
    signs, either of which counts:

    - a **collapse**: PGD accuracy falls more than ``drop`` below its best so far;
    - a **gap**: FGSM accuracy exceeds PGD accuracy by ``gap`` or more. A model that has
      learnt to resist PGD resists the weaker FGSM about as well; a large gap means its
      "robustness" is only to the single step it was trained on.

    Args:
        history: ``adversarial_train``'s history; uses ``val_pgd`` and ``val_fgsm`` (NaN for
            epochs that were not measured).
        drop: the collapse threshold (an absolute share, in [0, 1]).
        gap: the gap threshold (an absolute share, in [0, 1]).

    Returns:
        The 0-based epoch where a sign first shows, or ``None``.
    """
    if not isinstance(history, Mapping) or "val_pgd" not in history:
        raise ValueError("history must be adversarial_train's history, with a 'val_pgd' entry (train with val=...)")
    drop = check_in_range("drop", drop, 0.0, 1.0)
    gap = check_in_range("gap", gap, 0.0, 1.0)
    fgsm_accs = history.get("val_fgsm", [math.nan] * len(history["val_pgd"]))
    best = -math.inf
    for epoch, (acc, fgsm_acc) in enumerate(zip(history["val_pgd"], fgsm_accs)):
        if acc != acc:  # NaN: not measured
            continue
        if acc < best - drop or (fgsm_acc == fgsm_acc and fgsm_acc - acc >= gap):
            return epoch
        best = max(best, acc)
    return None
