"""Randomized smoothing: a classifier with a certified L2 radius, from any base classifier and Gaussian noise.

Introduced in lesson 08. Cohen, Rosenfeld & Kolter, *Certified Adversarial Robustness via
Randomized Smoothing*, ICML 2019 (arXiv 1902.02918). The *smoothed* classifier g answers the
class the base classifier f gives most often to ``x + δ``, δ ~ N(0, σ²I). If that class has
probability at least p_A > ½, then g gives the same answer to every input within

    R = σ · Φ⁻¹(p_A)        (L2 norm; Φ⁻¹ is the standard normal quantile)

of x (their Theorem 1). p_A is not known exactly, so ``certify`` estimates a lower bound on it
from n noisy samples (a one-sided Clopper–Pearson interval), which holds with probability
1 − α; when the bound is not above ½ it abstains. ``smoothed_predict`` only names g(x), with
a binomial test, and abstains on close calls. Both follow the paper's pseudocode (PREDICT and
CERTIFY). The base classifier should be trained on noisy images (``certified_training``): one
trained only on clean digits is rarely right under noise, and then g abstains or errs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.stats import beta, binomtest, norm
from torch import nn

from .attacks.common import check_attack
from .utils import (
    check_bool,
    check_generator,
    check_images,
    check_in_range,
    check_labels,
    check_model_input,
    check_positive_int,
    eval_mode,
    model_device,
)
from .utils import progress as progress_bar

__all__ = ["ABSTAIN", "lower_confidence_bound", "radius", "sample_counts", "smoothed_predict", "certify",
           "Certificates", "certify_all", "smoothed_attack"]

ABSTAIN = -1  # what predict and certify answer when they will not commit to a class
_MAX_SIGMA = 10.0  # noise ten times the pixel range: anything above is a mistake


def lower_confidence_bound(k: int, n: int, alpha: float) -> float:
    """A (1 − α) lower confidence bound on a probability from ``k`` successes in ``n`` trials.

    One-sided Clopper–Pearson: the α quantile of Beta(k, n − k + 1) (0 when k = 0). It is
    exact (never too optimistic), unlike the normal approximation, which matters when p is
    near 1 — exactly where the large radii are.
    """
    n = check_positive_int("n", n)
    k = check_positive_int("k", k, allow_zero=True)
    if k > n:
        raise ValueError(f"k must be at most n = {n}, got {k}")
    alpha = check_in_range("alpha", alpha, 1e-12, 0.5)
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def radius(p_lower: float, sigma: float) -> float:
    """Cohen et al.'s certified L2 radius σ·Φ⁻¹(p) for a lower bound ``p`` > ½ on the top class (else 0)."""
    p_lower = check_in_range("p_lower", p_lower, 0.0, 1.0)
    sigma = check_in_range("sigma", sigma, 0.0, _MAX_SIGMA)
    return sigma * float(norm.ppf(p_lower)) if p_lower > 0.5 else 0.0


def _check_one(model: nn.Module, x: torch.Tensor, sigma: float) -> tuple[int, float]:
    check_images(x, "x")
    if x.shape[0] != 1:
        raise ValueError(f"x must be one image of shape (1, C, H, W), got {tuple(x.shape)}")
    return check_model_input(model, x), check_in_range("sigma", sigma, 1e-6, _MAX_SIGMA)


@torch.no_grad()
def _counts(model: nn.Module, x: torch.Tensor, sigma: float, num: int, batch_size: int, num_classes: int,
            generator: torch.Generator | None) -> torch.Tensor:
    device = model_device(model, x)
    counts = torch.zeros(num_classes, dtype=torch.long)
    with eval_mode(model):
        for start in range(0, num, batch_size):
            m = min(batch_size, num - start)
            # Noise drawn on the CPU from the caller's generator: the same seed gives the same
            # samples on any device. Noisy images are not clipped to [0, 1] (as in the paper).
            noise = torch.randn((m, *x.shape[1:]), generator=generator, dtype=x.dtype) * sigma
            pred = model(x.to(device) + noise.to(device)).argmax(1).cpu()
            counts += torch.bincount(pred, minlength=num_classes)
    return counts


def sample_counts(model: nn.Module, x: torch.Tensor, sigma: float, num: int, *, batch_size: int = 1000,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """How often the base classifier gives each class to ``num`` noisy copies ``x + N(0, σ²I)``.

    Args:
        model: the base classifier f (logits (N, K) for images (N, C, H, W)).
        x: one image (1, C, H, W) in [0, 1].
        sigma: noise standard deviation (pixel units; 0.25 is a quarter of the pixel range).
        num: number of noisy copies.
        batch_size: copies per forward pass (bounds memory).
        generator: CPU ``torch.Generator`` for the noise (reproducible counts).

    Returns:
        Counts (K,) int64 on the CPU, summing to ``num``.
    """
    num_classes, sigma = _check_one(model, x, sigma)
    num = check_positive_int("num", num)
    batch_size = check_positive_int("batch_size", batch_size)
    return _counts(model, x, sigma, num, batch_size, num_classes, check_generator(generator, cpu=True))


def smoothed_predict(model: nn.Module, x: torch.Tensor, sigma: float, *, n: int = 1000, alpha: float = 0.001,
                     batch_size: int = 1000, generator: torch.Generator | None = None) -> int:
    """PREDICT (Cohen et al.): g(x), or ``ABSTAIN`` when the two top classes are too close to call.

    The top class is returned only if a two-sided binomial test rejects "the top two are equally
    likely" at level ``alpha``; then it equals g(x) with probability at least 1 − α.
    """
    num_classes, sigma = _check_one(model, x, sigma)
    n = check_positive_int("n", n)
    alpha = check_in_range("alpha", alpha, 1e-12, 0.5)
    counts = _counts(model, x, sigma, n, check_positive_int("batch_size", batch_size), num_classes,
                     check_generator(generator, cpu=True))
    top2 = counts.topk(2)
    n_a, n_b = int(top2.values[0]), int(top2.values[1])
    if binomtest(n_a, n_a + n_b, 0.5).pvalue > alpha:
        return ABSTAIN
    return int(top2.indices[0])


def certify(model: nn.Module, x: torch.Tensor, sigma: float, *, n0: int = 100, n: int = 1000, alpha: float = 0.001,
            batch_size: int = 1000, generator: torch.Generator | None = None) -> tuple[int, float]:
    """CERTIFY (Cohen et al.): the class g gives ``x`` and an L2 radius within which g cannot change.

    ``n0`` samples pick the likely top class ĉ_A; ``n`` *fresh* samples estimate its probability
    (re-using the first ones would bias the estimate upwards); the Clopper–Pearson lower bound
    p_A at level ``alpha`` gives the radius σ·Φ⁻¹(p_A). With ``n`` samples p_A ≤ α^(1/n), so the
    largest radius one can certify is σ·Φ⁻¹(α^(1/n)): about 2.5σ for n = 1,000, α = 0.001.

    Args:
        model: the base classifier f.
        x: one image (1, C, H, W) in [0, 1].
        sigma: the noise level g was defined with.
        n0, n: samples for selection and for estimation (the paper: 100 and 100,000).
        alpha: failure probability (the paper: 0.001).
        batch_size: noisy copies per forward pass.
        generator: CPU ``torch.Generator`` for the noise.

    Returns:
        ``(class, radius)``, or ``(ABSTAIN, 0.0)``. With probability ≥ 1 − α over the noise,
        a returned class is g(x) and g is constant on the L2 ball of that radius.
    """
    num_classes, sigma = _check_one(model, x, sigma)
    n0, n, alpha, batch_size = _check_sampling(n0, n, alpha, batch_size)
    return _certify(model, x, sigma, n0, n, alpha, batch_size, num_classes, check_generator(generator, cpu=True))


def _check_sampling(n0: int, n: int, alpha: float, batch_size: int) -> tuple[int, int, float, int]:
    return (check_positive_int("n0", n0), check_positive_int("n", n), check_in_range("alpha", alpha, 1e-12, 0.5),
            check_positive_int("batch_size", batch_size))


def _certify(model: nn.Module, x: torch.Tensor, sigma: float, n0: int, n: int, alpha: float, batch_size: int,
             num_classes: int, generator: torch.Generator | None) -> tuple[int, float]:
    """``certify`` after its checks."""
    guess = int(_counts(model, x, sigma, n0, batch_size, num_classes, generator).argmax())
    n_a = int(_counts(model, x, sigma, n, batch_size, num_classes, generator)[guess])
    p_lower = lower_confidence_bound(n_a, n, alpha)
    if p_lower <= 0.5:
        return ABSTAIN, 0.0
    return guess, radius(p_lower, sigma)


@dataclass
class Certificates:
    """``certify`` run on a batch: per image the class (``ABSTAIN`` = −1) and the certified L2 radius.

    Attributes:
        prediction: (N,) int64, the smoothed classifier's answer or −1.
        radius: (N,) float, 0 where it abstained.
        labels: (N,) int64, the true classes.
        sigma, n0, n, alpha: the settings used.
        seconds: wall time of the whole batch.
    """

    prediction: torch.Tensor
    radius: torch.Tensor
    labels: torch.Tensor
    sigma: float
    n0: int
    n: int
    alpha: float
    seconds: float

    def certified(self, r: float) -> torch.Tensor:
        """Per image (N,) bool: right *and* certified at L2 radius ≥ ``r`` (r = 0: right, not abstaining)."""
        return (self.prediction == self.labels) & (self.radius >= r)

    def accuracy(self, r: float) -> float:
        """Certified accuracy at radius ``r``: the share of images right with a radius of at least ``r``."""
        return float(self.certified(r).float().mean())


def certify_all(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float, *, n0: int = 100, n: int = 1000,
                alpha: float = 0.001, batch_size: int = 1000, seed: int = 0, progress: bool = True) -> Certificates:
    """``certify`` every image of ``x`` (N, C, H, W) with labels ``y`` (N,); a progress bar over images.

    Image i draws its noise from ``torch.Generator().manual_seed(seed + i)``, so any one
    certificate can be reproduced alone with ``certify(..., generator=...)``.
    """
    num_classes = check_model_input(model, x)
    y = check_labels(y, x.shape[0], "y", num_classes=num_classes)
    sigma = check_in_range("sigma", sigma, 1e-6, _MAX_SIGMA)
    n0, n, alpha, batch_size = _check_sampling(n0, n, alpha, batch_size)
    check_bool("progress", progress)
    seed = check_positive_int("seed", seed, allow_zero=True)
    start = time.perf_counter()
    pred, rad = torch.empty(len(x), dtype=torch.long), torch.empty(len(x), dtype=torch.float64)
    for i in progress_bar(range(len(x)), enabled=progress, desc=f"certifying, σ = {sigma:g}", unit="digit"):
        pred[i], rad[i] = _certify(model, x[i : i + 1], sigma, n0, n, alpha, batch_size, num_classes,
                                   torch.Generator().manual_seed(seed + i))
    return Certificates(pred, rad, y.cpu(), sigma, n0, n, alpha, time.perf_counter() - start)


def smoothed_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, sigma: float, steps: int = 20,
                    samples: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """L2 PGD against the smoothed classifier: push down its average probability of the true class.

    Salman et al., *Provably Robust Deep Learning via Adversarially Trained Smoothed Classifiers*,
    NeurIPS 2019 (arXiv 1906.04584): g's hard vote has no gradient, so attack its soft version,
    the mean of softmax(f(x' + δ)) over ``samples`` fresh noise draws per step. Distance: L2.

    Args:
        model: the base classifier f.
        x: images (N, C, H, W) in [0, 1].
        y: true labels (N,).
        eps: L2 budget (per image), in [0, √(C·H·W)].
        sigma: the smoothing noise level.
        steps: gradient steps of size 2·eps/steps, each normalised, then projected on the ball.
        samples: noise draws per step (more: a less noisy gradient, slower).
        generator: CPU ``torch.Generator`` for the noise.

    Returns:
        Adversarial images like ``x``: detached, in [0, 1], within ``eps`` (L2) of ``x``.
        Judge them with ``smoothed_predict`` (the smoothed classifier), not with f.
    """
    y, eps, _ = check_attack(model, x, y, eps=eps, norm="l2")
    sigma = check_in_range("sigma", sigma, 1e-6, _MAX_SIGMA)
    steps, samples = check_positive_int("steps", steps), check_positive_int("samples", samples)
    generator = check_generator(generator, cpu=True)
    if eps == 0:
        return x.detach().clone()
    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    x_adv, step = x0.clone(), 2.0 * eps / steps
    per_image = (-1, *[1] * (x.dim() - 1))
    with eval_mode(model):
        for _ in range(steps):
            x_adv.requires_grad_(True)
            copies = x_adv.repeat_interleave(samples, 0)
            noise = torch.randn(copies.shape, generator=generator, dtype=x.dtype).to(device) * sigma
            probs = F.softmax(model(copies + noise), 1).view(len(x0), samples, -1).mean(1)
            loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
            grad = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(per_image)
            delta = x_adv.detach() + step * grad - x0
            delta = delta * (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0).view(per_image)
            x_adv = (x0 + delta).clamp(0, 1)
    return x_adv.detach().to(x.device)
