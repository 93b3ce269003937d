"""`kill -9` at random moments of a 2,000-job run: nothing lost, nothing twice, no stray file,
no process left behind.

The normal suite kills three runs of one store in a row, then lets a last run finish. The
``stress`` marker runs 50 trials, each a fresh store killed once at a random moment of its run
and then run to the end; ``KILN_KILL_TRIALS`` changes that count and ``KILN_KILL_SEED`` the
draws.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from processes import alive, describe, descendants, kill_all, naming, survivors
from projectcli import memory_folder

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

# 5 colours × 4 animals × 100 seeds.
RECIPE = """
title = "Two thousand"
prompt = "a {red|blue|green|white|black} {fox|owl|cat|dog} at dusk"
size = "64x64"
seeds = 100
steps = 1
"""
JOBS = 2000
# An uninterrupted run takes under 20 s on 2 idle cores.
RUN_TIMEOUT_S = 600


@pytest.fixture
def project() -> Iterator[Path]:
    root = memory_folder("kiln-kill-")
    (root / "recipes").mkdir()
    (root / "kiln.toml").write_text('[project]\ntitle = "Kill trials"\n')
    (root / "recipes" / "many.toml").write_text(RECIPE)
    try:
        yield root
    finally:
        kill_all(naming(str(root)))
        shutil.rmtree(root, ignore_errors=True)


def _rng() -> tuple[random.Random, int]:
    seed = int(os.environ.get("KILN_KILL_SEED", random.randrange(1 << 32)))
    return random.Random(seed), seed


def _kiln_run(project: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "kiln", "run", "-C", str(project)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _rows(project: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(project / "art" / "kiln.db", timeout=10) as conn:
        return conn.execute(sql).fetchall()


def kill_at(project: Path, delay: float, note: str) -> bool:
    """Start `kiln run`, SIGKILL it after ``delay`` seconds, and check that everything it
    started is gone within 5 s and that each image row still has its files. False if the run
    had already ended by then."""
    process = _kiln_run(project)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and process.poll() is None:
            started |= descendants(process.pid)
            time.sleep(0.05)
        started |= descendants(process.pid)
        landed = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        left = survivors(started | naming(str(project)), timeout=5)
        assert not left, f"{note}: still alive after kill -9 of kiln run: {describe(left)}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        kill_all({pid for pid in started if alive(pid)})
    # A kill early in the run's start can leave the store's file made but its tables not yet.
    if (project / "art" / "kiln.db").exists() and _rows(project, "SELECT 1 FROM sqlite_master WHERE name = 'images'"):
        art = project / "art"
        for image_id, path in _rows(project, "SELECT id, path FROM images"):
            assert (art / path).is_file(), f"{note}: image {image_id} has a row but no file {path}"
    return landed


def run_to_the_end(project: Path, note: str) -> None:
    """Run what is left, then check rows = job keys = files and that nothing is left running."""
    process = _kiln_run(project)
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        states = _rows(project, "SELECT status, count(*) FROM jobs GROUP BY status")
        raise AssertionError(f"{note}: kiln run did not finish in {RUN_TIMEOUT_S} s; jobs {states}; {output[-2000:]!r}") from None
    assert process.returncode == 0, f"{note}: {output.decode(errors='replace')}"
    assert not survivors(naming(str(project)), timeout=5), note
    art = project / "art"
    keys = {key for (key,) in _rows(project, "SELECT key FROM jobs WHERE status = 'succeeded'")}
    images = _rows(project, "SELECT id, job_key FROM images")
    assert _rows(project, "SELECT count(*) FROM jobs WHERE status != 'succeeded'") == [(0,)], note
    assert len(keys) == JOBS, note
    assert len(images) == JOBS and {key for _, key in images} == keys, note
    ids = {image_id for image_id, _ in images}
    assert {path.stem for path in (art / "original").glob("*.png")} == ids, note
    for stage in ("thumb", "thumb_small", "web"):
        assert {path.stem for path in (art / stage).glob("*.webp")} == ids, note
    assert not list(art.rglob(".tmp-*")), note
    assert _rows(project, "SELECT count(*) FROM derivatives") == [(3 * JOBS,)], note


def test_three_kills_in_a_row_then_a_run_to_the_end(project: Path):
    rng, seed = _rng()
    for trial in range(3):
        kill_at(project, rng.uniform(0.3, 2.0), f"kill {trial + 1} (KILN_KILL_SEED={seed})")
    run_to_the_end(project, f"KILN_KILL_SEED={seed}")


@pytest.mark.slow
@pytest.mark.stress
def test_many_trials_each_killed_once_then_run_to_the_end(project: Path):
    rng, seed = _rng()
    trials = int(os.environ.get("KILN_KILL_TRIALS", "50"))
    # How long an uninterrupted run takes here, so the kills fall anywhere in it.
    started = time.monotonic()
    run_to_the_end(project, "the first, uninterrupted run")
    whole = time.monotonic() - started
    print(f"an uninterrupted run: {whole:.1f} s", flush=True)
    for trial in range(trials):
        shutil.rmtree(project / "art")
        note = f"trial {trial + 1} of {trials} (KILN_KILL_SEED={seed})"
        delay = rng.uniform(0.1, whole)
        landed = kill_at(project, delay, note)
        started = time.monotonic()
        run_to_the_end(project, note)
        what = f"killed after {delay:.1f} s" if landed else f"not killed: it had ended before {delay:.1f} s"
        print(f"{note}: {what}; the next run finished in {time.monotonic() - started:.1f} s", flush=True)
