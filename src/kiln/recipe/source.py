"""Where a recipe's keys come from: its file, the files it ``extends``, and its ``[[batch]]``.

A recipe file may name another recipe file in ``extends``; its keys are read first and the
file's own keys override them (the ``gallery`` and ``params`` tables merge key by key). A file
with ``[[batch]]`` tables is several recipes: each batch starts from the file's top-level keys.
Every key remembers the file and line it was written on, so a problem in an extended file
names that file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln import tomlfile
from kiln.errors import InputError, Problem
from kiln.paths import inside, unusable_path
from kiln.project import Project
from kiln.tomlfile import TomlDocument, show

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MERGED_TABLES = ("gallery", "params")
BATCH_ONLY_KEYS = ("name",)
TOP_ONLY_KEYS = ("extends", "batch")


@dataclass(frozen=True)
class Origin:
    """A table in a file: keys in it are found at ``prefix + key`` in the file's line index."""

    doc: TomlDocument
    prefix: str = ""

    def where(self, key: str) -> tuple[str, int | None]:
        return self.doc.display, self.doc.line_of(self.prefix + key)


@dataclass
class RecipeSource:
    """The merged keys of one recipe, each with where it was written."""

    name: str
    path: Path
    display: str
    sha256: str
    home: Origin  # the recipe's own table: its file's top level, or its [[batch]]
    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)
    batch: str | None = None

    def where(self, key: str) -> tuple[str, int | None]:
        parts = key.split(".")
        while parts:
            origin = self.origins.get(".".join(parts))
            if origin:
                return origin.where(key)
            parts.pop()
        header = self.home.prefix.rstrip(".")
        return self.home.doc.display, self.home.doc.line_of(header) if header else None

    def problem(self, key: str | None, message: str) -> Problem:
        if key is None:
            return Problem(self.display, None, None, message)
        display, line = self.where(key)
        return Problem(display, line, key, message)

    def origin_lines(self) -> dict[str, tuple[str, int | None]]:
        """Every written key (and nested key) → (file, line), and ``""`` → the recipe's table."""
        lines = {"": self.where("")}

        def visit(prefix: str, table: dict[str, Any]) -> None:
            for key, value in table.items():
                dotted = f"{prefix}{key}"
                lines[dotted] = self.where(dotted)
                if isinstance(value, dict):
                    visit(f"{dotted}.", value)

        visit("", self.data)
        return lines

    def merge(self, table: dict[str, Any], origin: Origin, skip: tuple[str, ...] = ()) -> None:
        for key, value in table.items():
            if key in skip:
                continue
            if key in MERGED_TABLES and isinstance(value, dict) and isinstance(self.data.get(key), dict):
                self.data[key] = {**self.data[key], **value}
            else:
                self.data[key] = value
                self.origins = {k: o for k, o in self.origins.items() if not k.startswith(f"{key}.")}
            self.origins[key] = origin
            if isinstance(value, dict):
                for sub in value:
                    self.origins[f"{key}.{sub}"] = origin


def read_sources(path: Path, project: Project) -> list[RecipeSource]:
    """The recipes one file describes: one, or one per ``[[batch]]``."""
    try:  # as written, not resolved: a link's own name is what the user knows
        display = path.absolute().relative_to(project.root).as_posix()
    except ValueError:
        display = project.relative(path)
    if not inside(project.recipes_dir, path):
        raise InputError([Problem(display, None, None, f"is a link to a file outside {project.relative(project.recipes_dir)}/")])
    doc = tomlfile.load(path, display)
    problems: list[Problem] = []
    chain = _chain(doc, project, problems)
    if problems:
        raise InputError(problems)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if len(chain) > 1:
        digest = hashlib.sha256("".join(hashlib.sha256(d.path.read_bytes()).hexdigest() for d in chain).encode()).hexdigest()

    def base(name: str, home: Origin) -> RecipeSource:
        source = RecipeSource(name=name, path=path, display=display, sha256=digest, home=home)
        for layer in chain[:-1]:
            source.merge(layer.data, Origin(layer), skip=TOP_ONLY_KEYS)
        source.merge(doc.data, Origin(doc), skip=TOP_ONLY_KEYS)
        return source

    stem = path.stem
    if not NAME_PATTERN.match(stem):
        problems.append(Problem(display, None, None, "recipe file names use lowercase letters, digits, '-' and '_' only"))
    batches = doc.data.get("batch")
    if batches is None:
        if problems:
            raise InputError(problems)
        return [base(stem, Origin(doc))]

    if not isinstance(batches, list) or not batches or not all(isinstance(b, dict) for b in batches):
        raise InputError([*problems, doc.problem("batch", "expected one or more [[batch]] tables")])
    sources: list[RecipeSource] = []
    seen: dict[str, int] = {}
    for index, table in enumerate(batches):
        home = Origin(doc, f"batch.{index}.")
        label = table.get("name", str(index + 1))
        if not isinstance(label, str) or not NAME_PATTERN.match(label):
            problems.append(Problem(display, home.where("name")[1], "name",
                                    f"batch names use lowercase letters, digits, '-' and '_' only, got {show(label)}"))
            continue
        if label in seen:
            problems.append(Problem(display, home.where("name")[1], "name", f"batch {show(label)} is named twice"))
            continue
        seen[label] = index
        source = base(f"{stem}-{label}", home)
        source.batch = label
        for key in table:
            if key in TOP_ONLY_KEYS:
                problems.append(Problem(display, home.where(key)[1], key, "belongs at the top of the file, not in a [[batch]]"))
        source.merge(table, home, skip=(*TOP_ONLY_KEYS, *BATCH_ONLY_KEYS))
        sources.append(source)
    if problems:
        raise InputError(problems)
    return sources


def _chain(doc: TomlDocument, project: Project, problems: list[Problem]) -> list[TomlDocument]:
    """The files ``doc`` extends, the furthest first, ending with ``doc`` itself."""
    chain = [doc]
    seen = [doc.path.resolve()]
    current = doc
    while "extends" in current.data:
        value = current.data["extends"]
        if not isinstance(value, str) or not value.strip():
            problems.append(current.problem("extends", f"expected the name of a recipe file, got {show(value)}"))
            break
        unusable = unusable_path(value)
        if unusable:
            problems.append(current.problem("extends", f"{show(value)} {unusable}"))
            break
        target = project.recipes_dir / (value if value.endswith(".toml") else f"{value}.toml")
        shown = project.relative(target)
        if not inside(project.recipes_dir, target):
            problems.append(current.problem("extends", f"{show(value)} points outside {project.relative(project.recipes_dir)}/"))
            break
        if not target.is_file():
            problems.append(current.problem("extends", f"no recipe file {shown}"))
            break
        if target.resolve() in seen:
            cycle = " → ".join([*(project.relative(d.path) for d in reversed(chain)), shown])
            problems.append(current.problem("extends", f"extends itself: {cycle}"))
            break
        try:
            parent = tomlfile.load(target, shown)
        except InputError as error:
            problems.extend(error.problems)
            break
        if "batch" in parent.data:
            problems.append(parent.problem("batch", f"{shown} is extended by {current.display}, so it cannot hold [[batch]] tables"))
            break
        chain.insert(0, parent)
        seen.append(target.resolve())
        current = parent
    return chain
