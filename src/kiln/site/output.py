"""Writing build/: only the bytes that changed, atomically.

A page is written only when its bytes differ from the file's; a media file is linked or copied
(cloned where the filesystem can) when the file there is not the source's.

Media are hard-linked only when the source is read-only, as kiln makes every stored file
(kiln/art.py): then nothing written into build/ can change art/ (a writer in place is refused,
and one that writes a new file and renames it breaks the link). A writable source (a store of
an older kiln, a user's file imported with ``--link``) is copied, as is every file in ``copy``
mode and wherever a link cannot be made (another device). What was written
is recorded in the build state (kiln/site/state.py) by the caller, which is also what decides
which files are stale.

Into a build folder that held nothing when the build began (a first build, or one after
``build/`` was removed) there is nothing to compare with and no older file anyone could be
reading: files are then written in place, a few system calls each, which is most of what a
full build of a large library costs besides rendering.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path, PurePosixPath

from kiln.art import read_only
from kiln.site.layout import STATIC

try:
    import fcntl
except ImportError:  # Windows: plain copies
    fcntl = None  # type: ignore[assignment]

TEMP_SUFFIX = ".kiln-tmp"  # a page being written is ``.NAME.kiln-tmp`` until it is renamed into place

# The Linux ioctl that makes a file share another's blocks, copy-on-write (btrfs, XFS, ...).
FICLONE = 0x40049409
COPY_CHUNK = 1 << 20
# What a filesystem without reflinks (ext4, tmpfs, ...) answers FICLONE with.
_NO_CLONES = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.EPERM}

# What a build folder on another device than art/, or a filesystem without hard links, answers.
_NO_LINKS = {errno.EXDEV, errno.EOPNOTSUPP, errno.ENOSYS}

# Whether a file's mode and times can be set through its open handle (not on Windows).
_BY_HANDLE = os.chmod in os.supports_fd and os.utime in os.supports_fd

Written = tuple[str, int, int, bool]  # name, size, modification time in ns, whether it was written


class Output:
    """The build folder; ``fresh`` when it held nothing (but the build's own state) as the
    build began."""

    def __init__(self, root: Path, fresh: bool = False):
        self.root = root
        self.fresh = fresh
        self._dirs: set[str] = set()
        self._clones = fcntl is not None  # until the filesystem says it has none
        self._links = True  # until the filesystem says it cannot (another device, none at all)

    def write(self, name: str, data: bytes) -> Written:
        """Put ``data`` at ``name`` (posix, relative to the root) unless it is already there."""
        if self.fresh:
            found = self._write_new(name, data)
            if found is not None:
                return found
        path = self.root / name
        try:
            stat = path.stat()
            if stat.st_size == len(data) and path.read_bytes() == data:
                return name, stat.st_size, stat.st_mtime_ns, False
        except FileNotFoundError:
            self._mkdir(str(path.parent))
        temporary = path.with_name(f".{path.name}{TEMP_SUFFIX}")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        stat = path.stat()
        return name, stat.st_size, stat.st_mtime_ns, True

    def publish(self, name: str, source: Path, mode: str = "link") -> Written | None:
        """Put the file ``source`` at ``name``; None if it is missing.

        ``link`` (the default) hard-links a read-only source and copies a writable one; ``copy``
        always makes a file of its own, cloned where the filesystem can (no space used until
        one side changes). A file already there is left alone if it is what the mode makes: a
        link to a read-only source, else a copy with the source's size and modification time
        (media names are content-addressed). Only the files of images that changed are
        published, so a copy of an unchanged image stays a copy where a link could replace it.
        """
        if self.fresh:
            try:
                found = self._publish_new(name, source, mode)
            except FileNotFoundError:  # the source (the folders were made first)
                return None
            if found is not None:
                return found
        try:
            origin = source.stat()
        except FileNotFoundError:
            return None
        path = self.root / name
        link = mode == "link" and read_only(origin.st_mode)
        try:
            stat = path.stat()
            shared = (stat.st_dev, stat.st_ino) == (origin.st_dev, origin.st_ino)
            # A link to a writable source (left by an older kiln) is replaced by a copy.
            current = shared if link else not shared and (stat.st_size, stat.st_mtime_ns) == (
                origin.st_size, origin.st_mtime_ns)
            if current:
                return name, stat.st_size, stat.st_mtime_ns, False
        except FileNotFoundError:
            self._mkdir(str(path.parent))
        temporary = path.with_name(f".{path.name}{TEMP_SUFFIX}")
        temporary.unlink(missing_ok=True)
        if not (link and self._link(source, temporary)):
            self._clone(source, temporary, os.O_CREAT | os.O_TRUNC)
        os.replace(temporary, path)
        stat = path.stat()
        return name, stat.st_size, stat.st_mtime_ns, True

    def _write_new(self, name: str, data: bytes) -> Written | None:
        """Write ``data`` at ``name`` in place, as a new file; None if one is there already
        (then it is compared and replaced as usual)."""
        path = f"{self.root}/{name}"
        self._mkdir(path.rpartition("/")[0])
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return None
        try:
            _write_all(handle, data)
            stat = os.fstat(handle)
        finally:
            os.close(handle)
        return name, stat.st_size, stat.st_mtime_ns, True

    def _publish_new(self, name: str, source: Path, mode: str) -> Written | None:
        """Publish ``source`` at ``name`` in place, as a new file (FileNotFoundError: no
        ``source``); None if a file is there already."""
        path = f"{self.root}/{name}"
        self._mkdir(path.rpartition("/")[0])
        if mode == "link" and self._links:
            origin = os.stat(source)
            if read_only(origin.st_mode):
                try:
                    if self._link(source, Path(path)):
                        return name, origin.st_size, origin.st_mtime_ns, True
                except FileExistsError:
                    return None
        try:
            stat = self._clone(source, Path(path), os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return None
        return name, stat.st_size, stat.st_mtime_ns, True

    def _link(self, source: Path, target: Path) -> bool:
        """Hard-link ``source`` at ``target``; False where it cannot be (then it is copied).
        FileExistsError if ``target`` is there."""
        if not self._links:
            return False
        try:
            os.link(source, target)
        except (FileExistsError, FileNotFoundError):
            raise  # the target is there, or the source is not: as a copy would find
        except OSError as error:
            if error.errno in _NO_LINKS:  # the answer for every file of this build folder
                self._links = False
            return False  # else this file's own reason (too many links, not allowed): a copy
        return True

    def _clone(self, source: Path, target: Path, flags: int) -> os.stat_result:
        """Copy ``source`` to ``target`` opened with ``flags`` (a reflink where the filesystem
        has them, else a copy inside the kernel), with its mtime; the copy's stat."""
        reader = os.open(source, os.O_RDONLY)
        try:
            origin = os.fstat(reader)
            writer = os.open(target, os.O_WRONLY | flags, 0o644)
            try:
                if not self._reflink(reader, writer):
                    _copy(reader, writer, origin.st_size)
                handle: int | Path = writer if _BY_HANDLE else target
                os.chmod(handle, 0o644)
                os.utime(handle, ns=(origin.st_atime_ns, origin.st_mtime_ns))
                return os.fstat(writer)
            finally:
                os.close(writer)
        finally:
            os.close(reader)

    def _reflink(self, reader: int, writer: int) -> bool:
        """Make ``writer`` share ``reader``'s blocks; False where the filesystem cannot (asked
        once: a folder on ext4 answers the same for every file)."""
        if not self._clones:
            return False
        try:
            fcntl.ioctl(writer, FICLONE, reader)
        except OSError as error:
            if error.errno in _NO_CLONES:
                self._clones = False
            return False
        return True

    def remove(self, name: str) -> bool:
        """Delete ``name`` if it is there, and the folders it leaves empty."""
        path = self.root / name
        if not (path.is_file() or path.is_symlink()):
            return False
        path.unlink()
        self._prune(path.parent)
        return True

    def _mkdir(self, folder: str) -> None:
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents up to the root while they are empty."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent


def _copy(reader: int, writer: int, size: int) -> None:
    """Copy ``size`` bytes from ``reader`` to ``writer``: inside the kernel where it can
    (``copy_file_range``, Linux), else through a buffer."""
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while copied < size:
                step = os.copy_file_range(reader, writer, size - copied)
                if step == 0:
                    break
                copied += step
            return
        except OSError as error:  # across filesystems on some kernels, or not offered
            if error.errno not in _NO_CLONES or copied:
                raise
    while chunk := os.read(reader, COPY_CHUNK):
        _write_all(writer, chunk)


def _write_all(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view):]


def static_names(sources: dict[str, Path]) -> dict[str, tuple[str, bytes]]:
    """Each static file's published name, carrying its content hash (``style.1a2b3c4d.css``) so
    browsers may cache it forever, with its bytes."""
    published = {}
    for name, source in sources.items():
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:8]
        plain = PurePosixPath(name)
        published[name] = (f"{STATIC}/{plain.with_name(f'{plain.stem}.{digest}{plain.suffix}').as_posix()}", data)
    return published
