"""How long the stats page's figures take to read from stores of growing size.

    python bench/stats_page.py [--images 1000,10000,100000] [--keep DIR]

Each store is made by bench/stores.py (without files: the figures read only rows); the table
gives the time of ``read_stats`` (every grouped query) and of drawing its charts, best of three.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from stores import make_store  # noqa: E402

from kiln.site.stats import read_stats, stats_charts  # noqa: E402
from kiln.store.db import open_store  # noqa: E402


def best(function, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="1000,10000,100000")
    parser.add_argument("--keep", type=Path, help="make the stores under this folder and keep them")
    args = parser.parse_args()
    print(f"{'images':>8} {'queries s':>10} {'charts s':>9} {'recipes':>8} {'days':>5} {'engines':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        for count in (int(n) for n in args.images.split(",")):
            dest = base / f"stats-{count}"
            db = dest / "art" / "kiln.db"
            if not db.exists():
                db = make_store(dest, count, files=False)
            store = open_store(db)
            seconds, stats = best(lambda: read_stats(store))
            drawn, _ = best(lambda: stats_charts(stats))
            print(f"{count:>8,} {seconds:>10.3f} {drawn:>9.4f} {len(stats.recipes):>8} {len(stats.days):>5} {len(stats.engines):>8}")
            store.close()


if __name__ == "__main__":
    main()
