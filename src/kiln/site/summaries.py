"""Cheap summaries that tell an unchanged collection without reading its rows.

A collection's pages are made from its members' thin rows; reading them costs time in Python
for every member. A summary is computed by SQLite instead: per recipe, in one pass over every
recipe's jobs, the job counts and two sums of a hash of each member's place, job, image and
revision; per virtual collection, the count and sums of a hash of each image's row and
revision. The build records each collection's summary: a collection whose summary is the one
recorded (and whose settings are as they were) keeps its pages without reading a row.

Any change to an image moves its revision (store migration 0010), and any change to a recipe's
membership moves its recipe's hashes, so a summary that matches means the same members in the
same order with the same revisions, up to a collision of two 62-bit sums.

What a virtual collection shows also depends on which recipe's page each image has (its home).
That moves only when a recipe's membership changes for images already there: per recipe, a
hash of the membership of the images the last build showed (``revision`` at most its change
sequence, or changed since and in that build's list) is compared with the whole membership
the last build recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

from kiln.site.collections import virtual_filter
from kiln.store.db import Store

_PRIME = 2147483647
# A member's hash: its place, its job and its image (identity), then its revision.
_PLACE = f"((rj.position * 1000003 + j.rowid) % {_PRIME} * 1000033 + coalesce(i.rowid, 0)) % {_PRIME}"
_RECIPES_SQL = f"""
WITH rows AS (
  SELECT rj.recipe, j.status, i.id IS NOT NULL AS shown, i.revision, i.id AS image,
         {_PLACE} AS place,
         ({_PLACE} * 1000037 + coalesce(i.revision, -1) * 31 + length(rj.axes)) % {_PRIME} AS h
  FROM recipe_jobs rj JOIN jobs j ON j.key = rj.job_key
  LEFT JOIN images i ON i.id = j.image_id AND j.status != 'deleted'
  {{where}}
)
SELECT recipe, count(*), sum(NOT shown AND status = 'failed'), sum(NOT shown AND status = 'deleted'),
       sum(NOT shown AND status NOT IN ('failed', 'deleted')), sum(shown), sum(h), sum(h * h % 4294967291),
       sum(CASE WHEN shown THEN place END),
       sum(CASE WHEN shown AND (revision <= :since OR image IN (SELECT value FROM json_each(:known))) THEN place END)
FROM rows GROUP BY recipe
"""
# The recipes changed since a build: stamped themselves (store migration 0014), or holding an
# image whose revision moved (found from the revision's index: CROSS JOIN keeps images outer).
_CHANGED_SQL = """
SELECT name FROM recipes WHERE revision > :since
UNION SELECT rj.recipe FROM images i CROSS JOIN jobs j ON j.image_id = i.id CROSS JOIN recipe_jobs rj ON rj.job_key = j.key
WHERE i.revision > :since
"""
_VIRTUAL_HASH = f"(i.rowid * 1000003 + i.revision) % {_PRIME}"
_SQUARE = 4294967291


class RecipeSummary(NamedTuple):
    """One recipe's jobs and members, summed."""

    jobs: int
    failed: int
    deleted: int
    pending: int
    shown: int
    hash: int
    square: int
    membership: int  # the hash of every shown member's place and image, revisions aside
    older: int  # the same, of the members whose image the last build showed (``known``, or older than it)

    @property
    def members(self) -> tuple[int, ...]:
        """What tells the recipe's pages unchanged (``older`` depends on the last build)."""
        return tuple(self)[:-1]


NO_JOBS = RecipeSummary(0, 0, 0, 0, 0, 0, 0, 0, 0)


def recipe_summaries(
    store: Store, since: int, recorded: dict[str, RecipeSummary] | None, known: Sequence[str] = ()
) -> dict[str, RecipeSummary]:
    """Every recipe's summary; ``since``: the change sequence of the last build (-1 for none),
    ``recorded``: the summaries that build recorded (None for none), ``known``: the images
    changed since that it showed (an image curated since keeps its place in ``older``). With
    both, only the recipes changed since are summed again (the others keep theirs: all their
    members are older than that build); else one pass over every recipe's jobs."""
    if since < 0 or recorded is None:
        rows = store.conn.execute(_RECIPES_SQL.format(where=""), {"since": since, "known": "[]"})
        return {row[0]: RecipeSummary(*(value or 0 for value in row[1:])) for row in rows}
    changed = [row[0] for row in store.conn.execute(_CHANGED_SQL, {"since": since})]
    summaries = {name: found._replace(older=found.membership) for name, found in recorded.items() if name not in changed}
    sql = _RECIPES_SQL.format(where="WHERE rj.recipe IN (SELECT value FROM json_each(:names))")
    for row in store.conn.execute(sql, {"since": since, "names": json.dumps(changed), "known": json.dumps(list(known))}):
        summaries[row[0]] = RecipeSummary(*(value or 0 for value in row[1:]))
    return summaries


def dump_summaries(summaries: dict[str, RecipeSummary]) -> str:
    """The recipes' summaries as JSON, for the next build."""
    return json.dumps({name: list(found) for name, found in sorted(summaries.items())})


def load_summaries(text: str | None) -> dict[str, RecipeSummary] | None:
    return {name: RecipeSummary(*found) for name, found in json.loads(text).items()} if text else None


class VirtualSummary(NamedTuple):
    """The count and the hash sums of the images a virtual collection chooses from (shown or
    not: an image hidden or shown again moves a recipe's summary instead), and the same of
    those no newer than the last build."""

    members: tuple[int, int, int]
    older: tuple[int, int, int]


def virtual_summaries(store: Store, chosen: list[tuple[str, str | None]], since: int) -> dict[tuple[str, str | None], VirtualSummary]:
    """The summary of each virtual collection ``(kind, tag)`` in ``chosen``, one aggregate each
    (along the index its filter has, where it has one); ``since``: the change sequence of the
    last build (-1 for none). Recent chooses from all images, as All images does."""
    found: dict[tuple[str, str | None], VirtualSummary] = {}
    for kind, tag in chosen:
        key = ("all" if kind == "recent" else kind, tag)
        if key not in found:
            where, parameters = virtual_filter(*key)
            sql = (
                f"SELECT count(*), sum(h), sum(h * h % {_SQUARE}), sum(old), sum(old * h), sum(old * (h * h % {_SQUARE}))"
                f" FROM (SELECT {_VIRTUAL_HASH} AS h, i.revision <= :since AS old FROM images i WHERE {where})"
            )
            row = [value or 0 for value in store.conn.execute(sql, {**parameters, "since": since}).fetchone()]
            found[key] = VirtualSummary((row[0], row[1], row[2]), (row[3], row[4], row[5]))
    return {(kind, tag): found[("all" if kind == "recent" else kind, tag)] for kind, tag in chosen}


def image_summary(rowid: int, revision: int) -> tuple[int, int, int]:
    """One image's part of a virtual collection's summary (a summary is their sum, term by term)."""
    h = (rowid * 1000003 + revision) % _PRIME
    return 1, h, h * h % _SQUARE
