"""``kiln doctor`` on large stores: ``python bench/doctor.py`` (also run by ``just bench``).

A store is made cheaply and the same way every time: ``kiln run`` makes a few real 1024×1024
images with the placeholder engine, then rows are added for as many more as asked, their
files made from the real ones:

* ``distinct`` stores give every image its own original: a real PNG with one more text chunk,
  so each file has its own bytes and id, decodes, and is as large as a real one (≈ 1.5 MB);
* ``linked`` stores hard-link every original to one real file (ids then do not match
  contents, so only the default check, which hashes nothing it has seen unchanged, makes
  sense on them). They show what the directory listings, stats and rows cost at sizes whose
  distinct originals would not fit on a small disk.

Derivatives are hard links to the real ones. Each timing is a whole ``kiln doctor`` process,
start-up included; files are in the page cache (just written).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from run import make_project, run_project

from kiln.project import load_project

REAL = 8  # images made by the engine; the rest are copies of these


def text_chunk(text: str) -> bytes:
    data = b"Comment\0" + text.encode()
    return struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))


def make_store(folder: Path, images: int, distinct: bool) -> None:
    recipe = f"""
        prompt = "a {{red|arctic}} fox in {{a snowstorm|an autumn forest}}, oil painting"
        size = "1024x1024"
        seeds = {REAL // 4}
        steps = 4
    """
    make_project(folder, recipe)
    run_project(folder)
    art = load_project(folder).art_dir
    conn = sqlite3.connect(art / "kiln.db")
    real = conn.execute(
        "SELECT images.id, images.path, images.width, images.height, jobs.spec FROM images"
        " JOIN jobs ON jobs.key = images.job_key ORDER BY images.id"
    ).fetchall()
    derivatives = {
        (image_id, stage): (path, width, height, size)
        for image_id, stage, path, width, height, size in conn.execute(
            "SELECT image_id, stage, path, width, height, bytes FROM derivatives"
        )
    }
    stamp = "2026-01-01T00:00:00.000Z"
    conn.execute("BEGIN")
    for i in range(images - REAL):
        source_id, source_path, width, height, spec = real[i % REAL]
        source = art / source_path
        if distinct:
            data = source.read_bytes()
            data = data[:-12] + text_chunk(f"copy {i}") + data[-12:]  # before IEND
            digest = hashlib.sha256(data).hexdigest()
            size = len(data)
        else:
            digest = hashlib.sha256(f"linked {i}".encode()).hexdigest()
            size = source.stat().st_size
        image_id, key = digest[:16], hashlib.sha256(f"job {i}".encode()).hexdigest()[:16]
        original = art / "original" / f"{image_id}.png"
        if distinct:
            original.write_bytes(data)
            original.chmod(0o444)  # as kiln stores it: doctor finds nothing to mend
        else:
            os.link(source, original)
        conn.execute(
            "INSERT INTO jobs (key, spec, recipe, engine, model, status, queued_at, image_id)"
            " VALUES (?, ?, 'bench', 'placeholder', 'procedural-v1', 'succeeded', ?, ?)",
            [key, spec, stamp, image_id],
        )
        conn.execute(
            "INSERT INTO images (id, path, width, height, bytes, sha256, format, job_key, recipe, prompt,"
            " created_at, file_mtime_ns) VALUES (?, ?, ?, ?, ?, ?, 'png', ?, 'bench', ?, ?, ?)",
            [image_id, f"original/{image_id}.png", width, height, size, digest, key,
             json.loads(spec)["prompt"], stamp, original.stat().st_mtime_ns],
        )
        for stage in ("thumb", "web"):
            path, w, h, stage_size = derivatives[(source_id, stage)]
            target = f"{stage}/{image_id}.webp"
            os.link(art / path, art / target)
            conn.execute(
                "INSERT INTO derivatives (image_id, stage, path, width, height, bytes, format, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'webp', ?)",
                [image_id, stage, target, w, h, stage_size, stamp],
            )
    conn.execute("COMMIT")
    conn.close()


def doctor(folder: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kiln", "doctor", *args, "-C", str(folder)], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    return elapsed, result.stdout.splitlines()[0] if result.stdout else result.stderr.strip()


def forget_stamps(folder: Path) -> None:
    """As a store made before kiln recorded when each original was last verified."""
    with sqlite3.connect(folder / "art" / "kiln.db") as conn:
        conn.execute("UPDATE images SET file_mtime_ns = NULL")


def bench(images: int, distinct: bool, rows: list[tuple[str, str, float, str]]) -> None:
    kind = "distinct" if distinct else "linked"
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        started = time.perf_counter()
        make_store(folder, images, distinct)
        print(f"  ({images:,} images, {kind} originals: store made in {time.perf_counter() - started:.1f} s)",
              file=sys.stderr)
        rows.append((f"{images:,}", kind, *doctor(folder)))
        if distinct:
            forget_stamps(folder)
            rows.append((f"{images:,}", f"{kind}, every original hashed", *doctor(folder)))
            if images <= 1000:
                rows.append((f"{images:,}", f"{kind}, --deep", *doctor(folder, "--deep")))
        shutil.rmtree(folder / "art")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", type=int, nargs="*", default=[1000],
                        help="sizes of stores with distinct originals (≈ 1.5 MB of disk per image: 10000 needs 15 GB)")
    parser.add_argument("--linked", type=int, nargs="*", default=[10000, 100000],
                        help="sizes of stores with hard-linked originals")
    args = parser.parse_args()
    rows: list[tuple[str, str, float, str]] = []
    for images in args.distinct:
        bench(images, True, rows)
    for images in args.linked:
        bench(images, False, rows)
    print("kiln doctor, a whole process each (1024x1024 originals, files in the page cache)")
    print(f"  {'images':>8}  {'store':<32} {'seconds':>8}  report")
    for images, kind, seconds, first_line in rows:
        print(f"  {images:>8}  {kind:<32} {seconds:8.2f}  {first_line}")


if __name__ == "__main__":
    main()
