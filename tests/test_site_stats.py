"""The stats page's figures: medians read from the index equal the medians of every value, and
each count reads an index in its order (no table, no sort); the page made again after engine
calls failed or were retried, even when no job changed state."""

from __future__ import annotations

import re
import statistics

import pytest

from kiln.site import stats
from kiln.site.builder import current_sequence
from kiln.site.stats import read_stats
from kiln.store import open_store
from projectcli import kiln, rows
from sitefixtures import add_images, add_recipe, make_project, open_project_store


@pytest.fixture
def store(tmp_path):
    project = make_project(tmp_path)
    store = open_project_store(project)
    add_recipe(store, "alpha")
    add_images(project, store, "alpha", 12)
    yield store
    store.close()


def medians(store) -> dict[str, tuple[float | None, int]]:
    return {e.label: (e.median_ms, e.timed) for e in read_stats(store).engines}


@pytest.mark.parametrize("timed", [1, 2, 5, 8])
def test_the_median_of_an_odd_or_even_number_of_times(store, timed):
    durations = [700, 100, 400, 250.5, 900, 100, 30, 640][:timed]
    keys = [row[0] for row in store.conn.execute("SELECT key FROM jobs ORDER BY key")]
    for key, ms in zip(keys, durations):
        store.conn.execute("UPDATE jobs SET duration_ms = ? WHERE key = ?", [ms, key])
    assert medians(store) == {"placeholder · placeholder-v1": (statistics.median(durations), timed)}


def test_every_count_reads_an_index_in_its_order(store):
    for sql in (stats._IMAGES_SQL, stats._JOBS_SQL, stats._TIMED_SQL, stats._DERIVATIVES_SQL):
        plan = " | ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert " INDEX " in plan and "TEMP B-TREE" not in plan, (sql, plan)
    plan = " | ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + stats._MIDDLE_SQL, ["e", "m", 1, 0]))
    assert "COVERING INDEX idx_jobs_engine_model" in plan and "TEMP B-TREE" not in plan


FAILING = 'prompt = ["a calm lake", "_fail_ a broken lake"]\nsize = "64x64"\nsteps = 1\n'


def failures(project_dir) -> dict[str, tuple[int, int]]:
    """The stats page's failures by kind: failed and retried engine calls."""
    html = (project_dir / "build" / "stats.html").read_text()
    return {code: (int(failed), int(retried)) for code, failed, retried in re.findall(
        r"<code>([A-Z_0-9]+)</code></th><td>(\d+)</td><td>(\d+)</td>", html
    )}


def test_the_stats_page_follows_failed_and_retried_engine_calls(project_dir, write_recipe):
    write_recipe("lakes", FAILING)
    assert kiln(project_dir, "run")[0] == 1  # the broken lake fails
    assert kiln(project_dir, "build")[0] == 0
    assert failures(project_dir) == {"GENERATION_FAILED": (1, 0)}
    assert kiln(project_dir, "run")[0] == 1  # and fails again
    assert kiln(project_dir, "build")[0] == 0
    assert failures(project_dir) == {"GENERATION_FAILED": (2, 0)}

    # A call failed and to be retried, as a run still going records it: no job changed state.
    (key, run), = rows(project_dir, "SELECT key, run_id FROM jobs WHERE status = 'failed'")
    store = open_store(project_dir / "art" / "kiln.db")
    try:
        sequence = current_sequence(store)
        store.record_attempt(key, run, "placeholder", 1, "2026-01-01T00:00:00Z", 5.0, "retried", "HTTP_503", "busy")
        assert current_sequence(store) == sequence
    finally:
        store.close()
    code, output = kiln(project_dir, "build")
    assert code == 0 and "1 written" in output
    assert failures(project_dir) == {"GENERATION_FAILED": (2, 0), "HTTP_503": (0, 1)}
    assert kiln(project_dir, "build")[1].startswith("build/: 3 pages, 1 images; 0 written")  # then a no-op again
