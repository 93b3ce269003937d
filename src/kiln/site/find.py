"""The producer of what the gallery's filters and search read (see kiln/site/produce.py).

Per data set (the library, and each collection but "All images", whose page uses the
library's), every file is declared with a digest of what it is made from, so a build after
one new image makes again only the files it lands in: the collection's columns and meta, its
last chunk, the library's, and the shards of the search index that hold its words. The index's
meta records what its words were made from (a digest of every image's texts): when the images
it was made from are still the first ones, unchanged, only the new ones are tokenized and added
to the shards on disk; when anything else changed, it is made whole again.

Every build reads the library in one lean pass (each image's facts and recipes), which the
library's files and the index need. A collection's members are read only when it changed: one
whose members are as the last build saw them (``collection.changed`` false), while every image
of that build keeps its number and home (the library's meta records a digest of them), declares
the files its meta lists, with the same digests, and reads nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kiln.project import Project
from kiln.site.collections import ARCHIVE, Collection, Member
from kiln.site.filters import CHUNK, COLUMNS, LIBRARY, Facts, chunks, columns, items, read_library
from kiln.site.findfiles import FIND, digest, script
from kiln.site.layout import SEARCH
from kiln.site.search import PREFIX, SEARCH as SEARCH_SET, add_to, index_words, shards, sources
from kiln.site.views import arrange

if TYPE_CHECKING:  # produce.py lists this module's producer
    from kiln.site.produce import Build, Link

# Part of every file's inputs: a change to what the files hold makes them all again.
FORMAT = "find-2"


class Finder:
    """Filter data, the search index and the search page."""

    name = "find"

    def inputs(self, project: Project) -> str:
        return FORMAT

    def links(self, project: Project) -> list[Link]:
        return []

    def produce(self, build: Build) -> None:
        where = build.project.relative(build.project.db_path)
        shown = read_library(build.store)
        order = {c.name: n for n, c in enumerate(build.collections) if c.kind in ("recipe", "archived")}
        shelves = {c.name: c for c in build.collections if c.name in order}
        folders_of = {recipe: c.name for c in shelves.values() for recipe in c.recipes}
        facts: dict[str, Facts] = {}
        home: dict[str, str] = {}
        titles: dict[str, list[str]] = {}
        revisions: dict[str, int] = {}
        # Most images are in one recipe: each set of recipes is worked out once.
        placing: dict[tuple[str, ...], tuple[str, list[str]] | None] = {}
        for image_id, (revision, recipes, image_facts) in shown.items():
            key = tuple(recipes)
            if key not in placing:
                folders = sorted({folders_of[r] for r in recipes if r in folders_of}, key=order.__getitem__)
                placing[key] = (_home(folders), [part for f in folders for part in (shelves[f].title, f)]) if folders else None
            place = placing[key]
            if place is None:
                continue
            facts[image_id], revisions[image_id], home[image_id] = image_facts, revision, place[0]
            titles[image_id] = place[1]
        library = sorted(home, key=lambda i: (facts[i].created_at, i))
        numbers = {image_id: n for n, image_id in enumerate(library)}
        # Whether every image of the last build keeps its number and its home: then a collection
        # whose members are unchanged keeps its files, declared from its meta unread.
        placed = [(i, home[i]) for i in library]
        before = _recorded(build.project.build_dir / FIND / LIBRARY / "meta.js")
        count = before.get("count")
        settled = isinstance(count, int) and 0 <= count <= len(library) and before.get("placed") == digest(FORMAT, placed[:count])
        library_members = [
            Member(i, revisions[i], home[i], facts[i].created_at, facts[i].rating, facts[i].status) for i in library
        ]
        context = (facts, numbers, home)
        _data_set(build, LIBRARY, library_members, context, {"placed": digest(FORMAT, placed)})
        for collection in build.collections:
            if collection.kind == "all":
                continue

            def load(collection: Collection = collection) -> list[Member]:
                members = arrange(collection, list(build.members(collection)), build.problems, where)
                return [m for m in members if m.image_id in home]

            kept = _recorded(build.project.build_dir / FIND / collection.name / "meta.js") if settled else {}
            if not collection.changed and isinstance(kept.get("files"), dict):
                _kept_data_set(build, collection.name, kept["files"], load, context)
            else:
                _data_set(build, collection.name, load(), context)
        _search_index(build, library, facts, titles)
        build.file(SEARCH, FORMAT, lambda: build.render("search.html", SEARCH, {}))


def _home(folders: list[str]) -> str:
    """The collection an image's own page is in: as the builder chooses it."""
    ordered = sorted(folders)
    return next((f for f in ordered if f != ARCHIVE), ordered[0])


# What a data set's files are made from besides its members: each image's facts, number and home.
Context = tuple[dict[str, Facts], dict[str, int], dict[str, str]]


def _data_set(build: Build, name: str, members: list[Member], context: Context, extra: dict[str, str] | None = None) -> None:
    """Declare a data set's files, each with a digest of what it is made from."""
    facts, numbers, home = context
    shown = [(m.image_id, m.revision, m.home, m.job_key, m.axes) for m in members]
    made_from = digest(FORMAT, shown, [home[m.image_id] for m in members])
    versions = {column: made_from for column in COLUMNS}
    versions["g"] = digest(FORMAT, [numbers[m.image_id] for m in members])
    for chunk, start, end in chunks(len(members)):
        versions[chunk] = digest(FORMAT, shown[start:end])
    _declare(build, name, versions, lambda: members, context, extra or {})


def _kept_data_set(
    build: Build, name: str, versions: dict[str, str], load: Callable[[], list[Member]], context: Context
) -> None:
    """Declare the files of a data set unchanged since the last build, as its meta lists them;
    its members are read only if one of them must be made again (changed by hand)."""
    members: list[list[Member]] = []

    def loaded() -> list[Member]:
        if not members:
            members.append(load())
        return members[0]

    _declare(build, name, versions, loaded, context, {})


def _declare(
    build: Build, name: str, versions: dict[str, str], members: Callable[[], list[Member]], context: Context,
    extra: dict[str, str],
) -> None:
    folder = f"{FIND}/{name}"
    made: dict[str, Any] = {}

    def computed() -> tuple[dict[str, Any], dict[str, Any]]:
        if not made:
            made["files"], made["meta"] = columns(members(), *context)
        return made["files"], made["meta"]

    for file, version in sorted(versions.items()):
        if file in COLUMNS:
            make = lambda file=file: script(f"{name}/{file}", computed()[0][file])  # noqa: E731
        else:
            make = lambda file=file: _items(build, name, file, members())  # noqa: E731
        build.file(f"{folder}/{file}.js", version, make)
    files = dict(sorted(versions.items()))
    build.file(
        f"{folder}/meta.js", digest(sorted(versions.items()), sorted(extra.items())),
        lambda: script(f"{name}/meta", {**computed()[1], **extra, "files": files}),
    )


def _items(build: Build, name: str, chunk: str, members: list[Member]) -> bytes:
    start = int(chunk.removeprefix("items-")) * CHUNK
    return script(f"{name}/{chunk}", items(build.store, members[start : start + CHUNK]))


def _search_index(
    build: Build, library: list[str], facts: dict[str, Facts], titles: dict[str, list[str]]
) -> None:
    folder = build.project.build_dir / FIND / SEARCH_SET
    words_from = sources(library, facts, titles)
    made_from = digest(FORMAT, words_from)
    previous = _recorded(folder / "meta.js")
    versions = previous.get("files") if isinstance(previous.get("files"), dict) else None
    count = previous.get("count")
    made: dict[str, bytes] = {}
    if versions is not None and previous.get("from") == made_from:
        pass  # nothing the index reads changed: the files stay as the last build wrote them
    elif (
        versions is not None and isinstance(count, int) and 0 < count < len(library)
        and previous.get("from") == digest(FORMAT, words_from[:count])
    ):
        # Only new images, numbered after the others: add their words to the shards they go in.
        versions = dict(versions)
        for name, additions in index_words(library, facts, titles, start=count).items():
            shard = _recorded(folder / f"{name}.js") if name in versions else {}
            if name in versions and not shard:
                versions = None  # a shard the last build wrote is gone: make the index whole
                break
            made[name] = script(f"{SEARCH_SET}/{name}", add_to(shard, additions))
            versions[name] = digest(made[name])
    else:
        versions = None
    if versions is None:
        made = {name: script(f"{SEARCH_SET}/{name}", words) for name, words in shards(library, facts, titles).items()}
        versions = {name: digest(data) for name, data in made.items()}
    whole: dict[str, bytes] = {}

    def make(name: str) -> bytes:
        if name in made:
            return made[name]
        if not whole:  # a file changed or removed by hand: the whole index once
            whole.update({n: script(f"{SEARCH_SET}/{n}", w) for n, w in shards(library, facts, titles).items()})
        return whole[name]

    for name, version in sorted(versions.items()):
        build.file(f"{FIND}/{SEARCH_SET}/{name}.js", version, lambda name=name: make(name))
    meta = {"count": len(library), "prefix": PREFIX, "from": made_from, "files": dict(sorted(versions.items()))}
    build.file(f"{FIND}/{SEARCH_SET}/meta.js", digest(sorted(meta.items())), lambda: script(f"{SEARCH_SET}/meta", meta))


def _recorded(path: Any) -> dict[str, Any]:
    """The JSON of a data file written by an earlier build; empty if there is none to trust."""
    try:
        text = path.read_text("utf-8")
        start = text.index(",") + 1
        data = json.loads(text[start : text.rindex(");")])
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
