"""The prompt library: reusable prompt templates kept as files in ``prompts/``.

A recipe names one with ``prompt = { library = "portrait_v1" }``, which reads
``prompts/portrait_v1.txt`` (or ``.md``); a name may include subfolders (``faces/old``). The
file's text, without surrounding blank space, is the template.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from kiln.paths import inside, special_file, unusable_path
from kiln.project import Project
from kiln.recipe.prompts import is_dynamic
from kiln.tomlfile import not_utf8, show

SUFFIXES = (".txt", ".md")
NAME = re.compile(r"^[\w-]+(?:/[\w-]+)*$")


@dataclass(frozen=True)
class LibraryPrompt:
    """One library file and what the store keeps about it."""

    name: str
    path: str  # project-relative
    bytes: int
    words: int
    has_wildcards: bool
    sha256: str


def read(project: Project, name: str) -> str:
    """The template in library entry ``name``; raises ValueError with a message if there is none."""
    shown = project.relative(project.prompts_dir)
    if not NAME.match(name):
        raise ValueError(f"library names are file names without a suffix, such as \"portrait_v1\", got {show(name)}")
    unusable = unusable_path(f"{name}.txt")
    if unusable:
        raise ValueError(f"{show(name)} {unusable}")
    for suffix in SUFFIXES:
        path = project.prompts_dir / f"{name}{suffix}"
        kind = special_file(path)
        if kind:
            raise ValueError(f"{project.relative(path)} is {kind}, not a file; kiln reads only regular files")
        if path.is_file():
            if not inside(project.prompts_dir, path):
                raise ValueError(f"{project.relative(path)} is a link to outside {shown}/; kiln never reads outside it")
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                line, message = not_utf8(raw, exc)
                raise ValueError(f"{project.relative(path)}:{line}: {message}") from None
            if not text:
                raise ValueError(f"{project.relative(path)} is empty")
            return text
    raise ValueError(f"no library prompt {show(name)}: expected {shown}/{name}.txt or {shown}/{name}.md")


def scan(project: Project) -> list[LibraryPrompt]:
    """Every library file, by name (a ``.txt`` hides an ``.md`` of the same name)."""
    folder = project.prompts_dir
    if not folder.is_dir():
        return []
    entries: dict[str, LibraryPrompt] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix not in SUFFIXES or not path.is_file() or not inside(folder, path):
            continue
        name = path.relative_to(folder).with_suffix("").as_posix()
        if not NAME.match(name) or (name in entries and path.suffix != ".txt"):
            continue
        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        entries[name] = LibraryPrompt(
            name=name,
            path=project.relative(path),
            bytes=len(data),
            words=len(text.split()),
            has_wildcards=is_dynamic(text),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    return [entries[name] for name in sorted(entries)]


def file_for(project: Project, name: str) -> Path | None:
    for suffix in SUFFIXES:
        path = project.prompts_dir / f"{name}{suffix}"
        if path.is_file():
            return path
    return None
