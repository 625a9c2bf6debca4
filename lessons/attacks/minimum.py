"""Minimum distortion: the smallest change that fools a model, measured (lesson 01).

``smallest_eps`` finds, by bisection, the smallest budget at which a budget attack (``fgsm``,
``pgd``) succeeds; ``measure`` reports success and RMS / L2 / L∞ distortion of any set of
adversarial images; ``minimum_distortion`` runs one of the attacks and measures it —
Szegedy et al.'s Table 1 in one call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..utils import (
    check_bool,
    check_choice,
    check_in_range,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)
from ..utils import progress as progress_bar
from .common import check_attack, check_attack_output, reached
from .cw import cw_l2
from .gradient import fgsm, pgd
from .lbfgs import lbfgs

__all__ = ["smallest_eps", "Distortion", "measure", "minimum_distortion"]


def smallest_eps(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    attack=fgsm,
    eps_max: float = 1.0,
    search_steps: int = 10,
    targeted: bool = False,
    progress: bool = True,
    **attack_kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the smallest budget ε at which an ε-bounded attack reaches the goal.

    Bisection on ε in [0, ``eps_max``]: each step halves every image's interval, keeping
    the upper end a success. Images whose current ε agree are attacked together, so each
    step is a few batched calls of ``attack(model, x, y, eps, targeted=..., **attack_kwargs)``.
    An attack's success need not be monotone in ε (FGSM's rarely is not), so the result is
    *a* boundary: the attack succeeds at the returned ε and failed a hair below it.

    Introduced in lesson 01 ("the smallest ε that flips this digit").

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1].
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        attack: an attack with the signature of ``fgsm``/``pgd`` (default ``fgsm``).
        eps_max: the largest budget tried (> 0; for ``norm="l2"`` it may exceed 1).
        search_steps: bisection steps (≥ 1); the answer is within ``eps_max / 2**search_steps``.
        targeted: reach class ``y`` instead of leaving it.
        progress: show a ``tqdm`` bar over the bisection steps.
        **attack_kwargs: passed on, e.g. ``steps=20, generator=g`` for ``pgd``.

    Returns:
        ``(eps, x_adv)``: eps (N,) float on ``x``'s device — 0 where the goal is already met
        and ``inf`` where even ``eps_max`` fails — and the adversarial images at that ε (at
        ``eps_max`` where it failed).

    Example:
        >>> eps, x_adv = attacks.smallest_eps(model, x, y, attack=attacks.fgsm, eps_max=0.5)
    """
    y, _, _ = check_attack(model, x, y, targeted=targeted)
    check_bool("progress", progress)
    if not callable(attack):
        raise TypeError(f"attack must be an attack function such as attacks.fgsm, got {type(attack).__name__}")
    eps_max = check_in_range("eps_max", eps_max, 1e-12, math.sqrt(x[0].numel()))
    search_steps = check_positive_int("search_steps", search_steps)

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    with eval_mode(model):
        already = reached(model, x0, y, targeted)
        best = check_attack_output(attack(model, x0, y, eps_max, targeted=targeted, **attack_kwargs), x0)
        hit = reached(model, best, y, targeted) & ~already
        best[already] = x0[already]
        lo = torch.zeros(len(x0), dtype=torch.float64)
        hi = torch.full_like(lo, eps_max)
        eps = torch.where(hit.cpu(), hi, math.inf)
        eps[already.cpu()] = 0.0
        search = hit.cpu().nonzero().flatten()
        bar = progress_bar(total=search_steps, enabled=progress, leave=False,
                           desc=f"smallest ε for {getattr(attack, '__name__', 'attack')}")
        for _ in range(search_steps if len(search) else 0):
            mid = (lo[search] + hi[search]) / 2
            for value in mid.unique().tolist():  # dyadic midpoints: few distinct values
                rows = search[mid == value]
                adv = check_attack_output(attack(model, x0[rows], y[rows], value, targeted=targeted, **attack_kwargs),
                                          x0[rows])
                ok = reached(model, adv, y[rows], targeted).cpu()
                hi[rows[ok]] = value
                lo[rows[~ok]] = value
                best[rows[ok].to(device)] = adv[ok.to(device)]
            bar.update(1)
        bar.close()
        eps[search] = hi[search]
    return eps.to(device=x.device, dtype=x.dtype), best.to(x.device)


@dataclass(frozen=True)
class Distortion:
    """How far adversarial images are from the originals, per image (lesson 01).

    Attributes:
        x_adv: the adversarial images (N, C, H, W) in [0, 1].
        success: (N,) bool — did the image reach the goal (target hit / label changed)?
        rms: (N,) √(Σ(x′ − x)² / n) over the n = C·H·W pixel values: Szegedy et al.'s
            "average pixel-level distortion" (Table 1).
        l2: (N,) ‖x′ − x‖₂.
        linf: (N,) ‖x′ − x‖∞, the largest change of any pixel.
        eps: (N,) the smallest budget found (``smallest_eps``), else ``None``.
    """

    x_adv: torch.Tensor
    success: torch.Tensor
    rms: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    eps: torch.Tensor | None = None

    @property
    def success_rate(self) -> float:
        """Share of images that reached the goal, in [0, 1]."""
        return float(self.success.float().mean())

    def mean(self, what: str = "rms") -> float:
        """Average ``"rms"``, ``"l2"``, ``"linf"`` or ``"eps"`` over the successful images
        (NaN if none succeeded): failed images have no minimum distortion to average."""
        check_choice("what", what, ("rms", "l2", "linf", "eps"))
        values = getattr(self, what)
        if values is None:
            raise ValueError("eps is only known for budget attacks (smallest_eps: 'fgsm', 'pgd')")
        ok = self.success.to(values.device)
        return float(values[ok].double().mean()) if bool(ok.any()) else math.nan


def measure(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *, targeted: bool = False,
            eps: torch.Tensor | None = None) -> Distortion:
    """Success and RMS / L2 / L∞ distortion of adversarial images ``x_adv`` of ``x`` (lesson 01).

    Args:
        model: the classifier that was attacked (evaluated in eval mode, left as it was).
        x, x_adv: originals and adversarial images (N, C, H, W) in [0, 1], same shape.
        y: (N,) the true labels (untargeted) or the targets (``targeted``).
        targeted: success means "predicted as y" instead of "not predicted as y".
        eps: optional per-image budgets to keep alongside (see ``smallest_eps``).

    Returns:
        A ``Distortion`` with tensors on ``x``'s device.
    """
    y, _, _ = check_attack(model, x, y, targeted=targeted)
    check_model_input(model, x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    if eps is not None and (not isinstance(eps, torch.Tensor) or eps.shape != (x.shape[0],)):
        raise TypeError(f"eps must be None or a tensor of per-image budgets of shape ({x.shape[0]},), "
                        f"got {type(eps).__name__} {tuple(getattr(eps, 'shape', ()))}")
    device = model_device(model, x)
    with eval_mode(model):
        success = reached(model, x_adv.detach().to(device), y.to(device), targeted).to(x.device)
    r = (x_adv.detach() - x.detach()).flatten(1)
    return Distortion(x_adv=x_adv.detach(), success=success, rms=r.pow(2).mean(1).sqrt(), l2=r.norm(dim=1),
                      linf=r.abs().amax(1), eps=eps)


_MIN_DISTORTION_ATTACKS = ("lbfgs", "cw", "fgsm", "pgd")


def minimum_distortion(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    attack: str = "lbfgs",
    targeted: bool = False,
    progress: bool = True,
    **kwargs,
) -> Distortion:
    """Run a minimum-distortion attack and measure it: Szegedy's Table 1 in one call (lesson 01).

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1].
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        attack: ``"lbfgs"`` (Szegedy et al.), ``"cw"`` (Carlini–Wagner L2), or ``"fgsm"`` /
            ``"pgd"``: the smallest budget ε that works, found by bisection (``smallest_eps``).
        targeted: reach class ``y`` instead of leaving it.
        progress: show progress bars.
        **kwargs: passed to the attack (``search_steps=``, ``max_iter=``, ``kappa=``,
            ``eps_max=``, ``steps=``, ``generator=`` ...).

    Returns:
        A ``Distortion``: per-image adversarial images, success, RMS, L2 and L∞ (and ε for
        the budget attacks). ``result.mean("rms")`` is Table 1's "av. min. distortion".

    Example:
        >>> d = attacks.minimum_distortion(model, x, y, attack="lbfgs")
        >>> d.success_rate, d.mean("rms")
    """
    check_choice("attack", attack, _MIN_DISTORTION_ATTACKS)
    check_bool("progress", progress)
    if attack in ("fgsm", "pgd"):
        eps, x_adv = smallest_eps(model, x, y, attack=fgsm if attack == "fgsm" else pgd, targeted=targeted,
                                  progress=progress, **kwargs)
        return measure(model, x, x_adv, y, targeted=targeted, eps=eps)
    run = lbfgs if attack == "lbfgs" else cw_l2
    x_adv = run(model, x, y, targeted=targeted, progress=progress, **kwargs)
    return measure(model, x, x_adv, y, targeted=targeted)
