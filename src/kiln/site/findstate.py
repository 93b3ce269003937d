"""The finder's record in the build state (build/.kiln-build.db): each library number's image,
with the revision and the collection of its page it had when its files were made, two digests
of its facts: those curation never changes (``fixed``: model, size, time, seed, prompts) and
what its search words come from (``words``), and its notes (most have none), whose old words a
change of them takes out of the search index.

With it a build after new images learns, without reading the library, which images the last
chunk of the library's items held, which number an image of a collection has, and which image
a number is (to put a new image in the sort orders); a build after images were curated (a
rating, a status, tags, notes) learns which number each has and whether anything but its
curation changed. It is made again whenever the library's data set is made whole, and added to
when images are appended.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

_BATCH = 500
Row = tuple[int, str, int, str, str, str, str]


def stamp(*parts: Any) -> str:
    """A short digest of ``parts`` for the record (many are made: blake2b, 16 hex digits)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


class LibraryRecord:
    """The ``find_library`` table of the build state, and a few values beside it."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        held = [row[1] for row in conn.execute("PRAGMA table_info(find_library)")]
        if held and "notes" not in held:
            conn.execute("DROP TABLE find_library")  # an older kiln's record: made again whole
        conn.execute(
            "CREATE TABLE IF NOT EXISTS find_library (number INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
            " revision INTEGER NOT NULL, home TEXT NOT NULL, fixed TEXT NOT NULL, words TEXT NOT NULL, notes TEXT NOT NULL)"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS find_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM find_meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO find_meta (key, value) VALUES (?, ?)", [key, value])

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM find_library").fetchone()[0]

    def replace(self, rows: Iterable[Row]) -> None:
        self.conn.execute("DELETE FROM find_library")
        self.append(rows)

    def append(self, rows: Iterable[Row]) -> None:
        """Rows of (number, id, revision, home, fixed, words, notes)."""
        sql = "INSERT INTO find_library (number, id, revision, home, fixed, words, notes) VALUES (?, ?, ?, ?, ?, ?, ?)"
        self.conn.executemany(sql, rows)

    def revise(self, rows: Iterable[tuple[int, str, str, str, str]]) -> None:
        """New revisions, digests and notes (revision, fixed, words, notes, id) of images the record holds."""
        self.conn.executemany("UPDATE find_library SET revision = ?, fixed = ?, words = ?, notes = ? WHERE id = ?", rows)

    def rows(self, ids: Sequence[str]) -> dict[str, Row]:
        """The row of each of ``ids`` the record holds."""
        found = {}
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            sql = f"SELECT number, id, revision, home, fixed, words, notes FROM find_library WHERE id IN ({','.join('?' * len(batch))})"
            for row in self.conn.execute(sql, batch):
                found[row[1]] = row
        return found

    def numbered(self, first: int, end: int) -> list[tuple[int, str, int, str]]:
        """The rows of numbers ``first`` to ``end`` (excluded), in order."""
        sql = "SELECT number, id, revision, home FROM find_library WHERE number >= ? AND number < ? ORDER BY number"
        return self.conn.execute(sql, [first, end]).fetchall()

    def places(self, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """The number and home of each of ``ids`` the record holds."""
        found = {}
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            sql = f"SELECT id, number, home FROM find_library WHERE id IN ({','.join('?' * len(batch))})"
            for image_id, number, home in self.conn.execute(sql, batch):
                found[image_id] = (number, home)
        return found
