"""The filter data of each collection, and of the whole library, for the page script.

A collection of 100,000 images cannot ship its data in its pages, nor in one file. Each data
set is a folder under ``find/``:

- ``meta``: the count, each filterable field with its values and their counts ("model:
  a (312) · b (88)"), the day range, and a version of each other file for its URL;
- one column per field, an array with one number per image in gallery order: an index into
  the field's values (dictionary-encoded), or the number itself (rating, day); ``axes`` holds
  one such column per axis of the recipe; ``tags`` each tag with the images that carry it;
- ``order-seed``, ``order-prompt``: the images in those sort orders;
- ``items-N``: what a thumbnail and the loupe need for images N×CHUNK onwards (read with one
  lean query per chunk: no parameters, timings or references, which the image page has).

The page fetches the meta, then only the columns its filters use and the chunks it shows.
The library's data set (``_library``) holds every image once, oldest first, and its position
there is the image's number in the search index; collections carry it as the ``g`` column.
Everything but the chunks comes from one read of the images' rows (:func:`read_library`); a
chunk reads the full rows of its own images, and only when one of them changed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, NamedTuple

from kiln.site.collect import IMAGE_ID
from kiln.site.collections import Member, parse_axes
from kiln.site.layout import image_path, media_path
from kiln.site.render import value, when
from kiln.store.db import Store

LIBRARY = "_library"
CHUNK = 200
# An axis with more values than this is no filter anyone picks from a list (search finds it).
MAX_AXIS_VALUES = 200
STATUS_NAMES = {"selected": "picked", "rejected": "rejected"}
EPOCH = date(1970, 1, 1)
DICTIONARIES = (("model", "Model"), ("engine", "Engine"), ("recipe", "Collection"), ("size", "Size"))
COLUMNS = ("model", "engine", "recipe", "size", "axes", "rating", "status", "day", "g", "tags", "order-seed", "order-prompt")

# The recipes that show each image (a job not deleted made it), and every image's facts: two
# passes over a table each, quicker than a subquery per image.
_RECIPES_SQL = """
SELECT j.image_id, rj.recipe FROM recipe_jobs rj JOIN jobs j ON j.key = rj.job_key
WHERE j.image_id IS NOT NULL AND j.status != 'deleted'
"""
_FACTS_SQL = """
SELECT id, revision, model, engine, width, height, created_at, rating, status, tags, seed, prompt, negative_prompt, notes
FROM images
"""


class Facts(NamedTuple):
    """What filters, sorting and search read of an image."""

    model: str
    engine: str
    width: int
    height: int
    created_at: str
    rating: int
    status: str
    tags: tuple[str, ...]
    seed: int | None
    prompt: str
    negative_prompt: str
    notes: str


def read_library(store: Store) -> dict[str, tuple[int, list[str], Facts]]:
    """Each image a recipe shows: its revision, those recipes and its facts."""
    recipes: dict[str, list[str]] = {}
    for image_id, recipe in store.conn.execute(_RECIPES_SQL):
        recipes.setdefault(image_id, []).append(recipe)
    found = {}
    for row in store.conn.execute(_FACTS_SQL):
        shown = recipes.get(row[0])
        if shown is None or not IMAGE_ID.match(row[0]):
            continue  # the gallery has no page for it either
        facts = Facts(
            row[2] or "", row[3] or "", row[4] or 0, row[5] or 0, row[6] or "", row[7] or 0,
            STATUS_NAMES.get(row[8] or "", ""), tuple(_tags(row[9])), row[10], row[11] or "", row[12] or "",
            row[13] or "",
        )
        found[row[0]] = (row[1], shown, facts)
    return found


def axis_keys(parsed: list[dict[str, Any]]) -> list[str]:
    """The axes worth a filter (of members' ``parsed`` axes): those that vary, with a list of
    values one can read."""
    values: dict[str, set[str]] = {}
    for axes in parsed:
        for key, v in axes.items():
            values.setdefault(key, set()).add(_axis_value(v))
    # An axis whose every value is an image's own (seeds drawn per image) filters nothing.
    most = min(MAX_AXIS_VALUES, len(parsed) // 2)
    return [key for key, seen in values.items() if 1 < len(seen) <= most and key != "prompt"]


def columns(
    members: list[Member], facts: dict[str, Facts], numbers: dict[str, int], recipes: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column files of a data set (name → data) and what its meta says of them.
    ``recipes`` is each image's first collection, for the library's "recipe" filter."""
    rows = [facts[m.image_id] for m in members]
    files: dict[str, Any] = {}
    fields: list[dict[str, Any]] = []

    def dictionary(values: list[str], name: str, label: str, **extra: str) -> list[int]:
        counts = Counter(values)
        order = sorted(counts, key=lambda v: (-counts[v], v))
        code = {v: i for i, v in enumerate(order)}
        if len(counts) > 1:  # one value for all is nothing to filter on
            fields.append({"name": name, "label": label, "values": [[v, counts[v]] for v in order], **extra})
            return [code[v] for v in values]
        return []

    sources = {
        "model": [f.model for f in rows],
        "engine": [f.engine for f in rows],
        "recipe": [recipes.get(m.image_id, "") for m in members],
        "size": [f"{f.width}×{f.height}" for f in rows],
    }
    for name, label in DICTIONARIES:
        files[name] = dictionary(sources[name], name, label)
    parsed = [parse_axes(m.axes) if m.axes != "{}" else {} for m in members]
    axes = {}
    for key in axis_keys(parsed):
        codes = dictionary([_axis_value(p.get(key)) for p in parsed], f"axis:{key}", key, axis=key)
        if codes:
            axes[key] = codes
    files["axes"] = axes
    files["rating"] = [f.rating for f in rows]
    files["status"] = [f.status for f in rows]
    days = [_day(f.created_at) for f in rows]
    files["day"] = days
    files["g"] = [numbers[m.image_id] for m in members]
    tags: dict[str, list[int]] = {}
    for i, f in enumerate(rows):
        for tag in dict.fromkeys(f.tags):
            tags.setdefault(tag, []).append(i)
    files["tags"] = tags
    # Sorting is stable: ties stay in gallery order.
    seeds = [(f.seed is None, f.seed or 0) for f in rows]
    prompts = [f.prompt.casefold() for f in rows]
    files["order-seed"] = sorted(range(len(rows)), key=seeds.__getitem__)
    files["order-prompt"] = sorted(range(len(rows)), key=prompts.__getitem__)
    known = [d for d in days if d is not None]
    meta = {
        "count": len(members),
        "chunk": CHUNK,
        "fields": fields,
        "ratings": [sum(1 for f in rows if f.rating >= n) for n in range(1, 6)],
        "statuses": {
            "picked": sum(1 for f in rows if f.status == "picked"),
            "rejected": sum(1 for f in rows if f.status == "rejected"),
            "unrated": sum(1 for f in rows if not f.status and not f.rating),
        },
        "tags": sorted(([tag, len(ids)] for tag, ids in tags.items()), key=lambda t: (-t[1], t[0])),
        "days": [min(known), max(known)] if known else None,
    }
    return files, meta


def chunks(count: int) -> Iterable[tuple[str, int, int]]:
    """The item files of a data set of ``count`` images: name, first and end index."""
    for start in range(0, count, CHUNK):
        yield f"items-{start // CHUNK}", start, min(count, start + CHUNK)


_ITEMS_SQL = """
SELECT i.id, i.path, i.width, i.height, i.prompt, i.negative_prompt, i.model, i.engine, i.seed, i.steps,
       i.guidance, i.sampler, i.created_at, i.rating, i.status, i.tags, i.notes, i.job_key,
       t.path, t.width, t.height, w.path, w.width, w.height
FROM images i
LEFT JOIN derivatives t ON t.image_id = i.id AND t.stage = 'thumb'
LEFT JOIN derivatives w ON w.image_id = i.id AND w.stage = 'web'
WHERE i.id IN ({marks})
"""


def items(store: Store, members: list[Member]) -> list[dict[str, Any]]:
    """What a thumbnail and the loupe show of each member, links relative to the build
    folder, in one query. Empty values are left out: a chunk holds hundreds of these."""
    rows = {row[0]: row for row in store.conn.execute(_ITEMS_SQL.format(marks=",".join("?" * len(members))), [m.image_id for m in members])}
    records = []
    for member in members:
        row = rows.get(member.image_id)
        if row is not None:
            records.append(_item(member, row))
    return records


def _item(member: Member, row: Any) -> dict[str, Any]:
    (image_id, path, width, height, prompt, negative, model, engine, seed, steps, guidance, sampler, created,
     rating, status, tags, notes, job_key, thumb, thumb_w, thumb_h, web, web_w, web_h) = row
    original = [media_path(path), width, height] if _inside(path) else None
    large = [media_path(web), web_w, web_h] if _inside(web) else original
    record: dict[str, Any] = {
        "id": image_id,
        "page": image_path(member.home, image_id),
        "prompt": prompt or "",
        "seed": seed,
        "axes": [[key, value(v)] for key, v in parse_axes(member.axes).items() if key not in ("prompt", "seed")],
        "size": [width, height],
        "rating": rating or 0,
        "status": status or "",
        "tags": _tags(tags),
        "notes": notes or "",
        "thumb": [media_path(thumb), thumb_w, thumb_h] if _inside(thumb) else large,
        "web": large,
        "original": original,
    }
    facts = {
        "model": model,
        "engine": engine,
        "steps": steps,
        "guidance": guidance,
        "sampler": sampler,
        "negative": negative,
        "created": when(created),
        "job": member.job_key or job_key,
    }
    record["facts"] = {key: v for key, v in facts.items() if v not in (None, "")}
    return {key: v for key, v in record.items() if v not in ("", [], None) or key in ("prompt", "seed", "axes")}


def _inside(path: str | None) -> bool:
    """Whether ``path`` is a plain relative path inside the art folder (anything else is not
    published, so nothing links to it)."""
    return bool(path) and not path.startswith("/") and "\\" not in path and ".." not in path.split("/")


def _tags(text: str | None) -> list[str]:
    if not text or text == "[]":  # most images: no JSON to read
        return []
    try:
        tags = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _axis_value(v: Any) -> str:
    if v is None:
        return ""
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else value(v)


def _day(stamp: str) -> int | None:
    """Days since 1970-01-01 of an ISO 8601 time, in its own zone; None if unreadable."""
    try:
        return (datetime.fromisoformat(stamp.replace("Z", "+00:00")).date() - EPOCH).days
    except (ValueError, AttributeError):
        return None
