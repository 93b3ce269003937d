"""The rows an imported image gets, so that everything kiln shows treats it as it treats a
generated one: an ``images`` row with the same columns, a succeeded ``jobs`` row, and a place
in its collection (``recipe_jobs``), whose ``recipes`` row is of kind ``import``.

A kiln image keeps the job key and spec of its ``kiln`` chunk, so moving images between
projects loses nothing; any other image's job key is derived from its id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kiln.errors import KilnError
from kiln.importing.intake import Outcome
from kiln.importing.sources import Source
from kiln.library.curation import Change, apply_changes_within
from kiln.project import Project
from kiln.store import Store, open_store
from kiln.store.db import now

IMPORT_ENGINE = "import"


def import_key(image_id: str) -> str:
    """The job key of an imported image that names no kiln job: 16 hex digits of its id's hash,
    in a space of its own (no spec hashes to ``kiln-import:...``)."""
    return hashlib.sha256(f"kiln-import:{image_id}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Imported:
    source: Source
    outcome: Outcome
    position: int


def _job(store: Store, image_id: str, outcome: Outcome) -> tuple[str, dict[str, Any]]:
    """The job key and spec an imported image is recorded under."""
    generation = outcome.generation
    assert generation is not None
    kiln = generation.kiln or {}
    key, spec = kiln.get("job_key"), kiln.get("spec")
    if isinstance(key, str) and isinstance(spec, dict) and isinstance(spec.get("engine"), str):
        # The job may have another image here (made again with other bytes): one job, one image.
        held = store.conn.execute("SELECT id FROM images WHERE job_key = ?", [key]).fetchone()
        if held is None or held[0] == image_id:
            return key, spec
    return import_key(image_id), {
        "engine": IMPORT_ENGINE,
        "tool": generation.tool,
        "model": generation.model or "",
        "prompt": generation.prompt,
        "negative_prompt": generation.negative_prompt,
        "seed": generation.seed,
        "steps": generation.steps,
        "guidance": generation.guidance,
        "sampler": generation.sampler,
        "width": generation.width,
        "height": generation.height,
        "image_id": image_id,
    }


def image_row(item: Imported, key: str, spec: dict[str, Any]) -> dict[str, Any]:
    outcome, source = item.outcome, item.source
    generation = outcome.generation
    assert generation is not None and outcome.image is not None
    provenance = {"from": source.origin, "tool": generation.tool}
    return {
        **outcome.image,
        "job_key": key,
        "recipe": source.collection,
        "prompt": generation.prompt,
        "negative_prompt": generation.negative_prompt,
        "model": generation.model,
        "engine": spec["engine"] if spec["engine"] != IMPORT_ENGINE else generation.tool,
        "seed": generation.seed,
        "steps": generation.steps,
        "guidance": generation.guidance,
        "sampler": generation.sampler,
        "params": json.dumps({**generation.params, "import": provenance}, sort_keys=True, default=str),
        "source_metadata": json.dumps(generation.raw, sort_keys=True),
        "status": source.role,
    }


def imported_only(store: Store, key: str) -> bool:
    """Whether a job is only in imported collections: no recipe describes it, so no run makes it."""
    kinds = {
        row[0]
        for row in store.conn.execute(
            "SELECT r.kind FROM recipe_jobs rj JOIN recipes r ON r.name = rj.recipe WHERE rj.job_key = ?", [key]
        )
    }
    return "import" in kinds and "recipe" not in kinds


def check_collections(store: Store, titles: dict[str, str]) -> None:
    """Refuse a collection whose name a recipe already has."""
    for name in titles:
        row = store.query("SELECT kind FROM recipes WHERE name = ?", [name])
        if row and row[0]["kind"] != "import":
            raise KilnError(f"{name!r} is a recipe's name; give the collection another one with --collection")


def refuse_imported(project: Project, names: Sequence[str]) -> None:
    """Say so if ``kiln run`` was asked to run an imported collection: nothing made its images here."""
    if not names or not project.db_path.is_file():
        return
    store = open_store(project.db_path)
    try:
        marks = ",".join("?" * len(names))
        rows = store.query(f"SELECT name FROM recipes WHERE kind = 'import' AND name IN ({marks}) ORDER BY name", list(names))
    finally:
        store.close()
    if rows:
        listed = ", ".join(row["name"] for row in rows)
        raise KilnError(f"{listed}: imported, not generated here, so there is nothing to run")


def next_positions(store: Store, names: list[str]) -> dict[str, int]:
    """Where each collection's next image goes: after those it already holds."""
    positions = {}
    for name in names:
        row = store.query("SELECT coalesce(max(position) + 1, 0) AS n FROM recipe_jobs WHERE recipe = ?", [name])
        positions[name] = row[0]["n"]
    return positions


def _insert(store: Store, table: str, row: dict[str, Any], conflict: str) -> None:
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    store.conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}", list(row.values()))


def record(
    store: Store,
    items: list[Imported],
    sources: list[tuple[Source, Outcome, str]],
    collections: dict[str, tuple[str, str]],
    statuses: dict[str, str],
) -> None:
    """Commit a batch in one transaction: each imported image's rows, the source files
    (imported, duplicate or marking another's status) remembered with the image they gave,
    and the statuses folders give images already in the store (as curation, with history).

    ``collections`` maps each collection's name to its title and the folder it came from.
    """
    stamp = now()
    with store.transaction():
        touched = {item.source.collection for item in items}
        for name in touched:
            title, root = collections[name]
            store.conn.execute(
                "INSERT INTO recipes (name, path, title, description, source_sha256, job_count, gallery,"
                " updated_at, kind) VALUES (?, ?, ?, ?, '', 0, '{}', ?, 'import')"
                " ON CONFLICT(name) DO UPDATE SET updated_at = excluded.updated_at",
                [name, root, title, f"Imported from {root}", stamp],
            )
        for item in items:
            assert item.outcome.image_id is not None
            key, spec = _job(store, item.outcome.image_id, item.outcome)
            row = image_row(item, key, spec)
            # Plain statements: sqlite-utils' insert looks the table up again for every call,
            # which cost more than the rows themselves at thousands of images.
            _insert(store, "images", row, "ON CONFLICT(id) DO NOTHING")
            for derivative in item.outcome.derivatives:
                _insert(store, "derivatives", derivative, "ON CONFLICT(image_id, stage) DO UPDATE SET "
                        + ", ".join(f"{name} = excluded.{name}" for name in derivative))
            store.conn.execute(
                "INSERT INTO jobs (key, spec, recipe, engine, model, status, queued_at, finished_at, image_id)"
                " VALUES (?, ?, ?, ?, ?, 'succeeded', ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " status = 'succeeded', image_id = excluded.image_id, finished_at = excluded.finished_at,"
                " error = NULL, error_code = NULL, claimed_by = NULL, expected_image_id = NULL",
                [key, json.dumps(spec, sort_keys=True), item.source.collection, spec["engine"],
                 spec.get("model") or "", stamp, stamp, row["id"]],
            )
            store.conn.execute(
                "INSERT OR IGNORE INTO recipe_jobs (recipe, job_key, position, axes) VALUES (?, ?, ?, '{}')",
                [item.source.collection, key, item.position],
            )
        store.conn.executemany(
            "INSERT OR REPLACE INTO import_sources (path, bytes, mtime_ns, image_id, collection, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(str(source.path), outcome.bytes, outcome.mtime_ns, image_id, source.collection, stamp)
             for source, outcome, image_id in sources],
        )
        if statuses:
            changes = [(image_id, Change(status=status)) for image_id, status in statuses.items()]
            apply_changes_within(store, changes, "import")
        for name in touched:
            store.conn.execute(
                "UPDATE recipes SET job_count = (SELECT count(*) FROM recipe_jobs WHERE recipe = ?) WHERE name = ?",
                [name, name],
            )
