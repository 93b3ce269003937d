"""The filter data of each collection, and of the whole library, for the page script.

A collection of 100,000 images cannot ship its data in its pages, nor in one file. Each data
set is a folder under ``find/``:

- ``meta``: the count, each filterable field with its values and their counts ("model:
  a (312) · b (88)"), the day range, and a version of each other file for its URL;
- one column per field, with one number per image in gallery order: an index into the field's
  values (dictionary-encoded, most frequent first), or the number itself (rating, day), cut in
  blocks of BLOCK images (``rating-0``, ``rating-1``, ...) so an image appended rewrites only
  the last block; a field with one value for all has no column (the meta names it in
  ``single``); ``axes`` holds one whole column per axis of the recipe; ``tags`` each tag with
  the images that carry it;
- ``order-seed``, ``order-prompt``: the images in those sort orders;
- ``items-N``: what a thumbnail and the loupe need for images N×CHUNK onwards (read with one
  lean query per chunk: no parameters, timings or references, which the image page has).

The page fetches the meta, then only the columns its filters use and the chunks it shows.
The library's data set (``_library``) holds every image once, oldest first, and its position
there is the image's number in the search index; collections carry it as the ``g`` column.
A data set made whole reads its images' facts (:func:`read_library`, or :func:`read_facts` for
some); a chunk reads the full rows of its own images, and only when one of them changed. What
the meta counts is a :class:`Tally`, which images appended add to (kiln/site/growing.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from kiln.site.collect import IMAGE_ID
from kiln.site.collections import Member, parse_axes
from kiln.site.layout import image_path, media_path
from kiln.site.render import value, when
from kiln.store.db import Store

LIBRARY = "_library"
CHUNK = 200
BLOCK = 10_000
# An axis with more values than this is no filter anyone picks from a list (search finds it).
MAX_AXIS_VALUES = 200
STATUS_NAMES = {"selected": "picked", "rejected": "rejected"}
EPOCH = date(1970, 1, 1)
DICTIONARIES = (("model", "Model"), ("engine", "Engine"), ("recipe", "Collection"), ("size", "Size"))
# Columns with a value per image, cut in blocks; the others are whole files.
PER_IMAGE = ("model", "engine", "recipe", "size", "rating", "status", "day", "g")
WHOLE = ("axes", "tags", "order-seed", "order-prompt")
COLUMNS = PER_IMAGE + WHOLE

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
_IDS_BATCH = 500


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
        found[row[0]] = (row[1], shown, _facts(row))
    return found


def read_facts(store: Store, ids: Sequence[str]) -> dict[str, tuple[int, Facts]]:
    """The revision and facts of each of ``ids`` that is in the store."""
    found = {}
    for start in range(0, len(ids), _IDS_BATCH):
        batch = ids[start : start + _IDS_BATCH]
        sql = f"{_FACTS_SQL} WHERE id IN ({','.join('?' * len(batch))})"
        for row in store.conn.execute(sql, batch):
            found[row[0]] = (row[1], _facts(row))
    return found


def read_recipes(store: Store, ids: Sequence[str]) -> dict[str, list[str]]:
    """The recipes that show each of ``ids`` (none for an image no job shows)."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(ids), _IDS_BATCH):
        batch = ids[start : start + _IDS_BATCH]
        sql = _RECIPES_SQL + f" AND j.image_id IN ({','.join('?' * len(batch))})"
        for image_id, recipe in store.conn.execute(sql, batch):
            found.setdefault(image_id, []).append(recipe)
    return found


def shows(image_id: str) -> bool:
    """Whether the gallery can have a page for an image of this id."""
    return bool(IMAGE_ID.match(image_id))


def _facts(row: Sequence[Any]) -> Facts:
    return Facts(
        row[2] or "", row[3] or "", row[4] or 0, row[5] or 0, row[6] or "", row[7] or 0,
        STATUS_NAMES.get(row[8] or "", ""), tuple(_tags(row[9])), row[10], row[11] or "", row[12] or "",
        row[13] or "",
    )


def axis_keys(parsed: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[str] | None]]:
    """The axes worth a filter (of members' ``parsed`` axes): those that vary, with a list of
    values one can read; and the others, each with its values (None: too many to list, or the
    prompt), from which images appended tell whether it becomes one."""
    values: dict[str, set[str]] = {}
    for axes in parsed:
        for key, v in axes.items():
            values.setdefault(key, set()).add(_axis_value(v))
    return filter_axes(values, len(parsed))


def filter_axes(values: dict[str, set[str]], count: int) -> tuple[list[str], dict[str, list[str] | None]]:
    """:func:`axis_keys` of each axis's distinct values among ``count`` images."""
    # An axis whose every value is an image's own (seeds drawn per image) filters nothing.
    most = min(MAX_AXIS_VALUES, count // 2)
    keys = [key for key, seen in values.items() if 1 < len(seen) <= most and key != "prompt"]
    others = {
        key: sorted(seen) if len(seen) <= MAX_AXIS_VALUES and key != "prompt" else None
        for key, seen in values.items() if key not in keys
    }
    return keys, others


@dataclass
class Tally:
    """What a data set's meta counts: each dictionary field's values, ratings, statuses, tags
    and days. Made from the images, or from a meta and then added to."""

    count: int = 0
    values: dict[str, Counter[str]] = field(default_factory=lambda: {name: Counter() for name, _ in DICTIONARIES})
    ratings: list[int] = field(default_factory=lambda: [0] * 5)
    statuses: dict[str, int] = field(default_factory=lambda: {"picked": 0, "rejected": 0, "unrated": 0})
    tags: Counter[str] = field(default_factory=Counter)
    days: list[int] | None = None

    def add(self, facts: Facts, recipe: str) -> None:
        self.count += 1
        for name, v in zip(("model", "engine", "recipe", "size"), dictionary_values(facts, recipe)):
            self.values[name][v] += 1
        self._curation(facts, 1)
        day = _day(facts.created_at)
        if day is not None:
            self.days = [min(self.days[0], day), max(self.days[1], day)] if self.days else [day, day]

    def curated(self, before: Facts, after: Facts) -> None:
        """An image's rating, status and tags changed from ``before`` to ``after`` (nothing else)."""
        self._curation(before, -1)
        self._curation(after, 1)

    def _curation(self, facts: Facts, step: int) -> None:
        for n in range(min(facts.rating, 5)):
            self.ratings[n] += step
        if facts.status in ("picked", "rejected"):
            self.statuses[facts.status] += step
        elif not facts.rating:
            self.statuses["unrated"] += step
        for tag in dict.fromkeys(facts.tags):
            self.tags[tag] += step
            if not self.tags[tag]:
                del self.tags[tag]

    def order(self, name: str) -> list[str]:
        """A dictionary field's values by their code: the most frequent first."""
        counts = self.values[name]
        return sorted(counts, key=lambda v: (-counts[v], v))

    def meta(self, axis_fields: list[dict[str, Any]]) -> dict[str, Any]:
        fields, single = [], {}
        for name, label in DICTIONARIES:
            order = self.order(name)
            if len(order) > 1:  # one value for all is nothing to filter on
                fields.append({"name": name, "label": label, "values": [[v, self.values[name][v]] for v in order]})
            elif order:
                single[name] = order[0]
        return {
            "count": self.count,
            "chunk": CHUNK,
            "block": BLOCK,
            "fields": fields + axis_fields,
            "single": single,
            "ratings": list(self.ratings),
            "statuses": dict(self.statuses),
            "tags": sorted(([tag, n] for tag, n in self.tags.items()), key=lambda t: (-t[1], t[0])),
            "days": list(self.days) if self.days else None,
        }

    @classmethod
    def of_meta(cls, meta: dict[str, Any]) -> Tally:
        """The tally a meta says (KeyError, TypeError or ValueError if it is not one)."""
        tally = cls(count=int(meta["count"]), ratings=[int(n) for n in meta["ratings"]])
        tally.statuses = {key: int(meta["statuses"][key]) for key in tally.statuses}
        tally.tags = Counter({str(tag): int(n) for tag, n in meta["tags"]})
        tally.days = [int(d) for d in meta["days"]] if meta["days"] else None
        for f in meta["fields"]:
            if f["name"] in tally.values:
                tally.values[f["name"]] = Counter({str(v): int(n) for v, n in f["values"]})
        for name, v in meta["single"].items():
            tally.values[name] = Counter({str(v): tally.count})
        if len(tally.ratings) != 5:
            raise ValueError("ratings")
        return tally


def dictionary_values(facts: Facts, recipe: str) -> tuple[str, str, str, str]:
    """An image's values of the dictionary fields (``recipe``: the collection of its page)."""
    return facts.model, facts.engine, recipe, f"{facts.width}×{facts.height}"


def encode(values: list[str], order: list[str]) -> list[int]:
    code = {v: i for i, v in enumerate(order)}
    return [code[v] for v in values]


def orders(rows: list[Facts]) -> dict[str, list[int]]:
    """The sort orders of a data set: indexes sorted by seed, by prompt (stable: ties stay in
    gallery order)."""
    return {
        "order-seed": sorted(range(len(rows)), key=lambda i: seed_key(rows[i].seed)),
        "order-prompt": sorted(range(len(rows)), key=lambda i: rows[i].prompt.casefold()),
    }


def seed_key(seed: int | None) -> tuple[bool, int]:
    return seed is None, seed or 0


def axis_columns(members: list[Member]) -> tuple[dict[str, list[int]], list[dict[str, Any]], dict[str, Any]]:
    """The ``axes`` file of a recipe's data set, its axis fields and the other axes (for the meta)."""
    parsed = [parse_axes(m.axes) if m.axes != "{}" else {} for m in members]
    axes, fields = {}, []
    keys, others = axis_keys(parsed)
    for key in keys:
        values = [_axis_value(p.get(key)) for p in parsed]
        counts = Counter(values)
        order = sorted(counts, key=lambda v: (-counts[v], v))
        fields.append({"name": f"axis:{key}", "label": key, "values": [[v, counts[v]] for v in order], "axis": key})
        axes[key] = encode(values, order)
    return axes, fields, others


def columns(
    members: list[Member], facts: dict[str, Facts], numbers: dict[str, int], recipes: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column files of a data set (name → data, before blocks are cut) and its meta.
    ``recipes`` is each image's first collection, for the library's "recipe" filter."""
    rows = [facts[m.image_id] for m in members]
    values = {
        "model": [f.model for f in rows],
        "engine": [f.engine for f in rows],
        "recipe": [recipes.get(m.image_id, "") for m in members],
        "size": [f"{f.width}×{f.height}" for f in rows],
    }
    files: dict[str, Any] = {}
    files["axes"], axis_fields, other_axes = axis_columns(members)
    files["rating"] = [f.rating for f in rows]
    files["status"] = [f.status for f in rows]
    files["day"] = [_day(f.created_at) for f in rows]
    files["g"] = [numbers[m.image_id] for m in members]
    tags: dict[str, list[int]] = {}
    for i, f in enumerate(rows):
        if f.tags:
            for tag in dict.fromkeys(f.tags):
                tags.setdefault(tag, []).append(i)
    files["tags"] = tags
    files.update(orders(rows))
    # The tally in bulk, as adding each image would make it.
    tally = Tally(count=len(rows), values={name: Counter(values[name]) for name, _ in DICTIONARIES})
    ratings = Counter(files["rating"])
    tally.ratings = [sum(n for r, n in ratings.items() if r >= k) for k in range(1, 6)]
    statuses = Counter(zip(files["status"], (bool(r) for r in files["rating"])))
    tally.statuses = {
        "picked": statuses[("picked", True)] + statuses[("picked", False)],
        "rejected": statuses[("rejected", True)] + statuses[("rejected", False)],
        "unrated": statuses[("", False)],
    }
    tally.tags = Counter({tag: len(indexes) for tag, indexes in tags.items()})
    known = [d for d in files["day"] if d is not None]
    tally.days = [min(known), max(known)] if known else None
    for name, _ in DICTIONARIES:
        order = tally.order(name)
        files[name] = encode(values[name], order) if len(order) > 1 else None
    return files, {**tally.meta(axis_fields), "axisValues": other_axes}


def blocks(name: str, values: list[Any], first: int = 0) -> dict[str, list[Any]]:
    """A per-image column's block files, for ``values`` from block ``first`` on."""
    return {f"{name}-{first + n // BLOCK}": values[n : n + BLOCK] for n in range(0, len(values), BLOCK)}


def cut(files: dict[str, Any]) -> dict[str, Any]:
    """The data files of a data set's columns: per-image columns in blocks (none for a field
    with one value), the others whole."""
    out: dict[str, Any] = {}
    for name, data in files.items():
        if name in PER_IMAGE:
            if data is not None:
                out.update(blocks(name, data))
        else:
            out[name] = data
    return out


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
