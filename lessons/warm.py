"""Train and cache every model the notebooks use, so a lesson opens instantly.

Run ``python -m lessons.warm`` (``make warm``; Binder's postBuild does it too). Safe to run
again: cached models load in milliseconds. ``--list`` shows what would be trained.

A lesson module with cached models of its own exposes ``CACHED_MODELS``: a dict of
name → zero-argument loader (which trains on first use, then reads the cache).
"""

from __future__ import annotations

import argparse
import sys
import time

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons.warm", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the cached models and exit")
    args = parser.parse_args(argv)
    print(f"model cache: {cache.cache_dir()}")
    total = time.perf_counter()
    for name, load in warmers():
        if args.list:
            print(" ", name)
            continue
        start = time.perf_counter()
        model = load()
        info = getattr(model, "cache_info", {})
        state = "cached" if info.get("cached") else "trained"
        print(f"  {name:<40} {state:<8} {time.perf_counter() - start:6.1f} s", flush=True)
    if not args.list:
        print(f"all models ready in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
