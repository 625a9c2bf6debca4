"""Adversarial attacks on images in pixel space [0, 1].

Every attack has the signature ``attack(model, x, y, eps, *, ...)`` and returns the
*adversarial image* (never the perturbation), detached, inside the ε-ball around ``x`` and
inside the [0, 1] box. The caller's model keeps its mode (train/eval) and its parameters'
``.grad``; the caller's tensors are never written to. Gradients come from
``torch.autograd.grad`` with respect to the input only.

Introduced in lesson 00 (``fgsm``, ``pgd``); lesson 01 adds the minimum-distortion attacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .utils import (
    check_choice,
    check_images,
    check_in_range,
    check_labels,
    check_positive_int,
    eval_mode,
    model_device,
)

__all__ = ["fgsm", "pgd", "input_gradient", "NORMS"]

NORMS = ("linf", "l2")


def _check_common(model, x, y, eps, norm="linf"):
    if not isinstance(model, nn.Module) and not callable(model):
        raise TypeError(f"model must be a torch.nn.Module or a callable, got {type(model).__name__}")
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    check_choice("norm", norm, NORMS)
    # L∞ ε is a pixel difference; an L2 ε can exceed 1 (up to the image's diagonal).
    eps_max = 1.0 if norm == "linf" else math.sqrt(x[0].numel())
    eps = check_in_range("eps", eps, 0.0, eps_max)
    return y.to(x.device), eps



def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, targeted: bool = False) -> torch.Tensor:
    """∇ₓ of the cross-entropy loss (or minus it when ``targeted``) for a batch, in eval mode.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1].
        x: images (N, C, H, W) in [0, 1].
        y: labels (N,) int64 — the true class, or the target class when ``targeted``.
        targeted: return the gradient of −loss(y), i.e. the direction that makes ``y`` likelier.

    Returns:
        Tensor of ``x``'s shape: the direction of steepest ascent of the attack objective.
        The loss is summed over the batch, so each row is that image's own gradient.
    """
    with eval_mode(model):
        return _loss_gradient(model, x, y, targeted)


def _loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """``input_gradient`` without the mode bookkeeping, for loops that already hold eval mode.

    ``detach()`` is enough (no copy): the graph is built on a new leaf sharing ``x``'s storage,
    and nothing writes to it. On small models per-step overhead dominates PGD's time.
    """
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(-loss if targeted else loss, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, targeted: bool = False) -> torch.Tensor:
    """Fast Gradient Sign Method: one step of size ε along sign(∇ₓ loss).

    Paper: Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*,
    ICLR 2015 (arXiv 1412.6572). Distance: L∞.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation belongs inside it. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        eps: L∞ budget in [0, 1] (0.25 ≈ 64 grey levels; 2/255 is invisible on photos).
        targeted: step *down* the loss of ``y`` instead of up.

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, with
        ``|x_adv − x|∞ ≤ eps`` and values in [0, 1]. ``eps = 0`` returns an equal copy.

    Example:
        >>> x_adv = attacks.fgsm(model, x, y, eps=0.1)
    """
    y, eps = _check_common(model, x, y, eps)
    if eps == 0:
        return x.detach().clone()
    device = model_device(model, x)
    grad = input_gradient(model, x.to(device), y.to(device), targeted=targeted)
    x_adv = x.detach().to(device) + eps * grad.sign()
    return x_adv.clamp_(0, 1).to(x.device)


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (delta.dim() - 1))
    return delta * torch.clamp(eps / norms, max=1.0)


def _step(grad: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return alpha * grad.sign()
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (grad.dim() - 1))
    return alpha * grad / norms


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    # Drawn on the CPU from the caller's generator, so a seed gives the same start on any device.
    if norm == "linf":
        delta = torch.rand(x.shape, generator=generator, dtype=x.dtype).mul_(2).sub_(1).mul_(eps)
    else:  # uniform in the L2 ball: direction uniform on the sphere, radius ∝ u^(1/d)
        g = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        g /= g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
        r = torch.rand(x.shape[0], generator=generator, dtype=x.dtype) ** (1.0 / x[0].numel())
        delta = g * (eps * r).view(-1, *[1] * (x.dim() - 1))
    return delta.to(x.device)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    alpha: float | None = None,
    steps: int = 10,
    norm: str = "linf",
    targeted: bool = False,
    random_start: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected Gradient Descent: repeated gradient steps, each projected back into the ε-ball.

    Paper: Madry, Makelov, Schmidt, Tsipras & Vladu, *Towards Deep Learning Models Resistant
    to Adversarial Attacks*, ICLR 2018 (arXiv 1706.06083). Distance: L∞ or L2.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation belongs inside it. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        eps: radius of the ball: in [0, 1] for ``"linf"``; in [0, √(C·H·W)] for ``"l2"``.
        alpha: step size (default: 2.5·ε/steps, Madry et al.'s rule of thumb).
        steps: gradient steps per restart (≥ 1).
        norm: ``"linf"`` (sign steps, clamp) or ``"l2"`` (normalised steps, rescale).
        targeted: make ``y`` the predicted class instead of moving away from it.
        random_start: start from a uniform random point of the ball rather than ``x``.
        restarts: independent random starts; per image, the first that succeeds is kept,
            else the last.
        generator: CPU ``torch.Generator`` for the random starts (reproducible results).

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, within ``eps`` of
        ``x`` in the chosen norm and in [0, 1]. ``eps = 0`` returns an equal copy.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x_adv = attacks.pgd(model, x, y, eps=0.3, steps=40, alpha=0.01, generator=g)
    """
    y, eps = _check_common(model, x, y, eps, norm)
    steps = check_positive_int("steps", steps)
    restarts = check_positive_int("restarts", restarts)
    if alpha is None:
        alpha = 2.5 * eps / steps
    alpha = check_in_range("alpha", alpha, 0.0, math.inf)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if eps == 0:
        return x.detach().clone()

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    best = x0.clone()
    done = torch.zeros(len(x0), dtype=torch.bool, device=device)
    with eval_mode(model):
        for _ in range(restarts):
            delta = _random_start(x0, eps, norm, generator) if random_start else torch.zeros_like(x0)
            x_adv = (x0 + delta).clamp(0, 1)
            for _ in range(steps):
                grad = _loss_gradient(model, x_adv, y, targeted)
                delta = _project(x_adv + _step(grad, alpha, norm) - x0, eps, norm)
                x_adv = (x0 + delta).clamp_(0, 1)
            if restarts == 1:  # nothing to choose between: skip the extra forward pass
                return x_adv.to(x.device)
            with torch.no_grad():
                pred = model(x_adv).argmax(1)
            success = pred == y if targeted else pred != y
            take = ~done  # keep the first success; otherwise the latest attempt
            best[take] = x_adv[take]
            done |= success
            if bool(done.all()):
                break
    return best.to(x.device)


# --------------------------------------------------------------------------- lesson 01
# Minimum-distortion attacks: instead of a budget ε, they look for the *smallest* change
# that reaches the goal, which is how Szegedy et al. measured how close the blind spots are.

__all__ += ["lbfgs", "cw_l2", "smallest_eps", "minimum_distortion", "measure", "Distortion", "random_targets"]


def _check_min_distortion(model, x, y, targeted, progress):
    if not isinstance(model, nn.Module) and not callable(model):
        raise TypeError(f"model must be a torch.nn.Module or a callable, got {type(model).__name__}")
    check_images(x, "x")
    y = check_labels(y, x.shape[0], "y")
    if not isinstance(targeted, bool):
        raise TypeError(f"targeted must be True or False, got {targeted!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    return y


def _bar(total: int, *, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


@torch.no_grad()
def _reached(model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per image: is the attack's goal met (prediction == target, or != true label)?"""
    pred = model(x).argmax(1)
    return pred == y if targeted else pred != y


def random_targets(y: torch.Tensor, num_classes: int = 10, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random *wrong* class for each label (lesson 01), for targeted attacks.

    Args:
        y: true labels (N,) int64 in [0, num_classes).
        num_classes: number of classes K ≥ 2.
        generator: CPU ``torch.Generator`` (reproducible targets).

    Returns:
        Targets (N,) int64 on ``y``'s device with ``targets != y`` everywhere.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 to pick a wrong class, got {num_classes}")
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise TypeError(f"y must be a 1-D tensor of class indices, got {getattr(y, 'shape', type(y).__name__)!r}")
    y = check_labels(y, y.shape[0], "y", num_classes=num_classes)
    shift = torch.randint(1, num_classes, y.shape, generator=generator)  # 1..K-1: never the true class
    return (y.cpu() + shift).remainder(num_classes).to(y.device)


def _goal_loss(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per image (N,): the loss the L-BFGS attack minimises, falling as the goal gets nearer."""
    if targeted:  # Szegedy's loss_f(x + r, l): cross-entropy of the target class
        return F.cross_entropy(logits, y, reduction="none")
    # Untargeted: the log-odds of the true class, z_y − logsumexp_{j≠y} z_j. Unlike −CE, its
    # gradient does not vanish when p(y) ≈ 1, and it turns negative as p(y) drops below ½.
    others = logits.scatter(1, y[:, None], -math.inf)
    return logits.gather(1, y[:, None])[:, 0] - others.logsumexp(1)


def _box_lbfgs(fg, z0: torch.Tensor, *, max_iter: int, memory: int = 10, tol: float = 1e-6) -> torch.Tensor:
    """Minimise independent objectives, one per row of ``z0`` (R, D), inside the box [0, 1].

    A projected L-BFGS in the spirit of L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995): variables
    that the box holds against their gradient are frozen for the step, the quasi-Newton
    direction (two-loop recursion) is computed on the others, and a backtracking (Armijo)
    line search runs along the projected path. Every row keeps its own curvature history
    and step size, so one batched forward/backward pass serves all images.
    ``fg(z, rows)`` returns per-row values (r,) and gradients (r, D) for rows ``rows``.
    """
    n, d = z0.shape
    z = z0.clone()
    everyone = torch.arange(n, device=z.device)
    f, g = fg(z, everyone)
    # A ring buffer shared by all rows (slot = iteration mod memory); a row that skips an
    # update stores rho = 0 in that slot, which the two-loop recursion then ignores.
    s_hist, y_hist = z.new_zeros(memory, n, d), z.new_zeros(memory, n, d)
    rho = z.new_zeros(memory, n)
    gamma = torch.ones_like(f)  # initial inverse Hessian γ·I, γ = sᵀy / yᵀy of the last update
    active = torch.ones(n, dtype=torch.bool, device=z.device)
    halvings = 0.5 ** torch.arange(1, 13, device=z.device, dtype=z.dtype)  # backtracking steps
    for it in range(max_iter):
        pinned = ((z <= 0) & (g > 0)) | ((z >= 1) & (g < 0))  # the box stops these pixels
        q = torch.where(pinned, 0.0, g)
        alphas = []
        for j in range(memory):  # newest → oldest
            slot = (it - 1 - j) % memory
            a = rho[slot] * (s_hist[slot] * q).sum(1)
            q -= a[:, None] * y_hist[slot]
            alphas.append(a)
        q *= gamma[:, None]
        for j in reversed(range(memory)):  # oldest → newest
            slot = (it - 1 - j) % memory
            b = rho[slot] * (y_hist[slot] * q).sum(1)
            q += (alphas[j] - b)[:, None] * s_hist[slot]
        step = torch.where(pinned, 0.0, -q)
        # A stale history can point uphill: fall back to steepest descent and forget it.
        uphill = (g * step).sum(1) >= 0
        if bool(uphill.any()):
            step[uphill] = torch.where(pinned[uphill], 0.0, -g[uphill])
            rho[:, uphill], gamma[uphill] = 0, 1
        # The first step (no history yet) has unit length, as in L-BFGS-B; later ones t = 1.
        fresh = (rho == 0).all(0)
        t = torch.where(fresh, 1 / step.norm(dim=1).clamp_min(1e-12), torch.ones_like(f)).clamp(max=1e6)

        rows = active.nonzero().flatten()
        z_new, f_new, g_new = z.clone(), f.clone(), g.clone()
        cand = (z[rows] + t[rows, None] * step[rows]).clamp(0, 1)
        fc, gc = fg(cand, rows)
        ok = fc <= f[rows] + 1e-4 * (g[rows] * (cand - z[rows])).sum(1)
        z_new[rows[ok]], f_new[rows[ok]], g_new[rows[ok]] = cand[ok], fc[ok], gc[ok]
        failed = rows[~ok]
        if len(failed):
            # Backtrack for the rows that need it: all 12 halvings of t in one batched call,
            # then take the longest step that satisfies the Armijo condition.
            k = len(halvings)
            tt = (t[failed, None] * halvings).flatten()  # (F·k,)
            base, direction = z[failed].repeat_interleave(k, 0), step[failed].repeat_interleave(k, 0)
            cand = (base + tt[:, None] * direction).clamp(0, 1)
            fc, gc = fg(cand, failed.repeat_interleave(k))
            armijo = fc <= f[failed].repeat_interleave(k) + 1e-4 * (g[failed].repeat_interleave(k, 0) * (cand - base)).sum(1)
            armijo = armijo.view(-1, k)
            found = armijo.any(1)
            first = armijo.float().argmax(1) + torch.arange(len(failed), device=z.device) * k
            got, pick = failed[found], first[found]
            z_new[got], f_new[got], g_new[got] = cand[pick], fc[pick], gc[pick]
            active[failed[~found]] = False  # no step helps: converged as far as floats tell

        sv, yv = z_new - z, g_new - g
        sy = (sv * yv).sum(1)
        yy = (yv * yv).sum(1)
        keep = active & (sy > 1e-10 * yy.clamp_min(1e-30))  # the curvature condition
        slot = it % memory
        s_hist[slot], y_hist[slot] = sv, yv
        rho[slot] = torch.where(keep, 1 / sy.clamp_min(1e-30), 0.0)
        gamma = torch.where(keep, sy / yy.clamp_min(1e-30), gamma)
        progress = f - f_new
        z, f, g = z_new, f_new, g_new
        pinned = ((z <= 0) & (g > 0)) | ((z >= 1) & (g < 0))
        small = torch.where(pinned, 0.0, g).abs().amax(1) <= tol
        stuck = progress <= 1e-9 * torch.maximum(f.abs(), torch.ones_like(f))
        active &= ~(small | stuck)
        if not bool(active.any()):
            break
    return z


def _scipy_lbfgsb(fg, z0: torch.Tensor, *, max_iter: int, memory: int = 10) -> torch.Tensor:
    """The same minimisation with SciPy's L-BFGS-B, all rows as one flat vector (slow, exact)."""
    from scipy.optimize import Bounds, minimize

    rows = torch.arange(len(z0), device=z0.device)

    def value_and_grad(flat: np.ndarray) -> tuple[float, np.ndarray]:
        z = torch.from_numpy(flat).view(z0.shape).to(z0)
        f, g = fg(z, rows)
        return float(f.sum()), g.double().cpu().numpy().ravel()

    start = z0.double().cpu().numpy().ravel()
    result = minimize(value_and_grad, start, jac=True, method="L-BFGS-B",
                      bounds=Bounds(np.zeros(start.size), np.ones(start.size)),
                      options={"maxiter": max_iter, "maxcor": memory, "gtol": 0.0, "ftol": 1e-12})
    return torch.from_numpy(result.x).view(z0.shape).to(z0).clamp_(0, 1)


def lbfgs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    c: float = 1.0,
    search_steps: int = 10,
    max_iter: int = 30,
    solver: str = "torch",
    progress: bool = True,
) -> torch.Tensor:
    """Box-constrained L-BFGS: the smallest L2 change that reaches the goal (Szegedy's attack).

    For each image, minimise ``c·‖r‖² + loss(x + r)`` subject to ``x + r ∈ [0, 1]``, then
    search over ``c``: a larger ``c`` weighs distortion more, so the search looks for the
    largest ``c`` whose minimiser still reaches the goal (×10 or ÷10 until a success and a
    failure bracket it, then bisection in log-space). Per image, the successful point with
    the smallest ‖r‖ is kept. The loss is the cross-entropy of the target (``targeted``,
    Szegedy's choice) or the log-odds of the true class, log p(y)/(1 − p(y)) (untargeted).

    Introduced in lesson 01 (Szegedy et al.'s Table 1).

    Paper: Szegedy, Zaremba, Sutskever, Bruna, Erhan, Goodfellow & Fergus, *Intriguing
    properties of neural networks*, ICLR 2014 (arXiv 1312.6199), §4.1. Distance: L2. The
    paper writes ``c·|r|``; we use ``‖r‖²`` (as Carlini & Wagner do), smooth at ``r = 0``
    where L-BFGS needs a gradient; the search over ``c`` then finds the same small changes.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation belongs inside it. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        targeted: reach class ``y`` instead of leaving it (see ``random_targets``).
        c: first weight of the distortion term, in [1e-10, 1e10]; the search moves it per image.
        search_steps: values of ``c`` tried per image, one L-BFGS minimisation each (≥ 1).
        max_iter: L-BFGS iterations per minimisation (≥ 1).
        solver: ``"torch"`` (default): a batched projected L-BFGS, every image with its own
            curvature history, on the model's device. ``"scipy"``: SciPy's L-BFGS-B (Byrd,
            Lu, Nocedal & Zhu 1995, the tool Szegedy et al. used) on the whole batch as one
            flat vector — the reference, about a hundred times slower on a CPU.
        progress: show a ``tqdm`` bar over the search steps.

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, in [0, 1]. An image
        that already meets the goal comes back unchanged; one for which no ``c`` succeeded
        comes back unchanged too — check with ``measure``. Deterministic (no random start).

    Example:
        >>> x_adv = attacks.lbfgs(model, x, y)                        # any wrong class
        >>> x_adv = attacks.lbfgs(model, x, attacks.random_targets(y), targeted=True)
    """
    y = _check_min_distortion(model, x, y, targeted, progress)
    c = check_in_range("c", c, 1e-10, 1e10)
    search_steps = check_positive_int("search_steps", search_steps)
    max_iter = check_positive_int("max_iter", max_iter)
    check_choice("solver", solver, ("torch", "scipy"))

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    best = x0.clone()
    with eval_mode(model):
        todo = (~_reached(model, x0, y, targeted)).nonzero().flatten()
        if len(todo) == 0:
            return best.to(x.device)
        xa, ya = x0[todo].flatten(1), y[todo]  # (M, D), (M,)
        best_l2 = torch.full((len(todo),), math.inf, device=device)
        # float32, not float64: Apple's MPS backend has no float64 (c stays within 1e±10 anyway).
        c_now = torch.full((len(todo),), c, dtype=torch.float32, device=device)
        c_ok = torch.full_like(c_now, math.nan)    # largest c that succeeded so far
        c_fail = torch.full_like(c_now, math.nan)  # smallest c that failed so far

        def fg(z: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = z.detach().requires_grad_(True)
            with torch.enable_grad():
                loss = _goal_loss(model(z.view(-1, *x0.shape[1:])), ya[rows], targeted)
                f = weight[rows] * (z - xa[rows]).pow(2).sum(1) + loss  # (r,)
            (grad,) = torch.autograd.grad(f.sum(), z)
            return f.detach(), grad

        solve = _box_lbfgs if solver == "torch" else _scipy_lbfgsb
        bar = _bar(search_steps, enabled=progress, desc="L-BFGS: search over c")
        for _ in range(search_steps):
            weight = c_now.to(xa.dtype)  # read by fg()
            z = solve(fg, xa, max_iter=max_iter)
            ok = _reached(model, z.view(-1, *x0.shape[1:]), ya, targeted)
            l2 = (z - xa).norm(dim=1)
            better = ok & (l2 < best_l2)
            best[todo[better]] = z[better].view(-1, *x0.shape[1:])
            best_l2 = torch.where(better, l2, best_l2)
            c_ok = torch.where(ok, torch.fmax(c_ok, c_now), c_ok)
            c_fail = torch.where(ok, c_fail, torch.fmin(c_fail, c_now))
            # Next c: the geometric mean once bracketed, else a step by a factor of 10.
            bracketed = ~c_ok.isnan() & ~c_fail.isnan()
            c_now = torch.where(bracketed, (c_ok * c_fail).sqrt(), torch.where(ok, c_now * 10, c_now / 10))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(success=f"{int(best_l2.isfinite().sum())}/{len(todo)}")
        if bar is not None:
            bar.close()
    return best.to(x.device)


def _margin(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per image (N,): how far past the decision boundary the goal is (> 0: reached)."""
    own = logits.gather(1, y[:, None])[:, 0]
    best_other = logits.scatter(1, y[:, None], -math.inf).amax(1)
    return own - best_other if targeted else best_other - own


def cw_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    kappa: float = 0.0,
    c: float = 1.0,
    search_steps: int = 6,
    steps: int = 100,
    lr: float = 0.1,
    progress: bool = True,
) -> torch.Tensor:
    """Carlini–Wagner L2: the smallest L2 change that reaches the goal with margin κ.

    The box is removed by a change of variables, ``x' = (tanh(w) + 1) / 2`` (every ``w``
    gives an image in [0, 1]), and Adam minimises ``‖x' − x‖² + c·f(x')`` over ``w`` with
    ``f = max(max_{j≠t} Z_j − Z_t, −κ)`` on the logits ``Z`` (targeted; untargeted:
    ``max(Z_y − max_{j≠y} Z_j, −κ)``), their objective f6. A binary search over ``c``
    per image (×10 until a success, then bisection) keeps the smallest successful change
    seen at any step.

    Introduced in lesson 01 (the panel, and a cross-check of L-BFGS).

    Paper: Carlini & Wagner, *Towards Evaluating the Robustness of Neural Networks*,
    IEEE S&P 2017 (arXiv 1608.04644). Distance: L2. Their defaults (10,000 Adam steps at
    lr 0.01, 9 search steps) are traded here for speed on a CPU: 6 × 100 steps at lr 0.1.

    Args:
        model: classifier returning logits (N, K) for images (N, C, H, W) in [0, 1];
            normalisation belongs inside it. Its mode and gradients are left as they were.
        x: images (N, C, H, W), float in [0, 1].
        y: labels (N,) int64: the true class (untargeted) or the target class (``targeted``).
        targeted: reach class ``y`` instead of leaving it (see ``random_targets``).
        kappa: confidence κ ≥ 0: the logit margin the result must have (0 = just across).
        c: first weight of the classification term, in [1e-10, 1e10]; searched per image.
        search_steps: values of ``c`` tried per image (≥ 1).
        steps: Adam steps per value of ``c`` (≥ 1); a run stops early when the loss stalls.
        lr: Adam's learning rate on ``w`` (> 0).
        progress: show a ``tqdm`` bar over the search steps.

    Returns:
        Adversarial images, same shape/dtype/device as ``x``, detached, in [0, 1]. An image
        that already meets the goal (with margin κ) comes back unchanged, and so does one
        for which no ``c`` succeeded — check with ``measure``. Deterministic.

    Example:
        >>> x_adv = attacks.cw_l2(model, x, y, kappa=0.0)
    """
    y = _check_min_distortion(model, x, y, targeted, progress)
    kappa = check_in_range("kappa", kappa, 0.0, 1e6)
    c = check_in_range("c", c, 1e-10, 1e10)
    search_steps = check_positive_int("search_steps", search_steps)
    steps = check_positive_int("steps", steps)
    lr = check_in_range("lr", lr, 1e-8, 1e3)

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    best = x0.clone()
    with eval_mode(model):
        with torch.no_grad():
            logits = model(x0)
        todo = ((_margin(logits, y, targeted) >= kappa) & _reached(model, x0, y, targeted)).logical_not().nonzero().flatten()
        if len(todo) == 0:
            return best.to(x.device)
        xa, ya = x0[todo], y[todo]
        w0 = torch.atanh((2 * xa - 1) * (1 - 1e-6))  # shrink a hair: atanh(±1) is infinite
        best_l2 = torch.full((len(todo),), math.inf, device=device)
        lo = torch.zeros(len(todo), device=device)
        hi = torch.full((len(todo),), math.inf, device=device)
        c_now = torch.full((len(todo),), c, device=device)
        bar = _bar(search_steps, enabled=progress, desc="C&W L2: search over c")
        for _ in range(search_steps):
            w = w0.clone().requires_grad_(True)  # our own leaf: Adam never sees the model
            opt = torch.optim.Adam([w], lr=lr)
            found = torch.zeros(len(todo), dtype=torch.bool, device=device)
            previous = math.inf
            for i in range(steps):
                with torch.enable_grad():
                    x_adv = (torch.tanh(w) + 1) / 2
                    logits = model(x_adv)
                    margin = _margin(logits, ya, targeted)
                    dist = (x_adv - xa).flatten(1).pow(2).sum(1)  # (M,) ‖x' − x‖²
                    loss = (dist + c_now * (-margin).clamp_min(-kappa)).sum()
                (grad,) = torch.autograd.grad(loss, w)
                with torch.no_grad():  # keep the best success seen, before stepping on
                    ok = (margin >= kappa) & (logits.argmax(1) == ya if targeted else logits.argmax(1) != ya)
                    l2 = dist.sqrt()
                    better = ok & (l2 < best_l2)
                    best[todo[better]] = x_adv[better].detach()
                    best_l2 = torch.where(better, l2, best_l2)
                    found |= ok
                w.grad = grad
                opt.step()
                if i % max(steps // 10, 1) == 0:  # C&W's early abort: the loss has stalled
                    if float(loss.detach()) > previous * 0.9999:
                        break
                    previous = float(loss.detach())
            # Binary search: success → try a smaller c (less push, smaller change).
            hi = torch.where(found, torch.minimum(hi, c_now), hi)
            lo = torch.where(found, lo, torch.maximum(lo, c_now))
            c_now = torch.where(hi.isfinite(), (lo + hi) / 2, c_now * 10)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(success=f"{int(best_l2.isfinite().sum())}/{len(todo)}")
        if bar is not None:
            bar.close()
    return best.to(x.device)


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
    y = _check_min_distortion(model, x, y, targeted, progress)
    if not callable(attack):
        raise TypeError(f"attack must be an attack function such as attacks.fgsm, got {type(attack).__name__}")
    eps_max = check_in_range("eps_max", eps_max, 1e-12, math.sqrt(x[0].numel()))
    search_steps = check_positive_int("search_steps", search_steps)

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    with eval_mode(model):
        already = _reached(model, x0, y, targeted)
        best = attack(model, x0, y, eps_max, targeted=targeted, **attack_kwargs)
        hit = _reached(model, best, y, targeted) & ~already
        best[already] = x0[already]
        lo = torch.zeros(len(x0), dtype=torch.float64)
        hi = torch.full_like(lo, eps_max)
        eps = torch.where(hit.cpu(), hi, math.inf)
        eps[already.cpu()] = 0.0
        search = hit.cpu().nonzero().flatten()
        bar = _bar(search_steps, enabled=progress, desc=f"smallest ε for {getattr(attack, '__name__', 'attack')}")
        for _ in range(search_steps if len(search) else 0):
            mid = (lo[search] + hi[search]) / 2
            for value in mid.unique().tolist():  # dyadic midpoints: few distinct values
                rows = search[mid == value]
                adv = attack(model, x0[rows], y[rows], value, targeted=targeted, **attack_kwargs)
                ok = _reached(model, adv, y[rows], targeted).cpu()
                hi[rows[ok]] = value
                lo[rows[~ok]] = value
                best[rows[ok].to(device)] = adv[ok.to(device)]
            if bar is not None:
                bar.update(1)
        if bar is not None:
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
    check_images(x, "x")
    check_images(x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"x and x_adv must have the same shape, got {tuple(x.shape)} and {tuple(x_adv.shape)}")
    y = check_labels(y, x.shape[0], "y")
    device = model_device(model, x)
    with eval_mode(model):
        success = _reached(model, x_adv.detach().to(device), y.to(device), targeted).to(x.device)
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
    if attack in ("fgsm", "pgd"):
        eps, x_adv = smallest_eps(model, x, y, attack=fgsm if attack == "fgsm" else pgd, targeted=targeted,
                                  progress=progress, **kwargs)
        return measure(model, x, x_adv, y, targeted=targeted, eps=eps)
    run = lbfgs if attack == "lbfgs" else cw_l2
    x_adv = run(model, x, y, targeted=targeted, progress=progress, **kwargs)
    return measure(model, x, x_adv, y, targeted=targeted)
