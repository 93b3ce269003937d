"""The stats page's figures: medians read from the index equal the medians of every value, and
each count reads an index in its order (no table, no sort)."""

from __future__ import annotations

import statistics

import pytest

from kiln.site import stats
from kiln.site.stats import read_stats
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
