"""Szegedy et al.'s attack: box-constrained L-BFGS for the smallest L2 change (lesson 01).

A minimum-distortion attack (see ``lessons.attacks``): ``lbfgs(model, x, y, *, targeted=False,
...) -> x_adv`` has no budget ε; it searches for the smallest change that reaches the goal.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..utils import check_bool, check_choice, check_in_range, check_positive_int, eval_mode, model_device
from ..utils import progress as progress_bar
from .common import check_attack, reached

__all__ = ["lbfgs"]


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
    y, _, _ = check_attack(model, x, y, targeted=targeted)
    check_bool("progress", progress)
    c = check_in_range("c", c, 1e-10, 1e10)
    search_steps = check_positive_int("search_steps", search_steps)
    max_iter = check_positive_int("max_iter", max_iter)
    check_choice("solver", solver, ("torch", "scipy"))

    device = model_device(model, x)
    x0, y = x.detach().to(device), y.to(device)
    best = x0.clone()
    with eval_mode(model):
        todo = (~reached(model, x0, y, targeted)).nonzero().flatten()
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
        bar = progress_bar(total=search_steps, enabled=progress, desc="L-BFGS: search over c", leave=False)
        for _ in range(search_steps):
            weight = c_now.to(xa.dtype)  # read by fg()
            z = solve(fg, xa, max_iter=max_iter)
            ok = reached(model, z.view(-1, *x0.shape[1:]), ya, targeted)
            l2 = (z - xa).norm(dim=1)
            better = ok & (l2 < best_l2)
            best[todo[better]] = z[better].view(-1, *x0.shape[1:])
            best_l2 = torch.where(better, l2, best_l2)
            c_ok = torch.where(ok, torch.fmax(c_ok, c_now), c_ok)
            c_fail = torch.where(ok, c_fail, torch.fmin(c_fail, c_now))
            # Next c: the geometric mean once bracketed, else a step by a factor of 10.
            bracketed = ~c_ok.isnan() & ~c_fail.isnan()
            c_now = torch.where(bracketed, (c_ok * c_fail).sqrt(), torch.where(ok, c_now * 10, c_now / 10))
            bar.update(1)
            bar.set_postfix(success=f"{int(best_l2.isfinite().sum())}/{len(todo)}")
        bar.close()
    return best.to(x.device)
