"""The flat ``art/`` store: one folder per stage, files named by content hash.

Files are written to a temporary name in the same folder, flushed to disk and renamed into
place, so a reader (or a crash) never sees half a file. Rows are committed only after the
rename, so the database never points at a file that is not there. A writer of many files (an
import) may leave the flush to disk to :func:`make_durable`, once for a batch, before its rows.

A stored file is named by its content's hash, so nothing may change it in place: kiln makes
each one read-only (:data:`STORED_MODE`) before it is renamed into place, as git does its
objects. That is what lets ``kiln build`` hard-link them into ``build/media``
(kiln/site/output.py). A file hard-linked in from the user's own folder keeps its mode.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from kiln.store.leases import process_alive

ID_LENGTH = 16
TEMP_PREFIX = ".tmp-"
FILE_MODE = 0o644
# A content-addressed file: readable by all, writable by none (whatever the umask).
STORED_MODE = 0o444
# A temporary is named for its writer: ``.tmp-<host>-<pid>-<random>``, the host as a short hash
# (any name fits, and a store may be shared between machines).
_OWNED = re.compile(r"\.tmp-([0-9a-f]{8})-([0-9]+)-")
# A writer on another machine cannot be asked whether it lives; no write takes a day.
FOREIGN_STALE_S = 24 * 3600


def host_tag(host: str | None = None) -> str:
    """This machine (or ``host``) as a short hash, for names that say who wrote them."""
    host = socket.gethostname() if host is None else host
    return hashlib.sha256(host.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _temp_prefix() -> str:
    return f"{TEMP_PREFIX}{host_tag()}-{os.getpid()}-"


def temporary_in_use(name: str, mtime_ns: int, unknown_since_ns: int | None = None) -> bool:
    """Whether a temporary file named ``name`` may still be renamed into place by its writer.

    A writer of this host is asked (is its process alive?). One of another host, or a file of
    an older version that names no writer, is taken as in use if modified since
    ``unknown_since_ns`` (default: a day ago).
    """
    owner = _OWNED.match(name)
    if owner is not None and owner.group(1) == host_tag():
        return process_alive(int(owner.group(2)))
    if unknown_since_ns is None:
        unknown_since_ns = time.time_ns() - FOREIGN_STALE_S * 1_000_000_000
    return mtime_ns >= unknown_since_ns


def content_id(data: bytes) -> tuple[str, str]:
    """``(id, sha256)`` of a file's bytes; the id is the hash's first 16 hex digits."""
    digest = hashlib.sha256(data).hexdigest()
    return digest[:ID_LENGTH], digest


def stage_path(art_dir: Path, stage: str, image_id: str, extension: str) -> Path:
    return art_dir / stage / f"{image_id}.{extension}"


def write_atomic(path: Path, data: bytes, sync: bool = True, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` so the file is either absent or complete, with ``mode``
    (:data:`STORED_MODE` for a stored file). ``sync=False`` leaves it in the page cache, for
    the caller to pass to :func:`make_durable` before any row names it: a killed process loses
    nothing written (the kernel has it), only a power cut would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=_temp_prefix(), dir=path.parent)
    try:
        # mkstemp makes owner-only files; images are meant to be served and shared. The mode is
        # set before the rename, so a stored file is never writable under its name.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _syncfs() -> ctypes._CFuncPtr | None:
    """Linux's syncfs(2), which os does not offer: None where the C library has none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return getattr(libc, "syncfs", None)


_SYNCFS = _syncfs()


def make_durable(art_dir: Path, paths: Iterable[Path]) -> None:
    """Flush files written with ``sync=False`` to disk, with their renames.

    One syncfs of ``art/``'s file system costs one journal commit for a whole batch, where an
    fsync per file costs one each (bench/imports.py); elsewhere, or if syncfs fails, each file
    is fsynced.
    """
    if _SYNCFS is not None:
        fd = os.open(art_dir, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # replaced or removed since by another writer: nothing to keep
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def store_atomic(path: Path, data: bytes, sync: bool = True) -> None:
    """Write a stored file (an original, a derivative, a reference's thumbnail) of ``art/``:
    :func:`write_atomic`, read-only."""
    write_atomic(path, data, sync, STORED_MODE)


def read_only(mode: int) -> bool:
    """Whether a file of ``mode`` (``st_mode``) is writable by no one: a stored file as kiln
    makes it, which may be shared by hard link."""
    return mode & 0o222 == 0


def link_atomic(source: Path, path: Path) -> bool:
    """Hard-link ``source`` at ``path`` (through a temporary name, so the link appears whole);
    False where the file system cannot (another device, no hard links). The link is the same
    file, with ``source``'s mode: a user's file linked in stays as the user made it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f"{_temp_prefix()}{secrets.token_hex(4)}"
    try:
        os.link(source, temp)
    except OSError:
        return False
    try:
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)
        return False
    return True


def sweep_temporaries(art_dir: Path) -> int:
    """Delete the temporary files that no live writer owns: those of a process that died
    mid-write. Another run's, or ``kiln doctor --fix``'s, are left alone."""
    removed = 0
    if art_dir.is_dir():
        for stage in art_dir.iterdir():
            if stage.is_dir():
                for temp in stage.glob(f"{TEMP_PREFIX}*"):
                    try:
                        if temporary_in_use(temp.name, temp.stat().st_mtime_ns):
                            continue
                        temp.unlink()
                    except FileNotFoundError:
                        continue  # its writer renamed it into place meanwhile
                    removed += 1
    return removed
