"""The finder's producer after images the last build numbered were curated (their rating,
status, tags or notes changed, nothing else): only they are read, each data set holding them
changes in place (kiln/site/curating.py), and their words move in the search index's shards
when their tags or notes changed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from kiln.site.collections import Member
from kiln.site.curating import curate_columns
from kiln.site.filters import CHUNK, LIBRARY, Facts, read_recipes
from kiln.site.findfiles import digest, resummed, script
from kiln.site.findformat import Library, is_sum, members_digest, old_shard, recorded, record_stamps
from kiln.site.findstate import Row
from kiln.site.findwhole import make_whole, search_whole
from kiln.site.growing import OldFiles, Stale, encoded
from kiln.site.search import SEARCH as SEARCH_SET, image_words, numbers_of, postings, shard_of, source

if TYPE_CHECKING:
    from kiln.site.find import Producing


@dataclass
class Curation:
    """Images the last build numbered whose curation alone changed: each one's row of the
    record, new revision, facts and the titles of its collections."""

    held: dict[str, Row]
    revisions: dict[str, int]
    facts: dict[str, Facts]
    titles: dict[str, list[str]]


def curation(p: Producing, held: dict[str, Row], same_count: bool) -> Curation | None:
    """The images of the record that changed, when only their curation did (each keeps its
    facts but rating, status, tags and notes, its home and its collections); else None."""
    if not same_count:
        return None  # an image was deleted too
    curation = curated_images(p, held)
    if curation is None:
        return None
    revised = {i: row[2] for i, row in held.items()}
    # Every collection holds the images it held, in the order it held them.
    for collection in p.shelves.values():
        if collection.changed:
            before = recorded(p.root / collection.name / "meta.js")
            old = [m._replace(revision=revised[m.image_id]) if m.image_id in revised else m for m in p.members(collection)]
            if before.get("count") != len(old) or before.get("from") != members_digest(old):
                return None
    return curation


def curated_images(p: Producing, held: dict[str, Row]) -> Curation | None:
    """The images of the record that changed, when only their curation did; their collections
    are not looked at (see :func:`curation`)."""
    ids = sorted(held)
    found = p.facts(ids)
    recipes = read_recipes(p.build.store, ids)
    titles = {}
    for image_id in ids:
        place = p.place(recipes.get(image_id, []))
        row = held[image_id]
        if image_id not in found or place is None or place[0] != row[3]:
            return None
        titles[image_id] = place[1]
        if record_stamps(image_id, found[image_id][1], place[1])[0] != row[4]:
            return None  # more than its curation changed
    return Curation(held, {i: found[i][0] for i in ids}, {i: found[i][1] for i in ids}, titles)


def curated(p: Producing, curation: Curation) -> None:
    """Declare every data set with the curated images changed in place."""
    build, record = p.build, p.record
    assert record is not None
    held = curation.held
    library = Library(
        dict(curation.facts), {i: row[0] for i, row in held.items()}, {i: row[3] for i, row in held.items()}
    )
    whole = cache(p.whole_library)
    meta = recorded(p.root / LIBRARY / "meta.js")
    try:
        old = OldFiles(p.root / LIBRARY, LIBRARY, meta)
        files, tally, befores = curate_columns(old, meta, [(row[0], curation.facts[i]) for i, row in held.items()])
    except Stale:
        make_whole(p)
        return
    remade = {}
    for number in sorted({row[0] // CHUNK for row in held.values()}):
        rows = record.numbered(number * CHUNK, (number + 1) * CHUNK)
        remade[number] = [Member(i, curation.revisions.get(i, revision), home, "", 0, None) for _, i, revision, home in rows]
    p.changed_set(LIBRARY, meta, files, {**tally.meta([]), "axisValues": {}}, remade, {"placed": meta["placed"]},
                      lambda: whole().members(), whole)
    p.collections(
        build, whole, lambda members, homes_from_members: p.known(library, members, homes_from_members),
        lambda name, members, before: curate_set(p, name, members, before, curation, library),
    )
    previous = recorded(p.root / SEARCH_SET / "meta.js")
    changed_words = rewording(p, curation, befores, previous, tally.count)
    if changed_words is not None:
        versions, made, made_from = changed_words
        p.index_files(versions, made, cache(lambda: p.whole_index(whole())), previous["count"], made_from)
    else:
        everything = whole()
        search_whole(p, everything)
    record.revise(revisions(curation))


def revisions(curation: Curation) -> list[tuple[int, str, str, str, str]]:
    """The record's rows of the curated images, revised."""
    return [(curation.revisions[i], *record_stamps(i, curation.facts[i], curation.titles[i]), i) for i in curation.held]


def curated_first(
    old: OldFiles, meta: dict[str, Any], changes: list[tuple[int, Facts]], axis_fields: list[dict[str, Any]]
) -> tuple[OldFiles, dict[str, Any], dict[str, Any], dict[int, Facts]]:
    """A data set with images curated in place, as new images then grow it: its files read
    back (those changed as made here), its meta, the files changed and each curated image's
    facts as the last build had them."""
    files, tally, befores = curate_columns(old, meta, changes)
    fresh, versions = {}, dict(old.versions)
    for file, data in files.items():
        fresh[file], versions[file] = encoded(old.name, file, data)
    after = {**meta, **tally.meta(axis_fields), "files": versions}
    return OldFiles(old.folder, old.name, after, fresh), after, files, befores


def rewording(
    p: Producing, curation: Curation, befores: dict[int, Facts], previous: dict[str, Any], count: int
) -> tuple[dict[str, str], dict[str, bytes], str] | None:
    """The search index's shards with the words the curated images' tags or notes brought or
    took away moved, and its digest (see :func:`reword`); None if the last build's index
    (its meta on disk, ``previous``, of ``count`` images) cannot be changed in place."""
    held = curation.held
    reworded = [
        (row[0], befores[row[0]]._replace(notes=row[6]), curation.facts[i], curation.titles[i], i)
        for i, row in held.items()
        if record_stamps(i, curation.facts[i], curation.titles[i])[1] != row[5]
    ]
    if (
        isinstance(previous.get("files"), dict) and is_sum(previous.get("from"))
        and previous.get("count") == count
        # Their old tags and notes are known: so are their old words, if nothing else moved.
        and all(record_stamps(i, before, titles)[1] == held[i][5] for _, before, _, titles, i in reworded)
    ):
        return reword(p, previous["files"], previous["from"], reworded)
    return None


def reword(
    p: Producing, versions: dict[str, str], made_from: str, reworded: list[tuple[int, Facts, Facts, list[str], str]]
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
    old = OldFiles(p.root / SEARCH_SET, SEARCH_SET, {"files": versions})
    made = {}
    for name, words in edits.items():
        shard = old_shard(old, versions, name)
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


def curate_set(p: Producing, name: str, members: list[Member], before: dict[str, Any], curation: Curation, library: Library) -> bool:
    """A recipe's data set with its curated members changed in place; False if it cannot be."""
    at = {m.image_id: k for k, m in enumerate(members) if m.image_id in curation.held}
    try:
        if before.get("count") != len(members) or not isinstance(before.get("axisValues"), dict):
            raise Stale("meta")
        old = OldFiles(p.root / name, name, before)
        files, tally, _ = curate_columns(old, before, [(k, curation.facts[i]) for i, k in at.items()])
        axis_fields = [f for f in before["fields"] if "axis" in f]
    except (Stale, KeyError, TypeError):
        return False
    remade = {k // CHUNK: members[k // CHUNK * CHUNK : (k // CHUNK + 1) * CHUNK] for k in sorted(at.values())}
    meta = {**tally.meta(axis_fields), "axisValues": before["axisValues"]}
    p.changed_set(name, before, files, meta, remade, {"from": members_digest(members)}, lambda: members,
                      lambda: p.known(library, members, False))
    return True
