"""The store: migrations, WAL, FTS triggers, claims and the record of a finished job."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kiln.store import open_store
from kiln.store.schema import migrations


def save_one(store, name="r", key="k1"):
    spec = {"engine": "placeholder", "model": "m", "prompt": "a red fox"}
    store.save_recipe(
        name=name, path=f"recipes/{name}.toml", title="R", description="", source_sha256="0",
        gallery={}, jobs=[(key, spec, {"seed": 1})],
    )


def image_row(image_id="img1", key="k1", prompt="a red fox in snow"):
    return {
        "id": image_id, "path": f"original/{image_id}.png", "width": 64, "height": 64, "bytes": 10,
        "sha256": "ab" * 32, "format": "png", "job_key": key, "recipe": "r", "prompt": prompt,
        "negative_prompt": "", "model": "m", "engine": "placeholder", "seed": 1, "steps": 4,
        "guidance": 5.0, "sampler": None, "params": "{}", "response_id": None,
        "created_at": "2026-01-01T00:00:00.000Z", "blurhash": None,
    }


def test_fresh_store_is_migrated_and_in_wal_mode(store):
    assert store.db.journal_mode == "wal"
    assert [m.name for m in migrations.applied(store.db)][0] == "0001_initial"
    assert migrations.pending(store.db) == []
    assert {"recipes", "runs", "jobs", "recipe_jobs", "images", "derivatives", "images_fts"} <= set(store.db.table_names())


def test_reopening_applies_nothing_twice(project):
    open_store(project.db_path).close()
    store = open_store(project.db_path)
    assert [m.name for m in migrations.applied(store.db)] == [m.name for m in migrations._migrations]
    assert migrations.pending(store.db) == []


def test_every_gallery_list_has_an_index(store):
    indexed = [tuple(index.columns) for table in store.db.tables for index in table.indexes]
    for columns in [("status",), ("recipe", "position"), ("job_key",), ("recipe", "created_at"), ("model",), ("rating",)]:
        assert any(index[: len(columns)] == columns for index in indexed), columns  # an index leads with them


def test_save_recipe_records_jobs_once_and_replaces_membership(store):
    save_one(store)
    save_one(store)
    assert store.db["jobs"].count == 1
    assert store.db["recipe_jobs"].count == 1
    store.save_recipe(name="r", path="recipes/r.toml", title="R", description="", source_sha256="1",
                      gallery={}, jobs=[])
    assert store.db["recipe_jobs"].count == 0
    assert store.db["jobs"].count == 1  # the job and any image stay; only membership changes


def test_claim_is_exclusive(store):
    save_one(store)
    run = store.start_run(["r"])
    assert store.claim("k1", run) is True
    assert store.claim("k1", run) is False
    assert store.db["jobs"].get("k1")["status"] == "running"


def test_attempts_are_recorded_and_counted(store):
    save_one(store)
    run = store.start_run(["r"])
    store.claim("k1", run)
    store.record_attempt("k1", run, "api", 1, "2026-01-01T00:00:00.000Z", 12.0, "retried", "HTTP_429", "slow down")
    store.record_attempt("k1", run, "api", 2, "2026-01-01T00:00:01.000Z", 10.0, "succeeded", None, None, "resp-1")
    assert store.db["jobs"].get("k1")["attempts"] == 2
    rows = store.query("SELECT attempt, outcome, error_code, response_id FROM attempts ORDER BY id")
    assert [tuple(r.values()) for r in rows] == [(1, "retried", "HTTP_429", None), (2, "succeeded", None, "resp-1")]


def test_record_image_marks_job_and_indexes_prompt(store):
    save_one(store)
    run = store.start_run(["r"])
    store.claim("k1", run)
    derivative = {"image_id": "img1", "stage": "thumb", "path": "thumb/img1.webp", "width": 4, "height": 4,
                  "bytes": 3, "format": "webp", "created_at": "2026-01-01T00:00:00.000Z"}
    store.record_image("k1", image_row(), [derivative], 12.5)
    job = store.db["jobs"].get("k1")
    assert (job["status"], job["image_id"], job["duration_ms"]) == ("succeeded", "img1", 12.5)
    assert store.done_keys(["k1", "nope"]) == {"k1"}
    assert [r["id"] for r in store.db["images"].search("fox")] == ["img1"]
    store.db["images"].update("img1", {"notes": "keeper lighthouse"})
    assert [r["id"] for r in store.db["images"].search("lighthouse")] == ["img1"]


def test_failure_is_recorded_and_retried(store):
    save_one(store)
    run = store.start_run(["r"])
    store.claim("k1", run)
    store.fail("k1", "GENERATION_FAILED", "boom", 3.0)
    job = store.db["jobs"].get("k1")
    assert (job["status"], job["error_code"], job["error"]) == ("failed", "GENERATION_FAILED", "boom")
    assert store.claim("k1", run) is True


def test_claims_of_dead_processes_are_released(store):
    save_one(store)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run = store.start_run(["r"])
    store.claim("k1", run)
    store.db["runs"].update(run, {"pid": int(dead.stdout)})
    assert store.release_stale_claims() == 1
    assert store.db["jobs"].get("k1")["status"] == "queued"
    assert store.db["runs"].get(run)["status"] == "interrupted"


def test_claims_of_live_processes_are_kept(store):
    save_one(store)
    run = store.start_run(["r"])
    store.claim("k1", run)
    store.db["runs"].update(run, {"pid": os.getppid()})
    assert store.release_stale_claims() == 0
    assert store.db["jobs"].get("k1")["status"] == "running"


def test_run_counts(store):
    run = store.start_run(["a", "b"])
    store.finish_run(run, "finished", {"planned": 3, "generated": 2, "skipped": 1, "failed": 0})
    row = store.db["runs"].get(run)
    assert json.loads(row["recipes"]) == ["a", "b"]
    assert (row["status"], row["generated"], row["pid"]) == ("finished", 2, os.getpid())
