"""What an import takes in: the files under the given paths, and the role of the folder each
was found in.

A folder pipeline keeps its images in one folder and sorts them into others: ``yes/`` for the
keepers, ``no/`` for the rejects, and smaller copies in ``thumbs/``. Files in a picked or
rejected folder give their status to the image of the same name (or the same content) found
elsewhere, or come in themselves with that status; files in a thumbnail folder are never
images of their own, only thumbnails that may be adopted.
"""

from __future__ import annotations

import fnmatch
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kiln.errors import KilnError

PICKED = "selected"
REJECTED = "rejected"
# A collection's name ends up in file names under build/ (see site.collect.RECIPE_NAME).
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
DEFAULT_COLLECTION = "imported"


@dataclass(frozen=True)
class Folders:
    """Folder names, relative to each folder imported, that sort its images."""

    picked: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    thumbs: tuple[str, ...] = ()

    def within(self, folder: Path) -> Folders:
        """These names for one folder imported: a name is a folder under it (``yes``), or a
        path to one inside it, absolute or from here (``lib/yes``), made relative to it."""
        root = folder.resolve()

        def place(name: str) -> str | None:
            if not Path(name).is_absolute() and (folder / name).is_dir() or not Path(name).is_dir():
                return name
            try:
                return Path(name).resolve().relative_to(root).as_posix()
            except ValueError:
                return None  # a folder elsewhere: it sorts nothing in this one

        def placed(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(p for p in map(place, names) if p is not None)

        return Folders(placed(self.picked), placed(self.rejected), placed(self.thumbs))

    def role(self, relative: str) -> str | None:
        """``selected``, ``rejected`` or ``thumbs`` for a file at ``relative`` (posix, to the
        folder imported), or None for a plain image."""
        for names, role in ((self.thumbs, "thumbs"), (self.picked, PICKED), (self.rejected, REJECTED)):
            for name in names:
                prefix = name.strip("/") + "/"
                if relative.startswith(prefix):
                    return role
        return None


@dataclass(frozen=True)
class Source:
    """One file to import."""

    path: Path  # absolute
    shown: str  # as the user named it: the path given, joined with the file's place under it
    origin: str  # for the gallery: the folder's own name and the place under it, never absolute
    collection: str
    title: str
    role: str | None  # selected, rejected, or None


@dataclass
class Scan:
    sources: list[Source] = field(default_factory=list)
    # Thumbnails found in thumbnail folders, by the stem of the image they stand for.
    thumbs: dict[tuple[str, str], list[Path]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # collection -> title
    roots: dict[str, str] = field(default_factory=dict)  # collection -> the folder it came from


def collection_name(text: str) -> str:
    """A name the gallery can use for ``text``: lower case ASCII letters, digits, - and _."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9_-]+", "-", ascii_text.lower()).strip("-_")
    return name if _NAME.match(name) else DEFAULT_COLLECTION


def scan(paths: Sequence[Path], folders: Folders, collection: str | None, glob: str | None) -> Scan:
    """Every file under ``paths`` (files, and folders walked in name order), narrowed by
    ``glob`` (matched against the file's name and its path under the folder given)."""
    found = Scan()
    seen: set[Path] = set()
    for given in paths:
        if not given.exists():
            raise KilnError(f"{given}: no such file or folder")
        folder = given if given.is_dir() else given.parent
        label = folder.resolve().name or str(folder)
        title = collection or label
        name = collection_name(title)
        found.titles.setdefault(name, title)
        found.roots.setdefault(name, label)
        sorting = folders.within(given) if given.is_dir() else folders
        for path, relative in _walk(given):
            resolved = path.resolve()
            if resolved in seen:
                continue
            role = sorting.role(relative) if given.is_dir() else None
            if role == "thumbs":
                found.thumbs.setdefault((name, path.stem), []).append(resolved)
                continue
            if glob and not (fnmatch.fnmatch(path.name, glob) or fnmatch.fnmatch(relative, glob)):
                continue
            seen.add(resolved)
            shown = os.path.join(str(given), relative) if given.is_dir() else str(given)
            origin = f"{label}/{relative}" if given.is_dir() else path.name
            found.sources.append(Source(resolved, shown, origin, name, title, role))
    # Sorted images first, so a file of yes/ finds the image of its name already taken in.
    found.sources.sort(key=lambda source: source.role is not None)
    return found


def _walk(given: Path) -> Iterator[tuple[Path, str]]:
    """``(path, relative)`` of each regular file under ``given``, in name order; links to
    folders are not followed, hidden files and folders are left out."""
    if not given.is_dir():
        yield given, given.name
        return
    for root, dirs, files in os.walk(given):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(root)
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = base / name
            if path.is_file():
                yield path, path.relative_to(given).as_posix()
