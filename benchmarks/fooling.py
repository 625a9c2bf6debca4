"""Lesson 03 benchmark: how fast do we fool the MNIST CNN and the ImageNet classifier?

Prints measured figures (nothing is asserted):
- MNIST (``models.pretrained("cnn")``): seconds and images scored until all 10 digits reach
  ≥ 99.99% confidence, per encoding of MAP-Elites (direct, CPPN) and for gradient ascent on
  the pixels, for a few seeds. Goal: under 30 s per encoding. For scale: Nguyen et al.'s code
  took about 5 minutes for 200 generations on 4 cores.
- ImageNet (``models.imagenet_classifier()``, the 10 classes of ``fooling.IMAGENET_CLASSES``):
  the median confidence reached in 60 s of CPU time by CPPN MAP-Elites, by gradient ascent on
  the weights of one ``GradientCPPN`` per class (``fooling.imagenet_cppn``'s recipe), and by
  gradient ascent on pixels. CPU time (``time.process_time``) with one torch thread is what a
  free laptop core would take as wall time; wall time is printed too. Goal for the CPPN
  weights: median >= 99% within 60 s. Paper: CPPN evolution median 88.11% (AlexNet, 1,000
  classes, days on a cluster).

Run: ``python benchmarks/fooling.py [--seeds 3] [--budget 60] [--threads 1] [--skip-imagenet]``. Timings
depend on the machine and on what else runs on it; quote them with that caveat.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lessons import data, fooling, models


def mnist(seeds: int, max_generations: int) -> None:
    cnn = models.pretrained("cnn", device="cpu", progress=False)
    print("MNIST: seconds until all 10 digits reach >= 99.99% (LeNet-style CNN, CPU, "
          f"{torch.get_num_threads()} threads)")
    for name in fooling.ENCODINGS:
        seconds = []
        for seed in range(seeds):
            enc = fooling.make_encoding(name, (1, 28, 28))
            start = time.perf_counter()
            archive = fooling.map_elites(cnn, enc, generations=max_generations, until=0.9999, batch_size=64,
                                         generator=torch.Generator().manual_seed(seed), progress=False)
            took = time.perf_counter() - start
            done = bool((archive.confidence >= 0.9999).all())
            seconds.append(took if done else float("inf"))
            print(f"  MAP-Elites {name:<6} seed {seed}: {took:6.1f} s, {archive.generations:4d} generations, "
                  f"{archive.evaluations:6d} images, lowest {float(archive.confidence.min()):.5%}"
                  + ("" if done else "  (NOT all >= 99.99%)"), flush=True)
        print(f"  MAP-Elites {name:<6} median: {statistics.median(seconds):.1f} s")
    for seed in range(seeds):
        start = time.perf_counter()
        x = torch.rand((10, 1, 28, 28), generator=torch.Generator().manual_seed(seed))
        steps = 0
        while True:  # chunks of 10 Adam steps (each chunk restarts Adam's moments) until all pass
            x = fooling.gradient_ascent(cnn, torch.arange(10), start=x, steps=10, lr=0.05, progress=False)
            steps += 10
            p = models.predict(cnn, x).diagonal()
            if bool((p >= 0.9999).all()) or steps >= 500:
                break
        print(f"  gradient ascent   seed {seed}: {time.perf_counter() - start:6.1f} s, {steps} steps, "
              f"lowest {float(p.min()):.5%}", flush=True)


def imagenet(budget: float, threads: int) -> None:
    torch.set_num_threads(threads)
    net = models.imagenet_classifier(device="cpu")
    labels = data.imagenet_labels()
    classes = [labels.index(n) for n in fooling.IMAGENET_CLASSES]
    targets = torch.tensor(classes)
    print(f"ImageNet: median confidence over {len(classes)} classes after {budget:g} s of CPU time "
          f"(EfficientNet-Lite0, {threads} torch thread(s); wall time is longer on a busy machine)")

    def score(images):
        return models.predict(net, images)[torch.arange(len(classes)), targets]

    def report(what, p, steps, wall, cpu):
        print(f"  {what:<27} median {float(p.median()):7.2%}  >= 99%: {int((p >= 0.99).sum())}/{len(classes)}"
              f"  ({steps} steps, {cpu:.0f} s CPU, {wall:.0f} s wall)", flush=True)

    wall, cpu = time.perf_counter(), time.process_time()
    archive = fooling.map_elites(net, fooling.imagenet_encoding(), generations=100_000, classes=classes, batch_size=8,
                                 time_limit=budget, generator=torch.Generator().manual_seed(0), progress=False)
    report("CPPN MAP-Elites (wall):", archive.confidence, archive.generations, time.perf_counter() - wall, time.process_time() - cpu)

    # Gradient ascent on the weights of one GradientCPPN per class: fooling.imagenet_cppn's recipe,
    # through the same step loop, stopped by CPU time rather than a step count.
    cfg = fooling._IMAGENET_CPPN
    enc = fooling.imagenet_cppn_encoding()
    wall, cpu = time.perf_counter(), time.process_time()
    loop = fooling._cppn_steps(net, targets, enc, steps=100_000, lr=cfg["lr"], genomes=None,
                               generator=torch.Generator().manual_seed(cfg["seed"]))
    steps, curve = 0, []
    for step in loop:
        genomes, log_p = step
        steps += 1
        if steps % 10 == 0:
            curve.append(f"{steps}:{float(log_p.exp().median()):.3f}@{time.process_time() - cpu:.0f}s")
        if time.process_time() - cpu >= budget:
            break
    with torch.no_grad():
        images = enc.render(genomes)
    report("CPPN weights, grad. ascent:", score(images), steps, time.perf_counter() - wall, time.process_time() - cpu)
    print("    median at step:CPU seconds:", " ".join(curve))

    wall, cpu = time.perf_counter(), time.process_time()
    x, steps = torch.rand((len(classes), 3, 224, 224), generator=torch.Generator().manual_seed(0)), 0
    while time.process_time() - cpu < budget:
        x = fooling.gradient_ascent(net, targets, start=x, steps=5, lr=0.02, progress=False)
        steps += 5
    report("pixels, gradient ascent:", score(x), steps, time.perf_counter() - wall, time.process_time() - cpu)
    print("  paper (Nguyen et al. 2015): CPPN evolution median 88.11% over 1,000 classes (AlexNet, days on a cluster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-generations", type=int, default=1500)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of CPU time per ImageNet method")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the ImageNet runs")
    parser.add_argument("--skip-imagenet", action="store_true")
    args = parser.parse_args()
    mnist(args.seeds, args.max_generations)
    if not args.skip_imagenet:
        imagenet(args.budget, args.threads)


if __name__ == "__main__":
    main()
