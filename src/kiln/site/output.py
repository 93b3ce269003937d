"""Writing build/: only what changed, and cleaning up only what kiln wrote.

Every file the build produces is recorded in a manifest with its size and modification time.
The next build removes the files the manifest lists that it no longer produces (a deleted
recipe, a removed image), and nothing else, so files a user put in the build folder are never
touched. The manifest also keeps the digest of the previous build's inputs, so a rebuild can
tell that its pages are still exactly what it would render.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from kiln.errors import Problem
from kiln.site.layout import STATIC

try:
    import fcntl
except ImportError:  # Windows: plain copies
    fcntl = None  # type: ignore[assignment]

MANIFEST = ".kiln-manifest.json"
TEMP_SUFFIX = ".kiln-tmp"  # a page being written is ``.NAME.kiln-tmp`` until it is renamed into place

# The Linux ioctl that makes a file share another's blocks, copy-on-write (btrfs, XFS, ...).
FICLONE = 0x40049409
COPY_CHUNK = 1 << 20

Stamp = tuple[int, int]  # size, modification time in ns


class Output:
    """The build folder, with the files written and counts of those left as they were."""

    def __init__(self, root: Path, problems: list[Problem]):
        self.root = root
        self.written_names: list[str] = []
        self.skipped = 0
        self.files: dict[str, Stamp] = {}
        self._previous_digest, self._previous = _read_manifest(root / MANIFEST, problems)
        self._dirs: set[Path] = set()

    def write(self, name: str, data: bytes) -> None:
        """Put ``data`` at ``name`` (posix, relative to the root) unless it is already there."""
        path = self.root / name
        try:
            stat = path.stat()
            if stat.st_size == len(data) and path.read_bytes() == data:
                self._keep(name, stat)
                return
        except FileNotFoundError:
            self._mkdir(path.parent)
        temporary = path.with_name(f".{path.name}{TEMP_SUFFIX}")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        self._wrote(name, path)

    def publish(self, name: str, source: Path, mode: str = "copy") -> bool:
        """Put the file ``source`` at ``name``; False if it is missing.

        ``copy`` (the default) makes a file of its own, cloned where the filesystem can (no
        space used until one side changes), so nothing written into build/ can change art/.
        A copy with the source's size and modification time is left alone: media names are
        content-addressed. ``link`` hard-links instead, when the user has asked for it.
        """
        try:
            origin = source.stat()
        except FileNotFoundError:
            return False
        path = self.root / name
        try:
            stat = path.stat()
            shared = (stat.st_dev, stat.st_ino) == (origin.st_dev, origin.st_ino)
            if mode == "link":
                current = shared
            else:  # a link left by an older build, or in link mode, is replaced by a copy
                current = not shared and (stat.st_size, stat.st_mtime_ns) == (origin.st_size, origin.st_mtime_ns)
            if current:
                self._keep(name, stat)
                return True
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
        self._wrote(name, path)
        return True

    def unchanged(self, names: Iterable[str], digest: str) -> bool:
        """Whether the previous build had the same inputs and left each of ``names`` exactly
        as it wrote them; if so they are counted as skipped."""
        if digest != self._previous_digest:
            return False
        kept = {}
        for name in names:
            try:
                stat = (self.root / name).stat()
            except FileNotFoundError:
                return False
            if self._previous.get(name) != (stat.st_size, stat.st_mtime_ns):
                return False
            kept[name] = stat
        for name, stat in kept.items():
            self._keep(name, stat)
        return True

    def previous_names(self, prefix: str) -> list[str]:
        """The files the previous build produced under ``prefix``."""
        return sorted(name for name in self._previous if name.startswith(prefix))

    @property
    def written(self) -> int:
        return len(self.written_names)

    def finish(self, digest: str) -> list[str]:
        """Remove what the previous build produced and this one did not, record what this one
        produced, and return the names removed."""
        removed = []
        for name in sorted(self._previous.keys() - self.files.keys()):
            path = self.root / name
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed.append(name)
                self._prune(path.parent)
        manifest = self.root / MANIFEST
        data = json.dumps({"digest": digest, "files": dict(sorted(self.files.items()))}, separators=(",", ":")).encode()
        try:
            same = manifest.read_bytes() == data
        except FileNotFoundError:
            same = False
        if not same:
            self._mkdir(self.root)
            manifest.write_bytes(data)
        return removed

    def _keep(self, name: str, stat: os.stat_result) -> None:
        self.files[name] = (stat.st_size, stat.st_mtime_ns)
        self.skipped += 1

    def _wrote(self, name: str, path: Path) -> None:
        stat = path.stat()
        self.files[name] = (stat.st_size, stat.st_mtime_ns)
        self.written_names.append(name)

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


def _read_manifest(path: Path, problems: list[Problem]) -> tuple[str | None, dict[str, Stamp]]:
    """The previous build's digest and files; only plain relative names are trusted."""
    try:
        data = json.loads(path.read_text("utf-8"))
        digest, files = data.get("digest"), data["files"]
        entries = files.items()
    except FileNotFoundError:
        return None, {}
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        problems.append(Problem(path.name, None, None, "unreadable build manifest; no old files removed"))
        return None, {}
    safe: dict[str, Stamp] = {}
    for name, stamp in entries:
        if name and name != MANIFEST and not name.startswith("/") and ".." not in name.split("/") and "\\" not in name:
            safe[name] = tuple(stamp) if isinstance(stamp, list) and len(stamp) == 2 else (-1, -1)
    return digest if isinstance(digest, str) else None, safe


def publish_static(output: Output, sources: dict[str, Path]) -> dict[str, str]:
    """Write each static file under a name carrying its content hash (``style.1a2b3c4d.css``)
    so browsers may cache it forever; returns each plain name's published path."""
    published = {}
    for name, source in sources.items():
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:8]
        plain = PurePosixPath(name)
        hashed = plain.with_name(f"{plain.stem}.{digest}{plain.suffix}").as_posix()
        output.write(f"{STATIC}/{hashed}", data)
        published[name] = f"{STATIC}/{hashed}"
    return published
