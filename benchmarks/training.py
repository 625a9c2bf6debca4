"""Lesson 05: training cost and final clean / robust accuracy of every adversarial-training recipe.

Run: ``python benchmarks/training.py`` (all recipes, 2 threads, retrained from scratch — the
cache is neither read nor written). Options: ``--threads N``, ``--methods pgd fgsm``,
``--cached`` (evaluate the cached models instead of retraining), ``--restart-n`` /
``--restarts`` (the PGD-with-restarts column), ``--study`` (the pool study over seeds, from
the cache), ``--ideas`` (retrain the stretch-goal variants of the PGD recipe), ``--ensemble N``
(add lesson 07's attack ensemble on the first N test digits), ``--no-progress``.

What it prints, per recipe: training wall time and process CPU time (all threads), the
chosen epoch, and on the 1,000 test digits: clean accuracy, FGSM (ε = 0.3) and PGD-40
(ε = 0.3, step 0.01, random start — Madry et al.'s evaluation); then PGD-40 with restarts on
the first ``--restart-n`` test digits. Then the lesson's hard requirements (PGD model: ≥ 80%
under PGD-40, ≥ 90% clean, ≤ 3 minutes of training) and the total.

``--ensemble`` runs ``evaluation.worst_case`` over ``evaluation.ensemble(0.3, **audit.ENSEMBLE)``
(APGD-CE, APGD-DLR, APGD-T, Square — the budgets lesson 07's ``audit.lesson05`` uses on the first
200 test digits). Restarts of one attack cannot reveal gradient masking; different attacks can.

Timings depend on what else the machine is doing. A reference workload (PGD-40 on 1,000
digits against the lesson-00 CNN) is timed first, in the same conditions, so the figures can
be rescaled: on an idle 2-core machine it takes about 4–9 s (DESIGN.md).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time

import torch

from lessons import attacks, audit, data, evaluation, models, recipes

# The stretch goal of issue 16: ideas against robust overfitting on few digits, each a change
# of the PGD recipe (selection on the 500 held-out training digits, never on the test digits).
IDEAS = {
    "ema": dict(ema=0.995),
    "shift+ema": dict(shift=2, ema=0.995),
    "trades+ema": dict(method="trades", beta=6.0, ema=0.995),
}


def _reference(threads: int) -> tuple[float, float]:
    cnn = models.pretrained("cnn", device="cpu", progress=False)
    m = data.load_mnist()
    attacks.pgd(cnn, m.x_test[:50], m.y_test[:50], 0.3, steps=2)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    attacks.pgd(cnn, m.x_test, m.y_test, 0.3, steps=40, alpha=0.01, generator=torch.Generator().manual_seed(0))
    return time.perf_counter() - wall, time.process_time() - cpu


def ensemble_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Robust accuracy under lesson 07's ensemble at ε = 0.3, with lesson 07's audit budgets."""
    return evaluation.worst_case(model, x, y, evaluation.ensemble(0.3, **audit.ENSEMBLE), progress=False).robust_accuracy


def _study() -> None:
    errors = recipes.study_errors(device="cpu")
    base = errors["standard"]
    print(f"\npool study (Szegedy §4.2 on FC100-100-10), clean test error over seeds {recipes.SEEDS}, mean ± 95% t-interval:")
    for variant, errs in errors.items():
        mean, half = recipes.mean_interval(errs)
        line = f"  {variant:<9} {mean:6.2%} ± {half:5.2%}   per seed {[f'{e:.1%}' for e in errs]}"
        if variant != "standard":
            d_mean, d_half = recipes.mean_interval([e - b for e, b in zip(errs, base)])
            line += f"   minus standard (paired): {d_mean:+.2%} ± {d_half:.2%}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(recipes.RECIPES), choices=list(recipes.RECIPES))
    parser.add_argument("--cached", action="store_true", help="evaluate the cached models instead of retraining")
    parser.add_argument("--restart-n", type=int, default=200, help="test digits for the PGD-with-restarts column")
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--study", action="store_true", help="print the pool study (cached models; trains missing ones)")
    parser.add_argument("--ideas", action="store_true", help="also retrain the stretch-goal variants of the PGD recipe")
    parser.add_argument("--ensemble", type=int, default=0, help="lesson 07's attack ensemble on the first N test digits")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    mnist = data.load_mnist()
    test = (mnist.x_test, mnist.y_test)
    sub = (mnist.x_test[: args.restart_n], mnist.y_test[: args.restart_n])

    def pgd40():  # fresh random starts from seed 0 for each model, as notebook 05 draws them
        return functools.partial(attacks.pgd, eps=0.3, steps=40, alpha=0.01, generator=torch.Generator().manual_seed(0))

    ref_wall, ref_cpu = _reference(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); reference PGD-40 on 1,000 digits: "
          f"{ref_wall:.1f} s wall, {ref_cpu:.1f} s CPU (idle 2-core machine: about 4-9 s)", flush=True)
    ens_col = f"  {f'ensemble (n={args.ensemble})':>17}" if args.ensemble else ""
    header = (f"{'recipe':<14} {'train wall':>10} {'train CPU':>9} {'epoch':>7}  {'clean':>6} {'FGSM':>6} {'PGD-40':>6}  "
              f"{f'PGD-40×{args.restarts} (n={args.restart_n})':>20}{ens_col}  {'eval s':>6}")
    runs = [(name, recipes.RECIPES[name]) for name in args.methods]
    if args.ideas:
        runs += [(f"pgd+{idea}", dict(recipes.RECIPES["pgd"], **change)) for idea, change in IDEAS.items()]
    rows, results = [], {}
    total_wall = total_cpu = 0.0
    for name, recipe in runs:
        if args.cached and name in recipes.RECIPES:
            model = recipes.robust_model(name, device="cpu", progress=not args.no_progress)
            info = model.cache_info
        else:
            base = name if name in recipes.RECIPES else "pgd"
            model = recipes.build_model(base)
            info = recipes.fit_recipe(base, model, recipe=recipe, progress=not args.no_progress)
        total_wall += info["train_seconds"]
        total_cpu += info["cpu_seconds"]
        start = time.perf_counter()
        row = {"clean": evaluation.robust_accuracy(model, test, lambda m, x, y: x),
               "FGSM": evaluation.robust_accuracy(model, test, functools.partial(attacks.fgsm, eps=0.3)),
               "PGD-40": evaluation.robust_accuracy(model, test, pgd40()),
               "restarts": evaluation.robust_accuracy(model, sub, pgd40(), restarts=args.restarts)}
        if args.ensemble and args.cached and name in recipes.RECIPES and args.ensemble == audit.N_DIGITS:
            row["ensemble"] = audit.lesson05(name, progress=False).accuracies()["ensemble"]  # lesson 07's cached run
        elif args.ensemble:
            row["ensemble"] = ensemble_accuracy(model, mnist.x_test[: args.ensemble], mnist.y_test[: args.ensemble])
        eval_s = time.perf_counter() - start
        results[name] = (row, info)
        epoch = f"{info['best_epoch'] + 1:>3}/{info['epochs']:<3}"
        rows.append(f"{name:<14} {info['train_seconds']:>9.1f}s {info['cpu_seconds']:>8.1f}s {epoch}  "
                    f"{row['clean']:>6.1%} {row['FGSM']:>6.1%} {row['PGD-40']:>6.1%}  {row['restarts']:>20.1%}"
                    + (f"  {row['ensemble']:>17.1%}" if args.ensemble else "") + f"  {eval_s:>6.1f}")
        if info.get("catastrophic_epoch") is not None:
            rows[-1] += f"  (catastrophic-overfitting sign in epoch {info['catastrophic_epoch'] + 1})"
        print(rows[-1], flush=True)
    print()
    print(header)
    print("\n".join(rows))
    print(f"{'total':<14} {total_wall:>9.1f}s {total_cpu:>8.1f}s   (training of the runs above"
          f"{', as recorded in the cache' if args.cached else ''})")
    scale = 9.0 / ref_wall  # the slow end of an idle 2-core machine, relative to now
    if not args.cached:  # cached timings come from another run, in other conditions
        print(f"rescaled to an idle 2-core machine (reference = 9 s): training total ≈ {total_wall * scale:.0f} s wall")
    if "pgd" in results:
        row, info = results["pgd"]
        ok = row["PGD-40"] >= 0.80 and row["clean"] >= 0.90
        print(f"\nhard requirement, PGD model on 1,000 test digits: PGD-40 {row['PGD-40']:.1%} (≥ 80%), clean "
              f"{row['clean']:.1%} (≥ 90%): {'met' if ok else 'NOT met'}; training {info['train_seconds']:.0f} s wall, "
              f"{info['cpu_seconds']:.0f} s CPU" + ("" if args.cached else f" here, ≈ {info['train_seconds'] * scale:.0f} s on an "
                                                        "idle 2-core machine (≤ 180 s)"))
    if args.study:
        _study()
    return 0


if __name__ == "__main__":
    sys.exit(main())
