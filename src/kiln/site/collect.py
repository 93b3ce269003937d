"""From the store to the plain view-model the templates render.

Four queries whatever the size of the catalogue: the recipes, every recipe's jobs joined to
their images, every image's derivatives, and the references images were made from. Templates then only read attributes, so
rendering never goes back to SQLite.

A recipe whose file is gone is archived: it is no collection of its own any more, and the
images it still has are shown together in one "Archived" collection, whose name (``_archived``)
no recipe can take.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import blurhash

from kiln.errors import Problem
from kiln.library.archive import is_archived
from kiln.project import Project
from kiln.site.blur import blur_data_uri
from kiln.store.db import Store

SORTS = ("created", "prompt", "seed", "rating")
MAX_PAGE_SIZE = 1000
# Both end up in file names under build/, so anything else is refused rather than escaped;
# an image id must not take the name of a gallery page in its recipe's folder.
RECIPE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
IMAGE_ID = re.compile(r"(?!index\Z|grid\Z|page-\d+\Z)[A-Za-z0-9][A-Za-z0-9_-]*\Z")
ARCHIVE = "_archived"
ARCHIVE_TITLE = "Archived"

_RECIPES_SQL = "SELECT name, path, kind, title, description, gallery FROM recipes ORDER BY name"
_ENTRIES_SQL = """
SELECT rj.recipe, rj.job_key, rj.position, rj.axes, j.status AS job_status, j.model AS job_model,
       i.id, i.path, i.width, i.height, i.bytes, i.format, i.prompt, i.negative_prompt, i.model,
       i.engine, i.seed, i.steps, i.guidance, i.sampler, i.params, i.timings, i.created_at,
       i.rating, i.status, i.tags, i.notes, i.blurhash, i.job_key AS image_job_key
FROM recipe_jobs rj
JOIN jobs j ON j.key = rj.job_key
LEFT JOIN images i ON i.id = j.image_id AND j.status != 'deleted'
ORDER BY rj.recipe, rj.position
"""
_DERIVATIVES_SQL = "SELECT image_id, stage, path, width, height FROM derivatives WHERE stage IN ('thumb', 'web')"
_REFERENCES_SQL = "SELECT image_id, source_path, thumb_path FROM image_references ORDER BY image_id, position"
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

    @property
    def procedural(self) -> bool:
        """Whether kiln's built-in placeholder engine drew this instead of a model."""
        return self.params.get("procedural") is True or self.params.get("engine_type") == "placeholder"

    @property
    def grid(self) -> Media | None:
        """The file shown in grids: the thumbnail, else the best stand-in that exists."""
        return self.thumb or self.web or self.original

    @property
    def large(self) -> Media | None:
        """The file shown on the image's own page."""
        return self.web or self.original

    @property
    def placeholder(self) -> str | None:
        """The blurhash as an inline image URI, for a CSS background."""
        return blur_data_uri(self.blurhash, self.width, self.height) if self.blurhash else None

    def media(self) -> list[Media]:
        own = [m for m in (self.original, self.thumb, self.web) if m is not None]
        return own + [thumb for _, thumb in self.references]

    def drop(self, missing: set[str]) -> None:
        """Forget files that turned out not to exist, so pages fall back to what does."""
        if self.original and self.original.path in missing:
            self.original = None
        if self.thumb and self.thumb.path in missing:
            self.thumb = None
        if self.web and self.web.path in missing:
            self.web = None
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


@dataclass
class Recipe:
    name: str
    title: str
    description: str
    gallery: dict[str, Any]
    page_size: int
    entries: list[Entry] = field(default_factory=list)
    jobs: int = 0
    pending: int = 0
    failed: int = 0
    deleted: int = 0
    models: list[str] = field(default_factory=list)
    cover: Entry | None = None
    # The archived collection only: each archived recipe it shows images of, with their count.
    archived_from: list[tuple[str, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.entries)

    @functools.cached_property
    def selected(self) -> int:
        return sum(1 for e in self.entries if e.image.status == "selected")

    @functools.cached_property
    def rejected(self) -> int:
        return sum(1 for e in self.entries if e.image.status == "rejected")

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.entries) // self.page_size))

    def page_of(self, entry: Entry) -> int:
        return entry.index // self.page_size + 1

    def page_entries(self, number: int) -> list[Entry]:
        start = (number - 1) * self.page_size
        return self.entries[start : start + self.page_size]

    @functools.cached_property
    def sizes(self) -> list[str]:
        return _distinct(f"{e.image.width}×{e.image.height}" for e in self.entries)

    @functools.cached_property
    def seeds(self) -> int:
        return len({e.image.seed for e in self.entries if e.image.seed is not None})

    @functools.cached_property
    def grid(self) -> Grid | None:
        """The layout ``gallery.grid`` asks for, if the axes it names vary in this recipe."""
        wanted = self.gallery.get("grid")
        if not isinstance(wanted, dict) or not self.entries:
            return None
        varying = {key for key, _ in self.axes}
        x, y = wanted.get("x"), wanted.get("y")
        if x not in varying or (y is not None and y not in varying):
            return None
        return make_grid(self.name, self.entries, x, y)

    @functools.cached_property
    def axes(self) -> list[tuple[str, int]]:
        """Each parameter that varies across the recipe's jobs, with how many values it takes."""
        values: dict[str, set[str]] = {}
        for entry in self.entries:
            for key, value in entry.axes.items():
                values.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
        return [(key, len(seen)) for key, seen in values.items()]


@dataclass
class Site:
    title: str
    description: str
    recipes: list[Recipe]
    images: dict[str, Image]


def collect(project: Project, store: Store, problems: list[Problem]) -> Site:
    """Read everything the site shows; what is wrong with a row goes to ``problems``."""
    where = project.relative(project.db_path)
    recipes: dict[str, Recipe] = {}
    archive = Recipe(ARCHIVE, ARCHIVE_TITLE, "", {}, project.page_size)
    archived: dict[str, int] = {}
    for row in store.query(_RECIPES_SQL):
        name = row["name"]
        if not RECIPE_NAME.match(name):
            problems.append(Problem(where, None, f"recipes.{name}", "not a valid recipe name; skipped"))
            continue
        if is_archived(project, row["path"], row["kind"]):
            archived[name] = 0
            continue
        gallery = _json_object(row["gallery"], problems, where, f"recipes.{name}.gallery")
        recipes[name] = Recipe(
            name=name,
            title=_text(gallery.get("title")) or row["title"] or name,
            description=row["description"] or "",
            gallery=gallery,
            page_size=_page_size(gallery, project.page_size, problems, where, name),
        )

    derivatives = _derivatives(store, problems, where)
    images: dict[str, Image] = {}
    refused: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for row in store.query(_ENTRIES_SQL):
        recipe = recipes.get(row["recipe"])
        if recipe is None:
            if row["recipe"] not in archived or row["id"] is None:
                continue
            recipe = archive
        recipe.jobs += 1
        if row["job_model"] and row["job_model"] not in recipe.models:
            recipe.models.append(row["job_model"])
        if row["id"] is None:
            if row["job_status"] == "failed":
                recipe.failed += 1
            elif row["job_status"] == "deleted":
                recipe.deleted += 1
            else:
                recipe.pending += 1
            continue
        image = images.get(row["id"])
        if image is None:
            if row["id"] in refused:
                continue
            image = _image(row, derivatives.get(row["id"], {}), problems, where)
            if image is None:
                refused.add(row["id"])
                continue
            images[image.id] = image
        if (recipe.name, image.id) in seen:
            continue  # two jobs of one recipe (or two archived recipes) made the same file: one page for it
        seen.add((recipe.name, image.id))
        axes = _json_object(row["axes"], problems, where, f"recipe_jobs.{row['recipe']}.{row['job_key']}.axes")
        if recipe is archive:
            archived[row["recipe"]] += 1
            # Recipes' positions would interleave: the archive keeps them recipe by recipe.
            position = len(archive.entries)
        else:
            position = row["position"]
        recipe.entries.append(Entry(recipe.name, image, row["job_key"], position, axes))

    _attach_references(store, images, problems, where)
    shown = list(recipes.values())
    if archive.entries:
        archive.archived_from = [(name, count) for name, count in archived.items() if count]
        shown.append(archive)
    for recipe in shown:
        _arrange(recipe, problems, where)
    return Site(project.title, project.description, shown, images)


def _derivatives(store: Store, problems: list[Problem], where: str) -> dict[str, dict[str, Media]]:
    by_image: dict[str, dict[str, Media]] = {}
    for row in store.query(_DERIVATIVES_SQL):
        path = _art_path(row["path"], problems, where, f"derivatives.{row['image_id']}.{row['stage']}")
        if path is not None:
            by_image.setdefault(row["image_id"], {})[row["stage"]] = Media(path, row["width"], row["height"])
    return by_image


def _attach_references(store: Store, images: dict[str, Image], problems: list[Problem], where: str) -> None:
    for row in store.query(_REFERENCES_SQL):
        image = images.get(row["image_id"])
        path = _art_path(row["thumb_path"], problems, where, f"image_references.{row['image_id']}.thumb_path")
        if image is not None and path is not None:
            image.references.append((row["source_path"], Media(path, REFERENCE_THUMB, REFERENCE_THUMB)))


def _image(
    row: dict[str, Any], derivatives: dict[str, Media], problems: list[Problem], where: str
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
    )


def _arrange(recipe: Recipe, problems: list[Problem], where: str) -> None:
    """Put the entries in gallery order, number them, and choose the cover."""
    sort = recipe.gallery.get("sort")
    # Oldest, alphabetical, lowest seed and best rated first; ties keep the recipe's order.
    keys = {
        "created": lambda e: (e.image.created_at, e.position),
        "prompt": lambda e: (e.image.prompt.casefold(), e.position),
        "seed": lambda e: (e.image.seed is None, e.image.seed or 0, e.position),
        "rating": lambda e: (-e.image.rating, e.position),
    }
    if sort is not None and sort not in keys:
        problems.append(
            Problem(where, None, f"recipes.{recipe.name}.gallery.sort", f"expected one of {', '.join(SORTS)}, got {sort!r}")
        )
    recipe.entries.sort(key=keys.get(sort, lambda e: e.position))
    for index, entry in enumerate(recipe.entries):
        entry.index = index
    recipe.cover = _cover(recipe, problems, where)


def _cover(recipe: Recipe, problems: list[Problem], where: str) -> Entry | None:
    """The gallery's ``cover`` if it names one of its images; else the best selected or
    highest-rated image, never a rejected one unless nothing else is left; else the first."""
    if not recipe.entries:
        return None
    wanted = recipe.gallery.get("cover")
    if wanted is not None:
        for entry in recipe.entries:
            if entry.image.id == wanted:
                return entry
        problems.append(
            Problem(where, None, f"recipes.{recipe.name}.gallery.cover", f"no image {wanted!r} in this recipe")
        )
    return max(
        recipe.entries,
        key=lambda e: (e.image.status == "selected", e.image.status != "rejected", e.image.rating, -e.index),
    )


def _page_size(gallery: dict[str, Any], default: int, problems: list[Problem], where: str, name: str) -> int:
    size = gallery.get("page_size", default)
    if isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_PAGE_SIZE:
        return size
    problems.append(
        Problem(where, None, f"recipes.{name}.gallery.page_size", f"expected an integer from 1 to {MAX_PAGE_SIZE}, got {size!r}")
    )
    return default


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


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
