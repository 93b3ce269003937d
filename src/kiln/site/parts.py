"""A newest-first collection planned again from the part that changed, the rest unread.

The pages of All images, the picks and each tag hold fixed slices counted from the oldest
member (kiln/site/views.py), so an image changed, gone or come changes the part it is in and
every part newer than it, never an older one. The build records, per collection, its count,
its summary and the oldest member of each part (its creation time and id: the part's lower
bound). The images changed since (``revision`` above the last build's change sequence) are
all that can have moved: as the last build saw them (the build state's list of shown images
keeps what chose their collections) and as they are now, each is in the collection or not.
When the summary the last build recorded is the one of the images not changed since plus
those changed images as they were, nothing else came or went. Then, when they stay where they
were, only the first page and the parts holding them (found among the bounds) are read; when
one comes or goes, every newer part shifts, and the members from the lowest part they reach
up are read.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Container, Sequence
from itertools import islice
from typing import NamedTuple

from kiln.site.collections import Collection, Member, virtual_filter
from kiln.site.state import Seen
from kiln.site.summaries import image_summary
from kiln.store.db import Store

# Above this many images curated since the last build (new ones aside), collections are read whole.
MOST_CURATED = 2000

Key = tuple[str, str]  # a member's place: creation time and id (newest first is largest first)


class Tail(NamedTuple):
    """What the last build recorded of a newest-first collection."""

    count: int
    summary: tuple[int, int, int]
    bounds: list[Key]  # the oldest member of each part, oldest part first

    def dump(self) -> str:
        return json.dumps([self.count, list(self.summary), [list(b) for b in self.bounds]])


def load_tail(text: str | None) -> Tail | None:
    if not text:
        return None
    try:
        count, summary, bounds = json.loads(text)
        return Tail(count, tuple(summary), [(b[0], b[1]) for b in bounds])  # type: ignore[arg-type]
    except (ValueError, TypeError, IndexError):
        return None


def tail_of(members: list[Member], size: int, summary: tuple, start: Sequence[Key] = ()) -> Tail | None:
    """The record of a collection of ``members`` (newest first; ``start``: the bounds of the
    parts older than them, when they are only its newest); None when a creation time is not
    text (no part can be found then)."""
    count = len(start) * size + len(members)
    bounds = list(start)
    for part in range(len(start), -(-count // size)):
        member = members[count - 1 - part * size]
        if not isinstance(member.created_at, str):
            return None
        bounds.append((member.created_at, member.image_id))
    return Tail(count, summary, bounds)


class Changes(NamedTuple):
    """The images changed since the last build, and how it showed those it showed."""

    since: int
    ids: list[str]
    before: dict[str, Seen]

    def few(self) -> bool:
        """Whether few enough images the last build showed changed to follow each."""
        return len(self.before) <= MOST_CURATED


class Part(NamedTuple):
    """The members of a collection that the changes reach, read."""

    members: list[Member | None]  # newest first: all down to part ``low``'s oldest, or with holes
    parts: Container[int]  # the parts planned again (the others keep their members and neighbours)
    count: int
    came: list[Member]  # changed images in it now (new, curated, or back)
    went: list[Seen]  # changed images in it before
    tail: Tail


def changed_part(
    store: Store, collection: Collection, tail: Tail | None, members: tuple, older: tuple | None, changes: Changes
) -> Part | None:
    """The part of ``collection`` that the ``changes`` reach, read; None when more changed
    than they tell (an image deleted, one the last build did not show changed, a creation
    time not text) and the collection must be read whole. ``members`` and ``older``: its
    summary now, and that of its images not changed since."""
    if tail is None or older is None or not changes.few():
        return None
    size = collection.page_size
    where, parameters = virtual_filter(collection.kind, collection.tag)
    rowids: dict[str, int] = {}
    came: list[Member] = []
    sql = (
        f"SELECT i.id, i.rowid, i.revision, i.created_at, i.rating, i.status, CASE WHEN {where} THEN 1 ELSE 0 END"
        " FROM images i WHERE i.revision > :since"
    )
    for image_id, rowid, revision, created_at, rating, status, chosen in store.conn.execute(
        sql, {**parameters, "since": changes.since}
    ):
        rowids[image_id] = rowid
        if chosen and image_id in collection.homes:
            if not isinstance(created_at, str):
                return None
            came.append(Member(image_id, revision, collection.homes[image_id], created_at, rating or 0, status))
    went = [changes.before[i] for i in _chosen_before(store, where, parameters, changes.before)]
    # The recorded summary is the images unchanged since, and the changed ones as they were.
    summed = tuple(older)
    for seen in went:
        if seen.id not in rowids or not isinstance(seen.created_at, str):
            return None
        summed = tuple(a + b for a, b in zip(summed, image_summary(rowids[seen.id], seen.revision)))
    if summed != tuple(tail.summary):
        return None
    came.sort(key=_key, reverse=True)
    if {(s.created_at, s.id) for s in went} == {_key(m) for m in came}:
        return _in_place(store, collection, tail, members, came, went)
    count = tail.count - len(went) + len(came)
    keys = [(s.created_at, s.id) for s in went] + [_key(m) for m in came]
    # The lowest part any change reaches; two parts of margin below the newest (the part below
    # a new one gains a "newer" neighbour, and a part may come or go at the top).
    reached = max(1, bisect_right(tail.bounds, min(keys))) if keys else len(tail.bounds)
    low = max(1, min(reached, tail.count // size - 1, count // size - 1))
    bound = tail.bounds[low - 1] if low > 1 else None
    read: list[Member] = list(collection.members_between(store, bound, None))
    if len(read) != count - (low - 1) * size or {m.image_id for m in read} & rowids.keys() != {m.image_id for m in came}:
        return None
    new_tail = tail_of(read, size, members, tail.bounds[: low - 1])
    if new_tail is None:
        return None
    return Part(list(read), range(low, len(new_tail.bounds) + 1), count, came, went, new_tail)


def _in_place(
    store: Store, collection: Collection, tail: Tail, members: tuple, came: list[Member], went: list[Seen]
) -> Part | None:
    """The changed images stay where they were (only their revisions moved): the first page
    and the parts holding them are read, nothing between."""
    size, count = collection.page_size, tail.count
    read: list[Member | None] = [None] * count
    newest = list(islice(collection.members_between(store, None, None), size))
    read[: len(newest)] = newest
    parts = {bisect_right(tail.bounds, _key(m)) for m in came}
    if 0 in parts:
        return None
    for part in parts:
        start = max(0, count - part * size)  # its newest member, counted from the newest
        above = tail.bounds[part] if part < len(tail.bounds) else None
        found = list(collection.members_between(store, tail.bounds[part - 1], above))
        if len(found) != count - (part - 1) * size - start:
            return None
        read[start : start + len(found)] = found
    if len(newest) != min(size, count) or not {m.image_id for m in came} <= {m.image_id for m in read if m is not None}:
        return None
    return Part(read, parts, count, came, went, tail._replace(summary=members))


def _chosen_before(store: Store, where: str, parameters: dict[str, str], before: dict[str, Seen]) -> list[str]:
    """Which of ``before`` the collection chose as the last build saw them."""
    if not before:
        return []
    facts = json.dumps([[s.id, s.created_at, s.rating, s.status, s.tags] for s in before.values()])
    sql = (
        "SELECT i.id FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS created_at,"
        " json_extract(value, '$[2]') AS rating, json_extract(value, '$[3]') AS status, json_extract(value, '$[4]') AS tags"
        f" FROM json_each(:facts)) i WHERE {where}"
    )
    return [row[0] for row in store.conn.execute(sql, {**parameters, "facts": facts})]


def _key(member: Member) -> Key:
    return (member.created_at, member.image_id)
