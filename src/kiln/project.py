"""The project: ``kiln.toml``, its settings, and the folders it names.

Commands find the project by walking up from the current folder to the first ``kiln.toml``,
as git does with ``.git``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiln import tomlfile
from kiln.errors import InputError, Problem, ProjectNotFound
from kiln.paths import inside, unusable_path
from kiln.policy import Policy, split_policy
from kiln.tomlfile import show

CONFIG_NAME = "kiln.toml"

_PATH_KEYS = {
    "recipes": "recipes",
    "art": "art",
    "build": "build",
    "templates": "site_templates",
    "wildcards": "wildcards",
    "prompts": "prompts",
    "references": "references",
    "pages": "pages",
}
_SECTIONS = ("project", "site", "paths", "engines", "styles", "reference_groups", "import")
_IMPORT_KEYS = ("picked", "rejected", "thumbs")
STYLES_FILE = "styles.toml"
_STYLE_KEYS = {"prompt", "negative"}
DEFAULT_SIZE_MULTIPLE = 16
_SITE_KEYS = {"title": str, "description": str, "page_size": int, "media": str, "collections": list, "base_url": str}
# The collections besides the recipes' that ``[site] collections`` may show, in its order.
SITE_COLLECTIONS = ("all", "picks", "top", "recent", "tags")
# How build/media gets art/'s files: "link" hard-links those that are read-only (as kiln makes
# them) and copies the rest; "copy" copies (or clones) every one, for a build/ of its own.
MEDIA_MODES = ("link", "copy")
# The built-in engine types, by the class each names. kiln.engines imports one only when a project
# uses it: most runs need one adapter, and importing them all (httpx, numpy, ...) would cost
# every command half a second.
BUILTIN_TYPES = {
    "placeholder": "kiln.engines.placeholder:PlaceholderEngine",
    "ndjson": "kiln.engines.ndjson:NdjsonEngine",
    "openai": "kiln.engines.openai:OpenAIEngine",
    "a1111": "kiln.engines.a1111:A1111Engine",
    "comfyui": "kiln.engines.comfyui:ComfyUIEngine",
    "gemini": "kiln.engines.gemini:GeminiEngine",
    "diffusers": "kiln.engines.diffusers:DiffusersEngine",
}
_PROJECT_KEYS = {"title": str, "description": str}
_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list"}


@dataclass
class EngineConfig:
    """One ``[engines.NAME]`` table: its ``type`` picks the adapter, the rest is its options."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    # Sides of sizes given as ``long_edge`` + ``aspect`` are rounded to this.
    size_multiple: int = DEFAULT_SIZE_MULTIPLE


@dataclass(frozen=True)
class Style:
    """A named prompt template: ``prompt`` holds a ``{prompt}`` slot for the recipe's prompt."""

    name: str
    prompt: str
    negative: str
    where: str  # "kiln.toml:12", for messages


@dataclass(frozen=True)
class ReferenceGroup:
    """A named list of reference patterns, used in recipes as ``"@name"``."""

    name: str
    patterns: tuple[str, ...]
    display: str
    line: int | None


@dataclass
class Project:
    root: Path
    title: str = "kiln"
    description: str = ""
    page_size: int = 48
    media: str = "link"  # how build/media gets art/'s files: one of MEDIA_MODES
    # Where the built site is published ("https://example.org/gallery/"), for absolute links in
    # feeds; empty: feeds link relatively.
    base_url: str = ""
    collections: tuple[str, ...] = ()  # virtual collections shown, from SITE_COLLECTIONS
    paths: dict[str, Path] = field(default_factory=dict)
    engines: dict[str, EngineConfig] = field(default_factory=dict)
    styles: dict[str, Style] = field(default_factory=dict)
    reference_groups: dict[str, ReferenceGroup] = field(default_factory=dict)
    # [import]: folders (relative to each folder imported) that give status or hold thumbnails.
    import_folders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # kiln.toml as read, for checks made later (engine options) to name the line of a key.
    config: tomlfile.TomlDocument | None = None

    def config_problem(self, key: str, message: str) -> Problem:
        """A problem with ``key`` (dotted) of kiln.toml, at its line."""
        return self.config.problem(key, message) if self.config else Problem(CONFIG_NAME, None, key, message)

    @property
    def recipes_dir(self) -> Path:
        return self.paths["recipes"]

    @property
    def art_dir(self) -> Path:
        return self.paths["art"]

    @property
    def build_dir(self) -> Path:
        return self.paths["build"]

    @property
    def templates_dir(self) -> Path:
        return self.paths["templates"]

    @property
    def wildcards_dir(self) -> Path:
        return self.paths["wildcards"]

    @property
    def prompts_dir(self) -> Path:
        return self.paths["prompts"]

    @property
    def references_dir(self) -> Path:
        return self.paths["references"]

    @property
    def pages_dir(self) -> Path:
        return self.paths["pages"]

    @property
    def db_path(self) -> Path:
        return self.art_dir / "kiln.db"

    def relative(self, path: Path) -> str:
        """``path`` as written relative to the project root, for messages and the store."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def recipe_files(self) -> list[Path]:
        """Every recipe file, sorted by name; files starting with ``_`` are shared defaults."""
        if not self.recipes_dir.is_dir():
            return []
        return sorted(
            p for p in self.recipes_dir.glob("*.toml") if not p.name.startswith("_") and not p.is_dir()
        )

    def engine(self, name: str) -> EngineConfig:
        if name in self.engines:
            return self.engines[name]
        if name == "placeholder":
            return EngineConfig("placeholder", "placeholder")
        raise KeyError(name)


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding ``kiln.toml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise ProjectNotFound(
        f"no {CONFIG_NAME} found in {here} or any folder above it "
        "(run 'kiln init' to start a project here)"
    )


def load_project(start: Path | None = None) -> Project:
    """Find and read the project containing ``start`` (default: the current folder)."""
    root = find_root(start)
    doc = tomlfile.load(root / CONFIG_NAME, CONFIG_NAME)
    data = doc.data
    problems: list[Problem] = []
    for key in data:
        if key not in _SECTIONS:
            problems.append(doc.problem(key, f"unknown section; expected one of {', '.join(sorted(_SECTIONS))}"))

    project = Project(root=root, config=doc)
    # A section that is not a table is reported once and read as empty, so every other
    # problem of the file is still found.
    tables = {section: _section(doc, section, problems) for section in _SECTIONS}
    for section, keys in (("project", _PROJECT_KEYS), ("site", _SITE_KEYS)):
        for key, value in tables[section].items():
            expected = keys.get(key)
            dotted = f"{section}.{key}"
            if expected is None:
                problems.append(doc.problem(dotted, f"unknown key; expected one of {', '.join(sorted(keys))}"))
            elif not isinstance(value, expected) or isinstance(value, bool):
                problems.append(doc.problem(dotted, f"expected {_TYPE_NAMES[expected]}, got {show(value)}"))
    site, about = tables["site"], tables["project"]
    title = site.get("title") or about.get("title")
    project.title = title if isinstance(title, str) else "kiln"
    description = site.get("description") or about.get("description")
    project.description = description if isinstance(description, str) else ""
    page_size = site.get("page_size", project.page_size)
    if isinstance(page_size, int) and not isinstance(page_size, bool):
        if 1 <= page_size <= 1000:
            project.page_size = page_size
        else:
            problems.append(doc.problem("site.page_size", f"expected an integer from 1 to 1000, got {page_size}"))
    media = site.get("media", project.media)
    if isinstance(media, str) and media not in MEDIA_MODES:
        problems.append(doc.problem("site.media", f"expected \"link\" or \"copy\", got {show(media)}"))
    elif isinstance(media, str):
        project.media = media
    base_url = site.get("base_url", "")
    if isinstance(base_url, str) and base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment or any(c.isspace() for c in base_url):
            problems.append(doc.problem("site.base_url", f"expected an http:// or https:// address with no query or fragment, got {show(base_url)}"))
        else:
            project.base_url = base_url if base_url.endswith("/") else base_url + "/"
    chosen = site.get("collections", [])
    if isinstance(chosen, list):
        unknown = [c for c in chosen if c not in SITE_COLLECTIONS]
        if unknown:
            problems.append(
                doc.problem("site.collections", f"expected some of {', '.join(SITE_COLLECTIONS)}, got {show(unknown[0])}")
            )
        else:
            project.collections = tuple(dict.fromkeys(chosen))

    paths = tables["paths"]
    for key in paths:
        if key not in _PATH_KEYS:
            problems.append(doc.problem(f"paths.{key}", f"unknown key; expected one of {', '.join(_PATH_KEYS)}"))
    for key, default in _PATH_KEYS.items():
        value = paths.get(key, default)
        if not isinstance(value, str) or not value:
            problems.append(doc.problem(f"paths.{key}", f"expected a folder name, got {show(value)}"))
            continue
        unusable = unusable_path(value)
        if unusable:
            problems.append(doc.problem(f"paths.{key}", f"{show(value)} {unusable}"))
            continue
        path = root / value
        if not inside(root, path):
            problems.append(doc.problem(f"paths.{key}", f"{show(value)} points outside the project"))
            continue
        if path.exists() and not path.is_dir():
            problems.append(doc.problem(f"paths.{key}", f"{show(value)} is a file, not a folder"))
            continue
        project.paths[key] = path

    for name, table in tables["engines"].items():
        if not isinstance(table, dict):
            problems.append(doc.problem(f"engines.{name}", "expected a table"))
            continue
        kind = table.get("type", name)
        if not isinstance(kind, str):
            problems.append(doc.problem(f"engines.{name}.type", f"expected a string, got {show(kind)}"))
            continue
        if kind not in BUILTIN_TYPES and ":" not in kind:
            known = ", ".join(sorted(BUILTIN_TYPES))
            problems.append(doc.problem(f"engines.{name}.type", f'unknown engine type {show(kind)}; expected one of {known} or "module:Class"'))
            continue
        options = {k: v for k, v in table.items() if k not in ("type", "size_multiple")}
        multiple = table.get("size_multiple", DEFAULT_SIZE_MULTIPLE)
        if isinstance(multiple, bool) or not isinstance(multiple, int) or not 1 <= multiple <= 256:
            problems.append(doc.problem(f"engines.{name}.size_multiple", f"expected an integer from 1 to 256, got {show(multiple)}"))
            continue

        def policy_problem(key: str, message: str, name: str = name) -> None:
            problems.append(doc.problem(f"engines.{name}.{key}", message))

        policy, options = split_policy(options, policy_problem)
        project.engines[name] = EngineConfig(name, kind, options, policy, multiple)

    project.styles = _styles(doc, tables["styles"], problems)
    styles_path = root / STYLES_FILE
    if styles_path.is_file():
        if not inside(root, styles_path):
            problems.append(Problem(STYLES_FILE, None, None, "is a link to a file outside the project"))
        else:
            extra = tomlfile.load(styles_path, STYLES_FILE)
            for name, style in _styles(extra, extra.data, problems, prefix="").items():
                if name in project.styles:
                    problems.append(extra.problem(name, f"style {show(name)} is also defined at {project.styles[name].where}"))
                else:
                    project.styles[name] = style
    project.reference_groups = _reference_groups(doc, tables["reference_groups"], problems)
    project.import_folders = _import_folders(doc, tables["import"], problems)

    if problems:
        raise InputError(problems)
    return project


def _import_folders(doc: tomlfile.TomlDocument, table: dict[str, Any], problems: list[Problem]) -> dict[str, tuple[str, ...]]:
    """``[import]``: ``picked``, ``rejected`` and ``thumbs``, each a list of folder names."""
    folders: dict[str, tuple[str, ...]] = {}
    for key, value in table.items():
        if key not in _IMPORT_KEYS:
            problems.append(doc.problem(f"import.{key}", f"unknown key; expected one of {', '.join(_IMPORT_KEYS)}"))
        elif not isinstance(value, list) or not all(isinstance(v, str) and v.strip("/") for v in value):
            problems.append(doc.problem(f"import.{key}", f"expected a list of folder names, got {show(value)}"))
        else:
            folders[key] = tuple(value)
    return folders


def _section(doc: tomlfile.TomlDocument, section: str, problems: list[Problem]) -> dict[str, Any]:
    """The ``[section]`` table of kiln.toml, or an empty one (and a problem) if it is something else."""
    table = doc.data.get(section, {})
    if isinstance(table, dict):
        return table
    problems.append(doc.problem(section, f"expected a [{section}] table, got {show(table)}"))
    return {}


def _styles(doc: tomlfile.TomlDocument, tables: dict[str, Any], problems: list[Problem], prefix: str = "styles.") -> dict[str, Style]:
    """``[styles.NAME]`` tables of kiln.toml, or the ``[NAME]`` tables of styles.toml."""
    styles: dict[str, Style] = {}
    for name, table in tables.items():
        where = f"{prefix}{name}"
        if not isinstance(table, dict):
            problems.append(doc.problem(where, 'expected a table such as { prompt = "{prompt}, 35mm film", negative = "cgi" }'))
            continue
        found = len(problems)
        for key in sorted(set(table) - _STYLE_KEYS):
            problems.append(doc.problem(f"{where}.{key}", "unknown key; expected prompt and negative"))
        prompt, negative = table.get("prompt", "{prompt}"), table.get("negative", "")
        for key, value in (("prompt", prompt), ("negative", negative)):
            if not isinstance(value, str):
                problems.append(doc.problem(f"{where}.{key}", f"expected a string, got {show(value)}"))
        if isinstance(prompt, str) and "{prompt}" not in prompt:
            problems.append(doc.problem(f"{where}.prompt", "must contain {prompt}, where the recipe's prompt goes"))
        if len(problems) == found:
            styles[name] = Style(name, prompt, negative, f"{doc.display}:{doc.line_of(where) or 1}")
    return styles


def _reference_groups(doc: tomlfile.TomlDocument, table: dict[str, Any], problems: list[Problem]) -> dict[str, ReferenceGroup]:
    groups: dict[str, ReferenceGroup] = {}
    for name, patterns in table.items():
        key = f"reference_groups.{name}"
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
            problems.append(doc.problem(key, f"expected a non-empty list of reference patterns, got {show(patterns)}"))
            continue
        groups[name] = ReferenceGroup(name, tuple(patterns), doc.display, doc.line_of(key))
    return groups
