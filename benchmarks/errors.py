"""How the library answers bad input: per module, clear / unclear / silent (issue 13's fuzz table).

    python benchmarks/errors.py [--details]

Runs the table of ``tests/bad_inputs.py`` (every public function, each parameter spoiled in the
ways its kind allows) and counts the outcomes: *clear* — a TypeError or ValueError naming the
parameter; *unclear* — another exception, or a message that does not name it; *silent* — no error.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="print every call that is not clear")
    args = parser.parse_args(argv)
    import os

    os.environ["LESSONS_CACHE"] = tempfile.mkdtemp(prefix="blind-spots-errors-")  # nothing real is touched
    import bad_inputs as B

    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    bad = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in B.CASES:
            module = case.name.rsplit(".", 1)[0]
            for param, what, value, expected in case.spoiled():
                verdict, detail = B.outcome(case, param, value, expected)
                counts[module][verdict] += 1
                if verdict != "clear":
                    bad.append(f"{case.name}({param}={what}): {verdict}: {detail[:160]}")
    total = collections.Counter()
    print(f"{'module':<20} {'calls':>6} {'clear':>6} {'unclear':>8} {'silent':>7}")
    for module, c in sorted(counts.items()):
        total.update(c)
        print(f"{module:<20} {sum(c.values()):>6} {c['clear']:>6} {c['unclear']:>8} {c['silent']:>7}")
    print(f"{'all':<20} {sum(total.values()):>6} {total['clear']:>6} {total['unclear']:>8} {total['silent']:>7}"
          f"   ({len(B.CASES)} functions; {len(B.EXEMPT)} exempt, with reasons)")
    if args.details:
        print("\n".join(bad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
