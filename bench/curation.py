"""Curation at scale: ``python bench/curation.py [IMAGES]`` (default 10,000).

Works in a fresh temporary store of image rows (no files: curation never reads them) and prints
how long each curation step takes: one key press, choosing images by recipe, search and WHERE
clause, rating all of them in one command, undoing that, and a curation file's round trip.
Nothing asserts a time; the figures go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kiln.library.curation import Change, apply_change, select_ids, undo
from kiln.library.curation_file import export_lines, import_curation
from kiln.store import Store, open_store

STAMP = "2026-01-01T00:00:00.000Z"
WHERE = "prompt LIKE '%fox%'"
SUBJECTS = ["a lighthouse on a cliff", "a harbour town", "a fox in tall grass", "a tram on a bridge"]


def fill(store: Store, count: int) -> list[str]:
    ids = [f"{n * 2654435761 % 2**64:016x}" for n in range(count)]
    with store.transaction() as db:
        db["recipes"].insert({"name": "bench", "path": "recipes/bench.toml", "title": "bench",
                              "source_sha256": "0", "updated_at": STAMP})
        db["jobs"].insert_all(
            {"key": f"job{n:013d}", "spec": "{}", "recipe": "bench", "engine": "placeholder", "model": "m",
             "status": "succeeded", "queued_at": STAMP, "image_id": image_id}
            for n, image_id in enumerate(ids)
        )
        db["recipe_jobs"].insert_all(
            {"recipe": "bench", "job_key": f"job{n:013d}", "position": n, "axes": "{}"} for n in range(count)
        )
        db["images"].insert_all(
            {"id": image_id, "path": f"original/{image_id}.png", "width": 1024, "height": 1024, "bytes": 1,
             "sha256": "0" * 64, "format": "png", "job_key": f"job{n:013d}", "recipe": "bench",
             "prompt": f"{SUBJECTS[n % 4]}, at dusk, seed {n}", "created_at": STAMP}
            for n, image_id in enumerate(ids)
        )
    return ids


def timed(label: str, action: Callable[[], str], repeat: int = 1) -> None:
    """Print the mean time of ``action`` and what it says it did."""
    started = time.perf_counter()
    for _ in range(repeat):
        outcome = action()
    ms = (time.perf_counter() - started) * 1000 / repeat
    print(f"{label:<34} {ms:8.1f} ms  {outcome}")


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "a" / "kiln.db")
        ids = fill(store, count)
        print(f"{count:,} images")
        ratings = iter(range(10**6))
        timed("one key press (rate one image)",
              lambda: apply_change(store, [ids[7]], Change(rating=next(ratings) % 5 + 1), "server").describe(), 100)
        timed("--recipe", lambda: f"{len(select_ids(store, recipe='bench'))} images")
        timed("--search lighthouse", lambda: f"{len(select_ids(store, search='lighthouse'))} images")
        timed(f'--where "{WHERE}"', lambda: f"{len(select_ids(store, where=WHERE))} images")
        timed("rate every image (one command)", lambda: apply_change(store, ids, Change(rating=4), "cli").describe())
        timed("undo that", lambda: undo(store).describe())
        apply_change(store, ids, Change(rating=3, add_tags=("keep",)), "cli")
        text = ""

        def export() -> str:
            nonlocal text
            lines = list(export_lines(store))
            text = "\n".join(lines)
            return f"{len(lines)} lines"

        timed("export every image", export)
        fresh = open_store(Path(tmp) / "b" / "kiln.db")
        fill(fresh, count)
        timed("import onto a rebuilt store", lambda: import_curation(fresh, text, "curation.jsonl").lines()[0])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
