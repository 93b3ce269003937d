"""A data set's column files with images curated in place, from the files on disk.

A rating, a status, tags or notes changed on images a data set holds, nothing else about them
(the build state's record says so: kiln/site/findstate.py), change only the ``rating`` and
``status`` blocks that hold them, ``tags`` and the counts of the meta: the other blocks, the
sort orders and the axes keep their bytes. Each image's old rating, status and tags are read
back from the files the last build wrote, trusted only when their bytes are the ones the meta
names (kiln/site/growing.py's :class:`OldFiles`); anything unreadable raises :class:`Stale`.
"""

from __future__ import annotations

import bisect
from typing import Any

from kiln.site.filters import BLOCK, Facts, Tally
from kiln.site.growing import OldFiles, Stale


def curate_columns(
    old: OldFiles, meta: dict[str, Any], changes: list[tuple[int, Facts]]
) -> tuple[dict[str, Any], Tally, dict[int, Facts]]:
    """The files that change when the images at the given indexes take the given facts (of
    which only the rating, status and tags may differ from the last build's), the tally, and
    each image's facts as the last build had them (its old rating, status and tags)."""
    try:
        tally = Tally.of_meta(meta)
    except (KeyError, TypeError, ValueError) as error:
        raise Stale("meta") from error
    files: dict[str, Any] = {}

    def block(name: str, index: int) -> list[Any]:
        if not 0 <= index < tally.count:
            raise Stale(f"index {index}")
        file = f"{name}-{index // BLOCK}"
        if file not in files:
            data = old.read(file)
            if not isinstance(data, list) or len(data) != min(BLOCK, tally.count - index // BLOCK * BLOCK):
                raise Stale(file)
            files[file] = data
        return files[file]

    tags = old.read("tags")
    if not isinstance(tags, dict) or not all(isinstance(v, list) for v in tags.values()):
        raise Stale("tags")
    touched, befores = False, {}
    for index, facts in changes:
        ratings, statuses = block("rating", index), block("status", index)
        before_tags = tuple(tag for tag, indexes in tags.items() if _holds(indexes, index))
        before = facts._replace(rating=ratings[index % BLOCK], status=statuses[index % BLOCK], tags=before_tags)
        tally.curated(before, facts)
        befores[index] = before
        ratings[index % BLOCK], statuses[index % BLOCK] = facts.rating, facts.status
        after = set(facts.tags)
        if after == set(before_tags):
            continue
        touched = True
        for tag in set(before_tags) - after:
            tags[tag].remove(index)
            if not tags[tag]:
                del tags[tag]
        for tag in after - set(before_tags):
            bisect.insort(tags.setdefault(tag, []), index)
    if touched:
        files["tags"] = tags
    return files, tally, befores


def _holds(indexes: list[Any], index: int) -> bool:
    """Whether an ascending list of indexes holds ``index``."""
    at = bisect.bisect_left(indexes, index)
    return at < len(indexes) and indexes[at] == index
