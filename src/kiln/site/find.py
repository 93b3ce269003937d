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
which one image's change updates). After both, curated images and new ones, each data set
holding a curated image is changed in place first (the files made so read back as the last
build's), then grown by the new ones, and the index moves the curated images' words before it
adds the new ones'. Anything else makes the library's
data set whole, from one lean pass over every image; then a collection whose members are as
the last build saw them (``collection.changed`` false), while every image of that build keeps
its number and home (the library's meta records a chain of digests of them), declares the files
its meta lists and reads nothing more. Either way the files are the bytes a build in one go
makes.

Each path is a module of its own: kiln/site/findgrown.py (new images; it also tells which path
a build takes), kiln/site/findcurated.py (curated images), kiln/site/findwhole.py (the whole
library); kiln/site/findformat.py holds what they share. This module holds the producer and
one run of it: what a collection shows, and the declaring of a data set's files and of the
search index's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from kiln.project import Project
from kiln.site.collections import Collection, Member
from kiln.site.filters import CHUNK, LIBRARY, Facts, chunks, columns, cut, items, read_facts, read_library, shows
from kiln.site.findcurated import Curation, curated
from kiln.site.findfiles import FIND, digest, script
from kiln.site.findformat import FORMAT, Library, hashed, home_of, members_digest, old_shard, recorded, item_source
from kiln.site.findgrown import grown, since_last_build
from kiln.site.findstate import LibraryRecord
from kiln.site.findwhole import make_whole
from kiln.site.growing import OldFiles, encoded
from kiln.site.layout import SEARCH
from kiln.site.search import PREFIX, SEARCH as SEARCH_SET, add_to, index_words, shards
from kiln.site.views import arrange

if TYPE_CHECKING:  # produce.py lists this module's producer
    from kiln.site.produce import Build, Link



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
        growth = None if self.build.full else since_last_build(self)
        if growth is None:
            make_whole(self)
        elif isinstance(growth, Curation):
            curated(self, growth)
        else:
            grown(self, growth)

    # ---- what a collection shows -----------------------------------------------------------

    def members(self, collection: Collection) -> list[Member]:
        """A collection's members in gallery order, those the library holds (read once)."""
        if collection.name not in self.read:
            members = arrange(collection, list(self.build.members(collection)), self.build.problems, self.where)
            self.read[collection.name] = [m for m in members if shows(m.image_id)]
        return self.read[collection.name]

    def made_from(self, name: str, members: list[Member]) -> str:
        """:func:`members_digest` of a collection's members as the last build had them, once: the
        members less the new images, which (when they grew the set) are its first ones."""
        key = (name, len(members))
        if key not in self.digests:
            self.digests[key] = hashed(members)
        return self.digests[key].hexdigest()[:20]

    def made_from_grown(self, name: str, count: int, members: list[Member]) -> str:
        """:func:`members_digest` of a set's ``count`` first members (hashed before) and ``members``."""
        return hashed(members, self.digests[(name, count)].copy()).hexdigest()[:20]

    def place(self, recipes: list[str]) -> tuple[str, list[str]] | None:
        """The home of an image shown by ``recipes`` and the titles and names of its collections."""
        folders = sorted({self.folders_of[r] for r in recipes if r in self.folders_of}, key=self.order.__getitem__)
        if not folders:
            return None
        return home_of(folders), [part for f in folders for part in (self.shelves[f].title, f)]

    # ---- the whole library -------------------------------------------------------------------

    def known(self, library: Library, members: list[Member], homes_from_members: bool) -> Library:
        """The library's facts, numbers and homes of ``members`` (read for those it lacks)."""
        assert self.record is not None
        wanted = [m.image_id for m in members if m.image_id not in library.facts]
        for image_id, (_, facts) in self.facts(wanted).items():
            library.facts[image_id] = facts
        if homes_from_members:
            library.homes.update((m.image_id, m.home) for m in members)
        for image_id, (number, home) in self.record.places([i for i in wanted if i not in library.numbers]).items():
            library.numbers[image_id] = number
            library.homes.setdefault(image_id, home)
        return library

    def facts(self, ids: list[str]) -> dict[str, tuple[int, Facts]]:
        """The revision and facts of each of ``ids`` the store holds."""
        return read_facts(self.build.store, ids)

    def whole_index(self, library: Library) -> dict[str, bytes]:
        """Every shard of the search index, made from ``library``'s images."""
        return {name: script(f"{SEARCH_SET}/{name}", words) for name, words in shards(library.ids(), library.facts, library.titles).items()}

    def whole_library(self) -> Library:
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

    def changed_set(
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
            versions[f"items-{number}"] = digest(FORMAT, [item_source(m) for m in held])
        whole = cache(lambda: self.set_files(name, members(), library()))
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

    def set_files(self, name: str, members: list[Member], library: Library) -> dict[str, bytes]:
        """Every file of a data set, made whole (but the meta)."""
        files, _ = columns(members, library.facts, library.numbers, library.homes)
        made = {file: script(f"{name}/{file}", data) for file, data in cut(files).items()}
        for chunk, start, end in chunks(len(members)):
            made[chunk] = script(f"{name}/{chunk}", items(self.build.store, members[start:end]))
        return made

    def collections(
        self, build: Build, whole: Callable[[], Library], known: Callable[[list[Member], bool], Library],
        changed_in_place: Callable[[str, list[Member], dict[str, Any]], bool],
    ) -> None:
        """Each collection's data set but All images' (the library's): an unchanged one kept
        from its meta, a recipe's changed where it stands when ``changed_in_place`` can, any
        other made whole."""
        for collection in build.collections:
            if collection.kind == "all":
                continue
            before = recorded(self.root / collection.name / "meta.js")
            if not collection.changed and isinstance(before.get("files"), dict):
                self.kept_set(collection, before, whole)
                continue
            members = self.members(collection)
            if collection.kind in ("recipe", "archived") and changed_in_place(collection.name, members, before):
                continue
            self.whole_set(collection.name, members, known(members, collection.newest_first))

    def whole_set(self, name: str, members: list[Member], library: Library, extra: dict[str, str] | None = None) -> None:
        """Declare a data set's files, made whole (the item chunks only when what they are made
        from changed)."""
        files, meta = columns(members, library.facts, library.numbers, library.homes)
        versions, made = {}, {}
        for file, data in cut(files).items():
            made[file], versions[file] = encoded(name, file, data)
        shown = [item_source(m) for m in members]
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
            extra["from"] = members_digest(members)
        full = {**meta, **extra, "files": dict(sorted(versions.items()))}
        data = script(f"{name}/meta", full)
        self.build.file(f"{FIND}/{name}/meta.js", digest(data), lambda: data)

    def kept_set(self, collection: Collection, meta: dict[str, Any], library: Callable[[], Library]) -> None:
        """Declare the files of a data set unchanged since the last build, as its meta lists
        them; its members are read only if one of them must be made again (changed by hand)."""
        name = collection.name
        whole = cache(lambda: self.set_files(name, self.members(collection), library()))
        for file, version in sorted(meta["files"].items()):
            self.build.file(f"{FIND}/{name}/{file}.js", version, lambda file=file: whole()[file])
        data = script(f"{name}/meta", meta)
        self.build.file(f"{FIND}/{name}/meta.js", digest(data), lambda: data)

    # ---- the search index --------------------------------------------------------------------

    def add_words(
        self, versions: dict[str, str], numbered: list[tuple[int, Facts, Any]], fresh: dict[str, bytes] | None = None
    ) -> tuple[dict[str, str], dict[str, bytes]] | None:
        """The shards with the words of ``numbered`` images added, read from the last build's
        files (or from ``fresh``, the shards this build changed already); None if one of those
        is not as its meta says."""
        versions = dict(versions)
        made = dict(fresh or {})
        old = OldFiles(self.root / SEARCH_SET, SEARCH_SET, {"files": versions}, fresh)
        for name, additions in index_words(numbered).items():
            shard = old_shard(old, versions, name)
            if shard is None:
                return None
            made[name] = script(f"{SEARCH_SET}/{name}", add_to(shard, additions))
            versions[name] = digest(made[name])
        return versions, made

    def index_files(
        self, versions: dict[str, str], made: dict[str, bytes], whole: Callable[[], dict[str, bytes]], count: int,
        made_from: str,
    ) -> None:
        for name, version in sorted(versions.items()):
            make = (lambda data=made[name]: data) if name in made else (lambda name=name: whole()[name])
            self.build.file(f"{FIND}/{SEARCH_SET}/{name}.js", version, make)
        meta = {"count": count, "prefix": PREFIX, "from": made_from, "files": dict(sorted(versions.items()))}
        data = script(f"{SEARCH_SET}/meta", meta)
        self.build.file(f"{FIND}/{SEARCH_SET}/meta.js", digest(data), lambda: data)
