"""Lesson 07: lesson 05's models under FGSM, PGD-40, PGD-40 × 5, our ensemble and a peer's AutoAttack.

Run: ``python benchmarks/evaluation.py`` (the five cached lesson-05 CNNs, the first 500 test
digits, ε = 0.3, 2 threads). Options: ``--n``, ``--models pgd pool``, ``--threads``,
``--queries`` (Square's budget in our ensemble), ``--peer-steps N`` (build the peer's ensemble
with N APGD/FAB steps instead of torchattacks' defaults), ``--no-peer``, ``--no-progress``.
Expect tens of minutes on a 2-core CPU: Square asks up to 5,000 questions per robust digit.

What it prints, per model, on the same digits: clean accuracy; FGSM; PGD-40 (40 steps of 0.01
from a random start, Madry et al.'s evaluation); PGD-40 × 5 (four more random starts on the
digits PGD-40 left); our ensemble (``evaluation.worst_case`` over ``evaluation.ensemble(0.3)``:
APGD-CE, APGD-DLR, APGD-T with 9 targets, 100 steps each, then Square with 5,000 queries, each
on the digits still standing); and the peer's AutoAttack (torchattacks ``AutoAttack``,
version "standard": APGD-CE, APGD-T, FAB-T, Square with 5,000 queries — with torchattacks'
default of 10 steps for APGD, APGD-T and FAB, where Croce & Hein's original runs 100). Each
column's seconds, the gap ours − peer in points, and the time ratio ours : peer. A reference
workload (PGD-40 on 1,000 digits against the lesson-00 CNN) is timed first, so the seconds can
be rescaled to another machine or load.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time

import torch

from lessons import attacks, data, evaluation, models, recipes

EPS = 0.3


def _reference() -> float:
    cnn = models.pretrained("cnn", device="cpu", progress=False)
    m = data.load_mnist()
    attacks.pgd(cnn, m.x_test[:50], m.y_test[:50], EPS, steps=2)  # warm-up
    start = time.perf_counter()
    attacks.pgd(cnn, m.x_test, m.y_test, EPS, steps=40, alpha=0.01, generator=torch.Generator().manual_seed(0))
    return time.perf_counter() - start


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _peer(model, x, y, steps: int | None):
    import torchattacks

    if steps is None:
        attack = torchattacks.AutoAttack(model, norm="Linf", eps=EPS, version="standard", n_classes=10, seed=0)
    else:  # AutoAttack "standard" with Croce & Hein's step counts
        attack = torchattacks.MultiAttack([
            torchattacks.APGD(model, eps=EPS, steps=steps, loss="ce", n_restarts=1, seed=0),
            torchattacks.APGDT(model, eps=EPS, steps=steps, n_classes=10, n_restarts=1, seed=0),
            torchattacks.FAB(model, eps=EPS, steps=steps, multi_targeted=True, n_classes=10, n_restarts=1, seed=0),
            torchattacks.Square(model, eps=EPS, n_queries=5000, n_restarts=1, seed=0),
        ])
    with torch.random.fork_rng(devices=[]):  # torchattacks seeds torch's global generator
        x_adv = attack(x, y)
    return evaluation.correct(model, x_adv, y)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="the first N test digits")
    parser.add_argument("--models", nargs="+", default=list(recipes.RECIPES), choices=list(recipes.RECIPES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=int, default=5000, help="Square's queries in our ensemble")
    parser.add_argument("--peer-steps", type=int, default=None, help="APGD/FAB steps of the peer (default: torchattacks')")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    mnist = data.load_mnist()
    x, y = mnist.x_test[: args.n], mnist.y_test[: args.n]
    print(f"torch {torch.__version__}, {args.threads} thread(s); reference PGD-40 on 1,000 digits: {_reference():.1f} s "
          f"(idle 2-core machine: about 4-9 s); first {args.n} test digits, ε = {EPS}", flush=True)
    peer_name = "torchattacks AutoAttack" + (f" ({args.peer_steps} steps)" if args.peer_steps else " (its defaults)")
    print(f"{'model':<10} {'clean':>6} {'FGSM':>13} {'PGD-40':>13} {'PGD-40×5':>13} {'ours':>14} {'peer':>14} "
          f"{'ours−peer':>9} {'time ours:peer':>14}")
    rows = {}
    for name in args.models:
        model = recipes.robust_model(name, device="cpu", progress=not args.no_progress)
        g = torch.Generator().manual_seed(0)
        pgd40 = functools.partial(attacks.pgd, eps=EPS, steps=40, alpha=0.01, generator=g)
        clean = evaluation.correct(model, x, y)
        fgsm, t_fgsm = _timed(evaluation.robust_mask, model, x, y, functools.partial(attacks.fgsm, eps=EPS))
        pgd, t_pgd = _timed(evaluation.robust_mask, model, x, y, pgd40)
        pgd5, t_pgd5 = _timed(evaluation.robust_mask, model, x, y, pgd40, restarts=4, alive=pgd)
        ours, t_ours = _timed(evaluation.worst_case, model, x, y, evaluation.ensemble(EPS, queries=args.queries),
                              progress=not args.no_progress)
        if args.no_peer:
            peer, t_peer = None, float("nan")
        else:
            peer, t_peer = _timed(_peer, model, x, y, args.peer_steps)
        share = lambda m: float(m.float().mean())  # noqa: E731
        a_peer = share(peer & clean) if peer is not None else float("nan")
        rows[name] = (share(clean), share(fgsm), share(pgd), share(pgd5), ours.robust_accuracy, a_peer)
        print(f"{name:<10} {share(clean):>6.1%} {share(fgsm):>6.1%} {t_fgsm:>5.1f}s {share(pgd):>6.1%} {t_pgd:>5.1f}s "
              f"{share(pgd5):>6.1%} {t_pgd5:>5.1f}s {ours.robust_accuracy:>6.1%} {t_ours:>6.0f}s {a_peer:>6.1%} "
              f"{t_peer:>6.0f}s {100 * (ours.robust_accuracy - a_peer):>+8.1f}  {t_ours / t_peer:>13.2f}", flush=True)
        print(f"{'':<10} ours broken first by {ours.broken_by}; seconds per attack "
              f"{ {k: round(v) for k, v in ours.seconds.items()} }", flush=True)
    print(f"peer: {peer_name}. Lesson 05's summary table, PGD-40 → our ensemble "
          f"({args.n} digits): " + "; ".join(f"{k} {v[2]:.1%} → {v[4]:.1%}" for k, v in rows.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
