"""Writing build/: only the bytes that changed, atomically.

A page is written only when its bytes differ from the file's; a media file is copied (cloned
where the filesystem can) or linked when the copy there is not the source's. What was written
is recorded in the build state (kiln/site/state.py) by the caller, which is also what decides
which files are stale.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path, PurePosixPath

from kiln.site.layout import STATIC

try:
    import fcntl
except ImportError:  # Windows: plain copies
    fcntl = None  # type: ignore[assignment]

TEMP_SUFFIX = ".kiln-tmp"  # a page being written is ``.NAME.kiln-tmp`` until it is renamed into place

# The Linux ioctl that makes a file share another's blocks, copy-on-write (btrfs, XFS, ...).
FICLONE = 0x40049409
COPY_CHUNK = 1 << 20

Written = tuple[str, int, int, bool]  # name, size, modification time in ns, whether it was written


class Output:
    """The build folder."""

    def __init__(self, root: Path):
        self.root = root
        self._dirs: set[Path] = set()

    def write(self, name: str, data: bytes) -> Written:
        """Put ``data`` at ``name`` (posix, relative to the root) unless it is already there."""
        path = self.root / name
        try:
            stat = path.stat()
            if stat.st_size == len(data) and path.read_bytes() == data:
                return name, stat.st_size, stat.st_mtime_ns, False
        except FileNotFoundError:
            self._mkdir(path.parent)
        temporary = path.with_name(f".{path.name}{TEMP_SUFFIX}")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        stat = path.stat()
        return name, stat.st_size, stat.st_mtime_ns, True

    def publish(self, name: str, source: Path, mode: str = "copy") -> Written | None:
        """Put the file ``source`` at ``name``; None if it is missing.

        ``copy`` (the default) makes a file of its own, cloned where the filesystem can (no
        space used until one side changes), so nothing written into build/ can change art/.
        A copy with the source's size and modification time is left alone: media names are
        content-addressed. ``link`` hard-links instead, when the user has asked for it.
        """
        try:
            origin = source.stat()
        except FileNotFoundError:
            return None
        path = self.root / name
        try:
            stat = path.stat()
            shared = (stat.st_dev, stat.st_ino) == (origin.st_dev, origin.st_ino)
            if mode == "link":
                current = shared
            else:  # a link left by an older build, or in link mode, is replaced by a copy
                current = not shared and (stat.st_size, stat.st_mtime_ns) == (origin.st_size, origin.st_mtime_ns)
            if current:
                return name, stat.st_size, stat.st_mtime_ns, False
        except FileNotFoundError:
            self._mkdir(path.parent)
        temporary = path.with_name(f".{path.name}{TEMP_SUFFIX}")
        temporary.unlink(missing_ok=True)
        if mode == "link":
            try:
                os.link(source, temporary)
            except OSError:  # another device: a copy is the best there is
                _clone(source, temporary, origin)
        else:
            _clone(source, temporary, origin)
        os.replace(temporary, path)
        stat = path.stat()
        return name, stat.st_size, stat.st_mtime_ns, True

    def remove(self, name: str) -> bool:
        """Delete ``name`` if it is there, and the folders it leaves empty."""
        path = self.root / name
        if not (path.is_file() or path.is_symlink()):
            return False
        path.unlink()
        self._prune(path.parent)
        return True

    def _mkdir(self, folder: Path) -> None:
        if folder not in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(folder)

    def _prune(self, folder: Path) -> None:
        """Remove ``folder`` and its parents up to the root while they are empty."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent


def _clone(source: Path, target: Path, origin: os.stat_result) -> None:
    """Copy ``source`` to ``target`` (a reflink where the filesystem has them), with its mtime."""
    with open(source, "rb") as reader, open(target, "wb") as writer:
        try:
            fcntl.ioctl(writer.fileno(), FICLONE, reader.fileno())
        except (OSError, AttributeError):  # no reflinks here (AttributeError: no fcntl)
            shutil.copyfileobj(reader, writer, COPY_CHUNK)
    os.chmod(target, 0o644)
    os.utime(target, ns=(origin.st_atime_ns, origin.st_mtime_ns))


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
