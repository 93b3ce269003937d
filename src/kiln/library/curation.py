"""Rating, picking, rejecting, tagging and noting images, with a history that undo walks back.

Every call is one ``BEGIN IMMEDIATE`` transaction and one history *batch*: a row per image per
field that actually changed, old and new values as JSON text. ``undo`` reverts the newest batch
not yet undone and records the revert as a batch of its own (source ``undo``), which later undos
skip, so repeated undos walk back through the history. An undo restores the batch's old values
even if an image changed again since: the history says what the user had, and that is what
comes back.

Image state, as every function here returns it: ``{"id", "rating", "status", "tags", "notes"}``
with rating 0-5 (0 is unrated), status ``"selected"``, ``"rejected"`` or ``""``, tags a sorted
list and notes a string.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiln.errors import KilnError
from kiln.store.db import BUSY_TIMEOUT_S, Store, now

FIELDS = ("rating", "status", "tags", "notes")
STATUSES = ("selected", "rejected", "")
SOURCES = ("cli", "server", "import", "undo")
MIN_PREFIX = 4
# A --where clause is the user's own SQL: it may be slow, never endless.
WHERE_TIME_LIMIT_S = 10.0

Diff = tuple[str, Any, Any]


def clean_tag(text: str) -> str:
    """A tag as stored: trimmed, non-empty, without commas (the browser splits on them)."""
    if not isinstance(text, str):
        raise KilnError(f"a tag must be text, got {json.dumps(text)}")
    tag = text.strip()
    if not tag:
        raise KilnError("a tag cannot be empty")
    if "," in tag:
        raise KilnError(f"tag {tag!r} contains a comma; give each tag on its own")
    return tag


@dataclass(frozen=True)
class Change:
    """What to do to each image; a field left as None (or no tags) is left as it is."""

    rating: int | None = None
    status: str | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    note: str | None = None

    def __post_init__(self) -> None:
        if self.rating is not None and (
            isinstance(self.rating, bool) or not isinstance(self.rating, int) or not 0 <= self.rating <= 5
        ):
            raise KilnError(f"rating must be a whole number from 0 to 5 (0 clears it), got {json.dumps(self.rating)}")
        if self.status is not None and self.status not in STATUSES:
            raise KilnError(
                f"status must be \"selected\", \"rejected\" or \"\" (clear), got {json.dumps(self.status)}"
            )
        if self.note is not None and not isinstance(self.note, str):
            raise KilnError(f"a note must be text, got {json.dumps(self.note)}")
        added = tuple(dict.fromkeys(clean_tag(t) for t in self.add_tags))
        removed = tuple(dict.fromkeys(clean_tag(t) for t in self.remove_tags))
        both = sorted(set(added) & set(removed))
        if both:
            raise KilnError(f"tag {both[0]!r} is both added and removed")
        object.__setattr__(self, "add_tags", added)
        object.__setattr__(self, "remove_tags", removed)

    @property
    def is_empty(self) -> bool:
        return self == Change()

    @classmethod
    def from_json(cls, data: dict) -> Change:
        """``{"rating": 3}``, ``{"status": "selected"}``, ``{"tags": ["+a", "-b"]}``, ``{"note": "…"}``
        or several of these keys at once; a tag without a sign is added."""
        if not isinstance(data, dict):
            raise KilnError("a change must be a JSON object such as {\"rating\": 3}")
        unknown = sorted(set(data) - {"rating", "status", "tags", "note"})
        if unknown:
            raise KilnError(f"unknown key {unknown[0]!r} in change (expected rating, status, tags or note)")
        tags = data.get("tags", [])
        if not isinstance(tags, list):
            raise KilnError(f"tags must be a list such as [\"+sky\", \"-draft\"], got {json.dumps(tags)}")
        added, removed = [], []
        for tag in tags:
            if not isinstance(tag, str):
                raise KilnError(f"a tag must be text, got {json.dumps(tag)}")
            if tag.startswith("-"):
                removed.append(tag[1:])
            else:
                added.append(tag.removeprefix("+"))
        change = cls(
            rating=data.get("rating"), status=data.get("status"),
            add_tags=tuple(added), remove_tags=tuple(removed), note=data.get("note"),
        )
        if change.is_empty:
            raise KilnError("the change is empty: give rating, status, tags or note")
        return change

    def applied_to(self, state: dict[str, Any]) -> dict[str, Any]:
        after = dict(state)
        if self.rating is not None:
            after["rating"] = self.rating
        if self.status is not None:
            after["status"] = self.status
        if self.add_tags or self.remove_tags:
            after["tags"] = sorted((set(state["tags"]) | set(self.add_tags)) - set(self.remove_tags))
        if self.note is not None:
            after["notes"] = self.note
        return after


def _count(n: int) -> str:
    return f"{n} image{'s' if n != 1 else ''}"


def summarize(diffs: Sequence[Diff]) -> list[str]:
    """What a list of ``(field, old, new)`` changes did, one phrase per kind, as a user says it."""
    phrases = []
    ratings = [new for f, _, new in diffs if f == "rating"]
    for value in sorted(set(ratings) - {0}, reverse=True):
        phrases.append(f"{_count(ratings.count(value))} rated {value}")
    if 0 in ratings:
        phrases.append(f"rating cleared on {_count(ratings.count(0))}")
    statuses = [new for f, _, new in diffs if f == "status"]
    for value, verb in (("selected", "picked"), ("rejected", "rejected"), ("", "cleared")):
        if value in statuses:
            phrases.append(f"{_count(statuses.count(value))} {verb}")
    tags = [(set(old), set(new)) for f, old, new in diffs if f == "tags"]
    if tags:
        added = sorted(set().union(*(new - old for old, new in tags)))
        removed = sorted(set().union(*(old - new for old, new in tags)))
        # U+2212, a real minus: "−draft" reads as a removal, not a hyphenated word.
        signs = " ".join([f"+{t}" for t in added] + [f"\u2212{t}" for t in removed])
        phrases.append(f"tags changed on {_count(len(tags))} ({signs})")
    notes = [new for f, _, new in diffs if f == "notes"]
    if any(notes):
        phrases.append(f"note set on {_count(sum(1 for n in notes if n))}")
    if "" in notes:
        phrases.append(f"note cleared on {_count(notes.count(''))}")
    return phrases


@dataclass
class CurationResult:
    """What a call changed: how many images, their state after (every id asked), its batch."""

    changed: int
    images: list[dict[str, Any]]
    batch: int | None
    diffs: list[Diff] = field(default_factory=list, repr=False)

    def describe(self) -> str:
        """``"3 images rated 4"``, ``"1 image picked, 1 image unchanged"``, ``"2 images unchanged"``."""
        phrases = summarize(self.diffs)
        unchanged = len(self.images) - self.changed
        if unchanged or not phrases:
            phrases.append(f"{_count(unchanged)} unchanged")
        return ", ".join(phrases)


@dataclass
class UndoResult:
    """What an undo said, the state of the images it restored, the batch it reverted and the
    batch that records the revert (None when there was nothing to undo or to write)."""

    message: str
    images: list[dict[str, Any]]
    undone_batch: int | None
    batch: int | None

    def describe(self) -> str:
        return self.message


# reading state ----------------------------------------------------------------------------


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def row_state(row: Sequence[Any]) -> dict[str, Any]:
    """The state of an image from its ``id, rating, status, tags, notes`` columns."""
    image_id, rating, status, tags, notes = row[:5]
    try:
        tag_list = json.loads(tags)
    except json.JSONDecodeError:
        tag_list = None
    if not isinstance(tag_list, list) or not all(isinstance(t, str) for t in tag_list):
        raise KilnError(f"image {image_id}: its tags are not a JSON list of text: {tags!r}")
    return {"id": image_id, "rating": rating, "status": status or "", "tags": sorted(set(tag_list)), "notes": notes}


def _read(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Each known id's state and job key."""
    found = {}
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT id, rating, status, tags, notes, job_key FROM images WHERE id IN ({marks})", list(chunk)
        ):
            found[row[0]] = (row_state(row), row[5])
    return found


def image_states(store: Store, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The state of each id asked, in order; ids with no image are left out."""
    ids = list(dict.fromkeys(ids))
    with store.lock:
        found = _read(store.conn, ids)
    return [found[i][0] for i in ids if i in found]


# changing ---------------------------------------------------------------------------------


def _to_column(name: str, value: Any) -> Any:
    if name == "status":
        return value or None
    if name == "tags":
        return json.dumps(value, ensure_ascii=False)
    return value


def _next_batch(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM history").fetchone()[0]


def _write(
    conn: sqlite3.Connection,
    batch: int,
    source: str,
    rows: Sequence[tuple[str, str | None, dict[str, Any], dict[str, Any]]],
) -> list[Diff]:
    """Update images and record history for ``(id, job_key, before, after)``; the diffs made."""
    stamp = now()
    updates: dict[str, list[tuple[Any, str]]] = {name: [] for name in FIELDS}
    history, diffs = [], []
    for image_id, job_key, before, after in rows:
        for name in FIELDS:
            if before[name] != after[name]:
                updates[name].append((_to_column(name, after[name]), image_id))
                history.append(
                    (batch, stamp, image_id, job_key, name, json.dumps(before[name], ensure_ascii=False),
                     json.dumps(after[name], ensure_ascii=False), source)
                )
                diffs.append((name, before[name], after[name]))
    for name, values in updates.items():
        if values:
            conn.executemany(f"UPDATE images SET {name} = ? WHERE id = ?", values)
    conn.executemany(
        "INSERT INTO history (batch, at, image_id, job_key, field, old, new, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        history,
    )
    return diffs


def apply_changes(store: Store, changes: Sequence[tuple[str, Change]], source: str) -> CurationResult:
    """Apply a change per image, all in one transaction and one history batch (what import
    does); ``apply_change`` is the common case of one change for many images."""
    with store.transaction():
        return apply_changes_within(store, changes, source)


def apply_changes_within(store: Store, changes: Sequence[tuple[str, Change]], source: str) -> CurationResult:
    """``apply_changes`` for a caller already inside ``store.transaction()``, which decided what
    to change from what it read in the same transaction."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    ids = [image_id for image_id, _ in changes]
    if len(set(ids)) != len(ids):
        raise ValueError("each image may appear once")
    if not ids:
        raise KilnError("no images to change")
    found = _read(store.conn, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise KilnError(f"no image with id {', '.join(missing[:3])}{', …' if len(missing) > 3 else ''}")
    rows = [(i, found[i][1], found[i][0], change.applied_to(found[i][0])) for i, change in changes]
    changed = sum(1 for _, _, before, after in rows if before != after)
    batch = _next_batch(store.conn) if changed else None
    diffs = _write(store.conn, batch, source, rows) if batch else []
    return CurationResult(changed=changed, images=[after for _, _, _, after in rows], batch=batch, diffs=diffs)


def apply_change(store: Store, ids: Sequence[str], change: Change, source: str) -> CurationResult:
    """Apply ``change`` to every image in ``ids`` (full ids), as one undoable batch."""
    if change.is_empty:
        raise KilnError("nothing to change")
    return apply_changes(store, [(i, change) for i in dict.fromkeys(ids)], source)


def undo(store: Store, source: str = "cli") -> UndoResult:
    """Revert the newest batch not yet undone (``source`` is who asks: cli or server).

    The revert is itself a batch, recorded with source ``undo`` so the next undo goes further back.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    with store.transaction():
        conn = store.conn
        newest = conn.execute(
            "SELECT batch FROM history WHERE undone = 0 AND source != 'undo' ORDER BY batch DESC LIMIT 1"
        ).fetchone()
        if newest is None:
            return UndoResult("nothing to undo", [], None, None)
        undone = newest[0]
        records = conn.execute(
            "SELECT image_id, field, old, new, source, at FROM history WHERE batch = ? ORDER BY id", [undone]
        ).fetchall()
        ids = list(dict.fromkeys(r[0] for r in records))
        found = _read(conn, ids)
        targets: dict[str, dict[str, Any]] = {i: dict(found[i][0]) for i in ids if i in found}
        for image_id, name, old, _, _, _ in records:
            if image_id in targets:
                targets[image_id][name] = json.loads(old)
        rows = [(i, found[i][1], found[i][0], targets[i]) for i in targets]
        batch = None
        if any(before != after for _, _, before, after in rows):
            batch = _next_batch(conn)
            _write(conn, batch, "undo", rows)
        conn.execute("UPDATE history SET undone = 1 WHERE batch = ?", [undone])
    what = ", ".join(summarize([(name, json.loads(old), json.loads(new)) for _, name, old, new, _, _ in records]))
    origin, at = records[0][4], records[0][5][:16].replace("T", " ")
    message = f"undid: {what} ({origin}, {at})"
    gone = len(ids) - len(targets)
    if gone:
        message += f"; {_count(gone)} no longer in the store"
    return UndoResult(message, list(targets.values()), undone, batch)


# choosing images --------------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-f]+")


def resolve_ids(store: Store, prefixes: Sequence[str]) -> list[str]:
    """The full id of each prefix (at least 4 hex digits, matching exactly one image), in order."""
    ids, problems = [], []
    with store.lock:
        for given in prefixes:
            prefix = given.strip().lower()
            if not _HEX.fullmatch(prefix):
                problems.append(f"{given!r} is not an image id (ids are hex digits, such as 3f9a2c1d)")
                continue
            if len(prefix) < MIN_PREFIX:
                problems.append(f"{given!r} is too short: give at least {MIN_PREFIX} digits of an image id")
                continue
            # A range on the primary key, so even a short prefix is an index lookup.
            bounds = [prefix, prefix + "g"]
            found = [r[0] for r in store.conn.execute(
                "SELECT id FROM images WHERE id >= ? AND id < ? ORDER BY id LIMIT 4", bounds
            )]
            if len(found) == 1:
                ids.append(found[0])
            elif not found:
                problems.append(f"no image matches {given!r}")
            else:
                total = store.conn.execute("SELECT COUNT(*) FROM images WHERE id >= ? AND id < ?", bounds).fetchone()[0]
                shown = ", ".join(found[:3]) + (", …" if total > 3 else "")
                problems.append(f"{given!r} matches {total} images ({shown}): give more digits")
    if problems:
        raise KilnError("; ".join(problems))
    return list(dict.fromkeys(ids))


_FTS_BITS = re.compile(r'\s+|(".*?")')


def escape_fts(query: str) -> str:
    """Words as Datasette's search box reads them: each must occur; "quoted words" are a phrase."""
    if query.count('"') % 2:
        query += '"'
    bits = [b for b in _FTS_BITS.split(query) if b and b != '""']
    return " ".join(b if b.startswith('"') else f'"{b}"' for b in bits)


def _recipe_condition(store: Store, recipe: str) -> str:
    names = [r[0] for r in store.conn.execute("SELECT name FROM recipes ORDER BY name")]
    if recipe not in names:
        close = difflib.get_close_matches(recipe, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KilnError(f"--recipe: no recipe named {recipe!r}{hint}")
    return (
        "images.id IN (SELECT jobs.image_id FROM recipe_jobs JOIN jobs ON jobs.key = recipe_jobs.job_key"
        " WHERE recipe_jobs.recipe = ?)"
    )


def _read_only(store: Store) -> sqlite3.Connection:
    """A connection that cannot write, whatever SQL it is given."""
    uri = f"file:{urllib.parse.quote(str(store.path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
    conn.execute("PRAGMA query_only = ON")
    deadline = time.monotonic() + WHERE_TIME_LIMIT_S
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    return conn


def _where_ids(store: Store, where: str) -> Iterator[str]:
    if not where.strip():
        raise KilnError("--where: the clause is empty")
    conn = _read_only(store)
    try:
        # Python's sqlite3 refuses a second statement (a Warning before 3.12, an Error after).
        for row in conn.execute(f"SELECT id FROM images WHERE ({where})"):
            yield row[0]
    except sqlite3.OperationalError as error:
        if str(error) == "interrupted":
            raise KilnError(f"--where: stopped after {WHERE_TIME_LIMIT_S:.0f} s; make the clause cheaper") from None
        raise KilnError(f"--where: {error}") from None
    except (sqlite3.Error, sqlite3.Warning) as error:
        raise KilnError(f"--where: {error}") from None
    finally:
        conn.close()


def select_ids(
    store: Store, *, recipe: str | None = None, search: str | None = None, where: str | None = None
) -> list[str]:
    """The ids of images matching every selection given, sorted.

    ``recipe``: the images of that recipe's jobs. ``search``: full-text search of prompts and
    notes, as in Datasette. ``where``: a WHERE clause on ``images``, run on a read-only connection.
    """
    if recipe is None and search is None and where is None:
        raise KilnError("no selection: give --recipe, --search or --where")
    conditions, params = [], []
    with store.lock:
        if recipe is not None:
            conditions.append(_recipe_condition(store, recipe))
            params.append(recipe)
        if search is not None:
            terms = escape_fts(search)
            if not terms:
                raise KilnError("--search: give at least one word")
            conditions.append("images.rowid IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
            params.append(terms)
        chosen: set[str] | None = None
        if conditions:
            try:
                chosen = {
                    r[0] for r in store.conn.execute(f"SELECT id FROM images WHERE {' AND '.join(conditions)}", params)
                }
            except sqlite3.OperationalError as error:
                raise KilnError(f"--search: {error}") from None
    if where is None:
        return sorted(chosen or ())
    return sorted(i for i in _where_ids(store, where) if chosen is None or i in chosen)
