"""Train and cache every model the notebooks use, so a lesson opens instantly.

Run ``python -m lessons.warm`` (``make warm``; Binder's postBuild does it too). Safe to run
again: cached models load in milliseconds. ``--list`` shows what would be trained.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import models

# Each entry: (name, loader). Lessons with their own cached models add a line here.
WARMERS = [(f"pretrained:{name}", (lambda n=name: models.pretrained(n, progress=False))) for name in models.PRETRAINED]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons.warm", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the cached models and exit")
    args = parser.parse_args(argv)
    print(f"model cache: {models.cache_dir()}")
    total = time.perf_counter()
    for name, load in WARMERS:
        if args.list:
            print(" ", name)
            continue
        start = time.perf_counter()
        model = load()
        info = getattr(model, "cache_info", {})
        state = "cached" if info.get("cached") else "trained"
        print(f"  {name:<32} {state:<8} {time.perf_counter() - start:6.1f} s", flush=True)
    if not args.list:
        print(f"all models ready in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
