"""The finder's files after one new image: ``python bench/find_growth.py --project DIR``.

``DIR`` is a project already built once (a copy made as bench/build_scale.py makes one, with
``kiln build`` run in it; ``--store`` makes that copy and its first build). Then, ``--runs``
times: one new image added as ``kiln run`` records it (bench/build_scale.py's ``add_image``),
and ``kiln build`` as a child process, timed: wall, CPU (user + system, from ``wait4``), peak
RSS, files written (of them under ``find/``); then as many times one image in the middle of the
library rated anew (as a key press under ``kiln serve`` does) and ``kiln build`` timed again;
then as many times both, one image rated anew and one new image. Last, builds in this process
with the finder's producer timed on its own (CPU): after one more image, after one image in the
middle of the library rated anew (its data sets changed in place), after both (changed in
place, then grown), and after one more image profiled (its ten costliest calls).

Nothing here asserts a time; the figures go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from build_scale import add_image, described_build, fresh_copy  # noqa: E402
from find import change_rating  # noqa: E402

from kiln.project import load_project  # noqa: E402
from kiln.site import build_site  # noqa: E402
from kiln.site.find import Finder  # noqa: E402
from kiln.store import open_store  # noqa: E402


def in_process(project_dir: Path, serial: int) -> None:
    spent = [0.0]
    produce = Finder.produce

    def timed(finder: Finder, build: object) -> None:
        started = time.process_time()
        try:
            produce(finder, build)  # type: ignore[arg-type]
        finally:
            spent[0] += time.process_time() - started

    Finder.produce = timed  # type: ignore[method-assign]
    project = load_project(project_dir)
    store = open_store(project.db_path)

    def measured(what: str, profile: cProfile.Profile | None = None) -> None:
        spent[0] = 0.0
        started = time.process_time()
        if profile:
            profile.enable()
        report = build_site(project, store)
        if profile:
            profile.disable()
        found = [n for n in report.written_names if n.startswith("find/")]
        print(f"{what}: build CPU {time.process_time() - started:.2f} s, the finder {spent[0]:.2f} s,"
              f" {len(found)} of its files written")

    measured("in process")
    change_rating(project.db_path)
    measured("one rating changed, in process")
    change_rating(project.db_path)
    add_image(project_dir, serial)
    measured("one rating changed and one new image, in process")
    add_image(project_dir, serial + 1)
    profile = cProfile.Profile()
    measured("profiled", profile)
    store.close()
    Finder.produce = produce  # type: ignore[method-assign]
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(r"kiln/site/(find\w*|growing|curating|filters|search)\.py", 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--store", type=Path, help="copy this store into --project and build it first")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--serial", type=int, default=1000, help="the first new image's number")
    args = parser.parse_args()
    if args.store:
        fresh_copy(args.store, args.project)
        print("first build:", described_build(args.project))
    print("no-op:", described_build(args.project))
    for run in range(args.runs):
        add_image(args.project, args.serial + run)
        print("one new image:", described_build(args.project))
    for _ in range(args.runs):
        change_rating(load_project(args.project).db_path)
        print("one rating changed:", described_build(args.project))
    for run in range(args.runs):
        change_rating(load_project(args.project).db_path)
        add_image(args.project, args.serial + args.runs + run)
        print("one rating changed and one new image:", described_build(args.project))
    add_image(args.project, args.serial + 2 * args.runs)
    in_process(args.project, args.serial + 2 * args.runs + 1)


if __name__ == "__main__":
    main()
