"""A run's counts are true however it ended: an image counts for its run when it is committed,
not when the run finishes, so a run killed with SIGKILL still says what it made."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from click.testing import CliRunner

from kiln.cli import cli
from kiln.store import open_store
from test_store import image_row, save_one


def test_an_image_counts_for_its_run_when_it_is_committed(store):
    save_one(store, key="k1")
    save_one(store, name="s", key="k2")
    run_id = store.start_run(["r", "s"])
    for number, key in enumerate(("k1", "k2"), start=1):
        assert store.claim(key, run_id)
        store.record_image(key, image_row(f"img{number}", key=key), [], 5.0)
    store.claim("k1", run_id)  # not claimable again: it succeeded
    (row,) = store.query("SELECT status, generated, failed FROM runs")
    assert row == {"status": "running", "generated": 2, "failed": 0}


def committed(db_path) -> int:
    if not db_path.exists():
        return 0
    connection = sqlite3.connect(db_path, timeout=5)
    try:
        return connection.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        connection.close()


def test_a_run_killed_with_sigkill_lists_the_images_it_committed(project_dir, write_recipe):
    write_recipe("many", 'prompt = "a {red|blue|green|grey|gold} fox"\nseeds = 100\nsize = "64x64"\nsteps = 1\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln", "run", "-C", str(project_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    db_path = project_dir / "art" / "kiln.db"
    try:
        deadline = time.monotonic() + 60
        while committed(db_path) < 5 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the run and its finishing workers, as kill -9 would
        process.wait()
    made = committed(db_path)
    assert 5 <= made < 500
    result = CliRunner().invoke(cli, ["runs", "-C", str(project_dir)])
    assert result.exit_code == 0
    assert f"running      {made} generated, 0 skipped, 0 failed, 0 retried" in result.output.splitlines()[0]
    store = open_store(db_path)
    try:
        store.release_stale_claims()  # what the next run does first
    finally:
        store.close()
    result = CliRunner().invoke(cli, ["runs", "-C", str(project_dir)])
    assert f"interrupted  {made} generated, 0 skipped, 0 failed, 0 retried" in result.output.splitlines()[0]
