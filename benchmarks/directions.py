"""Lesson 04: time to capture activations for 1,000 images and rank them for 100 directions.

Run: ``python benchmarks/directions.py`` (options: ``--threads N``, ``--repeats R``,
``--directions K``, ``--no-imagenet``). Uses the model cache (``LESSONS_CACHE``).

What it prints (best of ``--repeats``, wall and process CPU time):
1. ``activations``: the held-out 1,000 MNIST digits through the course CNN, capturing
   ``conv2`` (1000 × 32 × 14 × 14) and ``fc1`` (1000 × 128) in one pass.
2. ranking: ``project`` + ``top_k`` (k = 8) for 100 random directions, at ``fc1`` and at
   ``conv2`` with the spatial ``mean`` and with the spatial ``max`` (the max has to project
   at every position first, so it is the expensive one), and the same for the units.
3. the coherence measures (label purity, pixel similarity) and a 10,000-split permutation
   test for 128 units vs 500 random directions — what notebook 04 computes.
4. (unless ``--no-imagenet``) one step of activation maximisation on EfficientNet-Lite0,
   batch 4 at 128 × 128 — the notebook runs 40 of them.
5. (with ``--replicates N``) notebook 04's unit-vs-random purity comparison on N more
   retrained copies of the CNN (``directions.replicate_cnn(3)`` … ``(N + 2)``; trained and
   cached on first use, ~10 s each on an idle CPU), next to the three the notebook uses —
   to see whether its conclusions are a property of the recipe or of one training run.

Timings depend on what else the machine is doing; a shared machine can be several times
slower than an idle one. Process CPU time is the steadier figure there. The default is one
torch thread: on a busy 2-core machine, two threads that wait for each other made one
activation-maximisation step ~45× more expensive in CPU time (measured); ``--threads 2``
is the setting to compare on an idle machine.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from lessons import data, models
from lessons import directions as D


def best_of(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds of ``repeats`` calls (after one warm-up call)."""
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def row(label: str, wall: float, cpu: float, extra: str = "") -> None:
    print(f"  {label:<52} {1000 * wall:8.1f} ms wall {1000 * cpu:8.1f} ms CPU  {extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)  # on a shared machine 2 threads spin-wait: see below
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--directions", type=int, default=100)
    parser.add_argument("--no-imagenet", action="store_true")
    parser.add_argument("--replicates", type=int, default=0, help="extra retrained CNNs for section 5")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"lesson 04 benchmark · torch {torch.__version__} · {args.threads} thread(s) · {platform.processor() or platform.machine()}")

    cnn = models.pretrained("cnn", device="cpu", progress=False)
    mnist = data.load_mnist()
    x, y = mnist.x_test, mnist.y_test
    print(f"1. capture activations of {len(x)} held-out digits (conv2 and fc1, one pass)")
    wall, cpu, acts = best_of(lambda: D.activations(cnn, x, ["conv2", "fc1"], progress=False), args.repeats)
    row("activations(cnn, x_test, ['conv2', 'fc1'])", wall, cpu)
    wall, cpu, _ = best_of(lambda: D.activations(cnn, x, "fc1", batch_size=100, progress=False), args.repeats)
    row("activations(cnn, x_test, 'fc1', batch_size=100)", wall, cpu)

    k = args.directions
    g = torch.Generator().manual_seed(0)
    print(f"2. rank {len(x)} images for {k} directions (project + top_k, k = 8)")
    cases = [("fc1", "mean"), ("conv2", "mean"), ("conv2", "max")]
    for layer, reduce in cases:
        a = acts[layer]
        v = D.random_directions(k, a.shape[1], generator=g)
        wall, cpu, idx = best_of(lambda: D.top_k(D.project(a, v, reduce=reduce), 8), args.repeats)
        label = f"{layer}" + (f" ({reduce})" if a.dim() == 4 else "")
        row(f"{k} random directions at {label}", wall, cpu, f"→ {tuple(idx.shape)}")
        u = D.unit_directions(a.shape[1])
        wall, cpu, _ = best_of(lambda: D.top_k(D.project(a, u, reduce=reduce), 8), args.repeats)
        row(f"{a.shape[1]} units at {label}", wall, cpu)

    print("3. coherence and the permutation test (fc1: 128 units vs 500 random directions, k = 8)")
    a = acts["fc1"]
    iu = D.top_k(D.project(a, D.unit_directions(128)), 8)
    ir = D.top_k(D.project(a, D.random_directions(500, 128, generator=g)), 8)
    wall, cpu, (pu, pr) = best_of(lambda: (D.label_purity(iu, y), D.label_purity(ir, y)), args.repeats)
    row("label_purity (628 directions)", wall, cpu)
    wall, cpu, _ = best_of(lambda: (D.pixel_similarity(iu, x), D.pixel_similarity(ir, x)), args.repeats)
    row("pixel_similarity (628 directions)", wall, cpu)
    wall, cpu, c = best_of(lambda: D.compare(pu, pr, generator=torch.Generator().manual_seed(0)), args.repeats)
    row("compare (10,000 permutations)", wall, cpu,
        f"units {c.mean_units:.3f} vs random {c.mean_random:.3f}, p = {c.p_value:.3f}")

    if not args.no_imagenet:
        print("4. activation maximisation on EfficientNet-Lite0 (net.blocks.5, batch 4, 128 × 128)")
        net = models.imagenet_classifier(device="cpu")
        v = D.random_directions(4, 192, generator=g)
        wall, cpu, _ = best_of(lambda: D.maximize(net, "net.blocks.5", v, steps=1, generator=torch.Generator().manual_seed(0),
                                                  progress=False), max(1, args.repeats // 2))
        row("maximize, one step", wall, cpu, f"(notebook: 40 steps ≈ {40 * wall:.1f} s wall)")

    if args.replicates:
        replicates(x, y, args.replicates)


def replicates(x: torch.Tensor, y: torch.Tensor, n: int) -> None:
    """Section 5: units minus random directions, label purity at k = 8, per retrained network."""
    print(f"5. unit − random label purity (k = 8, 2,000 random directions) on {n + 3} networks")
    settings = [("fc1", "mean"), ("conv2", "mean"), ("conv2", "max")]
    print(f"  {'network':<22}" + "".join(f"{layer + ' (' + r + ')':>24}" for layer, r in settings))
    nets = [("pretrained('cnn')", lambda: models.pretrained("cnn", device="cpu", progress=False))]
    nets += [(f"replicate_cnn({s})", lambda s=s: D.replicate_cnn(s, device="cpu", progress=False)) for s in range(1, n + 3)]
    gaps: dict = {key: [] for key in settings}
    for name, load in nets:
        acts = D.activations(load(), x, ["conv2", "fc1"], progress=False)
        cells = []
        for key in settings:
            g = torch.Generator().manual_seed(0)
            st = D.unit_vs_random(acts[key[0]], x, y, reduce=key[1], n_random=2000, generator=g)
            c = D.compare(st.purity_units, st.purity_random, n_permutations=2000, generator=g)
            gaps[key].append(c.difference)
            cells.append(f"{c.difference:+.3f} (p {c.p_value:.3f})")
        print(f"  {name:<22}" + "".join(f"{cell:>24}" for cell in cells), flush=True)
    print(f"  {'range':<22}" + "".join(f"{f'{min(v):+.3f} … {max(v):+.3f}':>24}" for v in gaps.values()))
    print(f"  {'units ahead in':<22}" + "".join(f"{f'{sum(d > 0 for d in v)} of {len(v)}':>24}" for v in gaps.values()))


if __name__ == "__main__":
    main()
