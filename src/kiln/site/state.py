"""What the last build left in build/: a small SQLite file beside the pages.

For every file kiln wrote there: its size and modification time when written (so a file
changed or removed by hand is noticed), and the digest of the inputs it was made from (so a
build renders only what has new inputs). Besides, a few values the next build compares with
(the store's change sequence, the digest of everything outside the store).

Only names recorded here are ever removed by a build: files a user put in build/ are left
alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

STATE = ".kiln-build.db"
# Bumped when what the state records, or how pages are laid out, changes: an older state is
# then dropped and the next build is a full one (it still writes only changed bytes).
FORMAT = "1"


class BuildState:
    """The build folder's record of its files and of the inputs of the last build."""

    def __init__(self, build_dir: Path):
        self.path = build_dir / STATE
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._prepare()
        except sqlite3.DatabaseError:  # not a database (a damaged file): start over
            self.conn.close()
            self.path.unlink()
            self.conn = sqlite3.connect(self.path, isolation_level=None)
            self._prepare()
        self.conn.execute("BEGIN")

    def _prepare(self) -> None:
        self.conn.execute("PRAGMA synchronous = OFF")  # a torn state only costs a full build
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, owner TEXT NOT NULL, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, inputs TEXT NOT NULL) WITHOUT ROWID"
        )
        self.conn.execute("CREATE INDEX IF NOT EXISTS files_owner ON files(owner)")
        # The revision of each image whose files were last published, and which were missing.
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, missing TEXT NOT NULL)"
            " WITHOUT ROWID"
        )
        if self.get("format") != FORMAT:
            self.conn.execute("DELETE FROM meta")
            self.conn.execute("DELETE FROM files")
            self.conn.execute("DELETE FROM images")
            self.set("format", FORMAT)

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    def file(self, name: str) -> tuple[int, int, str] | None:
        """The size, modification time and inputs digest ``name`` was recorded with."""
        row = self.conn.execute("SELECT size, mtime_ns, inputs FROM files WHERE name = ?", [name]).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def files_under(self, folder: str) -> dict[str, tuple[int, int, str]]:
        """Every recorded file whose name starts with ``folder + '/'``: one collection's pages."""
        low, high = f"{folder}/", f"{folder}0"  # "0" follows "/" in code point order
        rows = self.conn.execute("SELECT name, size, mtime_ns, inputs FROM files WHERE name >= ? AND name < ?", [low, high])
        return {name: (size, mtime, inputs) for name, size, mtime, inputs in rows}

    def record(self, name: str, size: int, mtime_ns: int, inputs: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO files (name, size, mtime_ns, inputs) VALUES (?, ?, ?, ?)", [name, size, mtime_ns, inputs]
        )

    def names(self) -> Iterator[str]:
        for (name,) in self.conn.execute("SELECT name FROM files ORDER BY name").fetchall():
            yield name

    def forget(self, name: str) -> None:
        self.conn.execute("DELETE FROM files WHERE name = ?", [name])

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    def close(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self.conn.close()
