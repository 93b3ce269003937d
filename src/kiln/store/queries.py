"""Read-only listings for the CLI: jobs and runs, newest first."""

from __future__ import annotations

from typing import Any

from kiln.store.db import Store


def list_jobs(
    store: Store, *, failed: bool = False, deleted: bool = False, recipe: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    where, params = [], []
    statuses = [status for status, wanted in (("failed", failed), ("deleted", deleted)) if wanted]
    if statuses:
        where.append(f"status IN ({', '.join(repr(status) for status in statuses)})")
    if recipe:
        where.append("key IN (SELECT job_key FROM recipe_jobs WHERE recipe = ?)")
        params.append(recipe)
    sql = "SELECT key, recipe, status, attempts, error_code, error, image_id FROM jobs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY coalesce(finished_at, started_at, queued_at) DESC, key LIMIT ?"
    return store.query(sql, [*params, limit])


def list_runs(store: Store, *, limit: int = 20) -> list[dict[str, Any]]:
    return store.query(
        "SELECT id, started_at, finished_at, status, planned, generated, skipped, failed, stop_reason,"
        " (SELECT count(*) FROM attempts WHERE attempts.run_id = runs.id AND outcome = 'retried') AS retries"
        " FROM runs ORDER BY id DESC LIMIT ?",
        [limit],
    )
