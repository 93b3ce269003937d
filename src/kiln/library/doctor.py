"""``kiln doctor``: compare the store with the files on disk and report every drift, by kind.

The store is the truth and files are content (docs/ARCHITECTURE.md), so drift is any of:
rows whose original is gone, originals whose bytes no longer hash to their id, derivatives
missing or not what their row says, stored files that can be written (kiln makes them
read-only: those of an older kiln), files in ``art/`` with no row, temporary files left by a
process that died mid-write (in ``art/`` and ``build/``), jobs left ``running`` by a process
that is gone, and a full-text index out of step with the images table.

What the default check costs, so that 10,000 images take seconds (docs/benchmarks.md):

* one listing per folder of ``art/`` (``os.scandir``) and one ``stat`` per listed file; rows
  are streamed from a cursor and matched against the listings, never a file opened per row;
* an original is hashed only when its size or modification time differs from the ones
  recorded when its bytes were last known to match its id (``images.file_mtime_ns``: set when
  ``kiln run`` writes it, refreshed by every check that hashes it and finds it sound). A file
  changed in place keeps neither its mtime nor, usually, its size; ``--deep`` hashes every
  original regardless. Hashing runs on a thread per core (hashlib releases the GIL);
* a derivative is checked for existence and byte count against its row;
* an original's or derivative's mode comes with the ``stat`` above. A writable file of an
  imported image that shares its inode with a file it was imported from (``kiln import
  --link``), or has more links than ``art/`` and ``build/media`` account for (the user's file,
  renamed since), is the user's, which kiln never changes: counted, not a problem. Only
  writable files with more than one link are looked at so: a ``stat`` of each source of their
  image and of their copy in ``build/media``.

``--deep`` also decodes every original and derivative with Pillow and compares each
derivative's pixel size with its row.

Files another process may own are never counted: temporary files and files with no row that
were modified in the last :data:`RECENT_S` seconds, or after the start of a ``kiln run`` still
going on this host, are left alone (and said to be).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from kiln.art import TEMP_PREFIX, read_only, temporary_in_use
from kiln.project import Project
from kiln.site.layout import media_path
from kiln.site.lock import build_in_progress
from kiln.site.output import TEMP_SUFFIX
from kiln.stages import STAGES
from kiln.store import Store
from kiln.store.db import chunks
from kiln.store.leases import lapsed
from kiln.wording import plural

# A write in progress lasts well under a second; ten minutes leaves room for a stalled disk.
RECENT_S = 600
SHOWN = 5  # findings listed per kind; the rest are counted
THREADS = os.cpu_count() or 2
ORIGINALS = "original"
REFERENCE_THUMBS = "ref_thumb"

KINDS: dict[str, tuple[str, str]] = {
    "missing-original": ("image whose original is missing", "images whose original is missing"),
    "corrupt-original": (
        "original whose content does not match its id", "originals whose content does not match their id",
    ),
    "missing-derivative": ("derivative missing", "derivatives missing"),
    "bad-derivative": ("derivative unreadable or of the wrong size", "derivatives unreadable or of the wrong size"),
    "writable": ("stored file that can be changed in place", "stored files that can be changed in place"),
    "orphan": ("file in art/ with no row", "files in art/ with no row"),
    "temporary": ("leftover temporary file", "leftover temporary files"),
    "stuck-job": ("job stuck running with no live process", "jobs stuck running with no live process"),
    "fts": ("full-text index out of step with the images table", "full-text indexes out of step"),
}


@dataclass(frozen=True)
class Finding:
    """One drift: what it is about (``subject``, as shown) and why (``detail``)."""

    kind: str
    subject: str
    detail: str
    image_id: str | None = None
    job_key: str | None = None
    path: Path | None = None  # the file it is about, if any
    stage: str | None = None  # for derivatives


@dataclass
class Examination:
    images: int = 0
    files: int = 0
    deep: bool = False
    findings: list[Finding] = field(default_factory=list)
    waiting: int = 0  # lost originals whose job is already queued to make them again
    left_alone: int = 0  # recent temporary or unrecorded files another process may own
    users_files: int = 0  # writable files of art/ that are the user's own, linked in by an import
    # Writable stored files found while checking: (path, image id, device, inode, link count).
    writable: list[tuple[Path, str, int, int, int]] = field(default_factory=list, repr=False)

    def of(self, kind: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.kind == kind]

    def lines(self) -> list[str]:
        problems = len(self.findings)
        head = (
            f"kiln doctor: {plural(self.images, 'image')}, {plural(self.files, 'file')} checked"
            + (", decoded" if self.deep else "")
            + (f", {plural(problems, 'problem')}" if problems else ", no problems")
        )
        lines = [head]
        for kind, (one, many) in KINDS.items():
            found = self.of(kind)
            if not found:
                continue
            lines.append(f"  {len(found)} {one if len(found) == 1 else many}")
            lines.extend(f"    {finding.subject}: {finding.detail}" for finding in found[:SHOWN])
            if len(found) > SHOWN:
                lines.append(f"    … and {len(found) - SHOWN} more")
        if self.waiting:
            lines.append(
                "1 image waits for 'kiln run' to make its lost original again" if self.waiting == 1 else
                f"{self.waiting:,} images wait for 'kiln run' to make their lost originals again"
            )
        if self.users_files:
            is_, them = ("is", "it") if self.users_files == 1 else ("are", "them")
            lines.append(
                f"{plural(self.users_files, 'file')} in art/ {is_} your own, hard-linked by 'kiln import --link':"
                f" kiln leaves {them} writable, and 'kiln build' copies {them}"
            )
        if self.left_alone:
            lines.append(
                f"{plural(self.left_alone, 'recent temporary or unrecorded file')} left alone: another kiln"
                f" process may still be writing {'it' if self.left_alone == 1 else 'them'}"
            )
        return lines


def examine(project: Project, store: Store, *, deep: bool = False) -> Examination:
    """Compare ``store`` with ``art/`` and ``build/`` and return what differs."""
    report = Examination(deep=deep)
    listings = _Listings(project.art_dir, _busy_since(store))
    _check_originals(project, store, listings, report)
    _check_derivatives(project, store, listings, report)
    _check_writable(project, store, report)
    _check_orphans(project, store, listings, report)
    _check_temporaries(project, listings, report)
    _check_jobs(store, report)
    _check_fts(store, report)
    return report


# files on disk -------------------------------------------------------------------------------


class _Listings:
    """One ``os.scandir`` per folder of ``art/``, split into files and temporary files."""

    def __init__(self, art_dir: Path, busy_since_ns: int):
        self.art_dir = art_dir
        self.busy_since_ns = busy_since_ns
        self.files: dict[str, dict[str, os.DirEntry[str]]] = {}
        self.temporaries: list[os.DirEntry[str]] = []
        self.seen: dict[str, set[str]] = {}

    def folder(self, name: str) -> dict[str, os.DirEntry[str]]:
        if name not in self.files:
            entries: dict[str, os.DirEntry[str]] = {}
            try:
                with os.scandir(self.art_dir / name) as scan:
                    for entry in scan:
                        if entry.name.startswith(TEMP_PREFIX):
                            self.temporaries.append(entry)
                        elif entry.is_file(follow_symlinks=False):
                            entries[entry.name] = entry
            except (FileNotFoundError, NotADirectoryError):
                pass
            self.files[name] = entries
            self.seen[name] = set()
        return self.files[name]

    def find(self, relative: str) -> os.DirEntry[str] | None:
        """The listed file at ``relative`` (to ``art/``), marking it as having a row."""
        folder, _, name = relative.rpartition("/")
        entry = self.folder(folder).get(name)
        if entry is not None:
            self.seen[folder].add(name)
        return entry

    def unseen(self, folder: str) -> Iterator[os.DirEntry[str]]:
        files = self.folder(folder)
        for name in sorted(files.keys() - self.seen[folder]):
            yield files[name]

    def recent(self, entry: os.DirEntry[str]) -> bool:
        """Whether another kiln process may own this file (see the module's docstring)."""
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime_ns
        except FileNotFoundError:
            return True  # gone since the listing: whoever owned it finished
        return mtime >= self.busy_since_ns


def _busy_since(store: Store) -> int:
    """The time (ns) after which a file may belong to a live process."""
    since = time.time_ns() - RECENT_S * 1_000_000_000
    started = store.live_run_started_ns()
    return since if started is None else min(since, started)


def sha256_of(path: Path) -> str | None:
    """The file's SHA-256, or None if it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def decode(path: Path) -> tuple[int, int] | str:
    """The pixel size of the decoded file, or why it does not decode."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.size
    except Exception as error:  # Pillow raises many kinds (OSError, SyntaxError, ValueError...) on bad data
        return f"does not decode ({type(error).__name__}: {error})"


# the checks ------------------------------------------------------------------------------------


def _check_originals(project: Project, store: Store, listings: _Listings, report: Examination) -> None:
    art = project.art_dir
    to_hash: list[tuple[str, str, str | None, Path, int]] = []
    with store.lock:
        rows = store.conn.execute(
            "SELECT images.id, images.path, images.bytes, images.sha256, images.file_mtime_ns, images.job_key,"
            " jobs.status, jobs.expected_image_id FROM images LEFT JOIN jobs ON jobs.key = images.job_key"
        )
        for image_id, path, size, digest, stamp, job_key, job_status, expected in rows:
            report.images += 1
            report.files += 1
            entry = listings.find(path)
            if entry is None:
                if expected == image_id and job_status in ("queued", "running", "failed"):
                    report.waiting += 1
                else:
                    shown = project.relative(art / path)
                    report.findings.append(
                        Finding("missing-original", image_id, f"{shown} is missing", image_id, job_key, art / path)
                    )
                continue
            stat = entry.stat(follow_symlinks=False)
            if not read_only(stat.st_mode):
                report.writable.append((art / path, image_id, stat.st_dev, stat.st_ino, stat.st_nlink))
            if stat.st_size != size:
                detail = f"{project.relative(art / path)} is {stat.st_size:,} bytes, the store says {size:,}"
                report.findings.append(Finding("corrupt-original", image_id, detail, image_id, job_key, art / path))
            elif report.deep or stat.st_mtime_ns != stamp:
                to_hash.append((image_id, digest, job_key, art / path, stat.st_mtime_ns))
    verified = _hash_all(project, to_hash, report)
    if verified:
        with store.transaction():
            store.conn.executemany("UPDATE images SET file_mtime_ns = ? WHERE id = ?", verified)
    if report.deep:
        _decode_originals(project, store, report)


def _hash_all(
    project: Project, items: list[tuple[str, str, str | None, Path, int]], report: Examination
) -> list[tuple[int, str]]:
    """Hash each file on a thread per core; return ``(mtime, id)`` of those that match."""
    verified = []
    with ThreadPoolExecutor(THREADS) as pool:
        for (image_id, digest, job_key, path, mtime), actual in zip(
            items, pool.map(sha256_of, [item[3] for item in items]), strict=True
        ):
            shown = project.relative(path)
            if actual == digest and digest.startswith(image_id):
                verified.append((mtime, image_id))
                continue
            detail = f"{shown} cannot be read" if actual is None else f"{shown} hashes to {actual[:16]}"
            report.findings.append(Finding("corrupt-original", image_id, detail, image_id, job_key, path))
    return verified


def _decode_originals(project: Project, store: Store, report: Examination) -> None:
    flagged = {finding.image_id for finding in report.findings}
    items = [
        (row["id"], row["job_key"], project.art_dir / row["path"])
        for row in store.query("SELECT id, job_key, path FROM images")
        if row["id"] not in flagged and (project.art_dir / row["path"]).exists()
    ]
    with ThreadPoolExecutor(THREADS) as pool:
        for (image_id, job_key, path), result in zip(items, pool.map(decode, [item[2] for item in items]), strict=True):
            if isinstance(result, str):
                report.findings.append(
                    Finding("corrupt-original", image_id, f"{project.relative(path)} {result}", image_id, job_key, path)
                )


def _check_derivatives(project: Project, store: Store, listings: _Listings, report: Examination) -> None:
    art = project.art_dir
    to_decode: list[tuple[str, str, Path, int, int]] = []
    with store.lock:
        rows = store.conn.execute("SELECT image_id, stage, path, bytes, width, height FROM derivatives")
        for image_id, stage, path, size, width, height in rows:
            report.files += 1
            entry = listings.find(path)
            if entry is None:
                detail = f"the {stage} of {image_id} is missing"
                report.findings.append(
                    Finding("missing-derivative", project.relative(art / path), detail, image_id,
                            path=art / path, stage=stage)
                )
                continue
            stat = entry.stat(follow_symlinks=False)
            if not read_only(stat.st_mode):
                report.writable.append((art / path, image_id, stat.st_dev, stat.st_ino, stat.st_nlink))
            actual = stat.st_size
            if actual != size:
                detail = f"{actual:,} bytes, the store says {size:,}"
                report.findings.append(
                    Finding("bad-derivative", project.relative(art / path), detail, image_id,
                            path=art / path, stage=stage)
                )
            elif report.deep:
                to_decode.append((image_id, stage, art / path, width, height))
        for stage in STAGES:
            rows = store.conn.execute(
                "SELECT images.id FROM images LEFT JOIN derivatives ON derivatives.image_id = images.id"
                " AND derivatives.stage = ? WHERE derivatives.image_id IS NULL",
                [stage.name],
            )
            for (image_id,) in rows:
                report.findings.append(
                    Finding("missing-derivative", image_id, f"no {stage.name} is recorded", image_id, stage=stage.name)
                )
    with ThreadPoolExecutor(THREADS) as pool:
        decoded = pool.map(decode, [item[2] for item in to_decode])
        for (image_id, stage, path, width, height), result in zip(to_decode, decoded, strict=True):
            if isinstance(result, str) or result != (width, height):
                detail = result if isinstance(result, str) else (
                    f"{result[0]}x{result[1]} pixels, the store says {width}x{height}"
                )
                report.findings.append(
                    Finding("bad-derivative", project.relative(path), detail, image_id, path=path, stage=stage)
                )


def _check_writable(project: Project, store: Store, report: Examination) -> None:
    """Report the writable stored files, but for the user's own (see the module's docstring)."""
    shared = sorted({image_id for _, image_id, _, _, links in report.writable if links > 1})
    imported: set[str] = set()
    sources: set[tuple[int, int]] = set()
    for chunk in chunks(shared):
        marks = ",".join("?" * len(chunk))
        for row in store.query(f"SELECT image_id, path FROM import_sources WHERE image_id IN ({marks})", chunk):
            imported.add(row["image_id"])
            try:
                stat = os.stat(row["path"])
            except OSError:
                continue  # moved, renamed or gone: see below
            sources.add((stat.st_dev, stat.st_ino))
    in_art = Counter((device, inode) for _, _, device, inode, _ in report.writable)
    for path, image_id, device, inode, links in report.writable:
        if image_id in imported and (
            (device, inode) in sources or links > in_art[device, inode] + _published_links(project, path, inode)
        ):  # the user's file, or linked from somewhere kiln does not know: perhaps the user's, renamed
            report.users_files += 1
            continue
        report.findings.append(
            Finding("writable", project.relative(path), "writable, where kiln keeps stored files read-only",
                    image_id, path=path)
        )


def _published_links(project: Project, path: Path, inode: int) -> int:
    """1 if ``path``'s file in build/media is the same file (a link an older kiln made)."""
    try:
        published = os.stat(project.build_dir / media_path(path.relative_to(project.art_dir).as_posix()))
    except OSError:
        return 0
    return int(published.st_ino == inode)


def _check_orphans(project: Project, store: Store, listings: _Listings, report: Examination) -> None:
    for row in store.query("SELECT DISTINCT thumb_path FROM image_references"):
        listings.find(row["thumb_path"])
    stages = {ORIGINALS, REFERENCE_THUMBS, *(stage.name for stage in STAGES)}
    stages.update(row["stage"] for row in store.query("SELECT DISTINCT stage FROM derivatives"))
    why = {ORIGINALS: "no image row", REFERENCE_THUMBS: "no image uses it"}
    for folder in sorted(stages):
        for entry in listings.unseen(folder):
            if listings.recent(entry):
                report.left_alone += 1
                continue
            path = Path(entry.path)
            report.findings.append(
                Finding("orphan", project.relative(path), why.get(folder, "no derivative row"), path=path, stage=folder)
            )


def _check_temporaries(project: Project, listings: _Listings, report: Examination) -> None:
    art = project.art_dir
    listings.folder("")
    try:
        with os.scandir(art) as scan:
            for entry in scan:
                if entry.is_dir(follow_symlinks=False):
                    listings.folder(entry.name)
    except FileNotFoundError:
        return
    temporaries = list(listings.temporaries)
    temporaries.extend(_build_temporaries(project.build_dir))
    building = build_in_progress(project.build_dir)
    for entry in sorted(temporaries, key=lambda entry: entry.path):
        if _in_use(entry, listings, building):
            report.left_alone += 1
            continue
        path = Path(entry.path)
        report.findings.append(Finding("temporary", project.relative(path), "left by an interrupted write", path=path))


def _in_use(entry: os.DirEntry[str], listings: _Listings, building: bool) -> bool:
    """An art/ temporary names its writer, who is asked; a build's is in use while a build
    holds the build folder's lock, or if it is recent."""
    if not entry.name.startswith(TEMP_PREFIX):
        return building or listings.recent(entry)
    try:
        mtime = entry.stat(follow_symlinks=False).st_mtime_ns
    except FileNotFoundError:
        return True  # renamed into place since the listing
    return temporary_in_use(entry.name, mtime, listings.busy_since_ns)


def _build_temporaries(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _build_temporaries(Path(entry.path))
        elif entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
            yield entry


def _check_jobs(store: Store, report: Examination) -> None:
    """Jobs whose claim has lapsed, by the rule ``kiln run`` follows to take them back."""
    for key, recipe, run in store.running_claims():
        detail = lapsed(run)
        if detail is not None:
            report.findings.append(Finding("stuck-job", key, f"{recipe}: {detail}", job_key=key))


def _check_fts(store: Store, report: Examination) -> None:
    images = store.query("SELECT count(*) AS n FROM images")[0]["n"]
    indexed = store.query("SELECT count(*) AS n FROM images_fts_docsize")[0]["n"]
    if indexed != images:
        report.findings.append(Finding("fts", "images_fts", f"indexes {indexed:,} rows, images has {images:,}"))
        return
    try:
        with store.lock:
            store.conn.execute("INSERT INTO images_fts(images_fts, rank) VALUES ('integrity-check', 1)")
    except sqlite3.DatabaseError:
        report.findings.append(Finding("fts", "images_fts", "its entries do not match the prompts and notes in images"))
