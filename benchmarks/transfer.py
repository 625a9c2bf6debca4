"""Lesson 02 costs: training the P1/P2 models cold, and the notebook's attack runs.

Run: python benchmarks/transfer.py [--threads N]
Prints wall-clock and CPU seconds for each step. The half models are trained in a
temporary, empty cache (a cold start), so this does not touch your model cache; the
pretrained models (Table 2's six and the CNN) come from your cache (trained there first if
missing). It also prints the Gaussian-noise rows of Table 2 beside the paper's, for the columns
quoted in notebook 02.
Targets: training the three half models < 30 s in total; the notebook < 60 s with a warm cache.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import tempfile
import time

import torch


@contextlib.contextmanager
def timed(label: str, results: list):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    results.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    print(f"{label:<58} wall {results[-1][1]:6.1f} s   cpu {results[-1][2]:6.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from lessons import attacks, data, models, noise, transfer

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f}")
    results: list = []
    mnist = data.load_mnist()
    x, y = mnist.x_test[:300], mnist.y_test[:300]

    cache = os.environ.get("LESSONS_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LESSONS_CACHE"] = tmp
        with timed("train the three P1/P2 models (cold cache)", results):
            halves = {n: transfer.half_model(n, device="cpu", progress=False) for n in transfer.HALF_MODELS}
    if cache is None:
        os.environ.pop("LESSONS_CACHE")
    else:
        os.environ["LESSONS_CACHE"] = cache

    nets = {n: models.pretrained(n, device="cpu", progress=False) for n in models.PRETRAINED}
    with timed(f"boundary_walk, {len(nets)} pretrained models × 300 digits", results):
        transfer.craft(nets, x, y, transfer.boundary_walk, progress=False)
    with timed(f"PGD-L2 (10 steps), {len(nets)} models × 300 digits", results):
        transfer.craft(nets, x, y, functools.partial(attacks.pgd, eps=0.062 * 28, norm="l2", steps=10,
                                                                    generator=torch.Generator().manual_seed(0)),
                       progress=False)
    g = torch.Generator().manual_seed(0)
    noisy = {f"Gaussian σ={s}": noise.gaussian_noise(x, s, generator=g) for s in (0.1, 0.3)}
    table = transfer.error_matrix(noisy, nets, x, y)
    paper = {("0.1", "softmax-wd1e-4"): 0.050, ("0.1", "fc100"): 0.0, ("0.1", "ae400-10"): 0.008,  # Szegedy Table 2,
             ("0.3", "softmax-wd1e-4"): 0.156, ("0.3", "fc100"): 0.05, ("0.3", "ae400-10"): 0.031}  # rows "Gaussian noise"
    for (s, n), p in paper.items():
        print(f"  Gaussian σ={s} → {n:<15} ours {table[f'Gaussian σ={s}', n]:6.1%} (clean "
              f"{table.clean_error[table.cols.index(n)]:5.1%})   paper {p:5.1%}")
    with timed("boundary_walk, 3 half models × 300 digits", results):
        walk = transfer.craft(halves, x, y, transfer.boundary_walk, progress=False)
    with timed("evaluate 3 sets + 3 magnified + 3 noise on 3 models", results):
        sets = dict(walk)
        sets.update({f"{n} x": noise.rescale_perturbation(x, a, 0.1) for n, a in walk.items()})
        sets.update({f"{n} n": noise.matched_noise(x, a, generator=torch.Generator().manual_seed(0)) for n, a in walk.items()})
        transfer.error_matrix(sets, halves, x, y)
    if hasattr(attacks, "lbfgs"):
        sources = {"fc100": nets["fc100"], "fc200": nets["fc200"], "p1-fc100": halves["p1-fc100"]}
        with timed("attacks.lbfgs, 3 sources × 100 digits", results):
            transfer.craft(sources, x[:100], y[:100], functools.partial(attacks.lbfgs, progress=False), progress=False)
    with timed("one widget render (FGSM on the CNN, 200 digits)", results):
        xa = attacks.fgsm(nets["cnn"], mnist.x_test[300:500], mnist.y_test[300:500], 0.1)
        transfer.transfer_report(nets["fc100"], nets["cnn"], mnist.x_test[300:500], mnist.y_test[300:500], xa)
    print(f"{'total':<58} wall {sum(r[1] for r in results):6.1f} s   cpu {sum(r[2] for r in results):6.1f} s")


if __name__ == "__main__":
    main()
