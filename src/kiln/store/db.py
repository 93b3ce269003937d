"""Opening the store and the typed reads and writes the runner needs.

One :class:`Store` wraps one SQLite connection. Write transactions open with
``BEGIN IMMEDIATE`` so a second writer (another ``kiln run``, the stage thread) waits on the
busy timeout instead of failing to upgrade a read lock.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from kiln import __version__
from kiln.store.leases import lapsed, process_alive
from kiln.store.schema import migrations

BUSY_TIMEOUT_S = 30.0


def stamp(moment: datetime) -> str:
    """A moment as the store writes it: ISO 8601, UTC, milliseconds."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    """The current time as the store writes it."""
    return stamp(datetime.now(UTC))


def chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Store:
    def __init__(self, path: Path):
        self.path = path
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        self.db = Database(conn)
        self.conn = conn
        # One connection serves the runner's threads; the lock keeps their transactions apart.
        self.lock = threading.RLock()
        # In WAL mode NORMAL never corrupts the file and survives a crash of kiln; only a power
        # cut can lose the last commits, which a rerun redoes. It saves an fsync per commit.
        conn.execute("PRAGMA synchronous = NORMAL")

    def close(self) -> None:
        self.conn.close()

    def migrate(self) -> None:
        self._enable_wal()
        if not migrations.pending(self.db):
            return  # nothing to write: opening a store for reading leaves it untouched
        # Under the write lock, so two processes opening a new store never both apply a migration.
        with self.transaction():
            migrations.apply(self.db)

    def _enable_wal(self) -> None:
        """Switch a new store to WAL, waiting out another process doing the same.

        Changing the journal mode needs the database to itself, and SQLite answers "database is
        locked" at once instead of calling the busy handler, so two runs opening a new store
        together would see one of them fail. The mode is kept in the file: once either has set
        it, the other finds it set.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                if self.db.journal_mode != "wal":
                    self.db.enable_wal()
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction that takes the write lock up front."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk, an I/O error);
                # a second ROLLBACK would fail and hide the error that matters.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.db.query(sql, params))

    # recipes and their jobs -------------------------------------------------------------

    def save_recipe(
        self,
        *,
        name: str,
        path: str,
        title: str,
        description: str,
        source_sha256: str,
        gallery: dict[str, Any],
        jobs: Sequence[tuple[str, dict[str, Any], dict[str, Any]]],
    ) -> None:
        """Record a recipe and the jobs it expands to, as ``(key, spec, axes)`` in order.

        Jobs already known keep their state; the recipe's membership is replaced, so a
        gallery shows what the recipe describes now.
        """
        stamp = now()
        with self.transaction() as db:
            db["recipes"].upsert(
                {
                    "name": name,
                    "path": path,
                    "title": title,
                    "description": description,
                    "source_sha256": source_sha256,
                    "job_count": len(jobs),
                    "gallery": json.dumps(gallery, sort_keys=True),
                    "updated_at": stamp,
                },
                pk="name",
            )
            self.conn.execute("DELETE FROM recipe_jobs WHERE recipe = ?", [name])
            self._insert_jobs(name, jobs, 0, stamp)

    def add_jobs(self, recipe: str, jobs: Sequence[tuple[str, dict[str, Any], dict[str, Any]]], position: int) -> None:
        """Append jobs to a recipe from ``position`` on (target mode's replacements)."""
        with self.transaction():
            self._insert_jobs(recipe, jobs, position, now())

    def _insert_jobs(
        self, recipe: str, jobs: Sequence[tuple[str, dict[str, Any], dict[str, Any]]], position: int, stamp: str
    ) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO jobs (key, spec, recipe, engine, model, status, queued_at)"
            " VALUES (?, ?, ?, ?, ?, 'queued', ?)",
            [(key, json.dumps(spec, sort_keys=True), recipe, spec["engine"], spec["model"], stamp) for key, spec, _ in jobs],
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO recipe_jobs (recipe, job_key, position, axes) VALUES (?, ?, ?, ?)",
            [(recipe, key, position + i, json.dumps(axes, sort_keys=True)) for i, (key, _, axes) in enumerate(jobs)],
        )

    def done_keys(self, keys: Sequence[str]) -> set[str]:
        """The subset of ``keys`` that already have an image."""
        done: set[str] = set()
        with self.lock:
            for chunk in chunks(keys):
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    f"SELECT key FROM jobs WHERE key IN ({marks}) AND status = 'succeeded'", list(chunk)
                )
                done.update(row[0] for row in rows)
        return done

    def job_states(self, keys: Sequence[str]) -> dict[str, str]:
        """The status of each of ``keys`` a plan does not run: ``succeeded`` (it has an image)
        or ``deleted`` (its image was deleted on purpose, so it is not made again unasked)."""
        states: dict[str, str] = {}
        with self.lock:
            for chunk in chunks(keys):
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    f"SELECT key, status FROM jobs WHERE key IN ({marks}) AND status IN ('succeeded', 'deleted')",
                    list(chunk),
                )
                states.update((key, status) for key, status in rows)
        return states

    # runs -------------------------------------------------------------------------------

    def start_run(self, recipes: Iterable[str]) -> int:
        with self.transaction() as db:
            table = db["runs"]
            table.insert(
                {
                    "started_at": now(),
                    "status": "running",
                    "recipes": json.dumps(list(recipes)),
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "kiln_version": __version__,
                    "heartbeat_at": now(),
                }
            )
            return int(table.last_pk)

    def finish_run(self, run_id: int, status: str, counts: dict[str, int], stop_reason: str | None = None) -> None:
        with self.transaction() as db:
            db["runs"].update(run_id, {"finished_at": now(), "status": status, "stop_reason": stop_reason, **counts})

    def live_run_started_ns(self) -> int | None:
        """When the earliest run still going in another process on this host started (ns since
        the epoch), or None: files it writes are newer than this."""
        host = socket.gethostname()
        rows = self.query(
            "SELECT pid, started_at FROM runs WHERE status = 'running' AND host = ? ORDER BY started_at", [host]
        )
        for row in rows:
            if row["pid"] is not None and row["pid"] != os.getpid() and process_alive(row["pid"]):
                started = datetime.fromisoformat(row["started_at"].replace("Z", "+00:00"))
                return int(started.timestamp() * 1_000_000_000)
        return None

    # claims -----------------------------------------------------------------------------

    def running_claims(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """Each job marked ``running``: its key, its recipe, and the ``runs`` row of the run that
        claimed it (None if there is none)."""
        rows = self.query(
            "SELECT jobs.key, jobs.recipe, runs.id, runs.status, runs.pid, runs.host, runs.started_at,"
            " runs.heartbeat_at FROM jobs LEFT JOIN runs ON runs.id = jobs.run_id WHERE jobs.status = 'running'"
            " ORDER BY jobs.key"
        )
        return [(row.pop("key"), row.pop("recipe"), row if row["id"] is not None else None) for row in rows]

    def release_stale_claims(self) -> int:
        """Return to the queue every job whose claim has lapsed (:func:`kiln.store.leases.lapsed`):
        its run's lease ran out, or its process on this host is gone; mark such runs interrupted."""
        with self.transaction():
            stale = [(key, run) for key, _, run in self.running_claims() if lapsed(run) is not None]
            self.conn.executemany(
                "UPDATE jobs SET status = 'queued', claimed_by = NULL WHERE key = ? AND status = 'running'",
                [(key,) for key, _ in stale],
            )
            # Runs killed between jobs hold no claim, but are over all the same.
            runs = self.query(
                "SELECT id, status, pid, host, started_at, heartbeat_at FROM runs WHERE status = 'running'"
            )
            self.conn.executemany(
                "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ?",
                [(now(), run["id"]) for run in runs if lapsed(run) is not None],
            )
        return len(stale)

    def release_run(self, run_id: int) -> None:
        """Put back in the queue every job run ``run_id`` still holds (it is ending early)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE jobs SET status = 'queued', claimed_by = NULL WHERE run_id = ? AND status = 'running'", [run_id]
            )

    def claim(self, key: str, run_id: int) -> bool:
        """Mark ``key`` running for this run, unless another process got there first."""
        with self.transaction():
            cursor = self.conn.execute(
                "UPDATE jobs SET status = 'running', run_id = ?, claimed_by = ?, started_at = ?"
                " WHERE key = ? AND status IN ('queued', 'failed')",
                [run_id, f"{socket.gethostname()}:{os.getpid()}", now(), key],
            )
            return cursor.rowcount == 1

    def release(self, keys: Iterable[str]) -> None:
        """Put claimed jobs that never ran back in the queue (an interrupted run)."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE jobs SET status = 'queued', claimed_by = NULL WHERE key = ? AND status = 'running'",
                [(k,) for k in keys],
            )

    def record_attempt(
        self,
        key: str,
        run_id: int,
        engine: str,
        attempt: int,
        started_at: str,
        duration_ms: float,
        outcome: str,
        error_code: str | None,
        error: str | None,
        response_id: str | None = None,
    ) -> None:
        """Record one engine call for a job; ``outcome`` is succeeded, failed or retried."""
        with self.transaction() as db:
            db["attempts"].insert(
                {
                    "job_key": key, "run_id": run_id, "engine": engine, "attempt": attempt,
                    "started_at": started_at, "duration_ms": round(duration_ms, 1), "outcome": outcome,
                    "error_code": error_code, "error": error, "response_id": response_id,
                }
            )
            self.conn.execute("UPDATE jobs SET attempts = attempts + 1 WHERE key = ?", [key])

    def fail(self, key: str, code: str, message: str, duration_ms: float) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET failed = failed + 1 WHERE id = (SELECT run_id FROM jobs WHERE key = ?)", [key]
            )
            self.conn.execute(
                "UPDATE jobs SET status = 'failed', error_code = ?, error = ?, finished_at = ?,"
                " duration_ms = ?, claimed_by = NULL WHERE key = ?",
                [code, message, now(), duration_ms, key],
            )

    def record_image(
        self,
        key: str,
        image: dict[str, Any],
        derivatives: list[dict[str, Any]],
        duration_ms: float | None,
        references: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> Replaced | None:
        """Record a finished job: its image, derivatives, references and success, in one transaction.

        Called only after every file is in place, so a row always points at a file. A job that
        ``kiln doctor --fix`` queued to remake a lost original should give the same image id;
        if it gives another, the old image's curation moves to the new one, the old rows go,
        and the old image and the paths of its derivatives are returned.
        """
        with self.transaction() as db:
            expected = self.conn.execute("SELECT expected_image_id FROM jobs WHERE key = ?", [key]).fetchone()
            replaced = None
            if expected and expected[0] and expected[0] != image["id"]:
                replaced, image = self._replace_image(expected[0], image)
            if db["images"].count_where("id = ?", [image["id"]]) == 0:
                db["images"].insert(image)
            db["derivatives"].upsert_all(derivatives, pk=("image_id", "stage"))
            if references:
                db["image_references"].upsert_all(references, pk=("image_id", "position"))
            # Counted with the commit, so a run killed before it finishes still says what it made.
            self.conn.execute(
                "UPDATE runs SET generated = generated + 1 WHERE id = (SELECT run_id FROM jobs WHERE key = ?)", [key]
            )
            self.conn.execute(
                "UPDATE jobs SET status = 'succeeded', image_id = ?, error = NULL, error_code = NULL,"
                " finished_at = ?, duration_ms = ?, claimed_by = NULL, expected_image_id = NULL WHERE key = ?",
                [image["id"], now(), duration_ms, key],
            )
        return replaced

    def _replace_image(self, old_id: str, image: dict[str, Any]) -> tuple[Replaced | None, dict[str, Any]]:
        """Move ``old_id``'s curation onto the new ``image`` row and delete the old rows."""
        curation = self.conn.execute("SELECT rating, status, tags, notes FROM images WHERE id = ?", [old_id]).fetchone()
        if curation is None:
            return None, image
        paths = [row[0] for row in self.conn.execute("SELECT path FROM derivatives WHERE image_id = ?", [old_id])]
        for table in ("derivatives", "image_references"):
            self.conn.execute(f"DELETE FROM {table} WHERE image_id = ?", [old_id])
        self.conn.execute("DELETE FROM images WHERE id = ?", [old_id])
        self.conn.execute("UPDATE history SET image_id = ? WHERE image_id = ?", [image["id"], old_id])
        moved = dict(zip(("rating", "status", "tags", "notes"), curation, strict=True))
        return Replaced(old_id, paths), {**image, **moved}

    def image_paths(self, keys: Sequence[str]) -> dict[str, str]:
        """The original's path (relative to ``art/``) of each of ``keys`` that has an image."""
        paths: dict[str, str] = {}
        with self.lock:
            for chunk in chunks(keys):
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    f"SELECT jobs.key, images.path FROM jobs JOIN images ON images.id = jobs.image_id"
                    f" WHERE jobs.key IN ({marks})",
                    list(chunk),
                )
                paths.update(rows)
        return paths


@dataclass(frozen=True)
class Replaced:
    """An image that a rerun of its job replaced with different bytes."""

    image_id: str
    paths: list[str]  # its derivatives' files, relative to art/, for the caller to remove


# SQLite's words for a store it cannot write, with what they mean for the user.
_SQLITE_WRITE_FAILURES = {
    "readonly database": "is read-only",
    "database or disk is full": "has no space left (database or disk is full)",
    "disk i/o error": "cannot be written (disk I/O error)",
    "unable to open database file": "cannot be opened for writing",
}
_OS_WRITE_FAILURES = {
    errno.ENOSPC: "has no space left (no space left on device)",
    errno.EDQUOT: "is over its disk quota",
    errno.EROFS: "is on a read-only file system",
    errno.EACCES: "is read-only (permission denied)",
    errno.EPERM: "is read-only (operation not permitted)",
}


def write_failure(error: BaseException) -> str | None:
    """What ``error`` says about the place kiln writes (read-only, full), or None if it is not
    about that: the end of a sentence whose subject is the store or the file."""
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return next((meaning for words, meaning in _SQLITE_WRITE_FAILURES.items() if words in text), None)
    if isinstance(error, OSError):
        return _OS_WRITE_FAILURES.get(error.errno or 0)
    return None


def open_store(path: Path) -> Store:
    """Open (creating and migrating as needed) the store at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(path)
    store.migrate()
    return store


def open_store_to_read(path: Path) -> Store:
    """The store at ``path``, or an empty one in memory if there is none yet, so that looking
    at a plan never creates ``art/``."""
    if path.exists():
        return open_store(path)
    store = Store(Path(":memory:"))
    store.migrate()
    return store
