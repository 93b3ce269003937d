"""`kill -9` in the middle of `kiln import`, then the same import again: every image in once,
with its files, its job and its place in the collection; no stray file; no worker left."""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from processes import alive, descendants, describe, kill_all, naming, survivors
from projectcli import memory_folder

from kiln.stages import STAGES

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

FILES = 400
TIMEOUT_S = 300


@pytest.fixture
def root() -> Iterator[Path]:
    root = memory_folder("kiln-import-kill-")
    (root / "proj").mkdir()
    (root / "proj" / "kiln.toml").write_text('[project]\ntitle = "Kill"\n')
    folder = root / "renders"
    folder.mkdir()
    for i in range(FILES):
        info = PngInfo()
        info.add_text("parameters", f"a kite number {i}\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: {i}, Size: 384x256")
        buffer = io.BytesIO()
        Image.new("RGB", (384, 256), (i % 256, i // 256 * 40, 128)).save(buffer, "PNG", pnginfo=info, compress_level=1)
        (folder / f"{i:04}.png").write_bytes(buffer.getvalue())
    try:
        yield root
    finally:
        kill_all(naming(str(root)))
        shutil.rmtree(root, ignore_errors=True)


def _import(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kiln", "import", str(root / "renders"), "-C", str(root / "proj")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _rows(root: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(root / "proj" / "art" / "kiln.db", timeout=10) as conn:
        return conn.execute(sql).fetchall()


def _kill_after(root: Path, delay: float) -> None:
    process = _import(root)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and process.poll() is None:
            started |= descendants(process.pid)
            time.sleep(0.02)
        started |= descendants(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        left = survivors(started, timeout=5)
        assert not left, f"still alive after kill -9 of kiln import: {describe(left)}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        kill_all({pid for pid in started if alive(pid)})
    art = root / "proj" / "art"
    if (art / "kiln.db").exists():
        for image_id, path in _rows(root, "SELECT id, path FROM images"):
            assert (art / path).is_file(), f"image {image_id} has a row but no file {path}"


def test_killed_twice_then_finished_nothing_lost_or_doubled(root: Path):
    seed = int(os.environ.get("KILN_KILL_SEED", random.randrange(1 << 32)))
    rng = random.Random(seed)
    for _ in range(2):
        _kill_after(root, rng.uniform(1.0, 3.0))
    process = _import(root)
    output, _ = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, output.decode(errors="replace")
    assert not survivors(naming(str(root)), timeout=5)
    note = f"KILN_KILL_SEED={seed}"
    ids = {image_id for (image_id,) in _rows(root, "SELECT id FROM images")}
    assert len(ids) == FILES, note
    assert _rows(root, "SELECT count(*), count(DISTINCT position), min(position), max(position) FROM recipe_jobs") == [
        (FILES, FILES, 0, FILES - 1)
    ], note
    assert _rows(root, "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND image_id IS NOT NULL") == [(FILES,)], note
    assert _rows(root, "SELECT count(*) FROM import_sources") == [(FILES,)], note
    assert _rows(root, "SELECT count(*) FROM derivatives") == [(len(STAGES) * FILES,)], note
    art = root / "proj" / "art"
    assert {path.stem for path in (art / "original").iterdir()} == ids, note
    for stage in (stage.name for stage in STAGES):
        assert {path.stem for path in (art / stage).iterdir()} == ids, note
    assert not list(art.rglob(".tmp-*")), note
    assert sorted(p.name for p in (root / "renders").iterdir()) == [f"{i:04}.png" for i in range(FILES)]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def test_a_worker_killed_ends_the_import_with_a_message_and_the_next_one_finishes(root: Path):
    process = _import(root)
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline and not workers and process.poll() is None:
            # The pool's workers: children of kiln that are not multiprocessing's resource tracker.
            workers = {pid for pid in descendants(process.pid) if "resource_tracker" not in _command(pid)}
            time.sleep(0.05)
        time.sleep(1.0)
        os.kill(min(workers), signal.SIGKILL)
        output, _ = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, output.decode(errors="replace")
    assert re.search(rb"error: a worker process died while importing \(out of memory\?\); [\d,]+ images? imported so far"
                     rb" are kept: run the same import again to go on", output), output
    assert not survivors(naming(str(root)), timeout=5)
    again = _import(root)
    output, _ = again.communicate(timeout=TIMEOUT_S)
    assert again.returncode == 0, output.decode(errors="replace")
    assert _rows(root, "SELECT count(*), count(DISTINCT id) FROM images") == [(FILES, FILES)]
    assert _rows(root, "SELECT count(DISTINCT position) FROM recipe_jobs") == [(FILES,)]
