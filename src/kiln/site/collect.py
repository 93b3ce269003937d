"""From the store to the plain view-model the templates render: images, their files, entries.

The full rows of images are read only for the pages a build renders, in batches of ids (three
queries a batch: images, derivatives, references). Templates then only read attributes, so
rendering never goes back to SQLite.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import blurhash

from kiln.errors import Problem
from kiln.site.blur import blur_data_uri
from kiln.store.db import Store

SORTS = ("created", "prompt", "seed", "rating")
MAX_PAGE_SIZE = 1000
# Both end up in file names under build/, so anything else is refused rather than escaped;
# an image id must not take the name of a gallery page in its recipe's folder.
RECIPE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
IMAGE_ID = re.compile(r"(?!index\Z|grid\Z|page-\d+\Z|part-\d+\Z)[A-Za-z0-9][A-Za-z0-9_-]*\Z")

_IMAGES_SQL = """
SELECT id, path, width, height, bytes, format, prompt, negative_prompt, model, engine, seed, steps, guidance,
       sampler, params, timings, created_at, rating, status, tags, notes, blurhash, job_key AS image_job_key
FROM images WHERE id IN ({marks})
"""
_DERIVATIVES_SQL = (
    "SELECT image_id, stage, path, width, height FROM derivatives WHERE stage IN ('thumb', 'thumb_small', 'web') AND image_id IN ({marks})"
)
_REFERENCES_SQL = (
    "SELECT image_id, source_path, thumb_path FROM image_references WHERE image_id IN ({marks}) ORDER BY image_id, position"
)
BATCH = 500  # ids per query: well under SQLite's limit on parameters
REFERENCE_THUMB = 400  # reference thumbnails are square crops of at most this side


@dataclass(frozen=True)
class Media:
    """One file in the art store: its path relative to the art folder and its pixel size."""

    path: str
    width: int
    height: int


@dataclass
class Image:
    id: str
    original: Media | None
    width: int
    height: int
    bytes: int
    format: str
    prompt: str
    negative_prompt: str
    model: str | None
    engine: str | None
    seed: int | None
    steps: int | None
    guidance: float | None
    sampler: str | None
    params: dict[str, Any]
    timings: dict[str, Any]
    created_at: str
    rating: int
    status: str | None
    tags: list[str]
    notes: str
    blurhash: str | None
    job_key: str | None
    thumb: Media | None = None
    web: Media | None = None
    # The reference images it was made from: (their path when used, a kept thumbnail).
    references: list[tuple[str, Media]] = field(default_factory=list)
    # The 256 px thumbnail; stores made before it existed lack it until `kiln doctor --fix`.
    thumb_small: Media | None = None

    @property
    def procedural(self) -> bool:
        """Whether kiln's built-in placeholder engine drew this instead of a model."""
        return self.params.get("procedural") is True or self.params.get("engine_type") == "placeholder"

    @property
    def grid(self) -> Media | None:
        """The file shown in grids: the thumbnail, else the best stand-in that exists."""
        return self.thumb or self.web or self.original

    @property
    def thumbs(self) -> list[Media]:
        """The thumbnails to offer in a ``srcset``, narrowest first: both widths when the small
        one exists and is smaller, else the thumbnail alone (or nothing)."""
        if self.thumb is None:
            return []
        if self.thumb_small is not None and self.thumb_small.width < self.thumb.width:
            return [self.thumb_small, self.thumb]
        return [self.thumb]

    @property
    def large(self) -> Media | None:
        """The file shown on the image's own page."""
        return self.web or self.original

    @property
    def placeholder(self) -> str | None:
        """The blurhash as an inline image URI, for a CSS background."""
        return blur_data_uri(self.blurhash, self.width, self.height) if self.blurhash else None

    def media(self) -> list[Media]:
        own = [m for m in (self.original, self.thumb, self.web, self.thumb_small) if m is not None]
        return own + [thumb for _, thumb in self.references]

    def drop(self, missing: set[str]) -> None:
        """Forget files that turned out not to exist, so pages fall back to what does."""
        if self.original and self.original.path in missing:
            self.original = None
        if self.thumb and self.thumb.path in missing:
            self.thumb = None
        if self.web and self.web.path in missing:
            self.web = None
        if self.thumb_small and self.thumb_small.path in missing:
            self.thumb_small = None
        self.references = [(source, thumb) for source, thumb in self.references if thumb.path not in missing]


@dataclass
class Entry:
    """An image in one recipe: a recipe's gallery and pages are made of these."""

    recipe: str
    image: Image
    job_key: str
    position: int
    axes: dict[str, Any]
    index: int = 0


@dataclass
class Grid:
    """A recipe's images laid out by two axes: ``x`` across, ``y`` down (one row without y)."""

    recipe: str
    x: str
    y: str | None
    columns: list[Any]
    rows: list[Any]
    cells: dict[tuple[int, int], list[Entry]]

    def cell(self, row: int, column: int) -> list[Entry]:
        return self.cells.get((row, column), [])


def make_grid(recipe: str, entries: list[Entry], x: str, y: str | None) -> Grid:
    """Columns and rows in the order their values first appear in the recipe."""
    columns: dict[str, Any] = {}
    rows: dict[str, Any] = {}
    cells: dict[tuple[int, int], list[Entry]] = {}
    for entry in sorted(entries, key=lambda e: e.position):
        x_value = entry.axes.get(x)
        y_value = entry.axes.get(y) if y else None
        column = columns.setdefault(json.dumps(x_value, sort_keys=True), (len(columns), x_value))[0]
        row = rows.setdefault(json.dumps(y_value, sort_keys=True), (len(rows), y_value))[0]
        cells.setdefault((row, column), []).append(entry)
    return Grid(recipe, x, y, [v for _, v in columns.values()], [v for _, v in rows.values()], cells)


def fetch_images(store: Store, ids: Iterable[str], problems: list[Problem], where: str) -> dict[str, Image]:
    """The full view of each of ``ids`` (row, thumbnail and web copy, references), in batches;
    an id whose row is unusable is reported and left out."""
    images: dict[str, Image] = {}
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        marks = ",".join("?" * len(chunk))
        derivatives: dict[str, dict[str, Media]] = {}
        for row in _rows(store, _DERIVATIVES_SQL.format(marks=marks), chunk):
            path = _art_path(row["path"], problems, where, f"derivatives.{row['image_id']}.{row['stage']}")
            if path is not None:
                derivatives.setdefault(row["image_id"], {})[row["stage"]] = Media(path, row["width"], row["height"])
        for row in _rows(store, _IMAGES_SQL.format(marks=marks), chunk):
            image = _image(row, derivatives.get(row["id"], {}), problems, where)
            if image is not None:
                images[image.id] = image
        for row in _rows(store, _REFERENCES_SQL.format(marks=marks), chunk):
            image = images.get(row["image_id"])
            path = _art_path(row["thumb_path"], problems, where, f"image_references.{row['image_id']}.thumb_path")
            if image is not None and path is not None:
                image.references.append((row["source_path"], Media(path, REFERENCE_THUMB, REFERENCE_THUMB)))
    return images


def _rows(store: Store, sql: str, params: list[str]) -> list[sqlite3.Row]:
    """Rows read by column name, without building a dict for each (a full build reads a
    library's rows several times over)."""
    with store.lock:
        cursor = store.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(sql, params).fetchall()


def _image(
    row: sqlite3.Row, derivatives: dict[str, Media], problems: list[Problem], where: str
) -> Image | None:
    image_id = row["id"]
    key = f"images.{image_id}"
    if not IMAGE_ID.match(image_id):
        problems.append(Problem(where, None, key, "not a valid image id; skipped"))
        return None
    path = _art_path(row["path"], problems, where, f"{key}.path")
    hash_ = row["blurhash"]
    if hash_ and not blurhash.is_valid_blurhash(hash_):
        problems.append(Problem(where, None, f"{key}.blurhash", f"not a valid blurhash: {hash_!r}"))
        hash_ = None
    tags = _json(row["tags"], [], problems, where, f"{key}.tags")
    return Image(
        id=image_id,
        original=Media(path, row["width"], row["height"]) if path else None,
        width=row["width"],
        height=row["height"],
        bytes=row["bytes"],
        format=row["format"],
        prompt=row["prompt"] or "",
        negative_prompt=row["negative_prompt"] or "",
        model=row["model"],
        engine=row["engine"],
        seed=row["seed"],
        steps=row["steps"],
        guidance=row["guidance"],
        sampler=row["sampler"],
        params=_json_object(row["params"], problems, where, f"{key}.params"),
        timings=_json_object(row["timings"], problems, where, f"{key}.timings"),
        created_at=row["created_at"],
        rating=row["rating"] or 0,
        status=row["status"],
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
        notes=row["notes"] or "",
        blurhash=hash_,
        job_key=row["image_job_key"],
        thumb=derivatives.get("thumb"),
        web=derivatives.get("web"),
        thumb_small=derivatives.get("thumb_small"),
    )


def _art_path(value: str | None, problems: list[Problem], where: str, key: str) -> str | None:
    """``value`` if it is a plain relative posix path inside the art folder."""
    if not value or value.startswith("/") or "\\" in value or ".." in value.split("/"):
        problems.append(Problem(where, None, key, f"not a path inside the art folder: {value!r}"))
        return None
    return value


def _json(text: str | None, default: Any, problems: list[Problem], where: str, key: str) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        problems.append(Problem(where, None, key, "not valid JSON"))
        return default


def _json_object(text: str | None, problems: list[Problem], where: str, key: str) -> dict[str, Any]:
    value = _json(text, {}, problems, where, key)
    if not isinstance(value, dict):
        problems.append(Problem(where, None, key, "expected a JSON object"))
        return {}
    return value


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
