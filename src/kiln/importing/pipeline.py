"""``kiln import``: files in, rows out, on every core.

The files are listed first (so the progress bar knows its total), and those already imported
and unchanged since (same path, size and mtime) are passed over without being read. The rest
go to worker processes (:mod:`kiln.importing.intake`), a bounded window of them at a time so
memory stays flat; their results come back in the order of the listing and are committed in
batches, each in one transaction, after their files are in place. A killed import therefore
leaves files with no row at worst, which the next import of the same paths finds and records.

Workers do not flush each file to disk: a killed process loses nothing it wrote (the page cache
is the kernel's), so only a power cut needs the flush, and one for the whole batch, just before
its commit, keeps the rule (no row without its file) for a fraction of the cost.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kiln.art import make_durable, sweep_temporaries
from kiln.errors import KilnError
from kiln.heap import keep_freed_memory
from kiln.importing.intake import Outcome, Task, take_in_all
from kiln.importing.records import Imported, check_collections, next_positions, record
from kiln.importing.sources import Folders, Source, scan
from kiln.lifeline import watch_parent
from kiln.project import Project
from kiln.store import Store
from kiln.store.db import chunks
from kiln.wording import plural

SHOWN = 20  # duplicates and skipped files listed by name (failures: every one)
BATCH = 200  # rows per commit
BATCH_S = 1.0  # or this long since the last commit, whichever comes first
# Chunks of files handed to each worker before the first comes back: enough work (about half
# a second at 512 px) that the workers go on while a batch is flushed to disk and committed.
AHEAD = 4
CHUNK = 8  # files per chunk: fewer round trips between processes, results still soon back


class Observer(Protocol):
    def started(self, total: int) -> None: ...
    def advanced(self, kind: str) -> None: ...


@dataclass(frozen=True)
class ImportOptions:
    collection: str | None = None
    mode: str = "copy"  # copy, link or move
    glob: str | None = None
    folders: Folders = field(default_factory=Folders)
    workers: int | None = None  # default: one per core


@dataclass
class ImportReport:
    imported: int = 0
    picked: int = 0
    rejected: int = 0
    collections: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0  # imported before and unchanged since: not read again
    marked: int = 0  # files of a picked or rejected folder that gave their status to another
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the image it repeats)
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (file, the deleted image it is)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    notes: list[tuple[str, str]] = field(default_factory=list)
    moved: int = 0
    restored: int = 0  # originals lost from art/ and put back from these files
    seconds: float = 0.0
    interrupted: bool = False

    def lines(self) -> list[str]:
        """What the import did, then every file it passed over, by name, with why."""
        if len(self.collections) == 1:
            into = next(iter(self.collections))
        else:
            into = ", ".join(f"{name} ({count:,})" for name, count in self.collections.items())
        head = f"Imported {plural(self.imported, 'image')}" + (f" into {into}" if into else "")
        head += f" in {self.seconds:.1f} s."
        lines = [head]
        given = [f"{self.picked:,} picked" if self.picked else "", f"{self.rejected:,} rejected" if self.rejected else ""]
        if any(given):
            lines.append("Status from folders: " + ", ".join(part for part in given if part) + ".")
        if self.unchanged:
            lines.append(f"{plural(self.unchanged, 'file')} imported before and unchanged since: not read again.")
        if self.restored:
            lines.append(f"{plural(self.restored, 'lost original')} put back into art/.")
        if self.moved:
            lines.append(f"{plural(self.moved, 'source file')} removed (--move).")
        sections = (
            (self.duplicates, "duplicate", "skipped", "same as image {}"),
            (self.deleted, "file", "deleted from the store on purpose; not imported again", "was image {}"),
            (self.skipped, "file", "skipped", "{}"),
            (self.failed, "file", "failed", "{}"),
        )
        for entries, noun, what, detail in sections:
            if entries:
                lines.append(f"{plural(len(entries), noun)} {what}:")
                shown = entries if entries is self.failed else entries[:SHOWN]
                lines += [f"  {name}: {detail.format(value)}" for name, value in shown]
                if len(entries) > len(shown):
                    lines.append(f"  … and {len(entries) - len(shown):,} more")
        lines += [f"note: {name}: {note}" for name, note in self.notes]
        return lines


def _start_worker(parent: int) -> None:
    # Ctrl-C reaches the whole process group; the import decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent)
    keep_freed_memory()


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: forking a process with threads (the store's, rich's) is unsafe.
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),))


class _InProcess(Executor):
    """A few files are not worth starting processes for."""

    def submit(self, fn: Callable[..., Outcome], /, *args: object, **kwargs: object) -> Future[Outcome]:  # type: ignore[override]
        future: Future[Outcome] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _unchanged(store: Store, sources: list[Source], art_dir: Path) -> dict[Path, str | None]:
    """The sources imported before and unchanged since (same size and mtime), with the SHA-256
    of the image each gave (None if that image is gone, deleted on purpose)."""
    known: dict[Path, str | None] = {}
    by_path = {str(source.path): source for source in sources}
    for chunk in chunks(list(by_path)):
        marks = ",".join("?" * len(chunk))
        rows = store.query(
            "SELECT s.path, s.bytes, s.mtime_ns, i.sha256, i.path AS original FROM import_sources s"
            f" LEFT JOIN images i ON i.id = s.image_id WHERE s.path IN ({marks})",
            chunk,
        )
        for row in rows:
            try:
                stat = os.stat(row["path"])
            except OSError:
                continue
            # An image whose original was lost since is read again, to put it back.
            lost = row["original"] is not None and not (art_dir / row["original"]).exists()
            if stat.st_size == row["bytes"] and stat.st_mtime_ns == row["mtime_ns"] and not lost:
                known[Path(row["path"])] = row["sha256"]
    return known


def _names(store: Store, collections: Sequence[str]) -> dict[tuple[str, str], list[str]]:
    """Each file name the collections' images were imported from, with those images."""
    names: dict[tuple[str, str], list[str]] = {}
    for name in collections:
        rows = store.query(
            "SELECT s.path, s.image_id FROM import_sources s JOIN images i ON i.id = s.image_id"
            " WHERE s.collection = ? ORDER BY s.path",
            [name],
        )
        for row in rows:
            names.setdefault((name, Path(row["path"]).name), []).append(row["image_id"])
    return names


def import_paths(
    project: Project, store: Store, paths: Sequence[Path], options: ImportOptions, observer: Observer
) -> ImportReport:
    """Import the images under ``paths`` into ``project``'s store and ``art/``."""
    started = time.perf_counter()
    found = scan(paths, options.folders, options.collection, options.glob)
    check_collections(store, found.titles)
    report = ImportReport()
    observer.started(len(found.sources))
    sweep_temporaries(project.art_dir)
    project.art_dir.mkdir(parents=True, exist_ok=True)
    done_before = _unchanged(store, found.sources, project.art_dir)
    names = _names(store, list(found.titles))
    # A file of a picked or rejected folder named like an image found elsewhere only marks it.
    plain = {(source.collection, source.path.name) for source in found.sources if source.role is None}
    todo: list[Source] = []
    for source in found.sources:
        if source.path in done_before:
            report.unchanged += 1
            observer.advanced("unchanged")
            if options.mode == "move" and _same_content(source.path, done_before[source.path]):
                _remove_moved(source.path, report)
        else:
            todo.append(source)
    collections = {name: (title, found.roots[name]) for name, title in found.titles.items()}
    committer = _Committer(store, project.art_dir, collections, next_positions(store, list(found.titles)), names,
                           report, options.mode)
    workers = options.workers or os.cpu_count() or 1
    executor: Executor = _pool(min(workers, len(todo))) if len(todo) > 2 and workers > 1 else _InProcess()
    try:
        for source, outcome in _outcomes(executor, todo, project, options, plain, found.thumbs, workers):
            committer.take(source, outcome)
            observer.advanced(outcome.kind if outcome else "marked")
        committer.flush()
    except KeyboardInterrupt:
        # What is finished is kept: its files are in place, so its rows go in.
        committer.flush()
        report.interrupted = True
    except BrokenProcessPool:
        # A worker killed from outside (out of memory, a crashing decoder): keep what is done.
        committer.flush()
        raise KilnError(
            f"a worker process died while importing (out of memory?); {plural(report.imported, 'image')}"
            " imported so far are kept: run the same import again to go on"
        ) from None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    report.seconds = time.perf_counter() - started
    return report


def _outcomes(
    executor: Executor,
    todo: list[Source],
    project: Project,
    options: ImportOptions,
    plain: set[tuple[str, str]],
    thumbs: dict[tuple[str, str], list[Path]],
    workers: int,
) -> Iterator[tuple[Source, Outcome | None]]:
    """Each source with what became of it (None: a marker, left to the committer), in order,
    with at most ``AHEAD`` chunks per worker in flight."""
    window: deque[tuple[list[Source], Future[list[Outcome]] | None]] = deque()
    pending = iter(todo)
    limit = max(1, workers) * AHEAD
    # A small import is spread over every worker all the same.
    size = max(1, min(CHUNK, len(todo) // limit))
    chunk: list[Source] = []

    def send() -> None:
        tasks = []
        for source in chunk:
            adoptable = tuple(str(thumb) for thumb in thumbs.get((source.collection, source.path.stem), ()))
            tasks.append(Task(str(source.path), str(project.art_dir), str(project.db_path), options.mode, adoptable))
        window.append((chunk.copy(), executor.submit(take_in_all, tasks)))
        chunk.clear()

    while True:
        while len(window) < limit:
            source = next(pending, None)
            if source is None:
                if chunk:
                    send()
                break
            if source.role is not None and (source.collection, source.path.name) in plain:
                if chunk:
                    send()
                window.append(([source], None))
                continue
            chunk.append(source)
            if len(chunk) == size:
                send()
        if not window:
            return
        sources, future = window.popleft()
        if future is None:
            yield sources[0], None
        else:
            yield from zip(sources, future.result(), strict=True)


def _same_content(path: Path, sha256: str | None) -> bool:
    """Whether ``path`` holds the image of that SHA-256: a source that only gave its status to
    another image (a file of yes/ named like it) is not that image, and is never removed."""
    if sha256 is None:
        return False
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
    except OSError:
        return False


def _remove_moved(path: Path, report: ImportReport) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    report.moved += 1


class _Committer:
    """Gathers outcomes into batches and commits them."""

    def __init__(
        self,
        store: Store,
        art_dir: Path,
        collections: dict[str, tuple[str, str]],
        positions: dict[str, int],
        names: dict[tuple[str, str], list[str]],
        report: ImportReport,
        mode: str,
    ):
        self.store = store
        self.art_dir = art_dir
        self.collections = collections
        self.positions = positions
        self.names = names
        self.report = report
        self.mode = mode
        self.taken: dict[str, str] = {}  # image id -> the file it came from, this import
        self.items: list[Imported] = []
        self.sources: list[tuple[Source, Outcome, str]] = []
        self.statuses: dict[str, str] = {}
        self.moving: list[Path] = []
        self.written: list[Path] = []
        self.last = time.monotonic()

    def take(self, source: Source, outcome: Outcome | None) -> None:
        report = self.report
        if outcome is not None:
            self.written += [self.art_dir / name for name in outcome.written]
        if outcome is None:
            self._mark(source)
        elif outcome.kind == "imported" and outcome.image_id not in self.taken:
            assert outcome.image_id is not None
            self.taken[outcome.image_id] = source.shown
            self.items.append(Imported(source, outcome, self.positions[source.collection]))
            self.positions[source.collection] += 1
            self.sources.append((source, outcome, outcome.image_id))
            self.names.setdefault((source.collection, source.path.name), []).append(outcome.image_id)
            report.imported += 1
            report.collections[source.collection] = report.collections.get(source.collection, 0) + 1
            report.picked += source.role == "selected"
            report.rejected += source.role == "rejected"
            report.notes += [(source.shown, note) for note in outcome.notes]
            if self.mode == "move":
                self.moving.append(source.path)
        elif outcome.kind in ("imported", "duplicate"):
            assert outcome.image_id is not None
            report.duplicates.append((source.shown, outcome.image_id))
            self.sources.append((source, outcome, outcome.image_id))
            if source.role is not None:
                self.statuses[outcome.image_id] = source.role
            if self.mode == "move":
                self.moving.append(source.path)
        elif outcome.kind == "restored":
            report.restored += 1
            self.sources.append((source, outcome, outcome.image_id or ""))
        elif outcome.kind == "deleted":
            assert outcome.image_id is not None
            report.deleted.append((source.shown, outcome.image_id))
            self.sources.append((source, outcome, outcome.image_id))
        elif outcome.kind == "skipped":
            report.skipped.append((source.shown, outcome.reason))
        else:
            report.failed.append((source.shown, outcome.reason))
        if len(self.items) + len(self.sources) >= BATCH or time.monotonic() - self.last > BATCH_S:
            self.flush()

    def _mark(self, source: Source) -> None:
        """A file of a picked or rejected folder named like an image: that image takes its status
        (in the same transaction as the image's rows, if they still wait in this batch)."""
        assert source.role is not None
        ids = self.names.get((source.collection, source.path.name), [])
        if not ids:
            self.report.skipped.append((source.shown, "names no image that was imported"))
            return
        for image_id in ids:
            self.statuses[image_id] = source.role
        try:
            stat = source.path.stat()
        except OSError as error:
            self.report.failed.append((source.shown, f"cannot be read: {error.strerror}"))
            return
        self.sources.append((source, Outcome("marked", stat.st_size, stat.st_mtime_ns, ids[0]), ids[0]))
        self.report.marked += 1

    def flush(self) -> None:
        if self.written:
            make_durable(self.art_dir, self.written)
        if self.items or self.sources or self.statuses:
            record(self.store, self.items, self.sources, self.collections, self.statuses)
        self.report.picked += sum(1 for status in self.statuses.values() if status == "selected")
        self.report.rejected += sum(1 for status in self.statuses.values() if status == "rejected")
        # Sources go only once their content is committed.
        for path in self.moving:
            _remove_moved(path, self.report)
        self.items, self.sources, self.statuses, self.moving, self.written = [], [], {}, [], []
        self.last = time.monotonic()
