"""The finder's producer making the library's data set and the search index whole, from one
lean pass over every image; a collection whose members are as the last build saw them, while
every image of that build keeps its number and home, declares the files its meta lists and
reads nothing more (see kiln/site/find.py)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from kiln.site.filters import LIBRARY
from kiln.site.findfiles import chain, digest, summed
from kiln.site.findformat import Library, images_in, recorded, record_stamps
from kiln.site.search import SEARCH as SEARCH_SET, source

if TYPE_CHECKING:
    from kiln.site.find import Producing


def make_whole(p: Producing) -> None:
    build = p.build
    library = p.whole_library()
    ids = library.ids()
    # Whether every image of the last build keeps its number and its home: then a collection
    # whose members are unchanged keeps its files, declared from its meta unread.
    before = recorded(p.root / LIBRARY / "meta.js")
    count = before.get("count")
    placed, placed_before = chain(((i, library.homes[i]) for i in ids), at=count if isinstance(count, int) else -1)
    settled = placed_before is not None and before.get("placed") == placed_before
    p.whole_set(LIBRARY, library.members(), library, {"placed": placed})
    for collection in build.collections:
        if collection.kind == "all":
            continue
        kept = recorded(p.root / collection.name / "meta.js") if settled else {}
        if not collection.changed and isinstance(kept.get("files"), dict):
            p.kept_set(collection, kept, lambda: library)
        else:
            p.whole_set(collection.name, p.members(collection), library)
            p.read.pop(collection.name, None)  # made once: its members need not stay in memory
    search_whole(p, library)
    if p.record is None:
        return
    # The record is as the library's meta on disk says (both from one build) when it holds
    # the same chain of numbers and homes: a build killed after writing files left neither.
    if settled and count == len(ids) == p.record.count() and p.record.get("placed") == placed_before and not build.full:
        # Every image keeps its number and home: only the revisions that moved are new.
        moved = [i for i in build.changed_images() if i in library.numbers]
        p.record.revise((library.revisions[i], *record_stamps(i, library.facts[i], library.titles.get(i, ())), i) for i in moved)
    else:
        p.record.replace(
            (n, i, library.revisions[i], library.homes[i], *record_stamps(i, library.facts[i], library.titles.get(i, ())))
            for n, i in enumerate(ids)
        )
    p.record.set("signature", p.signature)
    p.record.set("images", str(images_in(build)))
    p.record.set("placed", placed)


def search_whole(p: Producing, library: Library) -> None:
    """Declare the search index's files: as the last build left them when nothing it reads
    changed, with the words of new images added when only they came, else made whole."""
    ids, facts, titles = library.ids(), library.facts, library.titles
    folder = p.root / SEARCH_SET
    previous = recorded(folder / "meta.js")
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
        added = p.add_words(versions, [(n, facts[ids[n]], titles.get(ids[n], ())) for n in range(count, len(ids))])
        if added is None:
            versions = None
        else:
            versions, made = added
    else:
        versions = None
    if versions is None:
        made = p.whole_index(library)
        versions = {name: digest(data) for name, data in made.items()}
    whole = cache(lambda: p.whole_index(library))
    p.index_files(versions, made, whole, len(ids), made_from)
