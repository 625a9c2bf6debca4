"""Training for a certificate: interval bound propagation (IBP) and Gaussian noise.

Introduced in lesson 08. A network trained only on clean digits (or even adversarially, lesson
05) is rarely *provably* robust: its interval bounds are loose and its answers under noise are
unstable. Two recipes train for the certificate itself:

- **IBP training** (Gowal et al., *On the Effectiveness of Interval Bound Propagation for
  Training Verifiably Robust Models*, 2018, arXiv 1810.12715): the loss mixes the clean
  cross-entropy and the cross-entropy of the worst-case logits from interval bounds,
  ``κ·CE(z(x), y) + (1 − κ)·CE(ẑ(x, ε), y)``. ε starts at 0 and ramps up after a warm-up while
  κ falls from 1 to ½ (``ibp_schedule``); a fixed large ε from the start leaves the network
  stuck, because the bounds of a random network are enormous.
- **Gaussian data augmentation** (Cohen, Rosenfeld & Kolter 2019): plain cross-entropy on
  ``x + N(0, σ²I)``, so the base classifier of a smoothed classifier is right under noise.

``fit`` is the one training loop (Adam, shuffled batches, a learning rate dropped ×0.1 late in
training, as in Gowal et al.'s schedule); ``ibp_loss`` and ``gaussian_loss`` are what it minimises.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .bounds import _check as _check_interval_model
from .bounds import _worst_case_logits
from .evaluation import check_data
from .utils import check_bool, check_generator, check_in_range, check_model, check_positive_int, forked_rng, get_device
from .utils import progress as progress_bar

__all__ = ["ibp_schedule", "ibp_loss", "gaussian_loss", "fit"]

Loss = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, dict]]


def ibp_schedule(epoch: float, eps: float, *, warmup: float, ramp: float, kappa_final: float = 0.5) -> tuple[float, float]:
    """(ε, κ) at a (fractional) epoch of IBP training (lesson 08).

    Gowal et al.: ε = 0 and κ = 1 during ``warmup`` epochs (plain training), then over ``ramp``
    epochs ε grows linearly to ``eps`` while κ falls linearly to ``kappa_final``; then both stay.

    Returns:
        ``(eps_now, kappa_now)``.
    """
    epoch = check_in_range("epoch", epoch, 0.0, float("inf"))
    eps = check_in_range("eps", eps, 0.0, 1.0)
    warmup = check_in_range("warmup", warmup, 0.0, float("inf"))
    ramp = check_in_range("ramp", ramp, 0.0, float("inf"))
    kappa_final = check_in_range("kappa_final", kappa_final, 0.0, 1.0)
    if epoch < warmup:
        done = 0.0
    else:
        done = 1.0 if ramp == 0 else min(1.0, (epoch - warmup) / ramp)
    return eps * done, 1.0 - (1.0 - kappa_final) * done


def ibp_loss(eps: float, *, warmup: float, ramp: float, kappa_final: float = 0.5) -> Loss:
    """Gowal et al.'s loss κ·CE(z(x), y) + (1 − κ)·CE(ẑ(x, ε), y), with (ε, κ) from ``ibp_schedule``.

    Returns:
        A loss for ``fit``: ``loss(model, x, y, epoch) -> (loss, facts)``.
    """
    ibp_schedule(0.0, eps, warmup=warmup, ramp=ramp, kappa_final=kappa_final)  # validates the arguments now

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: float) -> tuple[torch.Tensor, dict]:
        eps_now, kappa = ibp_schedule(epoch, eps, warmup=warmup, ramp=ramp, kappa_final=kappa_final)
        nominal = F.cross_entropy(model(x), y)
        if eps_now == 0:
            return nominal, {"eps": 0.0, "kappa": kappa, "nominal": float(nominal.detach()), "verified": float("nan")}
        worst = F.cross_entropy(_worst_case_logits(model, x, y, eps_now), y)  # bounds the loss of any input in the ball
        total = kappa * nominal + (1 - kappa) * worst
        return total, {"eps": eps_now, "kappa": kappa, "nominal": float(nominal.detach()), "verified": float(worst.detach())}

    loss.needs_bounds = True  # fit checks once that interval bounds go through the model
    return loss


def gaussian_loss(sigma: float, *, generator: torch.Generator | None = None) -> Loss:
    """Cohen et al.'s training: CE(f(x + δ), y) with δ ~ N(0, σ²I), fresh noise every batch (not clipped)."""
    sigma = check_in_range("sigma", sigma, 0.0, 10.0)
    check_generator(generator, cpu=True)

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: float) -> tuple[torch.Tensor, dict]:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device) * sigma
        value = F.cross_entropy(model(x + noise), y)
        return value, {"noisy": float(value.detach())}

    return loss


def fit(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], loss: Loss, *, epochs: int = 10,
        batch_size: int = 50, lr: float = 1e-3, drop_at: float = 0.8, seed: int = 0,
        device: torch.device | str | None = None, progress: bool = True, desc: str = "training") -> dict:
    """Train ``model`` in place on ``data`` by minimising ``loss`` with Adam (lesson 08).

    Args:
        model: classifier taking (N, C, H, W) images in [0, 1]; moved to ``device``.
        data: ``(x, y)``: training images in [0, 1] and int64 labels.
        loss: ``loss(model, xb, yb, epoch) -> (scalar loss, facts)``, e.g. ``ibp_loss(...)``;
            ``epoch`` is fractional (1.5 = half-way through the second epoch).
        epochs, batch_size: passes over the data and examples per step.
        lr: Adam's learning rate, divided by 10 after the ``drop_at`` share of the steps.
        seed: seeds the shuffling and torch's global generator inside (restored afterwards).
        device: where to train (default ``get_device()``).
        progress: show a progress bar over epochs.
        desc: the bar's label.

    Returns:
        ``{"epoch_facts": [...], "seconds": wall time}``: per epoch the mean of each fact the
        loss reported (e.g. ε, κ, nominal and verified cross-entropy) over the steps that
        measured it (a fact reported as NaN, like the verified loss at ε = 0, is left out).
    """
    x, y = check_data(check_model(model), data)
    if not callable(loss) or isinstance(loss, nn.Module):
        raise TypeError(f"loss must be a function loss(model, x, y, epoch) -> (loss, facts) such as "
                        f"ibp_loss(...) or gaussian_loss(...), got {type(loss).__name__}")
    if getattr(loss, "needs_bounds", False):  # IBP: the model must be one interval bounds go through
        _check_interval_model(model, x[:1], 0.0)
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    lr = check_in_range("lr", lr, 1e-8, 10.0)
    drop_at = check_in_range("drop_at", drop_at, 0.0, 1.0)
    seed = check_positive_int("seed", seed, allow_zero=True)
    check_bool("progress", progress)
    device = get_device(device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(x) // batch_size)
    total, step, start, history = epochs * steps_per_epoch, 0, time.perf_counter(), []
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with forked_rng(device):
        torch.manual_seed(seed)
        for epoch in progress_bar(range(epochs), enabled=progress, desc=desc, unit="epoch"):
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = order[i : i + batch_size]
                for group in opt.param_groups:
                    group["lr"] = lr if step < drop_at * total else lr / 10
                value, facts = loss(model, x[idx].to(device), y[idx].to(device), step / steps_per_epoch)
                opt.zero_grad(set_to_none=True)
                value.backward()
                opt.step()
                step += 1
                for k, v in facts.items():
                    if v == v:  # a fact that was not measured this step (NaN) does not count
                        sums[k], counts[k] = sums.get(k, 0.0) + v, counts.get(k, 0) + 1
            history.append({k: sums[k] / counts[k] for k in sums} | {"epoch": epoch + 1})
    model.eval()
    return {"epoch_facts": history, "seconds": time.perf_counter() - start}
