"""The finder's producer after new images, when nothing else changed since the last build
but images curated: only they are read, each data set holding a curated image changes in place
first (kiln/site/findcurated.py), each data set they join grows at its end
(kiln/site/growing.py), the sort orders take them in place and the search index adds their
words to the shards they fall in (once the curated images' words moved). Which path a build
takes is told here too (:func:`since_last_build`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from kiln.site.collections import Member
from kiln.site.filters import CHUNK, LIBRARY, Facts, axis_columns, chunks, orders, read_recipes, seed_key, shows
from kiln.site.findcurated import Curation, curated_first, curated_images, curation, revisions, rewording
from kiln.site.findfiles import chain, summed
from kiln.site.findformat import Library, images_in, is_sum, members_digest, recorded, record_stamps
from kiln.site.findstate import LibraryRecord
from kiln.site.findwhole import make_whole, search_whole
from kiln.site.growing import OldFiles, Stale, grow_axes, grow_columns, insert_order
from kiln.site.search import SEARCH as SEARCH_SET, source

if TYPE_CHECKING:
    from kiln.site.find import Producing
    from kiln.site.produce import Build


@dataclass
class Growth:
    """New images at the library's end: ids in number order from ``start``, with their facts,
    revisions, homes and the titles of their collections; and the images curated with them,
    changed in place first."""

    start: int
    ids: list[str]
    revisions: dict[str, int]
    facts: dict[str, Facts]
    homes: dict[str, str]
    titles: dict[str, list[str]]
    images: int  # rows in the store's images table
    curation: Curation | None = None


def since_last_build(p: Producing) -> Growth | Curation | None:
    """What changed since the last build, when a path reads only that: the new images, when
    they and images curated are all that changed (:class:`Growth`), or the images curated,
    when only their curation changed (:class:`Curation`); else None, and the library is made
    whole."""
    record, build = p.record, p.build
    if record is None or record.get("signature") != p.signature:
        return None
    meta = recorded(p.root / LIBRARY / "meta.js")
    start, images_before = meta.get("count"), record.get("images")
    if not isinstance(start, int) or images_before is None or record.count() != start:
        return None
    if record.get("placed") != meta.get("placed"):
        return None  # the record and the files on disk are not of one build
    changed = list(build.changed_images())
    images = images_in(build)
    held = record.rows(changed)
    if len(held) > max(CHUNK, start // 10):
        return None  # a tenth of the library or more: made whole at once
    if held and len(held) == len(changed):
        return curation(p, held, images == int(images_before))
    curated = curated_images(p, held) if held else None
    if held and curated is None:
        return None
    changed = [i for i in changed if i not in held]
    if images != int(images_before) + len(changed):
        return None  # an image was deleted (or more changed than the store's revisions say)
    found = p.facts(changed)
    last = record.numbered(start - 1, start) if start else []
    if last:
        row = build.store.conn.execute("SELECT created_at FROM images WHERE id = ?", [last[0][1]]).fetchone()
        if row is None:
            return None
        newest = (row[0] or "", last[0][1])
        if any((facts.created_at, image_id) <= newest for image_id, (_, facts) in found.items()):
            return None  # an image of the last build changed, or one older than it came
    recipes = read_recipes(build.store, [i for i in found if shows(i)])
    homes, titles = {}, {}
    for image_id, shown_by in recipes.items():
        place = p.place(shown_by)
        if place is not None:
            homes[image_id], titles[image_id] = place
    new = set(homes)
    revised = {i: row[2] for i, row in held.items()}
    # Every other image keeps its collections: each collection that changed holds the
    # images it held, in the order it held them (a curated one at the last build's
    # revision), and new ones.
    for collection in p.shelves.values():
        if collection.changed:
            before = recorded(p.root / collection.name / "meta.js")
            old = [
                m._replace(revision=revised[m.image_id]) if m.image_id in revised else m
                for m in p.members(collection) if m.image_id not in new
            ]
            if before.get("count") != len(old) or before.get("from") != p.made_from(collection.name, old):
                return None
    ids = sorted(homes, key=lambda i: (found[i][1].created_at, i))
    return Growth(start, ids, {i: found[i][0] for i in ids}, {i: found[i][1] for i in ids}, homes, titles, images, curated)


def grown(p: Producing, growth: Growth) -> None:
    build, record = p.build, p.record
    assert record is not None
    library = Library(
        dict(growth.facts), {i: growth.start + n for n, i in enumerate(growth.ids)}, dict(growth.homes)
    )
    if growth.curation is not None:
        # The curated images first: what grows the library's chunks is read from the record.
        for image_id, row in growth.curation.held.items():
            library.facts[image_id], library.numbers[image_id], library.homes[image_id] = growth.curation.facts[image_id], row[0], row[3]
        record.revise(revisions(growth.curation))

    def known(members: list[Member], homes_from_members: bool) -> Library:
        return p.known(library, members, homes_from_members)

    whole = cache(p.whole_library)
    befores = grow_library(p, growth, library, whole)
    if befores is None:
        make_whole(p)  # a file of the library's is not as the last build left it
        return
    p.collections(
        build, whole, known, lambda name, members, before: grow_set(p, name, members, before, growth, library, known)
    )
    search_grown(p, growth, whole, befores)
    record.append(
        (growth.start + n, i, growth.revisions[i], growth.homes[i], *record_stamps(i, growth.facts[i], growth.titles.get(i, ())))
        for n, i in enumerate(growth.ids)
    )
    record.set("images", str(growth.images))


def grow_library(p: Producing, growth: Growth, library: Library, whole: Callable[[], Library]) -> dict[int, Facts] | None:
    """Declare the library's data set grown by the new images (its curated ones changed in
    place first), and return the curated images' facts as the last build had them, by
    number; None if the last build's files are not as its meta says."""
    build, record = p.build, p.record
    assert record is not None
    meta = recorded(p.root / LIBRARY / "meta.js")
    start = growth.start
    curated: dict[str, Any] = {}
    befores: dict[int, Facts] = {}
    remade: dict[int, list[Member]] = {}
    try:
        old = OldFiles(p.root / LIBRARY, LIBRARY, meta)
        if growth.curation is not None:
            changes = [(row[0], growth.curation.facts[i]) for i, row in growth.curation.held.items()]
            old, meta, curated, befores = curated_first(old, meta, changes, [])
            for number in sorted({n // CHUNK for n, _ in changes}):
                rows = record.numbered(number * CHUNK, (number + 1) * CHUNK)
                remade[number] = [Member(i, revision, home, "", 0, None) for _, i, revision, home in rows]
        new = [(growth.facts[i], library.numbers[i], growth.homes[i]) for i in growth.ids]
        files, tally = grow_columns(old, meta, new)
        files = {**curated, **files}
        meta_grown = {**tally.meta([]), "axisValues": {}}
        lookups = Lookups(build, record)
        for name, key in (("order-seed", lookups.seed), ("order-prompt", lookups.prompt)):
            order = old.read(name)
            if not isinstance(order, list) or len(order) != start:
                raise Stale(name)
            values = [(library.numbers[i], key(i)) for i in growth.ids]
            files[name] = insert_order(order, lambda n, key=key: key(lookups.id_of(n)), values)
    except Stale:
        return None
    first = start // CHUNK * CHUNK
    chunk_members = [Member(i, revision, home, "", 0, None) for _, i, revision, home in record.numbered(first, start)]
    chunk_members += [Member(i, growth.revisions[i], growth.homes[i], "", 0, None) for i in growth.ids]
    placed, _ = chain(((i, growth.homes[i]) for i in growth.ids), link=meta.get("placed", ""))
    record.set("placed", placed)
    p.changed_set(LIBRARY, meta, files, meta_grown, {**remade, **cut_chunks(first, chunk_members)}, {"placed": placed},
                      lambda: whole().members(), whole)
    return befores


def grow_set(
    p: Producing, name: str, members: list[Member], before: dict[str, Any], growth: Growth, library: Library,
    known: Callable[[list[Member], bool], Library],
) -> bool:
    """A recipe's data set grown by new images at its end (its curated members changed in
    place first); False if it cannot be."""
    count = before.get("count")
    if not isinstance(count, int) or len(members) < count:
        return False
    new_ids = set(growth.ids)
    held = growth.curation.held if growth.curation is not None else {}
    at = {m.image_id: k for k, m in enumerate(members[:count]) if m.image_id in held}
    # The members the last build had, a curated one at its revision then.
    old_members = [m._replace(revision=held[m.image_id][2]) if m.image_id in at else m for m in members[:count]]
    if any(m.image_id not in new_ids for m in members[count:]) or before.get("from") != p.made_from(name, old_members):
        return False
    curated: dict[str, Any] = {}
    try:
        old = OldFiles(p.root / name, name, before)
        if growth.curation is not None and at:
            if not isinstance(before.get("axisValues"), dict):
                raise Stale("meta")
            axis_fields = [f for f in before["fields"] if "axis" in f]
            old, before, curated, _ = curated_first(old, before, [(k, growth.curation.facts[i]) for i, k in at.items()], axis_fields)
        new = [(growth.facts[m.image_id], library.numbers[m.image_id], growth.homes[m.image_id]) for m in members[count:]]
        files, tally = grow_columns(old, before, new)
        files = {**curated, **files}
    except (Stale, KeyError, TypeError):
        return False
    try:
        files["axes"], axis_fields, other_axes = grow_axes(old, before, members, count)
    except Stale:
        files["axes"], axis_fields, other_axes = axis_columns(members)
    try:
        for file, key in (("order-seed", lambda m: seed_key(m.seed)), ("order-prompt", lambda m: m.prompt.casefold())):
            order = old.read(file)
            if not isinstance(order, list) or len(order) != count:
                raise Stale(file)
            added = [(i, key(members[i])) for i in range(count, len(members))]
            files[file] = insert_order(order, lambda i, key=key: key(members[i]), added)
    except Stale:
        files.update(orders([order_facts(m) for m in members]))
    first = count // CHUNK * CHUNK
    # The digest of the members before was of their old revisions: a curated one's is new.
    made_from = members_digest(members) if at else p.made_from_grown(name, count, members[count:])
    remade = {k // CHUNK: members[k // CHUNK * CHUNK : (k // CHUNK + 1) * CHUNK] for k in sorted(at.values())}
    p.changed_set(name, before, files, {**tally.meta(axis_fields), "axisValues": other_axes},
                      {**remade, **cut_chunks(first, members[first:])},
                      {"from": made_from}, lambda: members, lambda: known(members, False))
    return True


def search_grown(p: Producing, growth: Growth, whole: Callable[[], Library], befores: dict[int, Facts]) -> None:
    folder = p.root / SEARCH_SET
    previous = recorded(folder / "meta.js")
    versions = previous.get("files")
    numbered = [(growth.start + n, growth.facts[i], growth.titles.get(i, ())) for n, i in enumerate(growth.ids)]
    added, total = None, previous.get("from")
    if isinstance(versions, dict) and previous.get("count") == growth.start and is_sum(total):
        # The curated images' words moved first, then the new images' added.
        words = (
            (versions, {}, total) if growth.curation is None
            else rewording(p, growth.curation, befores, previous, growth.start)
        )
        if words is not None:
            versions, fresh, total = words
            added = p.add_words(versions, numbered, fresh)
    if added is None:  # a shard is not as the last build left it: the index whole
        library = whole()
        search_whole(p, library)
        return
    versions, made = added
    parts = (source(i, growth.facts[i], growth.titles.get(i, ())) for i in growth.ids)
    made_from, _ = summed(parts, start=growth.start, total=total)
    p.index_files(versions, made, cache(lambda: p.whole_index(whole())), growth.start + len(growth.ids), made_from)


class Lookups:
    """An image's number → id (from the build state), id → seed and prompt (from the store),
    each looked up once: what putting a new image in the sort orders compares."""

    def __init__(self, build: Build, record: LibraryRecord):
        self.build, self.record = build, record
        self.rows: dict[str, tuple[Any, str]] = {}

    def id_of(self, number: int) -> str:
        rows = self.record.numbered(number, number + 1)
        if not rows:
            raise Stale(f"number {number}")
        return rows[0][1]

    def _row(self, image_id: str) -> tuple[Any, str]:
        if image_id not in self.rows:
            row = self.build.store.conn.execute("SELECT seed, prompt FROM images WHERE id = ?", [image_id]).fetchone()
            if row is None:
                raise Stale(image_id)
            self.rows[image_id] = (row[0], row[1] or "")
        return self.rows[image_id]

    def seed(self, image_id: str) -> Any:
        return seed_key(self._row(image_id)[0])

    def prompt(self, image_id: str) -> str:
        return self._row(image_id)[1].casefold()


def cut_chunks(first: int, members: list[Member]) -> dict[int, list[Member]]:
    """The item chunks of a data set's members from index ``first`` (a chunk's first) on."""
    return {(first + start) // CHUNK: members[start:end] for _, start, end in chunks(len(members))}


def order_facts(member: Member) -> Facts:
    """What the sort orders read of a recipe's member (its thin row has it)."""
    return Facts("", "", 0, 0, "", 0, "", (), member.seed, member.prompt, "", "")
