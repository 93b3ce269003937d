"""What ``kiln build`` costs after one new image or one old image curated, and which part of
it is the gallery's.

    python bench/gallery_one_image.py --store DIR [--work DIR] [--runs 3] [--profile]

Copies the store made by bench/stores.py at ``--store`` (as bench/build_scale.py does: files
hard-linked, the database copied, every virtual collection shown), makes a full build,
then a no-op and, ``--runs`` times, one new image in the largest recipe (as ``kiln run``
records it) followed by ``kiln build`` as a child process: its CPU time (user + sys, with the
worker processes it waited for), wall time and peak RSS. Then, ``--runs`` times each, an old
image (the middle one by creation time) curated as ``kiln rate`` / ``kiln pick`` / ``kiln tag``
would, each followed by ``kiln build``: rated anew (its collections the same), picked or
unpicked (Picks gains or loses it in the middle), and tagged (a tag's collection gains it in
the middle). With ``--profile``, one more new image is
built in this process under cProfile with the finder's files left as they are (they are
measured by bench/find.py), and the build's CPU time and its costliest calls are printed:
what the gallery, its feeds and its stats page cost without the start of Python.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from build_scale import KILN, add_image, described_build, fresh_copy  # noqa: E402




def profiled_build(project: Path) -> None:
    """One build in this process, the finder's files kept as they are."""
    import kiln.site.builder as builder
    from kiln.project import load_project
    from kiln.site import build_site
    from kiln.store import open_store

    for producer in builder.PRODUCERS:
        if producer.name == "find":
            type(producer).produce = lambda self, build: None  # type: ignore[method-assign]
    sweep = builder.Builder.sweep
    builder.Builder.sweep = lambda self, owner: None if owner == "producer:find" else sweep(self, owner)  # type: ignore[method-assign]
    loaded = load_project(project)
    store = open_store(loaded.db_path)
    profile = cProfile.Profile()
    started = time.process_time()
    profile.enable()
    report = build_site(loaded, store)
    profile.disable()
    print(f"in-process build, finder aside: {time.process_time() - started:.2f} s CPU (with cProfile), {report.written} written")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


CURATIONS = {
    "rated anew": "rating = (rating + 1) % 6",
    "picked or unpicked": "status = CASE WHEN status = 'selected' THEN NULL ELSE 'selected' END",
    # the most common tag, whose collection gains it in the middle
    "tagged": "tags = json_insert(CASE WHEN json_valid(tags) THEN tags ELSE '[]' END, '$[#]', :tag)",
}
_COMMON_TAG = (
    "SELECT t.value FROM images i, json_each(CASE WHEN json_valid(i.tags) THEN i.tags ELSE '[]' END) t"
    " GROUP BY t.value ORDER BY count(*) DESC LIMIT 1"
)


def curate(project: Path, change: str, serial: int) -> None:
    """One old image curated: the one in the middle by creation time (a neighbour on each run)."""
    conn = sqlite3.connect(project / "art" / "kiln.db", isolation_level=None)
    image_id = conn.execute(
        "SELECT id FROM images ORDER BY created_at, id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM images) + ?", [serial]
    ).fetchone()[0]
    tag = (conn.execute(_COMMON_TAG).fetchone() or ["bench"])[0]
    conn.execute(f"UPDATE images SET {CURATIONS[change]} WHERE id = :id", {"id": image_id, "tag": tag})
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "kiln-gallery-one-image")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    project = fresh_copy(args.store, args.work)
    subprocess.run([*KILN, "status"], cwd=project, check=True, capture_output=True)  # migrations, outside the timings
    print(f"full build      {described_build(project)}")
    print(f"no-op           {described_build(project)}")
    for run in range(args.runs):
        add_image(project, run)
        print(f"one new image   {described_build(project)}")
    for change in CURATIONS:
        for run in range(args.runs):
            curate(project, change, run)
            print(f"an old image {change + ':':<19} {described_build(project)}")
    if args.profile:
        add_image(project, args.runs)
        profiled_build(project)


if __name__ == "__main__":
    main()
