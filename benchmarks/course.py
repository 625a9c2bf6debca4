"""Whole-course benchmark: wall time and peak memory of every notebook, cold and warm cache.

Each notebook runs top to bottom in a fresh kernel (nbclient, exactly as a learner's "Run
All"). While it runs, a thread samples the resident memory (RSS) of the whole kernel process
tree every 0.1 s with psutil; the peak is reported. Two passes:

- **cold**: a fresh, empty temporary ``LESSONS_CACHE``, notebooks in course order, so each
  model is trained by the first notebook that needs it (a learner's first time through);
- **warm**: the same notebooks again with the cache the cold pass filled (every later visit).

With ``--no-cold`` only the warm pass runs, against your current cache (``$LESSONS_CACHE`` or
the default): run ``python -m lessons.warm`` first or the "warm" numbers include training.

Goals (from the course design): every kernel under 2 GB (Binder's limit); each notebook under
a minute warm; the whole course under 5 minutes warm. The last lines say whether they held.

Usage:
    python benchmarks/course.py                 # every notebooks/NN_*.ipynb, cold then warm
    python benchmarks/course.py 00 03           # some notebooks (number or file stem)
    python benchmarks/course.py --no-cold       # warm only, current cache
    python benchmarks/course.py --json out.json # also save the figures
Exit status: 1 if a notebook failed, else 0 (missed goals are reported, not fatal).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
BINDER_LIMIT_MB = 2048
GOAL_NOTEBOOK_WARM_S = 60
GOAL_COURSE_WARM_S = 300


class TreeMemory:
    """Peak summed RSS of this process's descendants (the kernel and anything it starts).

    This process does not count: only the kernel tree does, which is what Binder limits.
    (Summing RSS counts pages shared between a parent and forked children twice, so the
    figure errs on the high side.)
    """

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for child in psutil.Process().children(recursive=True):
            try:
                total += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def pick(names: list[str]) -> list[Path]:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return paths
    chosen = []
    for name in names:
        stem = Path(name).stem
        hits = [p for p in paths if p.stem == stem or p.stem[:2] == stem.zfill(2)]
        if not hits:
            sys.exit(f"no notebook matches {name!r}; have: {', '.join(p.stem for p in paths)}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def run_notebook(path: Path, cache: str | None, timeout: int) -> dict:
    """Execute ``path`` in a fresh kernel; return seconds, peak MiB and any error."""
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("LESSONS_CACHE")
    if cache is not None:
        os.environ["LESSONS_CACHE"] = cache  # the kernel inherits our environment
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error = None
    start = time.perf_counter()
    try:
        with TreeMemory() as mem:
            client.execute()
    except (CellExecutionError, CellTimeoutError) as err:
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        error = lines[-1][:200] if lines else type(err).__name__
    finally:
        if cache is not None:
            if env_before is None:
                os.environ.pop("LESSONS_CACHE", None)
            else:
                os.environ["LESSONS_CACHE"] = env_before
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": mem.peak / 2**20, "error": error}


def fmt(result: dict | None, key: str, spec: str) -> str:
    if result is None:
        return "—"
    if result["error"]:
        return "FAILED"
    return format(result[key], spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="notebook numbers or stems (default: all)")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-cache pass; warm uses your current cache")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell (default 900)")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    paths = pick(args.notebooks)
    if not paths:
        print("no notebooks found under", NOTEBOOKS)
        return 1

    import torch  # only for the header: which torch, which device, how many threads

    print(f"Blind Spots course benchmark — {len(paths)} notebook(s), Python {platform.python_version()}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPU(s), LESSONS_DEVICE={os.environ.get('LESSONS_DEVICE', '(auto)')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    results: dict[str, dict] = {p.stem: {} for p in paths}
    tmp = None
    if args.no_cold:
        warm_cache = None  # the kernel sees the caller's LESSONS_CACHE (or the default)
        print(f"warm pass only, cache: {os.environ.get('LESSONS_CACHE', '(default user cache)')}")
    else:
        tmp = tempfile.TemporaryDirectory(prefix="lessons-cold-cache-")
        warm_cache = tmp.name
        print(f"cold pass with an empty cache at {tmp.name}, then a warm pass reusing it")
        for p in paths:
            r = run_notebook(p, tmp.name, args.timeout)
            results[p.stem]["cold"] = r
            error = f"  ERROR {r['error']}" if r["error"] else ""
            print(f"  cold {p.stem}: {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MiB{error}", flush=True)
    for p in paths:
        r = run_notebook(p, warm_cache, args.timeout)
        results[p.stem]["warm"] = r
        error = f"  ERROR {r['error']}" if r["error"] else ""
        print(f"  warm {p.stem}: {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MiB{error}", flush=True)
    if tmp is not None:
        tmp.cleanup()

    total_label = "total (time) / max (peak)"
    width = max([len(s) for s in results] + [len(total_label)])
    print()
    print(f"| {'notebook':<{width}} | cold s | cold peak MiB | warm s | warm peak MiB |")
    print(f"|{'-' * (width + 2)}|-------:|--------------:|-------:|--------------:|")
    for stem, r in results.items():
        c, w = r.get("cold"), r.get("warm")
        print(f"| {stem:<{width}} | {fmt(c, 'seconds', '6.1f'):>6} | {fmt(c, 'peak_mb', '13.0f'):>13} "
              f"| {fmt(w, 'seconds', '6.1f'):>6} | {fmt(w, 'peak_mb', '13.0f'):>13} |")

    def total(mode: str) -> tuple[float, float] | None:
        runs = [r[mode] for r in results.values() if mode in r]
        if not runs:
            return None
        return sum(x["seconds"] for x in runs), max(x["peak_mb"] for x in runs)

    tc, tw = total("cold"), total("warm")
    print(f"| {total_label:<{width}} | {f'{tc[0]:.1f}' if tc else '—':>6} | {f'{tc[1]:.0f}' if tc else '—':>13} "
          f"| {tw[0]:6.1f} | {tw[1]:13.0f} |")

    failed = [f"{stem} ({mode}: {r[mode]['error']})" for stem, r in results.items() for mode in r if r[mode]["error"]]
    peaks = [r[m]["peak_mb"] for r in results.values() for m in r]
    slow = [stem for stem, r in results.items() if r["warm"]["seconds"] > GOAL_NOTEBOOK_WARM_S]
    print()
    print(f"goal: every kernel under {BINDER_LIMIT_MB} MiB (Binder) — "
          f"{'met' if max(peaks) < BINDER_LIMIT_MB else 'MISSED'} (max {max(peaks):.0f} MiB)")
    print(f"goal: each notebook under {GOAL_NOTEBOOK_WARM_S} s warm — "
          f"{'met' if not slow else 'MISSED by ' + ', '.join(slow)}")
    if len(results) == len(pick([])):
        print(f"goal: whole course under {GOAL_COURSE_WARM_S} s warm — "
              f"{'met' if tw[0] < GOAL_COURSE_WARM_S else 'MISSED'} ({tw[0]:.0f} s)")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"note: load average {load:.1f} on {os.cpu_count()} CPU(s): other work shared the machine; times are inflated")
    if failed:
        print("FAILED:", "; ".join(failed))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print("wrote", args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
