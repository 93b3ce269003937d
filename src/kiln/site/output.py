"""Writing build/: only what changed, and cleaning up only what kiln wrote.

Every file the build produces is recorded in a manifest. The next build removes the files the
manifest lists that it no longer produces (a deleted recipe, a removed image), and nothing
else, so files a user put in the build folder are never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath

from kiln.errors import Problem
from kiln.site.layout import STATIC

MANIFEST = ".kiln-manifest.json"


class Output:
    """The build folder, with counts of files written and left as they were."""

    def __init__(self, root: Path):
        self.root = root
        self.produced: set[str] = set()
        self.written = 0
        self.skipped = 0
        self._dirs: set[Path] = set()

    def write(self, name: str, data: bytes) -> None:
        """Put ``data`` at ``name`` (posix, relative to the root) unless it is already there."""
        self.produced.add(name)
        path = self.root / name
        try:
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                self.skipped += 1
                return
        except FileNotFoundError:
            pass
        self._mkdir(path.parent)
        temporary = path.with_name(f".{path.name}.kiln-tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        self.written += 1

    def link(self, name: str, source: Path) -> bool:
        """Hard-link (or, across devices, copy) ``source`` to ``name``; False if it is missing.

        Media names are content-addressed, so an existing file of the same size is the same
        file and is left alone.
        """
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            return False
        self.produced.add(name)
        path = self.root / name
        try:
            if path.stat().st_size == size:
                self.skipped += 1
                return True
            path.unlink()
        except FileNotFoundError:
            self._mkdir(path.parent)
        try:
            os.link(source, path)
        except OSError:
            shutil.copyfile(source, path)
        self.written += 1
        return True

    def finish(self, problems: list[Problem]) -> int:
        """Remove what the previous build produced and this one did not, record what this one
        produced, and return how many files were removed."""
        manifest = self.root / MANIFEST
        previous = _read_manifest(manifest, problems)
        removed = 0
        for name in sorted(previous - self.produced):
            path = self.root / name
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed += 1
                self._prune(path.parent)
        data = json.dumps({"files": sorted(self.produced)}, indent=0).encode()
        if not manifest.is_file() or manifest.read_bytes() != data:
            self._mkdir(self.root)
            manifest.write_bytes(data)
        return removed

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


def _read_manifest(path: Path, problems: list[Problem]) -> set[str]:
    """The files a previous build recorded; only plain relative names are trusted."""
    try:
        files = json.loads(path.read_text("utf-8"))["files"]
    except FileNotFoundError:
        return set()
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        problems.append(Problem(path.name, None, None, "unreadable build manifest; no old files removed"))
        return set()
    safe = set()
    for name in files:
        if isinstance(name, str) and name and name != MANIFEST:
            pure = PurePosixPath(name)
            if not pure.is_absolute() and ".." not in pure.parts:
                safe.add(pure.as_posix())
    return safe


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

