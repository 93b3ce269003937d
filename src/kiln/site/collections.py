"""The collections the site shows, and their images read thin and streamed.

A recipe's gallery, the archived collection (the images of recipes whose file is gone), and
the virtual collections chosen in kiln.toml (``[site] collections``): every image, the picks,
the top rated, the most recent and one per tag. A collection's members are read as thin rows
(ids, revisions, the few values that order and count them), one collection at a time, so no
build holds the whole library; the full rows are read only for the pages to render.

Pages of a collection are fixed slices of its order, so adding an image changes only the slice
it lands in: recipe galleries fill pages from their start (new images of a recipe come last),
the virtual collections, shown newest first, from their oldest end (pages ``page-N.html``
count from the oldest), with a first page that shows the newest images.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from itertools import islice
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kiln.store.db import Store

ARCHIVE = "_archived"
ARCHIVE_TITLE = "Archived"
# The virtual collections kiln.toml may choose (``[site] collections``), with their folder and title.
VIRTUAL = {
    "all": ("_all", "All images"),
    "picks": ("_picks", "Picks"),
    "top": ("_top", "Top rated"),
    "recent": ("_recent", "Recent"),
    "tags": ("_tag-", "Tagged"),  # one collection per tag: folder ``_tag-<slug>``, title ``#tag``
}
DEFAULT_VIRTUAL = ("all", "picks", "top")
TOP_RATING = 4  # "Top rated" holds images rated this or more
RECENT = 200  # "Recent" holds this many newest images
TAG_SLUG = re.compile(r"[^a-z0-9]+")


class Member(NamedTuple):
    """One image in a collection, as little as the build needs to place it and see it changed."""

    image_id: str
    revision: int
    home: str  # the folder of the image's own page
    created_at: str
    rating: int
    status: str | None
    # Recipe galleries only (empty elsewhere): the job that made it there, its place, its axes.
    job_key: str = ""
    position: int = 0
    axes: str = "{}"
    recipe: str = ""
    prompt: str = ""
    seed: int | None = None
    width: int = 0
    height: int = 0


@dataclass
class Collection:
    """One collection: where it goes, what it is called, how it is read and ordered."""

    name: str  # its folder under build/
    title: str
    kind: str  # "recipe", "archived", "all", "picks", "top", "recent", "tag"
    page_size: int
    description: str = ""
    gallery: dict[str, Any] = field(default_factory=dict)
    # Recipes whose entries it shows (a recipe's own, or the archived ones).
    recipes: list[str] = field(default_factory=list)
    tag: str | None = None
    # Virtual collections: the folder of each shown image's own page.
    homes: Mapping[str, str] = field(default_factory=dict)
    # Filled by the build as it goes through the members:
    count: int = 0
    digest: str = ""
    changed: bool = True

    @property
    def newest_first(self) -> bool:
        """Virtual collections show the newest first, and are paged from their oldest end."""
        return self.kind not in ("recipe", "archived")

    def members(self, store: Store) -> Iterator[Member]:
        """The members in gallery order (recipe galleries: in recipe order, before any
        ``gallery.sort``), streamed from the store."""
        if self.kind in ("recipe", "archived"):
            yield from _recipe_members(store, self)
        else:
            yield from _virtual_members(store, self)

    def members_between(self, store: Store, oldest: tuple[str, str] | None, above: tuple[str, str] | None) -> Iterator[Member]:
        """A virtual collection's members (newest first) older than ``above`` and down to
        ``oldest`` (creation times and ids; None: no end), read along the creation index."""
        yield from _virtual_members(store, self, between=(oldest, above))

    def members_of(self, store: Store, ids: list[str]) -> dict[str, Member]:
        """A recipe's (or the archive's) members among ``ids``, as :meth:`members` reads them."""
        return {m.image_id: m for m in _recipe_members(store, self, ids)}

    def best(self, store: Store) -> Member | None:
        """A virtual collection's best member as :func:`kiln.site.views.cover` picks it (picked,
        not rejected, rated highest, the newest of those), found by SQLite."""
        return next(_virtual_members(store, self, _BEST), None)

    def newest(self, store: Store, count: int) -> list[Member]:
        """Its ``count`` newest members (by creation time, then id, newest first), read without
        the rest: what a feed shows."""
        if self.kind in ("recipe", "archived"):
            rows = _newest_recipe_members(store, self)
        else:
            rows = _virtual_members(store, self, "i.created_at DESC, i.id DESC")
        return list(islice(rows, count))


_VIRTUAL_SQL = {
    "all": "1",
    "picks": "i.status = 'selected'",
    "top": f"i.rating >= {TOP_RATING}",
    "recent": "1",
    # ``instr`` first: finding the tag's text in the column is much cheaper than parsing it.
    "tag": "instr(i.tags, :text) > 0"
    " AND EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(i.tags) THEN i.tags ELSE '[]' END) t WHERE t.value = :tag)",
}
_ORDER = {
    "top": "i.rating DESC, i.created_at DESC, i.id DESC",
}
_BEST = (
    "coalesce(i.status, '') = 'selected' DESC, coalesce(i.status, '') != 'rejected' DESC, coalesce(i.rating, 0) DESC,"
    " i.created_at DESC, i.id DESC"
)


def virtual_filter(kind: str, tag: str | None) -> tuple[str, dict[str, str]]:
    """The ``WHERE`` clause over ``images i`` choosing a virtual collection's images, and its
    parameters."""
    tag = tag or ""
    # A tag JSON writes with escapes (quotes, non-ASCII) is looked for by the parse alone.
    text = tag if tag.isascii() and '"' not in tag and "\\" not in tag else ""
    return _VIRTUAL_SQL[kind], {"tag": tag, "text": text}


def _virtual_members(
    store: Store, collection: Collection, order: str | None = None,
    between: tuple[tuple[str, str] | None, tuple[str, str] | None] = (None, None),
) -> Iterator[Member]:
    where, parameters = virtual_filter(collection.kind, collection.tag)
    order = order or _ORDER.get(collection.kind, "i.created_at DESC, i.id DESC")
    oldest, above = between
    if oldest is not None:
        where += " AND (i.created_at, i.id) >= (:oldest_created, :oldest_id)"
        parameters = {**parameters, "oldest_created": oldest[0], "oldest_id": oldest[1]}
    if above is not None:
        where += " AND (i.created_at, i.id) < (:above_created, :above_id)"
        parameters = {**parameters, "above_created": above[0], "above_id": above[1]}
    limit = f" LIMIT {RECENT}" if collection.kind == "recent" else ""
    sql = (
        f"SELECT i.id, i.revision, i.created_at, i.rating, i.status FROM images i"
        f" WHERE {where} ORDER BY {order}"
    )
    # Only images some collection shows have a page to link to; a recent list still holds RECENT.
    shown = 0
    for row in store.conn.execute(sql, parameters):
        home = collection.homes.get(row[0])
        if home is None:
            continue
        yield Member(row[0], row[1], home, row[2], row[3] or 0, row[4])
        shown += 1
        if limit and shown >= RECENT:
            return


_RECIPE_SQL = """
SELECT i.id, i.revision, i.created_at, i.rating, i.status, rj.job_key, rj.position, rj.axes, i.prompt, i.seed,
       i.width, i.height
FROM recipe_jobs rj
JOIN jobs j ON j.key = rj.job_key
JOIN images i ON i.id = j.image_id AND j.status != 'deleted'
WHERE rj.recipe = ?
ORDER BY rj.position
"""


def _recipe_members(store: Store, collection: Collection, ids: list[str] | None = None) -> Iterator[Member]:
    seen: set[str] = set()  # two jobs (or two archived recipes) that made one file: one entry
    sql = _RECIPE_SQL if ids is None else _RECIPE_SQL.replace("WHERE", "WHERE i.id IN (SELECT value FROM json_each(?)) AND")
    for recipe in collection.recipes:
        for row in store.conn.execute(sql, [recipe] if ids is None else [json.dumps(ids), recipe]):
            if row[0] in seen:
                continue
            seen.add(row[0])
            yield Member(
                row[0], row[1], collection.name, row[2], row[3] or 0, row[4], row[5], row[6], row[7], recipe,
                row[8] or "", row[9], row[10], row[11],
            )


def _newest_recipe_members(store: Store, collection: Collection) -> Iterator[Member]:
    """A recipe's (or the archive's) members newest first; SQLite sorts, Python reads the few
    it needs."""
    sql = _RECIPE_SQL.replace("rj.recipe = ?", "rj.recipe IN (SELECT value FROM json_each(?))").replace(
        "ORDER BY rj.position", "ORDER BY i.created_at DESC, i.id DESC, rj.recipe, rj.position"
    )
    seen: set[str] = set()
    for row in store.conn.execute(sql, [json.dumps(collection.recipes)]):
        if row[0] not in seen:
            seen.add(row[0])
            yield Member(row[0], row[1], collection.name, row[2], row[3] or 0, row[4])


def tag_folder(tag: str) -> str:
    """The folder of a tag's collection: ``_tag-`` and the tag in lowercase letters and digits."""
    slug = TAG_SLUG.sub("-", tag.casefold()).strip("-") or "tag"
    return f"_tag-{slug}"


def tags(store: Store) -> list[str]:
    """Every tag some image carries, sorted."""
    sql = (
        "SELECT DISTINCT t.value FROM images i, json_each(CASE WHEN json_valid(i.tags) THEN i.tags ELSE '[]' END) t"
        " WHERE t.type = 'text' ORDER BY t.value"
    )
    return [row[0] for row in store.conn.execute(sql)]


def parse_axes(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
