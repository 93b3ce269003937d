"""What the store's Datasette indexes cost a writer: ``python bench/index_write_cost.py [--images N]``.

Migration 0011 adds indexes so Datasette answers quickly at a million images; every index is
also written on each insert. This makes a store of N images (default 100,000, rows only) with
``bench/stores.py`` and copies it, drops 0011's indexes from the copy (restoring the ones it
replaced), and on each store times what ``kiln run`` writes per image (a job, its claim, an
attempt, the image with two derivatives, in the runner's own transactions) and what one
curation key press writes (a rating, with its history row), ``--count`` times each.

Nothing asserts a time; the figures go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from stores import make_store  # noqa: E402

from kiln.library.curation import Change, apply_change  # noqa: E402
from kiln.store import Store, open_store  # noqa: E402

ADDED = (
    "idx_images_model_created", "idx_images_rating_created", "idx_images_status_created", "idx_images_recipe_model",
    "idx_images_selected", "idx_jobs_status_finished", "idx_jobs_queued", "idx_jobs_recipe", "idx_jobs_engine_model",
    "idx_attempts_outcome", "idx_attempts_engine", "idx_attempts_error_code", "idx_history_field",
    "idx_history_source", "idx_derivatives_created", "idx_derivatives_format",
)
REPLACED = (
    "CREATE INDEX idx_images_model ON images(model)",
    "CREATE INDEX idx_images_rating ON images(rating)",
    "CREATE INDEX idx_images_status ON images(status)",
    "CREATE INDEX idx_jobs_status ON jobs(status)",
)


def without_0011(db: Path) -> None:
    store = open_store(db)
    with store.transaction():
        for name in ADDED:
            store.conn.execute(f"DROP INDEX {name}")
        for sql in REPLACED:
            store.conn.execute(sql)
    store.conn.execute("VACUUM")
    store.close()


def write_images(store: Store, count: int, salt: str) -> float:
    """Milliseconds per image for what the runner writes, in its own transactions."""
    run_id = store.start_run(["set-000"])
    started = time.perf_counter()
    for n in range(count):
        key = f"{salt}{n:012x}"
        image_id = f"{salt}{n:012x}"
        spec = {"engine": "placeholder", "model": "procedural-v1", "prompt": f"a quiet fox {n}", "seed": n}
        store.add_jobs("set-000", [(key, spec, {"seed": n})], 10**6 + n)
        store.claim(key, run_id)
        stamp = f"2027-01-01T00:00:{n % 60:02d}.{n % 1000:03d}Z"
        store.record_attempt(key, run_id, "placeholder", 1, stamp, 500.0, "succeeded", None, None)
        image = {
            "id": image_id, "path": f"original/{image_id}.png", "width": 256, "height": 256, "bytes": 1000,
            "sha256": image_id * 4, "format": "png", "job_key": key, "recipe": "set-000",
            "prompt": spec["prompt"], "model": "procedural-v1", "engine": "placeholder", "seed": n,
            "created_at": stamp,
        }
        derivatives = [
            {"image_id": image_id, "stage": stage, "path": f"{stage}/{image_id}.webp", "width": 256, "height": 256,
             "bytes": 100, "format": "webp", "created_at": stamp}
            for stage in ("thumb", "web")
        ]
        store.record_image(key, image, derivatives, 500.0)
    return (time.perf_counter() - started) * 1000 / count


def key_presses(store: Store, count: int) -> float:
    """Milliseconds per rating of one image, as the server's key press writes it."""
    ids = [row[0] for row in store.conn.execute("SELECT id FROM images ORDER BY rowid LIMIT ?", [count])]
    started = time.perf_counter()
    for n, image_id in enumerate(ids):
        apply_change(store, [image_id], Change(rating=n % 5 + 1), "server")
    return (time.perf_counter() - started) * 1000 / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--count", type=int, default=2_000, help="images written and key presses per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp) / "with"
        make_store(base, args.images, files=False)
        open_store(base / "art" / "kiln.db").close()  # migrated, 0011 included
        bare = Path(temp) / "without"
        shutil.copytree(base, bare)
        without_0011(bare / "art" / "kiln.db")
        results: dict[str, tuple[list[float], list[float]]] = {"without 0011": ([], []), "with 0011": ([], [])}
        for round_ in range(args.rounds):  # interleaved, so a busy moment hits both alike
            for label, folder in (("without 0011", bare), ("with 0011", base)):
                store = open_store(folder / "art" / "kiln.db")
                results[label][0].append(write_images(store, args.count, f"{round_:02x}b0"))
                results[label][1].append(key_presses(store, args.count))
                store.close()
        print(f"Writes into a store of {args.images:,} images, {args.count:,} each, median of {args.rounds}")
        print(f"  {'':<14} {'kiln run, per image':>20} {'key press':>12}")
        for label, (writes, presses) in results.items():
            print(f"  {label:<14} {statistics.median(writes):17.2f} ms {statistics.median(presses):9.2f} ms")


if __name__ == "__main__":
    main()
