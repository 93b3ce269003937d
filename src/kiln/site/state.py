"""What the last build left in build/: a small SQLite file beside the pages.

For every file kiln wrote there: its size and modification time when written (so a file
changed or removed by hand is noticed), and the digest of the inputs it was made from (so a
build renders only what has new inputs). Besides, a few values the next build compares with
(the store's change sequence, the digest of everything outside the store).

Only names recorded here are ever removed by a build: files a user put in build/ are left
alone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

STATE = ".kiln-build.db"
# Bumped when what the state records, or how pages are laid out, changes: an older state is
# then dropped and the next build is a full one (it still writes only changed bytes).
FORMAT = "3"


class BuildState:
    """The build folder's record of its files and of the inputs of the last build."""

    def __init__(self, build_dir: Path):
        self.path = build_dir / STATE
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._prepare()
        except sqlite3.DatabaseError:  # not a database (a damaged file): start over
            self._start_over()
        self.conn.execute("BEGIN")

    def _start_over(self) -> None:
        """An empty state in place of a damaged one: the next build is a full one."""
        self.conn.close()
        self.path.unlink()
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self._prepare()

    def _prepare(self) -> None:
        self.conn.execute("PRAGMA synchronous = OFF")  # a torn state only costs a full build
        # No journal file beside it: creating and deleting one would move build/'s mtime, which
        # tells the next build whether anyone else changed the folder.
        self.conn.execute("PRAGMA journal_mode = MEMORY")
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        if self.get("format") != FORMAT:
            self.conn.execute("DROP TABLE IF EXISTS seen")  # its columns were others
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, owner TEXT NOT NULL, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, inputs TEXT NOT NULL) WITHOUT ROWID"
        )
        self.conn.execute("CREATE INDEX IF NOT EXISTS files_owner ON files(owner)")
        # The folders kiln writes into, with their modification time after the last build: a
        # file deleted or added there by anyone else moves it.
        self.conn.execute("CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL)")
        # The revision of each image whose files were last published, and which were missing.
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, missing TEXT NOT NULL)"
            " WITHOUT ROWID"
        )
        # The images the last build showed (id, revision, the folder of its own page), with what
        # chose their place in the virtual collections (an image curated since is taken out of
        # the collections it was in by these), and what its recipe's header counts (``shape``:
        # width, height and seed, which curation never changes).
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, home TEXT NOT NULL,"
            " created_at, rating, status, tags, shape) WITHOUT ROWID"
        )
        if self.get("format") != FORMAT:
            self.conn.execute("DELETE FROM meta")
            self.conn.execute("DELETE FROM files")
            self.conn.execute("DELETE FROM images")
            self.conn.execute("DELETE FROM dirs")
            self.conn.execute("DELETE FROM seen")
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

    def files_of(self, owner: str) -> dict[str, tuple[int, int, str]]:
        """Every file recorded for ``owner`` (a collection, an image, a producer): size,
        modification time and inputs digest by name."""
        rows = self.conn.execute("SELECT name, size, mtime_ns, inputs FROM files WHERE owner = ?", [owner])
        return {name: (size, mtime, inputs) for name, size, mtime, inputs in rows}

    def owned(self, owner: str) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT name FROM files WHERE owner = ? ORDER BY name", [owner])]

    def owners(self) -> list[str]:
        """Every owner of files but images (whose files go with the image): one step along the
        owners' index per owner, the images' range stepped over, not every file read."""
        found: list[str] = []
        step = "SELECT owner FROM files WHERE owner > ? ORDER BY owner LIMIT 1"
        row = self.conn.execute(step, [""]).fetchone()
        while row is not None:
            if row[0].startswith("image:"):  # ';' follows ':': past every image's owner
                row = self.conn.execute(step.replace(">", ">="), ["image;"]).fetchone()
                continue
            found.append(row[0])
            row = self.conn.execute(step, [row[0]]).fetchone()
        return found

    def record(self, name: str, owner: str, size: int, mtime_ns: int, inputs: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO files (name, owner, size, mtime_ns, inputs) VALUES (?, ?, ?, ?, ?)",
            [name, owner, size, mtime_ns, inputs],
        )

    def record_all(self, rows: list[tuple[str, str, int, int, str]]) -> None:
        """``record`` for each of ``rows`` (name, owner, size, mtime, inputs) in one statement."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO files (name, owner, size, mtime_ns, inputs) VALUES (?, ?, ?, ?, ?)", rows
        )

    def owned_by(self, owners: list[str]) -> dict[str, list[str]]:
        """``owned`` for each of ``owners`` (a few hundred at most) in one query."""
        found: dict[str, list[str]] = {}
        marks = ",".join("?" * len(owners))
        sql = f"SELECT owner, name FROM files WHERE owner IN ({marks}) ORDER BY owner, name"
        for owner, name in self.conn.execute(sql, owners):
            found.setdefault(owner, []).append(name)
        return found

    def forget(self, name: str) -> None:
        self.conn.execute("DELETE FROM files WHERE name = ?", [name])

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM files").fetchone()[0]

    def stamps(self) -> list[tuple[str, int, int]]:
        """Every file's name, size and modification time, for checking them all."""
        return self.conn.execute("SELECT name, size, mtime_ns FROM files ORDER BY name").fetchall()

    def dirs(self) -> list[tuple[str, int]]:
        return self.conn.execute("SELECT path, mtime_ns FROM dirs ORDER BY path").fetchall()

    def record_dirs(self, stamps: dict[str, int]) -> None:
        self.conn.execute("DELETE FROM dirs")
        self.conn.executemany("INSERT INTO dirs (path, mtime_ns) VALUES (?, ?)", sorted(stamps.items()))

    def stamps_in(self, folder: str) -> list[tuple[str, int, int]]:
        """The files recorded directly in ``folder`` ("" for the build folder itself)."""
        if not folder:
            rows = self.conn.execute("SELECT name, size, mtime_ns FROM files WHERE instr(name, '/') = 0")
            return rows.fetchall()
        low, high = f"{folder}/", f"{folder}0"  # "0" follows "/"
        rows = self.conn.execute("SELECT name, size, mtime_ns FROM files WHERE name >= ? AND name < ?", [low, high])
        return [row for row in rows if "/" not in row[0][len(low):]]

    def start_seen(self, keep: bool) -> None:
        """The list of the images this build shows, with their revisions and homes: empty, or
        (``keep``) as the last build left it."""
        if not keep:
            self.conn.execute("DELETE FROM seen")

    def see(self, rows: list[tuple[str, int, str, Any, Any, Any, Any, str]]) -> None:
        """Each of ``rows`` (id, revision, home, created_at, rating, status, tags, shape) shown."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO seen (id, revision, home, created_at, rating, status, tags, shape)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def seen_as(self, ids: list[str]) -> dict[str, Seen]:
        """How the last build showed each of ``ids`` it showed (those it did not are left out)."""
        sql = (
            "SELECT id, revision, home, created_at, rating, status, tags, shape FROM seen"
            " WHERE id IN (SELECT value FROM json_each(?))"
        )
        return {row[0]: Seen(*row) for row in self.conn.execute(sql, [json.dumps(ids)])}

    def homes(self, added: dict[str, str]) -> Homes:
        """The folder of each shown image's own page: ``added`` first, else as listed."""
        return Homes(self.conn, added)

    def seen_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM seen").fetchone()[0]

    def begin(self) -> bool:
        """Mark a build as started; whether the one before it was left unfinished (killed)."""
        unfinished = self.get("running") == "1"
        if unfinished and not self._sound():
            # Killed in the middle of a write: without a journal on disk (see _prepare) its
            # pages may be half old, half new.
            self.conn.execute("ROLLBACK")
            self._start_over()
            self.conn.execute("BEGIN")
        self.set("running", "1")
        self.commit()
        return unfinished

    def _sound(self) -> bool:
        try:
            return self.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except sqlite3.DatabaseError:
            return False

    def end(self) -> None:
        self.set("running", "0")
        self.commit()

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    def close(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self.conn.close()


class WrittenNames:
    """The names of the files a build wrote, in the order written, kept in a temporary table of
    the build state's connection (spilled to disk past SQLite's cache, never into build/)
    rather than in a list: a full build writes a file per page and per file of each image, half
    a million names at 100,000 images, which would wait in memory while the finder works.
    ``folders`` holds the folders written into ("" for the build folder itself)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.folders: set[str] = set()
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS written (name TEXT NOT NULL)")
        conn.execute("DELETE FROM temp.written")

    def append(self, name: str) -> None:
        self.extend([name])

    def extend(self, names: list[str]) -> None:
        self.conn.executemany("INSERT INTO temp.written (name) VALUES (?)", [(name,) for name in names])
        self.folders.update(name.rpartition("/")[0] for name in names)

    def __len__(self) -> int:
        return self.conn.execute("SELECT count(*) FROM temp.written").fetchone()[0]

    def names(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT name FROM temp.written ORDER BY rowid")]

    def distinct(self) -> int:
        """How many files were written (a file written twice counts once)."""
        return self.conn.execute("SELECT count(DISTINCT name) FROM temp.written").fetchone()[0]


class Seen(NamedTuple):
    """One image as the last build showed it."""

    id: str
    revision: int
    home: str
    created_at: Any
    rating: Any
    status: Any
    tags: Any
    shape: str


class Homes(Mapping[str, str]):
    """Each shown image's home, read from the list one image at a time (a build that kept the
    list reads few: the newest members of the collections that changed)."""

    def __init__(self, conn: sqlite3.Connection, added: dict[str, str]):
        self.conn = conn
        self.added = added

    def __getitem__(self, image_id: str) -> str:
        if image_id in self.added:
            return self.added[image_id]
        row = self.conn.execute("SELECT home FROM seen WHERE id = ?", [image_id]).fetchone()
        if row is None:
            raise KeyError(image_id)
        return row[0]

    def __iter__(self) -> Iterator[str]:
        for (image_id,) in self.conn.execute("SELECT id FROM seen ORDER BY id").fetchall():
            yield image_id

    def __len__(self) -> int:
        return self.conn.execute("SELECT count(*) FROM seen").fetchone()[0]
