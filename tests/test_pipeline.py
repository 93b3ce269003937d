"""End to end: recipes → run → art/ + SQLite → site, re-runs, edits, interrupts and kills."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from processes import descendants, survivors
from projectcli import kiln

REPO = Path(__file__).resolve().parent.parent

SMALL = """
title = "Small"
prompt = "a {red|blue|green} fox in the snow"
size = "256x192"
seeds = 2
steps = 4
"""


def db_rows(project: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(project / "art" / "kiln.db") as conn:
        return conn.execute(sql).fetchall()


def assert_store_consistent(project: Path) -> None:
    """Every succeeded job has exactly one image whose files exist, and every file has a row."""
    art = project / "art"
    rows = db_rows(project, "SELECT j.key, i.id, i.path FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.status = 'succeeded'")
    assert len({key for key, _, _ in rows}) == len(rows)
    ids = {image_id for _, image_id, _ in rows}
    assert db_rows(project, "SELECT count(*) FROM images")[0][0] == len(ids)
    for _, image_id, path in rows:
        assert (art / path).is_file()
    on_disk = {p.stem for p in (art / "original").glob("*.png")}
    assert on_disk == ids
    for stage in ("thumb", "thumb_small", "web"):
        assert {p.stem for p in (art / stage).glob("*.webp")} == ids
    assert not list(art.rglob(".tmp-*"))
    derivative_count = db_rows(project, "SELECT count(*) FROM derivatives")[0][0]
    assert derivative_count == 3 * len(ids)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copy(REPO / "kiln.toml", tmp_path / "kiln.toml")
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    shutil.copytree(REPO / "wildcards", tmp_path / "wildcards")
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    return tmp_path


@pytest.mark.slow
def test_example_recipes_end_to_end(demo: Path):
    code, output = kiln(demo, "run")
    assert code == 0, output
    jobs = db_rows(demo, "SELECT count(*) FROM recipe_jobs")[0][0]
    assert 30 <= jobs <= 60
    assert f"Generated {jobs}, skipped 0 (already made), failed 0 in" in output
    assert_store_consistent(demo)

    image = db_rows(demo, "SELECT path, prompt, seed, width, height FROM images LIMIT 1")[0]
    with Image.open(demo / "art" / image[0]) as png:
        assert png.size == (image[3], image[4])
        assert png.text["parameters"].startswith(image[1])
        assert json.loads(png.text["kiln"])["spec"]["seed"] == image[2]
        assert "procedural" in png.text["parameters"]

    code, output = kiln(demo, "build")
    assert code == 0, output
    assert (demo / "build" / "index.html").is_file()
    for (name,) in db_rows(demo, "SELECT name FROM recipes"):
        assert (demo / "build" / name / "index.html").is_file()

    code, output = kiln(demo, "run")
    assert code == 0
    assert f"Generated 0, skipped {jobs} (already made), failed 0 in" in output
    code, output = kiln(demo, "build")
    assert " 0 written" in output


def test_editing_a_recipe_runs_only_new_jobs(project_dir: Path, write_recipe):
    write_recipe("small", SMALL)
    assert kiln(project_dir, "run")[0] == 0
    first = {row[0] for row in db_rows(project_dir, "SELECT id FROM images")}
    assert len(first) == 6
    kiln(project_dir, "build")

    write_recipe("small", SMALL.replace("{red|blue|green}", "{red|blue|green|white}"))
    code, output = kiln(project_dir, "run")
    assert code == 0
    assert "Generated 2, skipped 6 (already made), failed 0" in output
    after = {row[0] for row in db_rows(project_dir, "SELECT id FROM images")}
    assert first < after

    code, output = kiln(project_dir, "build")
    assert code == 0
    assert " 0 written" not in output
    assert_store_consistent(project_dir)


def test_engine_failures_are_recorded_and_summarised(project_dir: Path, write_recipe):
    write_recipe("mixed", 'prompt = ["a fox", "_fail_ please"]\nsize = "128x128"\nsteps = 2\n')
    code, output = kiln(project_dir, "run")
    assert code == 1
    assert "Generated 1, skipped 0 (already made), failed 1 in" in output
    assert "  1 × GENERATION_FAILED: requested failure" in output
    assert db_rows(project_dir, "SELECT status, error_code, attempts FROM jobs WHERE status = 'failed'") == [
        ("failed", "GENERATION_FAILED", 1)
    ]
    code, output = kiln(project_dir, "jobs", "--failed")
    assert "GENERATION_FAILED: requested failure" in output
    # a failed job is tried again by the next run
    code, output = kiln(project_dir, "run")
    assert "Generated 0, skipped 1 (already made), failed 1" in output
    assert db_rows(project_dir, "SELECT attempts FROM jobs WHERE status = 'failed'") == [(2,)]


def _start_run(project: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "kiln", "run", "-C", str(project)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )


def _wait_for_images(project: Path, count: int, process: subprocess.Popen[str], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    db = project / "art" / "kiln.db"
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        if db.exists():
            try:
                done = db_rows(project, "SELECT count(*) FROM jobs WHERE status = 'succeeded'")[0][0]
            except sqlite3.OperationalError:
                done = 0
            if done >= count:
                return done
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} images after {timeout} s")


KILLABLE = """
title = "Many"
prompt = "a {red|blue|green|white|black} {fox|owl|cat} at dusk"
size = "512x512"
seeds = 2
steps = 12
"""


@pytest.mark.slow
def test_sigkill_midway_then_resume_loses_and_duplicates_nothing(project_dir: Path, write_recipe):
    write_recipe("many", KILLABLE)
    process = _start_run(project_dir)
    try:
        _wait_for_images(project_dir, 4, process)
        workers = descendants(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    # Its finishing workers end when they see it gone, a moment later on a loaded machine; one
    # still writing when the next run starts keeps its temporary until the run after sweeps it.
    assert not survivors(workers)
    done_before = db_rows(project_dir, "SELECT count(*) FROM jobs WHERE status = 'succeeded'")[0][0]
    assert 4 <= done_before < 30

    code, output = kiln(project_dir, "run")
    assert code == 0, output
    assert f"Generated {30 - done_before}, skipped {done_before} (already made), failed 0" in output
    assert db_rows(project_dir, "SELECT count(*) FROM jobs WHERE status = 'succeeded'")[0][0] == 30
    assert db_rows(project_dir, "SELECT count(*) FROM jobs WHERE status != 'succeeded'")[0][0] == 0
    assert_store_consistent(project_dir)
    statuses = [row[0] for row in db_rows(project_dir, "SELECT status FROM runs ORDER BY id")]
    assert statuses == ["interrupted", "finished"]


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(project_dir: Path, write_recipe):
    write_recipe("many", KILLABLE)
    process = _start_run(project_dir)
    try:
        _wait_for_images(project_dir, 3, process)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, output
    assert "Interrupted: finished images are kept. Run 'kiln run' again to resume." in output
    assert db_rows(project_dir, "SELECT count(*) FROM jobs WHERE status = 'running'")[0][0] == 0
    assert db_rows(project_dir, "SELECT status FROM runs") == [("interrupted",)]
    assert_store_consistent(project_dir)

    code, output = kiln(project_dir, "run")
    assert code == 0
    assert_store_consistent(project_dir)
    assert db_rows(project_dir, "SELECT count(*) FROM images")[0][0] == 30
