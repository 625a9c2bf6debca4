"""Lesson 08: per model, clean / attacks / exact MILP / IBP-verified / smoothing-certified, and what each costs.

Run: ``python benchmarks/certify.py`` (the cached models of lessons 05 and 08; nothing is
written to the cache). Options: ``--n`` (test digits for attacks, IBP and the checks, default
100), ``--n-exact`` (digits verified exactly, default 24), ``--eps`` (L∞ budgets, default 0.1),
``--smooth-n`` (digits certified by smoothing, default 50), ``--radii`` (L2, default 0.5 1.0),
``--retrain`` (also retrain the IBP and noise recipes from scratch to time them), ``--threads``.

Per model of ``certify.COURSE_MODELS`` and ε: clean accuracy; PGD-40 (one start, step
2.5·ε/40); the best attack (``certify.BEST_ATTACK``: lesson 07's ensemble, worst case per digit, with the
budgets of lesson 07's audit); the exact MILP verdicts (verified / broken /
unknown and seconds per digit; fully connected networks only — the CNNs are out of reach in
seconds); IBP-verified accuracy; and the smoothing certified accuracy at two L2 radii (σ = the
model's training σ, or 0.25 for models not trained with noise; n0 = 100, n = 1,000,
α = 0.001). Then the consistency checks: no digit may be both verified (MILP or IBP) and broken
by an attack, nor both IBP-verified and MILP-broken. Last, the timings: MILP per digit, IBP
training (from the cache's record, or measured with ``--retrain``), smoothing per digit.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time

import torch

from lessons import attacks, bounds, certify, data, evaluation, smoothing, verify


def _pgd40(model, x, y, eps):
    attack = functools.partial(attacks.pgd, eps=eps, steps=40, alpha=2.5 * eps / 40,
                               generator=torch.Generator().manual_seed(0))
    return evaluation.robust_mask(model, x, y, attack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--n-exact", type=int, default=certify.N_EXACT)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.1])
    parser.add_argument("--smooth-n", type=int, default=50)
    parser.add_argument("--radii", type=float, nargs=2, default=[0.5, 1.0])
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    progress = not args.no_progress
    mnist = data.load_mnist()
    x, y = mnist.x_test[: args.n], mnist.y_test[: args.n]
    xs, ys = mnist.x_test[: args.smooth_n], mnist.y_test[: args.smooth_n]
    print(f"torch {torch.__version__}, {args.threads} thread(s); {args.n} test digits ({args.n_exact} for the MILP, "
          f"{args.smooth_n} for smoothing); best attack: {certify.BEST_ATTACK}", flush=True)
    r1, r2 = args.radii
    header = (f"{'model':<11} {'ε':>4} {'clean':>6} {'PGD-40':>7} {'best':>6} {'exact (v/b/u)':>14} {'s/digit':>8} "
              f"{'IBP':>6} {'σ':>5} {f'r={r1:g}':>6} {f'r={r2:g}':>6}")
    lines, problems, milp_seconds, smooth_seconds = [], [], [], []
    for name, _, load in certify.COURSE_MODELS:
        model = load().to("cpu")
        sigma = model.cache_info.get("smoothing", {}).get("sigma", 0.25)
        start = time.perf_counter()
        certs = smoothing.certify_all(model, xs, ys, sigma, n0=100, n=1000, alpha=0.001, progress=False)
        smooth_seconds.append((time.perf_counter() - start) / len(xs))
        for eps in args.eps:
            clean = evaluation.correct(model, x, y)
            pgd, best = _pgd40(model, x, y, eps), certify.best_attack_mask(model, x, y, eps)
            ibp = bounds.verified(model, x, y, eps)
            exact, per_digit = "—", "—"
            if verify.supports(model):
                verdicts = verify.verify_all(model, x[: args.n_exact], y[: args.n_exact], eps, progress=progress)
                status = [v.status for v in verdicts]
                exact = "/".join(str(status.count(s)) for s in verify.STATUSES)
                seconds = [v.seconds for v in verdicts]
                milp_seconds += seconds
                per_digit = f"{statistics.median(seconds):.1f}"
                for attack, mask in (("PGD-40", pgd), ("best attack", best)):
                    for i in certify.contradictions(verdicts, mask[: args.n_exact]):
                        problems.append(f"{name} ε={eps}: digit {i} MILP-verified but broken by {attack}")
                for i, (v, proved) in enumerate(zip(verdicts, ibp[: args.n_exact])):
                    if proved and v.status == "broken":
                        problems.append(f"{name} ε={eps}: digit {i} IBP-verified but MILP-broken")
            for attack, mask in (("PGD-40", pgd), ("best attack", best)):
                for i in certify.contradictions(ibp, mask):
                    problems.append(f"{name} ε={eps}: digit {i} IBP-verified but broken by {attack}")
            share = lambda m: f"{float(m.float().mean()):.1%}"
            lines.append(f"{name:<11} {eps:>4g} {share(clean):>6} {share(pgd):>7} {share(best):>6} {exact:>14} "
                         f"{per_digit:>8} {share(ibp):>6} {sigma:>5g} {certs.accuracy(r1):>6.1%} {certs.accuracy(r2):>6.1%}")
            print(lines[-1] if len(lines) > 1 else header + "\n" + lines[-1], flush=True)
    print(f"\nconsistency: {'no digit is both verified and broken' if not problems else 'FAILED'}")
    for p in problems:
        print("  ", p)

    print("\ntimings (this machine, now):")
    if milp_seconds:
        print(f"  MILP per digit: median {statistics.median(milp_seconds):.1f} s, max {max(milp_seconds):.1f} s "
              f"over {len(milp_seconds)} digits")
    print(f"  smoothing certification per digit (n0 + n = 1,100 noisy copies): median {statistics.median(smooth_seconds):.2f} s "
          f"(min {min(smooth_seconds):.2f}, max {max(smooth_seconds):.2f} over the models)")
    for name in ("ibp", "noise-0.25", "cnn"):
        info = certify.certified_model(name, device="cpu", progress=False).cache_info
        print(f"  training '{name}' (cache record): {info['train_seconds']:.0f} s with {info.get('threads', '?')} thread(s)")
        if args.retrain:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = certify.small_cnn()
            fresh = certify.fit_recipe(name, model, progress=progress)
            print(f"  training '{name}' (retrained now): {fresh['train_seconds']:.0f} s, clean {fresh['clean_accuracy']:.1%}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
