"""The producer of what the gallery's filters and search read (see kiln/site/produce.py).

Per data set (the library, and each collection but "All images", whose page uses the
library's), every file is declared with a digest of what it is made from, so a build after
one new image makes again only the files it lands in: the collection's columns and meta, its
last chunk, the library's, and the shards of the search index that hold its words. The index's
meta records what its words were made from (a digest of every image's texts): when the images
it was made from are still the first ones, unchanged, only the new ones are tokenized and added
to the shards on disk; when anything else changed, it is made whole again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kiln.project import Project
from kiln.site.collections import ARCHIVE, Collection, Member
from kiln.site.filters import COLUMNS, LIBRARY, Facts, chunks, columns, items, read_facts
from kiln.site.findfiles import FIND, digest, script
from kiln.site.layout import SEARCH
from kiln.site.search import PREFIX, SEARCH as SEARCH_SET, add_to, index_words, shards, sources
from kiln.site.views import arrange

if TYPE_CHECKING:  # produce.py lists this module's producer
    from kiln.site.produce import Build, Link

# Part of every file's inputs: a change to what the files hold makes them all again.
FORMAT = "find-1"


class Finder:
    """Filter data, the search index and the search page."""

    name = "find"

    def inputs(self, project: Project) -> str:
        return FORMAT

    def links(self, project: Project) -> list[Link]:
        return []

    def produce(self, build: Build) -> None:
        where = build.project.relative(build.project.db_path)
        facts = read_facts(build.store)
        sets: list[tuple[str, list[Member]]] = []
        homes: dict[str, list[str]] = {}
        revisions: dict[str, int] = {}
        titles: dict[str, list[str]] = {}
        for collection in build.collections:
            if collection.kind == "all":
                continue
            members = [m for m in arrange(collection, list(build.members(collection)), build.problems, where) if m.image_id in facts]
            sets.append((collection.name, members))
            if collection.kind in ("recipe", "archived"):
                _note(collection, members, homes, revisions, titles)
        home = {image_id: _home(folders) for image_id, folders in homes.items()}
        library = sorted(home, key=lambda i: (facts[i].created_at, i))
        numbers = {image_id: n for n, image_id in enumerate(library)}
        library_members = [
            Member(i, revisions[i], home[i], facts[i].created_at, facts[i].rating, facts[i].status) for i in library
        ]
        _data_set(build, LIBRARY, library_members, facts, numbers, home)
        for name, members in sets:
            _data_set(build, name, members, facts, numbers, home)
        _search_index(build, library, facts, titles)
        build.file(SEARCH, FORMAT, lambda: build.render("search.html", SEARCH, {}))


def _note(
    collection: Collection, members: list[Member], homes: dict[str, list[str]], revisions: dict[str, int],
    titles: dict[str, list[str]],
) -> None:
    for member in members:
        homes.setdefault(member.image_id, []).append(collection.name)
        revisions[member.image_id] = member.revision
        titles.setdefault(member.image_id, []).extend((collection.title, collection.name))


def _home(folders: list[str]) -> str:
    """The collection an image's own page is in: as the builder chooses it."""
    ordered = sorted(folders)
    return next((f for f in ordered if f != ARCHIVE), ordered[0])


def _data_set(
    build: Build, name: str, members: list[Member], facts: dict[str, Facts], numbers: dict[str, int], home: dict[str, str]
) -> None:
    folder = f"{FIND}/{name}"
    shown = [(m.image_id, m.revision, m.home, m.job_key, m.axes) for m in members]
    made_from = digest(FORMAT, shown)
    g = [numbers[m.image_id] for m in members]
    versions = {column: made_from for column in COLUMNS}
    versions["g"] = digest(FORMAT, g)
    parts = {}
    for chunk, start, end in chunks(len(members)):
        versions[chunk] = digest(FORMAT, shown[start:end])
        parts[chunk] = (start, end)
    made: dict[str, Any] = {}

    def computed() -> tuple[dict[str, Any], dict[str, Any]]:
        if not made:
            files, meta = columns(members, facts, numbers, home)
            made["files"], made["meta"] = files, meta
        return made["files"], made["meta"]

    for column in COLUMNS:
        build.file(
            f"{folder}/{column}.js", versions[column],
            lambda column=column: script(f"{name}/{column}", computed()[0][column]),
        )
    build.file(
        f"{folder}/meta.js", digest(sorted(versions.items())),
        lambda: script(f"{name}/meta", {**computed()[1], "files": dict(sorted(versions.items()))}),
    )
    for chunk, (start, end) in parts.items():
        build.file(
            f"{folder}/{chunk}.js", versions[chunk],
            lambda chunk=chunk, start=start, end=end: _items(build, name, chunk, members[start:end]),
        )


def _items(build: Build, name: str, chunk: str, members: list[Member]) -> bytes:
    return script(f"{name}/{chunk}", items(build.store, members))


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
