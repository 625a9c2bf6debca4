"""Train and cache every model the notebooks use, so a lesson opens instantly.

Run ``python -m lessons.warm`` (``make warm``; Binder's postBuild does it too). Safe to run
again: cached models load in milliseconds. ``--list`` shows what would be trained.

A lesson module with cached models of its own exposes ``CACHED_MODELS``: a dict of
name → zero-argument loader (which trains on first use, then reads the cache).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from . import audit, blackbox, cache, certify, defences, directions, fooling, models, recipes, transfer

# Modules with cached models of their own, in lesson order (lesson 07's audit caches results; lesson 08's
# course table measures lesson 05's models with lesson 07's attacks, so it comes last).
_MODULES = (transfer, fooling, directions, recipes, blackbox, defences, audit, certify)


def warmers() -> list[tuple[str, object]]:
    """Every (name, loader) pair: the ``PRETRAINED`` models, then each lesson's own."""
    found = [(f"models.pretrained('{n}')", (lambda n=n: models.pretrained(n, progress=False))) for n in models.PRETRAINED]
    for module in _MODULES:
        found += [(f"{module.__name__.split('.')[-1]}:{n}", load) for n, load in module.CACHED_MODELS.items()]
    return found


def _stage(name: str) -> int:
    """What must be cached before ``name`` can be built: stages run one after the other."""
    if name.startswith("models."):
        return 0  # the lesson-00 models others are built on
    if name.startswith(("defences:", "audit:")):
        return 2  # they measure or wrap lesson 05's models
    if name.startswith("certify:course-row"):
        return 3  # one model of lessons 05 or 08 measured with lesson 07's attacks (lesson 05's read the audit)
    if name == "certify:course-table":
        return 4  # the rows, put together
    return 1


def _warm(name: str) -> tuple[str, str, float]:
    """Build or load one cached artefact by its ``warmers()`` name."""
    load = dict(warmers())[name]
    start = time.perf_counter()
    info = getattr(load(), "cache_info", {})
    return name, "cached" if info.get("cached") else "trained", time.perf_counter() - start


def _one_thread() -> None:
    torch.set_num_threads(1)  # two one-thread processes beat one two-thread process on small models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons.warm", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the cached models and exit")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes that build at once (default 1); 2 on a 2-core machine nearly halves a cold start")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive number of processes, got {args.jobs}")
    print(f"model cache: {cache.cache_dir()}")
    names = [name for name, _ in warmers()]
    if args.list:
        for name in names:
            print(" ", name)
        return 0
    total = time.perf_counter()
    if args.jobs == 1:
        for name in names:
            print(f"  {name:<40} {{:<8}} {{:6.1f}} s".format(*_warm(name)[1:]), flush=True)
    else:
        # spawn, not fork: a forked torch can deadlock in its thread pools
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
            for stage in sorted({_stage(n) for n in names}):
                todo = [n for n in names if _stage(n) == stage]
                # one item alone (the course table) runs here, with every thread, not in a one-thread worker
                for name, state, seconds in ([_warm(todo[0])] if len(todo) == 1 else pool.map(_warm, todo)):
                    print(f"  {name:<40} {state:<8} {seconds:6.1f} s", flush=True)
    print(f"all models ready in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
