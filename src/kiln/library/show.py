"""``kiln show``: everything the store knows about one image, as labelled lines."""

from __future__ import annotations

import json
from typing import Any

from kiln.library.curation import image_states
from kiln.site.render import filesize
from kiln.store.db import Store

HISTORY_SHOWN = 5
LABEL = 11


def _when(stamp: str) -> str:
    return stamp[:19].replace("T", " ")


def _value(text: str | None) -> str:
    value = json.loads(text) if text is not None else None
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _axes(text: str) -> str:
    axes = json.loads(text or "{}")
    return ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in sorted(axes.items()))


def image_lines(store: Store, image_id: str, art: str = "art") -> list[str]:
    """The image ``image_id`` (a full id), its provenance, curation and history; file paths are
    shown under ``art``, the art folder as the user names it."""
    image: dict[str, Any] = store.query("SELECT * FROM images WHERE id = ?", [image_id])[0]
    state = image_states(store, [image_id])[0]
    rows: list[tuple[str, str]] = [
        ("image", image["id"]),
        ("file", f"{art}/{image['path']}  {image['width']}×{image['height']}, {filesize(image['bytes'])},"
                 f" {image['format']}"),
        ("created", _when(image["created_at"])),
        ("prompt", image["prompt"]),
        ("negative", image["negative_prompt"] or "none"),
        ("model", f"{image['model']} (engine {image['engine']})"),
        ("settings", f"seed {image['seed']}, steps {image['steps']}, guidance {image['guidance']},"
                     f" sampler {image['sampler'] or 'default'}"),
        ("params", image["params"]),
    ]
    imported = json.loads(image["params"] or "{}").get("import")
    if isinstance(imported, dict):
        made_by = f"; made by {imported['tool']}" if imported.get("tool") else ""
        rows.append(("imported", f"from {imported.get('from')}{made_by}"))
    memberships = store.query(
        "SELECT recipe_jobs.recipe, recipe_jobs.position, recipe_jobs.axes FROM recipe_jobs"
        " JOIN jobs ON jobs.key = recipe_jobs.job_key WHERE jobs.image_id = ? ORDER BY recipe_jobs.recipe",
        [image_id],
    )
    for row in memberships:
        axes = _axes(row["axes"])
        rows.append(("recipe", f"{row['recipe']} #{row['position'] + 1}" + (f": {axes}" if axes else "")))
    if not memberships and image["recipe"]:
        rows.append(("recipe", f"{image['recipe']} (no longer lists this image)"))
    for job in store.query("SELECT key, status FROM jobs WHERE image_id = ? ORDER BY key", [image_id]):
        rows.append(("job", f"{job['key']}  {job['status']}"))
    rating = state["rating"]
    rows += [
        ("rating", f"{'★' * rating}{'☆' * (5 - rating)} {rating}" if rating else "unrated"),
        ("status", {"selected": "picked", "rejected": "rejected"}.get(state["status"], "neither picked nor rejected")),
        ("tags", ", ".join(state["tags"]) or "none"),
        ("notes", state["notes"] or "none"),
    ]
    for stage in store.query("SELECT * FROM derivatives WHERE image_id = ? ORDER BY stage", [image_id]):
        rows.append((stage["stage"], f"{art}/{stage['path']}  {stage['width']}×{stage['height']},"
                                     f" {filesize(stage['bytes'])}, {stage['format']}"))
    for ref in store.query("SELECT * FROM image_references WHERE image_id = ? ORDER BY position", [image_id]):
        rows.append(("reference", f"{ref['source_path']}  (kept as {art}/{ref['thumb_path']})"))
    entries = store.query(
        "SELECT at, field, old, new, source, undone FROM history WHERE image_id = ? ORDER BY id DESC LIMIT ?",
        [image_id, HISTORY_SHOWN],
    )
    for entry in entries:
        undone = ", undone" if entry["undone"] else ""
        rows.append(("history", f"{_when(entry['at'])}  {entry['field']} {_value(entry['old'])} → "
                                f"{_value(entry['new'])}  ({entry['source']}{undone})"))
    if not entries:
        rows.append(("history", "no changes yet"))
    return [f"{label:<{LABEL}}{value}" for label, value in rows]
