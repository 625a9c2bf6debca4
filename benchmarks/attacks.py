"""Lessons 00–01: our PGD against torchattacks.PGD, the Table 1 run's time, and what survives saving.

Run: ``python benchmarks/attacks.py`` (2 threads). Options: ``--threads N``, ``--batch``,
``--steps``, ``--repeats``, ``--table-n`` (digits attacked per model for Table 1, as in
notebook 01), ``--no-table``, ``--no-photo``, ``--no-round-trip``.

What it prints:
1. PGD throughput: ``attacks.pgd`` and ``torchattacks.PGD`` (the peer implementation of
   the tests) on the same model, the same batch of test digits, the same ε, step and number
   of steps, both with a random start — images per second for each (best of ``--repeats``
   interleaved runs, after a warm-up) and the ratio ours / theirs (goal: ≥ 1, "ours no
   slower"), plus both robust accuracies as a sanity check. On the CNN and on FC100-100-10,
   where per-step overhead, not arithmetic, dominates.
2. Table 1 (Szegedy et al.): for each of the six models, box-constrained L-BFGS
   (``attacks.lbfgs``, targeted at a random wrong class) on ``--table-n`` correctly
   classified training digits, exactly as notebook 01 runs it: wall and CPU time, success
   rate, average RMS distortion.
3. One photo (EfficientNet-Lite0, chelsea targeted at "ostrich"): wall and CPU time of
   ``attacks.lbfgs`` and ``attacks.cw_l2`` with their defaults — why notebook 01's live panel
   runs C&W on photos but keeps L-BFGS to digits.
4. Saving the adversarial photos (notebook 00, ``--no-round-trip`` to skip): the six course
   photos, targeted PGD at "ostrich" with ε = 2/255 (10 steps of 0.5/255, random start; and
   on the 8-bit grid: from the 8-bit photo, 10 steps of 1/255, no random start), then the
   share still classified "ostrich" as attacked, rounded to 8 bits, as PNG and as JPEG at
   quality 95 and 75 (``data.round_trip``, Pillow), with the CPU time of each attack.

Timings depend on what else the machine is doing; a shared machine can be several times
slower than an idle one, and its wall times are noisy. Compare the ratios (by wall and by
process CPU time), which both sides share. On a machine shared with other busy processes,
run with ``OMP_NUM_THREADS=1``: two threads that wait for each other at every small tensor
operation can multiply the CPU time of L-BFGS's many small steps several times over.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from lessons import attacks, data, models

TABLE1 = ("softmax-wd1e-4", "softmax-wd1e-2", "softmax-wd1", "fc100", "fc200")


def _time(fn) -> tuple[float, float, torch.Tensor]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def bench_pgd(name: str, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, repeats: int) -> float:
    import torchattacks

    model = models.pretrained(name, device="cpu", progress=False)
    alpha = 2.5 * eps / steps

    def ours():
        return attacks.pgd(model, x, y, eps, steps=steps, alpha=alpha, generator=torch.Generator().manual_seed(0))

    peer = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)

    def theirs():
        return peer(x, y)

    attacks.pgd(model, x[:32], y[:32], eps, steps=2)  # warm-up: first calls allocate
    peer(x[:32], y[:32])
    walls: dict[str, list[float]] = {"ours": [], "torchattacks": []}
    cpus: dict[str, list[float]] = {"ours": [], "torchattacks": []}
    adv = {}
    for _ in range(repeats):  # interleaved, so both see the same background load
        for label, fn in (("ours", ours), ("torchattacks", theirs)):
            wall, cpu, adv[label] = _time(fn)
            walls[label].append(wall)
            cpus[label].append(cpu)
    rate = {k: len(x) / min(v) for k, v in walls.items()}
    for label in ("ours", "torchattacks"):
        acc = models.accuracy(model, adv[label], y)
        print(f"  {name:<7} {label:<13} {rate[label]:8.0f} images/s  (best {min(walls[label]):.2f} s wall, "
              f"{min(cpus[label]):.2f} s CPU, for {len(x)} images × {steps} steps; robust accuracy {acc:.1%})")
    ratio = rate["ours"] / rate["torchattacks"]
    ratio_cpu = min(cpus["torchattacks"]) / min(cpus["ours"])
    verdict = "ours no slower" if ratio >= 0.97 else "OURS SLOWER"
    print(f"  {name:<7} ratio ours / torchattacks: {ratio:.2f} by wall time, {ratio_cpu:.2f} by CPU time  ({verdict})")
    return ratio


def _table1_models() -> dict:
    return {key: models.pretrained(key, device="cpu", progress=False) for key in (*TABLE1, "ae400-10")}


def bench_table1(n: int, *, progress: bool) -> float:
    """Notebook 01's protocol: the first ``n`` of the first 200 training digits each model gets
    right, a random wrong target each (seed 0), L-BFGS with 8 values of c × 20 iterations."""
    mnist = data.load_mnist()
    total_wall = total_cpu = 0.0
    for name, model in _table1_models().items():
        x, y = mnist.x_train[:200], mnist.y_train[:200]
        right = models.predict(model, x).argmax(1) == y
        x, y = x[right][:n], y[right][:n]
        target = attacks.random_targets(y, generator=torch.Generator().manual_seed(0))
        wall, cpu, d = _time(lambda: attacks.minimum_distortion(model, x, target, attack="lbfgs", targeted=True,
                                                                 search_steps=8, max_iter=20, progress=progress))
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        print(f"  {name:<15} {wall:6.1f} s wall {cpu:6.1f} s CPU   success {d.success_rate:6.1%}   "
              f"av. min. distortion (RMS) {d.mean('rms'):.4f}")
    print(f"  Table 1 total: {total_wall:.1f} s wall, {total_cpu:.1f} s CPU for {len(TABLE1) + 1} models × {n} digits")
    return total_wall


def bench_photo() -> None:
    """Notebook 01's reason for keeping L-BFGS off photos in its live panel: one 224×224 photo,
    targeted at "ostrich", with each minimum-distortion attack's defaults."""
    net = models.imagenet_classifier(device="cpu")
    x = data.photo("chelsea")
    target = torch.tensor([data.imagenet_labels().index("ostrich")])
    for label, run in (("L-BFGS", attacks.lbfgs), ("C&W", attacks.cw_l2)):
        wall, cpu, adv = _time(lambda: run(net, x, target, targeted=True, progress=False))
        p = float(models.predict(net, adv)[0, target])
        print(f"  {label:<7} {wall:6.1f} s wall {cpu:6.1f} s CPU   p(ostrich) {p:6.1%}   "
              f"L∞ {float((adv - x).abs().max()) * 255:.1f}/255")


def bench_round_trip(seed: int = 0) -> dict:
    """Notebook 00's question: does a 2/255 ostrich survive 8-bit rounding, PNG and JPEG?"""
    net = models.imagenet_classifier(device="cpu")
    ostrich = data.imagenet_labels().index("ostrich")
    names = list(data.PHOTOS)
    photos = torch.cat([data.photo(name) for name in names])
    target = torch.tensor([ostrich])
    g = torch.Generator().manual_seed(seed)
    runs = {
        "float PGD (random start, α = 0.5/255)": (photos, dict(alpha=0.5 / 255, generator=g)),
        "8-bit grid PGD (α = 1/255, no random start)": (data.round_trip(photos, "8bit"), dict(alpha=1 / 255, random_start=False)),
    }
    shares = {}
    for label, (start, options) in runs.items():
        wall, cpu, adv = _time(lambda: torch.cat([attacks.pgd(net, p[None], target, 2 / 255, steps=10, targeted=True,
                                                              **options) for p in start]))
        saved = {"as attacked": adv, "8-bit": data.round_trip(adv, "8bit"), "PNG": data.round_trip(adv, "png"),
                 "JPEG 95": data.round_trip(adv, "jpeg", quality=95), "JPEG 75": data.round_trip(adv, "jpeg", quality=75)}
        shares[label] = {k: float((models.predict(net, v).argmax(1) == ostrich).float().mean()) for k, v in saved.items()}
        print(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU for {len(names)} photos × 10 steps")
        print("    still 'ostrich': " + ", ".join(f"{k} {round(v * len(names))}/{len(names)}" for k, v in shares[label].items()))
    return shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eps", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--table-n", type=int, default=40)
    parser.add_argument("--no-table", action="store_true")
    parser.add_argument("--no-photo", action="store_true")
    parser.add_argument("--no-round-trip", action="store_true")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    mnist = data.load_mnist()
    x, y = mnist.x_test[: args.batch], mnist.y_test[: args.batch]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"PGD (L∞, ε = {args.eps}, {args.steps} steps, random start), best of {args.repeats}:")
    ratios = [bench_pgd(name, x, y, eps=args.eps, steps=args.steps, repeats=args.repeats) for name in ("cnn", "fc100")]
    if not args.no_table:
        print(f"Table 1 minimum-distortion run (L-BFGS, targeted, {args.table_n} digits per model):")
        bench_table1(args.table_n, progress=args.progress)
    if not args.no_photo:
        print("Minimum-distortion attacks on one photo (EfficientNet-Lite0, chelsea → ostrich):")
        bench_photo()
    if not args.no_round_trip:
        print("Saving adversarial photos (six photos → ostrich, ε = 2/255):")
        bench_round_trip()
    print("PGD throughput ratio ours / torchattacks: " + ", ".join(f"{r:.2f}" for r in ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
