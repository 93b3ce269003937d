"""The producer of what the gallery's filters and search read (see kiln/site/produce.py).

Per data set (the library, and each collection but "All images", whose page uses the
library's), every file is declared with its version: the digest of its bytes for the columns
and the meta, of what it is made from for the item chunks (made only when that changed).

A build after new images, when nothing else changed since the last (every other image keeps
its revision, number and home; the store's change tracking says which images changed, the
build state's record of the library says which were there: kiln/site/findstate.py), reads
only the new images: each data set they join grows at its end (kiln/site/growing.py: the last
block of each column, the last chunk, the meta), the sort orders take them in place, and the
search index adds their words to the shards they fall in. After images the last build numbered
were curated (their rating, status, tags or notes changed, nothing else about them: the record
keeps a digest of the rest), only they are read: in each data set holding them the blocks and
the chunk they are in, ``tags`` and the meta are made again (kiln/site/curating.py), a
collection of another kind (picks, top rated) is made whole from its members, and the search
index stays as it is unless their words changed: then the words their tags or notes brought or
took away move in the shards they are in (the index's meta sums a digest of each image's words,
which one image's change updates). Anything else makes the library's
data set whole, from one lean pass over every image; then a collection whose members are as
the last build saw them (``collection.changed`` false), while every image of that build keeps
its number and home (the library's meta records a chain of digests of them), declares the files
its meta lists and reads nothing more. Either way the files are the bytes a build in one go
makes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.project import Project
from kiln.site.collections import ARCHIVE, Collection, Member
from kiln.site.filters import (
    CHUNK, LIBRARY, Facts, axis_columns, chunks, columns, cut, items, orders, read_facts, read_library,
    read_recipes, seed_key, shows,
)
from kiln.site.findfiles import FIND, chain, digest, resummed, script, summed
from kiln.site.curating import curate_columns
from kiln.site.findstate import LibraryRecord, Row, stamp
from kiln.site.growing import OldFiles, Stale, encoded, grow_axes, grow_columns, insert_order
from kiln.site.layout import SEARCH
from kiln.site.search import (
    PREFIX, SEARCH as SEARCH_SET, add_to, image_words, index_words, numbers_of, postings, shard_of, shards, source,
)
from kiln.site.views import arrange

if TYPE_CHECKING:  # produce.py lists this module's producer
    from kiln.site.produce import Build, Link

# Part of every file's inputs: a change to what the files hold makes them all again.
FORMAT = "find-4"


class Finder:
    """Filter data, the search index and the search page."""

    name = "find"

    def inputs(self, project: Project) -> str:
        return FORMAT

    def links(self, project: Project) -> list[Link]:
        return []

    def produce(self, build: Build) -> None:
        Producing(build).run()
        build.file(SEARCH, FORMAT, lambda: build.render("search.html", SEARCH, {}))


@dataclass
class Library:
    """The library as this build knows it: each image's facts, number and home, for the
    images it has read (all of them when made whole; when grown, the new ones and those of
    the collections made whole)."""

    facts: dict[str, Facts] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    titles: dict[str, list[str]] = field(default_factory=dict)

    def ids(self) -> list[str]:
        """The images in number order."""
        return sorted(self.numbers, key=self.numbers.__getitem__)

    def members(self) -> list[Member]:
        """The library's data set's members."""
        return [
            Member(i, self.revisions[i], self.homes[i], self.facts[i].created_at, self.facts[i].rating, self.facts[i].status)
            for i in self.ids()
        ]


@dataclass
class Growth:
    """New images at the library's end: ids in number order from ``start``, with their facts,
    revisions, homes and the titles of their collections."""

    start: int
    ids: list[str]
    revisions: dict[str, int]
    facts: dict[str, Facts]
    homes: dict[str, str]
    titles: dict[str, list[str]]
    images: int  # rows in the store's images table


@dataclass
class Curation:
    """Images the last build numbered whose curation alone changed: each one's row of the
    record, new revision, facts and the titles of its collections."""

    held: dict[str, Row]
    revisions: dict[str, int]
    facts: dict[str, Facts]
    titles: dict[str, list[str]]


class Producing:
    """One run of the finder's producer."""

    def __init__(self, build: Build):
        self.build = build
        self.root = build.project.build_dir / FIND
        self.where = build.project.relative(build.project.db_path)
        self.order = {c.name: n for n, c in enumerate(build.collections) if c.kind in ("recipe", "archived")}
        self.shelves = {c.name: c for c in build.collections if c.name in self.order}
        self.folders_of = {recipe: c.name for c in self.shelves.values() for recipe in c.recipes}
        self.signature = digest(FORMAT, [(c.name, c.title, c.recipes) for c in self.shelves.values()])
        self.record = LibraryRecord(build.state.conn) if build.state is not None else None
        self.read: dict[str, list[Member]] = {}
        self.digests: dict[tuple[str, int], Any] = {}

    def run(self) -> None:
        growth = None if self.build.full else self._growth()
        if growth is None:
            self._whole()
        elif isinstance(growth, Curation):
            self._curated(growth)
        else:
            self._grown(growth)

    # ---- what a collection shows -----------------------------------------------------------

    def members(self, collection: Collection) -> list[Member]:
        """A collection's members in gallery order, those the library holds (read once)."""
        if collection.name not in self.read:
            members = arrange(collection, list(self.build.members(collection)), self.build.problems, self.where)
            self.read[collection.name] = [m for m in members if shows(m.image_id)]
        return self.read[collection.name]

    def made_from(self, name: str, members: list[Member]) -> str:
        """:func:`_made_from` of a collection's members as the last build had them, once: the
        members less the new images, which (when they grew the set) are its first ones."""
        key = (name, len(members))
        if key not in self.digests:
            self.digests[key] = _hashed(members)
        return self.digests[key].hexdigest()[:20]

    def made_from_grown(self, name: str, count: int, members: list[Member]) -> str:
        """:func:`_made_from` of a set's ``count`` first members (hashed before) and ``members``."""
        return _hashed(members, self.digests[(name, count)].copy()).hexdigest()[:20]

    def place(self, recipes: list[str]) -> tuple[str, list[str]] | None:
        """The home of an image shown by ``recipes`` and the titles and names of its collections."""
        folders = sorted({self.folders_of[r] for r in recipes if r in self.folders_of}, key=self.order.__getitem__)
        if not folders:
            return None
        return _home(folders), [part for f in folders for part in (self.shelves[f].title, f)]

    # ---- the whole library -------------------------------------------------------------------

    def _whole(self) -> None:
        build = self.build
        library = self._whole_library()
        ids = library.ids()
        # Whether every image of the last build keeps its number and its home: then a collection
        # whose members are unchanged keeps its files, declared from its meta unread.
        before = _recorded(self.root / LIBRARY / "meta.js")
        count = before.get("count")
        placed, placed_before = chain(((i, library.homes[i]) for i in ids), at=count if isinstance(count, int) else -1)
        settled = placed_before is not None and before.get("placed") == placed_before
        self._data_set(LIBRARY, library.members(), library, {"placed": placed})
        for collection in build.collections:
            if collection.kind == "all":
                continue
            kept = _recorded(self.root / collection.name / "meta.js") if settled else {}
            if not collection.changed and isinstance(kept.get("files"), dict):
                self._kept(collection, kept, lambda: library)
            else:
                self._data_set(collection.name, self.members(collection), library)
        self._search_whole(ids, library.facts, library.titles)
        if self.record is None:
            return
        # The record is as the library's meta on disk says (both from one build) when it holds
        # the same chain of numbers and homes: a build killed after writing files left neither.
        if settled and count == len(ids) == self.record.count() and self.record.get("placed") == placed_before and not build.full:
            # Every image keeps its number and home: only the revisions that moved are new.
            moved = [i for i in build.changed_images() if i in library.numbers]
            self.record.revise((library.revisions[i], *_stamps(i, library.facts[i], library.titles.get(i, ())), i) for i in moved)
        else:
            self.record.replace(
                (n, i, library.revisions[i], library.homes[i], *_stamps(i, library.facts[i], library.titles.get(i, ())))
                for n, i in enumerate(ids)
            )
        self.record.set("signature", self.signature)
        self.record.set("images", str(_images(build)))
        self.record.set("placed", placed)

    # ---- new images at the end -------------------------------------------------------------

    def _growth(self) -> Growth | Curation | None:
        """The new images, when they are all that changed since the last build, or the images
        curated, when only their curation changed; else None."""
        record, build = self.record, self.build
        if record is None or record.get("signature") != self.signature:
            return None
        meta = _recorded(self.root / LIBRARY / "meta.js")
        start, images_before = meta.get("count"), record.get("images")
        if not isinstance(start, int) or images_before is None or record.count() != start:
            return None
        if record.get("placed") != meta.get("placed"):
            return None  # the record and the files on disk are not of one build
        changed = list(build.changed_images())
        images = _images(build)
        held = record.rows(changed)
        if len(held) > max(CHUNK, start // 10):
            return None  # a tenth of the library or more: made whole at once
        if held:
            # Curated and new images together: the library made whole.
            return self._curation(held, images == int(images_before)) if len(held) == len(changed) else None
        if images != int(images_before) + len(changed):
            return None  # an image was deleted (or more changed than the store's revisions say)
        found = read_facts(build.store, changed)
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
            place = self.place(shown_by)
            if place is not None:
                homes[image_id], titles[image_id] = place
        new = set(homes)
        # Every other image keeps its collections: each collection that changed holds the
        # images it held, in the order it held them, and new ones.
        for collection in self.shelves.values():
            if collection.changed:
                before = _recorded(self.root / collection.name / "meta.js")
                old = [m for m in self.members(collection) if m.image_id not in new]
                if before.get("count") != len(old) or before.get("from") != self.made_from(collection.name, old):
                    return None
        ids = sorted(homes, key=lambda i: (found[i][1].created_at, i))
        return Growth(start, ids, {i: found[i][0] for i in ids}, {i: found[i][1] for i in ids}, homes, titles, images)

    def _curation(self, held: dict[str, Row], same_count: bool) -> Curation | None:
        """The images of the record that changed, when only their curation did (each keeps its
        facts but rating, status, tags and notes, its home and its collections); else None."""
        if not same_count:
            return None  # an image was deleted too
        ids = sorted(held)
        found = read_facts(self.build.store, ids)
        recipes = read_recipes(self.build.store, ids)
        titles = {}
        for image_id in ids:
            place = self.place(recipes.get(image_id, []))
            row = held[image_id]
            if image_id not in found or place is None or place[0] != row[3]:
                return None
            titles[image_id] = place[1]
            if _stamps(image_id, found[image_id][1], place[1])[0] != row[4]:
                return None  # more than its curation changed
        revised = {i: held[i][2] for i in ids}
        # Every collection holds the images it held, in the order it held them.
        for collection in self.shelves.values():
            if collection.changed:
                before = _recorded(self.root / collection.name / "meta.js")
                old = [m._replace(revision=revised[m.image_id]) if m.image_id in revised else m for m in self.members(collection)]
                if before.get("count") != len(old) or before.get("from") != _made_from(old):
                    return None
        return Curation(held, {i: found[i][0] for i in ids}, {i: found[i][1] for i in ids}, titles)

    def _curated(self, curation: Curation) -> None:
        """Declare every data set with the curated images changed in place."""
        build, record = self.build, self.record
        assert record is not None
        held = curation.held
        library = Library(
            dict(curation.facts), {i: row[0] for i, row in held.items()}, {i: row[3] for i, row in held.items()}
        )
        whole = cache(self._whole_library)
        meta = _recorded(self.root / LIBRARY / "meta.js")
        try:
            old = OldFiles(self.root / LIBRARY, LIBRARY, meta)
            files, tally, befores = curate_columns(old, meta, [(row[0], curation.facts[i]) for i, row in held.items()])
        except Stale:
            self._whole()
            return
        remade = {}
        for number in sorted({row[0] // CHUNK for row in held.values()}):
            rows = record.numbered(number * CHUNK, (number + 1) * CHUNK)
            remade[number] = [Member(i, curation.revisions.get(i, revision), home, "", 0, None) for _, i, revision, home in rows]
        self._grown_files(LIBRARY, meta, files, {**tally.meta([]), "axisValues": {}}, remade, {"placed": meta["placed"]},
                          lambda: whole().members(), whole)
        self._collections(
            build, whole, lambda members, homes_from_members: self._known(library, members, homes_from_members),
            lambda name, members, before: self._curate_set(name, members, before, curation, library),
        )
        stamps = {i: _stamps(i, curation.facts[i], curation.titles[i]) for i in held}
        previous = _recorded(self.root / SEARCH_SET / "meta.js")
        reworded = [
            (row[0], befores[row[0]]._replace(notes=row[6]), curation.facts[i], curation.titles[i], i)
            for i, row in held.items() if stamps[i][1] != row[5]
        ]
        changed_words = None
        if (
            isinstance(previous.get("files"), dict) and _sum(previous.get("from"))
            and previous.get("count") == tally.count
            # Their old tags and notes are known: so are their old words, if nothing else moved.
            and all(_stamps(i, before, titles)[1] == held[i][5] for _, before, _, titles, i in reworded)
        ):
            changed_words = self._reword(previous["files"], previous["from"], reworded)
        if changed_words is not None:
            def remade_index() -> dict[str, bytes]:
                library = whole()
                return {n: script(f"{SEARCH_SET}/{n}", w) for n, w in shards(library.ids(), library.facts, library.titles).items()}

            versions, made, made_from = changed_words
            self._search_files(versions, made, cache(remade_index), previous["count"], made_from)
        else:
            everything = whole()
            self._search_whole(everything.ids(), everything.facts, everything.titles)
        record.revise((curation.revisions[i], *stamps[i], i) for i in held)

    def _reword(
        self, versions: dict[str, str], made_from: str, reworded: list[tuple[int, Facts, Facts, list[str], str]]
    ) -> tuple[dict[str, str], dict[str, bytes], str] | None:
        """The shards with the words of images whose words changed (number, facts before and
        after, titles, id) moved, and the index's new digest; None if a shard is not as the
        last build left it."""
        versions = dict(versions)
        edits: dict[str, dict[str, tuple[set[int], set[int]]]] = {}
        for number, before, after, titles, image_id in reworded:
            old_words, new_words = image_words(before, titles), image_words(after, titles)
            for word in old_words ^ new_words:
                dropped, added = edits.setdefault(shard_of(word), {}).setdefault(word, (set(), set()))
                (dropped if word in old_words else added).add(number)
            made_from = resummed(made_from, number, source(image_id, before, titles), source(image_id, after, titles))
        old = OldFiles(self.root / SEARCH_SET, SEARCH_SET, {"files": versions})
        made = {}
        for name, words in edits.items():
            shard = _old_shard(old, versions, name)
            if shard is None:
                return None
            for word, (dropped, added) in words.items():
                held = set(numbers_of(shard[word])) if word in shard else set()
                if not dropped <= held:
                    return None
                held = (held - dropped) | added
                if held:
                    shard[word] = postings(sorted(held))
                else:
                    del shard[word]
            if shard:
                made[name] = script(f"{SEARCH_SET}/{name}", dict(sorted(shard.items())))
                versions[name] = digest(made[name])
            else:
                del versions[name]
        return versions, made, made_from

    def _curate_set(self, name: str, members: list[Member], before: dict[str, Any], curation: Curation, library: Library) -> bool:
        """A recipe's data set with its curated members changed in place; False if it cannot be."""
        at = {m.image_id: k for k, m in enumerate(members) if m.image_id in curation.held}
        try:
            if before.get("count") != len(members) or not isinstance(before.get("axisValues"), dict):
                raise Stale("meta")
            old = OldFiles(self.root / name, name, before)
            files, tally, _ = curate_columns(old, before, [(k, curation.facts[i]) for i, k in at.items()])
            axis_fields = [f for f in before["fields"] if "axis" in f]
        except (Stale, KeyError, TypeError):
            return False
        remade = {k // CHUNK: members[k // CHUNK * CHUNK : (k // CHUNK + 1) * CHUNK] for k in sorted(at.values())}
        meta = {**tally.meta(axis_fields), "axisValues": before["axisValues"]}
        self._grown_files(name, before, files, meta, remade, {"from": _made_from(members)}, lambda: members,
                          lambda: self._known(library, members, False))
        return True

    def _known(self, library: Library, members: list[Member], homes_from_members: bool) -> Library:
        """The library's facts, numbers and homes of ``members`` (read for those it lacks)."""
        assert self.record is not None
        wanted = [m.image_id for m in members if m.image_id not in library.facts]
        for image_id, (_, facts) in read_facts(self.build.store, wanted).items():
            library.facts[image_id] = facts
        if homes_from_members:
            library.homes.update((m.image_id, m.home) for m in members)
        for image_id, (number, home) in self.record.places([i for i in wanted if i not in library.numbers]).items():
            library.numbers[image_id] = number
            library.homes.setdefault(image_id, home)
        return library

    def _grown(self, growth: Growth) -> None:
        build, record = self.build, self.record
        assert record is not None
        library = Library(
            dict(growth.facts), {i: growth.start + n for n, i in enumerate(growth.ids)}, dict(growth.homes)
        )

        def known(members: list[Member], homes_from_members: bool) -> Library:
            return self._known(library, members, homes_from_members)

        whole = cache(self._whole_library)
        if not self._grow_library(growth, library, whole):
            self._whole()  # a file of the library's is not as the last build left it
            return
        self._collections(
            build, whole, known, lambda name, members, before: self._grow_set(name, members, before, growth, library, known)
        )
        self._search_grown(growth, whole)
        record.append(
            (growth.start + n, i, growth.revisions[i], growth.homes[i], *_stamps(i, growth.facts[i], growth.titles.get(i, ())))
            for n, i in enumerate(growth.ids)
        )
        record.set("images", str(growth.images))

    def _whole_library(self) -> Library:
        """Every image's facts, number, home and titles, from one lean pass over the store."""
        library = Library()
        # Most images are in one recipe: each set of recipes is worked out once.
        placing: dict[tuple[str, ...], tuple[str, list[str]] | None] = {}
        for image_id, (revision, recipes, facts) in read_library(self.build.store).items():
            key = tuple(recipes)
            if key not in placing:
                placing[key] = self.place(recipes)
            place = placing[key]
            if place is not None:
                library.facts[image_id], library.revisions[image_id] = facts, revision
                library.homes[image_id], library.titles[image_id] = place
        ids = sorted(library.homes, key=lambda i: (library.facts[i].created_at, i))
        library.numbers = {image_id: n for n, image_id in enumerate(ids)}
        return library

    def _grow_library(self, growth: Growth, library: Library, whole: Callable[[], Library]) -> bool:
        """Declare the library's data set grown by the new images; False if the last build's
        files are not as its meta says."""
        build, record = self.build, self.record
        assert record is not None
        meta = _recorded(self.root / LIBRARY / "meta.js")
        start = growth.start
        old = OldFiles(self.root / LIBRARY, LIBRARY, meta)
        try:
            new = [(growth.facts[i], library.numbers[i], growth.homes[i]) for i in growth.ids]
            files, tally = grow_columns(old, meta, new)
            meta_grown = {**tally.meta([]), "axisValues": {}}
            lookups = _Lookups(build, record)
            for name, key in (("order-seed", lookups.seed), ("order-prompt", lookups.prompt)):
                order = old.read(name)
                if not isinstance(order, list) or len(order) != start:
                    raise Stale(name)
                values = [(library.numbers[i], key(i)) for i in growth.ids]
                files[name] = insert_order(order, lambda n, key=key: key(lookups.id_of(n)), values)
        except Stale:
            return False
        first = start // CHUNK * CHUNK
        chunk_members = [Member(i, revision, home, "", 0, None) for _, i, revision, home in record.numbered(first, start)]
        chunk_members += [Member(i, growth.revisions[i], growth.homes[i], "", 0, None) for i in growth.ids]
        placed, _ = chain(((i, growth.homes[i]) for i in growth.ids), link=meta.get("placed", ""))
        record.set("placed", placed)
        self._grown_files(LIBRARY, meta, files, meta_grown, _cut_chunks(first, chunk_members), {"placed": placed},
                          lambda: whole().members(), whole)
        return True

    def _grow_set(
        self, name: str, members: list[Member], before: dict[str, Any], growth: Growth, library: Library,
        known: Callable[[list[Member], bool], Library],
    ) -> bool:
        """A recipe's data set grown by new images at its end; False if it cannot be."""
        count = before.get("count")
        new_ids = set(growth.ids)
        if (
            not isinstance(count, int) or len(members) < count
            or any(m.image_id not in new_ids for m in members[count:])
            or before.get("from") != self.made_from(name, members[:count])
        ):
            return False
        try:
            old = OldFiles(self.root / name, name, before)
            new = [(growth.facts[m.image_id], library.numbers[m.image_id], growth.homes[m.image_id]) for m in members[count:]]
            files, tally = grow_columns(old, before, new)
        except Stale:
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
            files.update(orders([_order_facts(m) for m in members]))
        first = count // CHUNK * CHUNK
        made_from = self.made_from_grown(name, count, members[count:])
        self._grown_files(name, before, files, {**tally.meta(axis_fields), "axisValues": other_axes},
                          _cut_chunks(first, members[first:]),
                          {"from": made_from}, lambda: members, lambda: known(members, False))
        return True

    def _grown_files(
        self, name: str, before: dict[str, Any], files: dict[str, Any], meta: dict[str, Any],
        remade: dict[int, list[Member]], extra: dict[str, str], members: Callable[[], list[Member]],
        library: Callable[[], Library],
    ) -> None:
        """Declare a data set's files changed in part: those made again, the item chunks of
        ``remade`` (chunk number → its members), the others as the last build's meta lists them."""
        versions = dict(before["files"])
        made = {}
        for file, data in files.items():
            made[file], versions[file] = encoded(name, file, data)
        for number, held in remade.items():
            versions[f"items-{number}"] = digest(FORMAT, [_shown(m) for m in held])
        whole = cache(lambda: self._made(name, members(), library()))
        for file, version in sorted(versions.items()):
            data = made.get(file)
            make = (lambda data=data: data) if data is not None else (lambda file=file: whole()[file])
            if file.startswith("items-") and data is None and int(file.removeprefix("items-")) in remade:
                held = remade[int(file.removeprefix("items-"))]
                make = lambda file=file, held=held: script(f"{name}/{file}", items(self.build.store, held))  # noqa: E731
            self.build.file(f"{FIND}/{name}/{file}.js", version, make)
        full = {**meta, **extra, "files": dict(sorted(versions.items()))}
        data = script(f"{name}/meta", full)
        self.build.file(f"{FIND}/{name}/meta.js", digest(data), lambda: data)

    # ---- a data set made whole, or kept ------------------------------------------------------

    def _made(self, name: str, members: list[Member], library: Library) -> dict[str, bytes]:
        """Every file of a data set, made whole (but the meta)."""
        files, _ = columns(members, library.facts, library.numbers, library.homes)
        made = {file: script(f"{name}/{file}", data) for file, data in cut(files).items()}
        for chunk, start, end in chunks(len(members)):
            made[chunk] = script(f"{name}/{chunk}", items(self.build.store, members[start:end]))
        return made

    def _collections(
        self, build: Build, whole: Callable[[], Library], known: Callable[[list[Member], bool], Library],
        changed_in_place: Callable[[str, list[Member], dict[str, Any]], bool],
    ) -> None:
        """Each collection's data set but All images' (the library's): an unchanged one kept
        from its meta, a recipe's changed where it stands when ``changed_in_place`` can, any
        other made whole."""
        for collection in build.collections:
            if collection.kind == "all":
                continue
            before = _recorded(self.root / collection.name / "meta.js")
            if not collection.changed and isinstance(before.get("files"), dict):
                self._kept(collection, before, whole)
                continue
            members = self.members(collection)
            if collection.kind in ("recipe", "archived") and changed_in_place(collection.name, members, before):
                continue
            self._data_set(collection.name, members, known(members, collection.newest_first))

    def _data_set(self, name: str, members: list[Member], library: Library, extra: dict[str, str] | None = None) -> None:
        """Declare a data set's files, made whole (the item chunks only when what they are made
        from changed)."""
        files, meta = columns(members, library.facts, library.numbers, library.homes)
        versions, made = {}, {}
        for file, data in cut(files).items():
            made[file], versions[file] = encoded(name, file, data)
        shown = [_shown(m) for m in members]
        for chunk, start, end in chunks(len(members)):
            versions[chunk] = digest(FORMAT, shown[start:end])
        for file, version in sorted(versions.items()):
            if file in made:
                make = lambda data=made[file]: data  # noqa: E731
            else:
                start = int(file.removeprefix("items-")) * CHUNK
                make = lambda file=file, start=start: script(  # noqa: E731
                    f"{name}/{file}", items(self.build.store, members[start : start + CHUNK])
                )
            self.build.file(f"{FIND}/{name}/{file}.js", version, make)
        extra = dict(extra or {})
        if name != LIBRARY:  # the library is told unchanged by the build state's record
            extra["from"] = _made_from(members)
        full = {**meta, **extra, "files": dict(sorted(versions.items()))}
        data = script(f"{name}/meta", full)
        self.build.file(f"{FIND}/{name}/meta.js", digest(data), lambda: data)

    def _kept(self, collection: Collection, meta: dict[str, Any], library: Callable[[], Library]) -> None:
        """Declare the files of a data set unchanged since the last build, as its meta lists
        them; its members are read only if one of them must be made again (changed by hand)."""
        name = collection.name
        whole = cache(lambda: self._made(name, self.members(collection), library()))
        for file, version in sorted(meta["files"].items()):
            self.build.file(f"{FIND}/{name}/{file}.js", version, lambda file=file: whole()[file])
        data = script(f"{name}/meta", meta)
        self.build.file(f"{FIND}/{name}/meta.js", digest(data), lambda: data)

    # ---- the search index --------------------------------------------------------------------

    def _search_whole(self, ids: list[str], facts: dict[str, Facts], titles: dict[str, list[str]]) -> None:
        folder = self.root / SEARCH_SET
        previous = _recorded(folder / "meta.js")
        versions = previous.get("files") if isinstance(previous.get("files"), dict) else None
        count = previous.get("count")
        made_from, from_before = summed(
            (source(i, facts[i], titles.get(i, ())) for i in ids), at=count if isinstance(count, int) else -1
        )
        made: dict[str, bytes] = {}
        if versions is not None and previous.get("from") == made_from and count == len(ids):
            pass  # nothing the index reads changed: the files stay as the last build wrote them
        elif versions is not None and isinstance(count, int) and 0 < count < len(ids) and previous.get("from") == from_before:
            # Only new images, numbered after the others: add their words to the shards they go in.
            added = self._add_words(versions, [(n, facts[ids[n]], titles.get(ids[n], ())) for n in range(count, len(ids))])
            if added is None:
                versions = None
            else:
                versions, made = added
        else:
            versions = None
        if versions is None:
            made = {name: script(f"{SEARCH_SET}/{name}", words) for name, words in shards(ids, facts, titles).items()}
            versions = {name: digest(data) for name, data in made.items()}
        whole = cache(lambda: {n: script(f"{SEARCH_SET}/{n}", w) for n, w in shards(ids, facts, titles).items()})
        self._search_files(versions, made, whole, len(ids), made_from)

    def _search_grown(self, growth: Growth, whole: Callable[[], Library]) -> None:
        folder = self.root / SEARCH_SET
        previous = _recorded(folder / "meta.js")
        versions = previous.get("files")
        numbered = [(growth.start + n, growth.facts[i], growth.titles.get(i, ())) for n, i in enumerate(growth.ids)]
        added = None
        if isinstance(versions, dict) and previous.get("count") == growth.start and _sum(previous.get("from")):
            added = self._add_words(versions, numbered)
        if added is None:  # a shard is not as the last build left it: the index whole
            library = whole()
            self._search_whole(library.ids(), library.facts, library.titles)
            return
        versions, made = added
        parts = (source(i, growth.facts[i], growth.titles.get(i, ())) for i in growth.ids)
        made_from, _ = summed(parts, start=growth.start, total=previous["from"])

        def remade() -> dict[str, bytes]:
            library = whole()
            return {n: script(f"{SEARCH_SET}/{n}", w) for n, w in shards(library.ids(), library.facts, library.titles).items()}

        self._search_files(versions, made, cache(remade), growth.start + len(growth.ids), made_from)

    def _add_words(
        self, versions: dict[str, str], numbered: list[tuple[int, Facts, Any]]
    ) -> tuple[dict[str, str], dict[str, bytes]] | None:
        """The shards with the words of ``numbered`` images added, read from the last build's
        files; None if one of those is not as its meta says."""
        versions = dict(versions)
        made = {}
        old = OldFiles(self.root / SEARCH_SET, SEARCH_SET, {"files": versions})
        for name, additions in index_words(numbered).items():
            shard = _old_shard(old, versions, name)
            if shard is None:
                return None
            made[name] = script(f"{SEARCH_SET}/{name}", add_to(shard, additions))
            versions[name] = digest(made[name])
        return versions, made

    def _search_files(
        self, versions: dict[str, str], made: dict[str, bytes], whole: Callable[[], dict[str, bytes]], count: int,
        made_from: str,
    ) -> None:
        for name, version in sorted(versions.items()):
            make = (lambda data=made[name]: data) if name in made else (lambda name=name: whole()[name])
            self.build.file(f"{FIND}/{SEARCH_SET}/{name}.js", version, make)
        meta = {"count": count, "prefix": PREFIX, "from": made_from, "files": dict(sorted(versions.items()))}
        data = script(f"{SEARCH_SET}/meta", meta)
        self.build.file(f"{FIND}/{SEARCH_SET}/meta.js", digest(data), lambda: data)


class _Lookups:
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


def _cut_chunks(first: int, members: list[Member]) -> dict[int, list[Member]]:
    """The item chunks of a data set's members from index ``first`` (a chunk's first) on."""
    return {(first + start) // CHUNK: members[start:end] for _, start, end in chunks(len(members))}


def _order_facts(member: Member) -> Facts:
    """What the sort orders read of a recipe's member (its thin row has it)."""
    return Facts("", "", 0, 0, "", 0, "", (), member.seed, member.prompt, "", "")


def _shown(m: Member) -> tuple:
    return (m.image_id, m.revision, m.home, m.job_key, m.axes)


def _made_from(members: list[Member]) -> str:
    """What tells a data set's members unchanged: their ids, revisions, places and axes."""
    return _hashed(members).hexdigest()[:20]


def _hashed(members: list[Member], hashed: Any = None) -> Any:
    """A hash of ``members`` (continued from ``hashed``), whose digest :func:`_made_from` is."""
    hashed = hashed or hashlib.sha256(FORMAT.encode())
    for m in members:
        hashed.update(repr(_shown(m)).encode())
    return hashed

def _stamps(image_id: str, facts: Facts, titles: Any) -> tuple[str, str, str]:
    """What the record keeps of an image's facts: a digest of those curation never changes, one
    of its words' source, and its notes."""
    f = facts
    fixed = stamp(f.model, f.engine, f.width, f.height, f.created_at, f.seed, f.prompt, f.negative_prompt)
    return fixed, stamp(source(image_id, facts, titles)), f.notes


def _sum(text: Any) -> bool:
    """Whether ``text`` is a digest :func:`summed` makes (a meta changed by hand may hold anything)."""
    return isinstance(text, str) and re.fullmatch(r"[0-9a-f]{20}", text) is not None


def _images(build: Build) -> int:
    return build.store.conn.execute("SELECT count(*) FROM images").fetchone()[0]


def _home(folders: list[str]) -> str:
    """The collection an image's own page is in: as the builder chooses it."""
    ordered = sorted(folders)
    return next((f for f in ordered if f != ARCHIVE), ordered[0])


def _recorded(path: Path) -> dict[str, Any]:
    """The JSON of a data file written by an earlier build; empty if there is none to trust."""
    try:
        text = path.read_text("utf-8")
        start = text.index(",") + 1
        data = json.loads(text[start : text.rindex(");")])
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _old_shard(old: OldFiles, versions: dict[str, str], name: str) -> dict[str, Any] | None:
    """Search shard ``name`` as the last build left it ({} where it had none); None if it is
    not what its meta says."""
    try:
        shard = old.read(name) if name in versions else {}
    except Stale:
        return None
    return shard if isinstance(shard, dict) else None
