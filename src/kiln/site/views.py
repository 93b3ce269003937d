"""What a collection's pages show about it as a whole, and how its pages are cut.

The header (counts, models, sizes, seeds, what varies, the cover) is worked out from the thin
members and one query over the recipe's jobs; the pager from the number of members alone.
Only a collection's first page shows the header and the full pager: the other pages show
their own images and their neighbours, so an image added to a collection changes its first
page, the page it lands on, and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from kiln.errors import Problem
from kiln.site.collect import SORTS, Entry, Grid
from kiln.site.collections import ARCHIVE, Collection, Member, parse_axes
from kiln.site.layout import gallery_path, part_path
from kiln.store.db import Store

# Pages shown around the current one in a pager, beside the first.
PAGER_REACH = 2

_JOBS_SQL = """
SELECT count(*) AS jobs,
       sum(i.id IS NULL AND j.status = 'failed') AS failed,
       sum(i.id IS NULL AND j.status = 'deleted') AS deleted,
       sum(i.id IS NULL AND j.status NOT IN ('failed', 'deleted')) AS pending
FROM recipe_jobs rj JOIN jobs j ON j.key = rj.job_key
LEFT JOIN images i ON i.id = j.image_id AND j.status != 'deleted'
WHERE rj.recipe = ?
"""
_MODELS_SQL = """
SELECT j.model FROM recipe_jobs rj JOIN jobs j ON j.key = rj.job_key
WHERE rj.recipe = ? AND j.model != '' {images_only} GROUP BY j.model ORDER BY min(rj.position)
"""


@dataclass
class Gallery:
    """A collection as its pages show it (``recipe`` in the templates)."""

    name: str
    title: str
    kind: str
    description: str
    gallery: dict[str, Any]
    page_size: int
    newest_first: bool
    count: int = 0
    jobs: int = 0
    pending: int = 0
    failed: int = 0
    deleted: int = 0
    selected: int = 0
    rejected: int = 0
    models: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    seeds: int = 0
    axes: list[tuple[str, int]] = field(default_factory=list)
    grid: Grid | None = None  # its axes only; the grid page gets the cells
    page_count: int = 1
    archived_from: list[tuple[str, int]] = field(default_factory=list)
    cover_member: Member | None = None
    cover: Entry | None = None  # set when the page showing it is rendered

    def digest_parts(self) -> tuple:
        """Everything a first page or a card shows about the collection."""
        grid = (self.grid.x, self.grid.y) if self.grid else None
        cover = self.cover_member[:3] if self.cover_member else None
        return (
            self.name, self.title, self.kind, self.description, self.count, self.jobs, self.pending, self.failed,
            self.deleted, self.selected, self.rejected, self.models, self.sizes, self.seeds, self.axes, grid,
            self.page_count, self.archived_from, cover,
        )


@dataclass
class Pager:
    """One page of a collection: where it is, its neighbours, the page links it offers
    (``(label, path)``, path None for a gap) and which members it shows."""

    recipe: Gallery
    number: int
    path: str
    label: str
    previous: str | None
    next: str | None
    window: list[tuple[str, str | None]]
    start: int  # index of its first member in gallery order
    size: int

    @property
    def is_first(self) -> bool:
        """The collection's first page, the one that shows its header."""
        return self.path == gallery_path(self.recipe.name)

    @property
    def count(self) -> int:
        return self.recipe.page_count

    @property
    def previous_label(self) -> str:
        return "Newer" if self.recipe.newest_first else "Previous"

    @property
    def next_label(self) -> str:
        return "Older" if self.recipe.newest_first else "Next"


def arrange(collection: Collection, members: list[Member], problems: list[Problem], where: str) -> list[Member]:
    """The members in gallery order: a recipe's ``gallery.sort``, else as read."""
    sort = collection.gallery.get("sort")
    keys = {
        "created": lambda m: (m.created_at, m.position),
        "prompt": lambda m: (m.prompt.casefold(), m.position),
        "seed": lambda m: (m.seed is None, m.seed or 0, m.position),
        "rating": lambda m: (-m.rating, m.position),
    }
    if sort is not None and sort not in keys:
        problems.append(
            Problem(where, None, f"recipes.{collection.name}.gallery.sort", f"expected one of {', '.join(SORTS)}, got {sort!r}")
        )
    if sort in keys and collection.kind == "recipe":
        members.sort(key=keys[sort])
    return members


def recipe_stats(store: Store, collection: Collection) -> tuple:
    """What a recipe's header shows besides its images: its jobs by state and its models
    (for the archive, the models of its images)."""
    if collection.kind == "recipe":
        row = store.query(_JOBS_SQL, [collection.name])[0]
        models = [r["model"] for r in store.query(_MODELS_SQL.format(images_only=""), [collection.name])]
        return tuple(row[k] or 0 for k in ("jobs", "failed", "deleted", "pending")), models
    if collection.kind == "archived":
        found: dict[str, None] = {}
        for name in collection.recipes:
            for r in store.query(_MODELS_SQL.format(images_only="AND j.image_id IS NOT NULL AND j.status != 'deleted'"), [name]):
                found[r["model"]] = None
        return (), list(found)
    return (), []


def header(
    collection: Collection, members: list[Member], stats: tuple, archived_counts: list[tuple[str, int]],
    problems: list[Problem], where: str,
) -> Gallery:
    """What the collection's first page and its card show; ``stats`` from :func:`recipe_stats`."""
    shown = Gallery(
        collection.name, collection.title, collection.kind, collection.description, collection.gallery,
        collection.page_size, collection.newest_first, count=len(members),
    )
    shown.selected = sum(1 for m in members if m.status == "selected")
    shown.rejected = sum(1 for m in members if m.status == "rejected")
    shown.page_count = len(pagers(shown))
    if collection.kind in ("recipe", "archived"):
        shown.sizes = list(dict.fromkeys(f"{m.width}×{m.height}" for m in members))
        shown.seeds = len({m.seed for m in members if m.seed is not None})
        values: dict[str, set[Any]] = {}
        for m in members:
            for key, value in parse_axes(m.axes).items():
                values.setdefault(key, set()).add(value if isinstance(value, (str, int, float)) else json.dumps(value, sort_keys=True))
        shown.axes = [(key, len(seen)) for key, seen in values.items()]
    counts, shown.models = stats
    if collection.kind == "recipe":
        shown.jobs, shown.failed, shown.deleted, shown.pending = counts
        wanted = collection.gallery.get("grid")
        varying = {key for key, _ in shown.axes}
        if isinstance(wanted, dict) and members and wanted.get("x") in varying and wanted.get("y", None) in varying | {None}:
            shown.grid = Grid(collection.name, wanted["x"], wanted.get("y"), [], [], {})
    elif collection.kind == "archived":
        shown.jobs = len(members)
        shown.archived_from = archived_counts
    shown.cover_member = cover(collection, members, problems, where)
    return shown


def cover(collection: Collection, members: list[Member], problems: list[Problem], where: str) -> Member | None:
    """The gallery's ``cover`` if it names one of its images; else the best selected or
    highest-rated image, never a rejected one unless nothing else is left; else the first."""
    if not members:
        return None
    wanted = collection.gallery.get("cover")
    if wanted is not None:
        for member in members:
            if member.image_id == wanted:
                return member
        problems.append(Problem(where, None, f"recipes.{collection.name}.gallery.cover", f"no image {wanted!r} in this recipe"))
    best = max(
        range(len(members)),
        key=lambda i: (members[i].status == "selected", members[i].status != "rejected", members[i].rating, -i),
    )
    return members[best]


def dump(shown: Gallery) -> str:
    """The header as JSON, for the next build to reuse while the collection is unchanged."""
    data = {f.name: getattr(shown, f.name) for f in fields(Gallery) if f.name not in ("cover", "grid")}
    data["grid"] = [shown.grid.x, shown.grid.y] if shown.grid else None
    return json.dumps(data)


def load(text: str) -> Gallery:
    data = json.loads(text)
    grid = data.pop("grid")
    shown = Gallery(**data)
    shown.grid = Grid(shown.name, grid[0], grid[1], [], [], {}) if grid else None
    shown.axes = [tuple(a) for a in shown.axes]
    shown.archived_from = [tuple(a) for a in shown.archived_from]
    shown.cover_member = Member(*shown.cover_member) if shown.cover_member else None
    return shown


def parts(shown: Gallery) -> list[int]:
    """The numbers of a newest-first collection's parts (those not wholly on its first page),
    as :func:`pagers` has them, without making the pagers."""
    size, n = shown.page_size, shown.count
    return [c for c in range(1, -(-n // size) + 1) if n - (c - 1) * size > size]


def pagers(shown: Gallery) -> list[Pager]:
    """Every page of the collection, first page first."""
    return _newest_first(shown) if shown.newest_first else _from_start(shown)


def _from_start(shown: Gallery) -> list[Pager]:
    """Pages filled from the first member: page n holds the n-th slice."""
    size = shown.page_size
    count = max(1, -(-shown.count // size))
    pages = []
    for number in range(1, count + 1):
        # The first page offers every page (it changes with the count anyway); the others only
        # their neighbours, so that a new last page changes no page but the two before it.
        numbers = {1, count, 2, 3} if number == 1 else {1}
        numbers |= set(range(max(1, number - PAGER_REACH), min(count, number + PAGER_REACH) + 1))
        window: list[tuple[str, str | None]] = []
        last = 0
        for n in sorted(k for k in numbers if 1 <= k <= count):
            if n - last > 1:
                window.append(("…", None))
            window.append((str(n), gallery_path(shown.name, n)))
            last = n
        pages.append(
            Pager(
                shown, number, gallery_path(shown.name, number), f"Page {number}",
                gallery_path(shown.name, number - 1) if number > 1 else None,
                gallery_path(shown.name, number + 1) if number < count else None,
                window if count > 1 else [], (number - 1) * size, size,
            )
        )
    return pages


def _newest_first(shown: Gallery) -> list[Pager]:
    """The first page shows the newest members; the others (``part-N``) hold fixed slices
    counted from the oldest, so a new image changes the first page and the newest part only.
    A part wholly shown by the first page is left out."""
    size, n = shown.page_size, shown.count
    numbers = parts(shown)
    first = Pager(shown, 1, gallery_path(shown.name), "Newest", None, None, [], 0, size)
    pages = [first]
    for c in sorted(numbers, reverse=True):
        start = max(0, n - c * size)
        pages.append(Pager(shown, c, part_path(shown.name, c), f"Part {c}", None, None, [], start, n - (c - 1) * size - start))
    for i, page in enumerate(pages):
        page.previous = pages[i - 1].path if i > 0 else None
        page.next = pages[i + 1].path if i + 1 < len(pages) else None
    if n > size and numbers:
        # The first page's "Older" goes to the part holding the first member it does not show.
        first.next = part_path(shown.name, (n - size - 1) // size + 1)
    return pages


def archived_counts(collection: Collection, members: list[Member]) -> list[tuple[str, int]]:
    """For the archive: each archived recipe it shows images of, with their count."""
    counts: dict[str, int] = {}
    for member in members:
        counts[member.recipe] = counts.get(member.recipe, 0) + 1
    return [(name, counts[name]) for name in collection.recipes if counts.get(name)]


__all__ = ["ARCHIVE", "Gallery", "Pager", "arrange", "header", "pagers"]
