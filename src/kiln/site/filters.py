"""The filter data of each collection, and of the whole library, for the page script.

A collection of 100,000 images cannot ship its data in its pages, nor in one file. Each data
set is a folder under ``find/``:

- ``meta``: the count, each filterable field with its values and their counts ("model:
  a (312) · b (88)"), the day range, and the digests of the other files;
- one column per field, an array with one number per image in gallery order: an index into
  the field's values (dictionary-encoded), or the number itself (rating, day);
- ``tags``: each tag with the images that carry it (an image has any number of tags);
- ``order-seed``, ``order-prompt``: the images in those sort orders;
- ``items-N``: what a thumbnail and the loupe need for images N×CHUNK onwards.

The page fetches the meta, then only the columns its filters use and the chunks it shows.
The library's data set (``_library``) holds every image once, oldest first, and its position
there is the image's number in the search index; collections carry it as the ``g`` column.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kiln.site.collect import Entry, Image, Recipe, Site
from kiln.site.findfiles import DataSet
from kiln.site.layout import image_path, media_path
from kiln.site.render import value, when

LIBRARY = "_library"
CHUNK = 200
# An axis with more values than this is no filter anyone picks from a list (search finds it).
MAX_AXIS_VALUES = 200
STATUS_NAMES = {"selected": "picked", "rejected": "rejected"}
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Field:
    name: str  # the key in the URL fragment, and the column's file name
    label: str


FIELDS = (Field("model", "Model"), Field("engine", "Engine"), Field("recipe", "Collection"), Field("size", "Size"))


def library_entries(site: Site) -> list[Entry]:
    """Each image once, oldest first (ties by id), with the first collection that shows it:
    a new image usually goes last, so the numbers of the others stay as they were."""
    first: dict[str, Entry] = {}
    for recipe in site.recipes:
        for entry in recipe.entries:
            first.setdefault(entry.image.id, entry)
    return sorted(first.values(), key=lambda e: (e.image.created_at, e.image.id))


def data_sets(site: Site) -> Iterator[DataSet]:
    """The library's data set, then each collection's."""
    library = library_entries(site)
    numbers = {entry.image.id: n for n, entry in enumerate(library)}
    collections: dict[str, list[str]] = {}
    for recipe in site.recipes:
        for entry in recipe.entries:
            collections.setdefault(entry.image.id, []).append(recipe.name)
    yield build_data_set(LIBRARY, library, numbers, collections, axes=[])
    for recipe in site.recipes:
        if recipe.entries:
            yield build_data_set(recipe.name, recipe.entries, numbers, collections, axes=axis_keys(recipe))


def axis_keys(recipe: Recipe) -> list[str]:
    """The recipe's axes worth a filter: those that vary, with a list of values one can read."""
    return [key for key, n in recipe.axes if 1 < n <= MAX_AXIS_VALUES and key != "prompt"]


def build_data_set(
    name: str, entries: list[Entry], numbers: dict[str, int], collections: dict[str, list[str]], axes: list[str]
) -> DataSet:
    images = [entry.image for entry in entries]
    files = DataSet(name)
    fields: list[dict[str, Any]] = []

    def dictionary(field: str, label: str, values: list[str], **extra: str) -> None:
        counts = Counter(values)
        if len(counts) < 2:
            return  # one value for all: nothing to filter on
        order = sorted(counts, key=lambda v: (-counts[v], v))
        code = {v: i for i, v in enumerate(order)}
        files.add(field, [code[v] for v in values])
        fields.append({"name": field, "label": label, "values": [[v, counts[v]] for v in order], **extra})

    for field in FIELDS:
        if field.name == "recipe":
            values = [collections[image.id][0] for image in images]
        elif field.name == "size":
            values = [f"{image.width}×{image.height}" for image in images]
        else:
            values = [getattr(image, field.name) or "" for image in images]
        dictionary(field.name, field.label, values)
    for i, key in enumerate(axes):
        dictionary(f"axis-{i}", key, [_axis_value(entry, key) for entry in entries], axis=key)

    files.add("rating", [image.rating for image in images])
    files.add("status", [_status(image) for image in images])
    days = [_day(image.created_at) for image in images]
    files.add("day", days)
    files.add("g", [numbers[image.id] for image in images])
    tags: dict[str, list[int]] = {}
    for i, image in enumerate(images):
        for tag in dict.fromkeys(image.tags):
            tags.setdefault(tag, []).append(i)
    files.add("tags", tags)
    files.add("order-seed", sorted(range(len(images)), key=lambda i: (images[i].seed is None, images[i].seed or 0, i)))
    files.add("order-prompt", sorted(range(len(images)), key=lambda i: (images[i].prompt.casefold(), i)))
    for start in range(0, len(entries), CHUNK):
        files.add(f"items-{start // CHUNK}", [item(entry) for entry in entries[start : start + CHUNK]])

    statuses = Counter(_status(image) for image in images)
    known = [d for d in days if d is not None]
    files.finish(
        {
            "count": len(entries),
            "chunk": CHUNK,
            "fields": fields,
            "ratings": [sum(1 for image in images if image.rating >= n) for n in range(1, 6)],
            "statuses": {
                "picked": statuses["picked"],
                "rejected": statuses["rejected"],
                "unrated": sum(1 for image in images if not image.status and not image.rating),
            },
            "tags": sorted(([tag, len(ids)] for tag, ids in tags.items()), key=lambda t: (-t[1], t[0])),
            "days": [min(known), max(known)] if known else None,
        }
    )
    return files


def item(entry: Entry) -> dict[str, Any]:
    """What a thumbnail and the loupe show of one image; links relative to the build folder.
    Empty values are left out: a chunk holds hundreds of these."""
    image = entry.image
    record: dict[str, Any] = {
        "id": image.id,
        "page": image_path(entry.recipe, image.id),
        "prompt": image.prompt,
        "seed": image.seed,
        "axes": [[key, value(v)] for key, v in entry.axes.items() if key not in ("prompt", "seed")],
        "size": [image.width, image.height],
        "rating": image.rating,
        "status": image.status or "",
        "tags": image.tags,
        "notes": image.notes,
    }
    for key, media in (("thumb", image.grid), ("web", image.large), ("original", image.original)):
        if media is not None:
            record[key] = [media_path(media.path), media.width, media.height]
    facts = {
        "model": image.model,
        "engine": image.engine,
        "steps": image.steps,
        "guidance": image.guidance,
        "sampler": image.sampler,
        "negative": image.negative_prompt,
        "created": when(image.created_at),
        "job": entry.job_key,
    }
    record["facts"] = {key: v for key, v in facts.items() if v not in (None, "")}
    return {key: v for key, v in record.items() if v not in ("", [], None) or key in ("prompt", "seed", "axes")}


def _axis_value(entry: Entry, key: str) -> str:
    v = entry.axes.get(key)
    return "" if v is None else value(v) if not isinstance(v, (dict, list)) else json.dumps(v, sort_keys=True)


def _status(image: Image) -> str:
    return STATUS_NAMES.get(image.status or "", "")


def _day(stamp: str) -> int | None:
    """Days since 1970-01-01 of an ISO 8601 time, in its own zone; None if unreadable."""
    try:
        return (datetime.fromisoformat(stamp.replace("Z", "+00:00")).date() - EPOCH).days
    except (ValueError, AttributeError):
        return None
