"""Lesson 06 figures: query attack cost (scores and labels only), substitute transfer, classic models, a table.

Run: ``python benchmarks/blackbox.py`` (``--n``, ``--budgets``, ``--eps``, ``--label-n`` ... to change the
setting). Prints measured numbers only; nothing is asserted. Uses the model cache (``LESSONS_CACHE``).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from lessons import attacks, blackbox, classic, data, decision, models, queries, tabular, utils


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="test digits attacked (ones the target gets right)")
    parser.add_argument("--eps", type=float, default=0.25, help="L∞ budget (the lesson's: 0.25)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 1000], help="substitute label budgets")
    parser.add_argument("--max-queries", type=int, default=1000, help="SimBA's and HopSkipJump's per-image query limit")
    parser.add_argument("--label-n", type=int, default=100, help="digits for the label-only attack (the first of --n)")
    parser.add_argument("--trace-n", type=int, default=30, help="digits for HopSkipJump's distance-against-queries run")
    parser.add_argument("--trace-queries", type=int, nargs="+", default=[250, 500, 1000, 2000, 3000],
                        help="budgets at which HopSkipJump's median distance is printed (no stop at ε)")
    args = parser.parse_args(argv)

    utils.set_seed(0)
    device = utils.get_device()
    print(f"torch {torch.__version__} · {device} · {torch.get_num_threads()} threads · {platform.processor() or platform.machine()}")
    mnist = data.load_mnist()
    cnn = models.pretrained("cnn", device=device, progress=False)
    right = models.predict(cnn, mnist.x_test).argmax(1).cpu() == mnist.y_test
    x, y = mnist.x_test[right][: args.n], mnist.y_test[right][: args.n]
    print(f"\nCNN target, ε = {args.eps}, {len(x)} test digits it classifies correctly")

    start = time.perf_counter()
    x_wb = attacks.pgd(cnn, x, y, args.eps, steps=20, generator=torch.Generator().manual_seed(0))
    print(f"  white-box PGD-20        success {1 - models.accuracy(cnn, x_wb, y):6.1%}   ({time.perf_counter() - start:.1f} s)")

    for name, sizes in [("SimBA, blocks 7/4/2/1", (7, 4, 2, 1)), ("SimBA, pixels", (1,))]:
        api = blackbox.QueryModel(cnn, output="probs")
        start = time.perf_counter()
        res = queries.simba(api, x, y, args.eps, max_queries=args.max_queries, sizes=sizes,
                             generator=torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - start
        ok = res.success
        median = float(res.queries[ok].float().median()) if ok.any() else float("nan")
        print(f"  {name:23} success {float(ok.float().mean()):6.1%} within {args.max_queries} queries; "
              f"median queries to success {median:.0f} (mean {float(res.queries[ok].float().mean()):.0f}); "
              f"{api.queries} queries in {seconds:.1f} s")

    # label-only: the same digits (the first --label-n), the same ε and per-image budget as SimBA above
    xl, yl = x[: args.label_n], y[: args.label_n]
    simba = queries.simba(blackbox.QueryModel(cnn, output="probs"), xl, yl, args.eps, max_queries=args.max_queries,
                          generator=torch.Generator().manual_seed(0))
    api = blackbox.QueryModel(cnn, output="label")
    start = time.perf_counter()
    res = decision.hop_skip_jump(api, xl, yl, eps=args.eps, max_queries=args.max_queries,
                                 generator=torch.Generator().manual_seed(0))
    seconds = time.perf_counter() - start
    for name, r in [("SimBA (scores)", simba), ("HopSkipJump (labels)", res)]:
        ok = r.success
        median = float(r.queries[ok].float().median()) if ok.any() else float("nan")
        print(f"  {name:23} success {float(ok.float().mean()):6.1%} within ε = {args.eps} (L∞), "
              f"{args.max_queries} queries, {len(xl)} digits; median queries to success {median:.0f}")
    print(f"    (HopSkipJump: {api.queries} label queries in {seconds:.1f} s)")
    top_q = max(args.trace_queries)
    xd, yd = x[: args.trace_n], y[: args.trace_n]
    for norm in decision.NORMS:
        start = time.perf_counter()
        res = decision.hop_skip_jump(blackbox.QueryModel(cnn, output="label"), xd, yd, norm=norm, max_queries=top_q,
                                     generator=torch.Generator().manual_seed(0))
        at = {q: decision.distance_at(res, q) for q in args.trace_queries}
        line = " · ".join(f"{q}: {float(d.median()):.3f}" for q, d in at.items())
        within = "" if norm == "l2" else f"; within ε = {args.eps} at {top_q}: {float((at[top_q] <= args.eps).float().mean()):.0%}"
        print(f"  HopSkipJump {norm:4} median distance at queries {line}{within} "
              f"({len(xd)} digits, {time.perf_counter() - start:.1f} s)")

    for budget in args.budgets:
        oracle = blackbox.QueryModel(cnn, output="label", budget=budget)
        start = time.perf_counter()
        sub = blackbox.train_substitute(oracle, mnist.x_train, budget, device=device, progress=False)
        seconds = time.perf_counter() - start
        x_adv = attacks.pgd(sub, x, y, args.eps, steps=10, generator=torch.Generator().manual_seed(0))
        rate = 1 - models.accuracy(cnn, x_adv, y)
        print(f"  substitute, {budget:5} labels  transfer {rate:6.1%}; substitute test accuracy "
              f"{models.accuracy(sub, mnist.x_test, mnist.y_test):.1%}; trained in {seconds:.1f} s")

    print("\nclassic models")
    keep_tr = (mnist.y_train == 3) | (mnist.y_train == 7)
    keep_te = (mnist.y_test == 3) | (mnist.y_test == 7)
    x37, y37 = mnist.x_test[keep_te], (mnist.y_test[keep_te] == 7).long()
    start = time.perf_counter()
    logreg = classic.logistic_regression(mnist.x_train[keep_tr], (mnist.y_train[keep_tr] == 7).long())
    fit_s = time.perf_counter() - start
    err = float((classic.predict_labels(logreg, classic.linear_attack(logreg, x37, y37, args.eps)) != y37).float().mean())
    clean = float((classic.predict_labels(logreg, x37) != y37).float().mean())
    print(f"  logistic regression 3 vs 7: clean error {clean:.1%}, closed-form attack error {err:.1%} "
          f"(Goodfellow §5: 99%); fit {fit_s:.1f} s")
    start = time.perf_counter()
    tree = classic.decision_tree(mnist.x_train, mnist.y_train)
    fit_s = time.perf_counter() - start
    xt, yt = mnist.x_test, mnist.y_test
    ok = classic.predict_labels(tree, xt) == yt
    start = time.perf_counter()
    xt_adv = classic.tree_attack(tree, xt, yt, levels=255)
    att_s = time.perf_counter() - start
    flipped = (classic.predict_labels(tree, xt_adv) != yt)[ok]
    changed = (xt_adv != xt).flatten(1).sum(1)[ok]
    grey = (255 * (xt_adv - xt).abs().flatten(1).max(1).values)[ok]
    print(f"  decision tree: accuracy {float(ok.float().mean()):.1%}, {tree.get_n_leaves()} leaves (fit {fit_s:.1f} s); "
          f"attack flips {float(flipped.float().mean()):.1%} of {int(ok.sum())}, pixels changed: median "
          f"{float(changed.float().median()):.0f}, max {int(changed.max())}; change median {float(grey.median()):.0f}/255; "
          f"{att_s:.2f} s for {len(xt)} digits")

    print("\na table: one feature within its training range (breast cancer, 30% held out)")
    table = tabular.load_breast_cancer()
    bounds = tabular.feature_ranges(table.x_train)
    for name, model in [("logistic regression", tabular.logistic_regression(table.x_train, table.y_train)),
                        ("decision tree", tabular.decision_tree(table.x_train, table.y_train))]:
        right = model.predict(table.x_test) == table.y_test
        start = time.perf_counter()
        res = tabular.one_feature_attack(model, table.x_test, table.y_test, bounds)
        flipped = right & res.success
        cols, counts = np.unique(res.feature[flipped], return_counts=True)
        top = ", ".join(f"{table.feature_names[c]} {n}" for n, c in sorted(zip(counts, cols), reverse=True)[:3])
        print(f"  {name:20} accuracy {right.mean():.1%}; flipped {flipped.sum()}/{right.sum()} = "
              f"{flipped.sum() / right.sum():.1%}; median change {np.median(res.change[flipped]):.2f} of the range; "
              f"features: {top} ({time.perf_counter() - start:.2f} s)")
    flat_tr, flat_te = mnist.x_train[keep_tr].flatten(1).numpy(), x37.flatten(1).numpy()
    res = tabular.one_feature_attack(logreg, flat_te, y37.numpy(), tabular.feature_ranges(flat_tr), grid=2)
    right = logreg.predict(flat_te) == y37.numpy()
    print(f"  pixels, logistic regression 3 vs 7: one pixel within its training range flips "
          f"{(right & res.success).sum()}/{right.sum()} = {(right & res.success).sum() / right.sum():.1%}")


if __name__ == "__main__":
    main()
