"""TOML → :class:`Recipe`, with every problem named by file, line and key.

All problems in a file are collected before raising, so one ``kiln check`` shows them all.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiln import tomlfile
from kiln.tomlfile import show
from kiln.errors import InputError, Problem
from kiln.project import Project
from kiln.recipe.model import Recipe

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MAX_SEED = 2**63 - 1
MIN_SIDE, MAX_SIDE = 64, 4096
SIZE_MULTIPLE = 16
DEFAULT_MAX_JOBS = 10_000
ASPECTS = ("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "4:5", "5:4", "21:9", "9:21")
DEFAULTS: dict[str, Any] = {
    "engine": "placeholder",
    "negative_prompt": "",
    "size": "1024x1024",
    "steps": 20,
    "guidance": 5.0,
    "count": 1,
}
PLACEHOLDER_MODEL = "procedural-v1"

KEYS = (
    "title",
    "description",
    "engine",
    "model",
    "prompt",
    "negative_prompt",
    "size",
    "seeds",
    "seed",
    "steps",
    "guidance",
    "sampler",
    "count",
    "max_jobs",
    "gallery",
)
GALLERY_KEYS = {"title": str, "sort": str, "cover": str, "page_size": int}
GALLERY_SORTS = ("recipe", "created", "prompt", "seed", "rating")


class _Checker:
    """Collects problems for one file while converting its values."""

    def __init__(self, doc: tomlfile.TomlDocument):
        self.doc = doc
        self.problems: list[Problem] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(self.doc.problem(key, message))

    def axis(self, key: str, value: Any, convert: Callable[[str, Any], Any]) -> tuple[Any, ...]:
        """A single value or a non-empty list of values, each converted."""
        if isinstance(value, list):
            if not value:
                self.fail(key, "expected a value or a non-empty list, got []")
                return ()
            return tuple(convert(key, item) for item in value)
        return (convert(key, value),)

    def integer(self, low: int, high: int | None = None) -> Callable[[str, Any], int]:
        def convert(key: str, value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
                bound = f"from {low} to {high}" if high is not None else f"≥ {low}"
                self.fail(key, f"expected an integer {bound}, got {show(value)}")
                return low
            return value

        return convert

    def number(self, low: float, high: float) -> Callable[[str, Any], float]:
        def convert(key: str, value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                self.fail(key, f"expected a number from {low:g} to {high:g}, got {show(value)}")
                return low
            return float(value)

        return convert

    def text(self, key: str, value: Any, *, empty: bool = True) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {show(value)}")
            return ""
        if not empty and not value.strip():
            self.fail(key, "must not be empty")
        return value

    def size(self, key: str, value: Any) -> tuple[int, int]:
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
            if not match:
                self.fail(key, f'expected "WIDTHxHEIGHT" such as "1024x768", got {show(value)}')
                return (MIN_SIDE, MIN_SIDE)
            width, height = int(match.group(1)), int(match.group(2))
        elif isinstance(value, dict):
            width, height = self._size_from_aspect(key, value)
        else:
            self.fail(key, f'expected "WIDTHxHEIGHT" or {{ long_edge = N, aspect = "W:H" }}, got {show(value)}')
            return (MIN_SIDE, MIN_SIDE)
        for side in (width, height):
            if not MIN_SIDE <= side <= MAX_SIDE:
                self.fail(key, f"{width}x{height}: each side must be from {MIN_SIDE} to {MAX_SIDE} pixels")
                break
        return (width, height)

    def _size_from_aspect(self, key: str, table: dict[str, Any]) -> tuple[int, int]:
        unknown = set(table) - {"long_edge", "aspect"}
        if unknown:
            self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key; expected long_edge and aspect")
        long_edge = self.integer(MIN_SIDE, MAX_SIDE)(f"{key}.long_edge", table.get("long_edge", 1024))
        aspect = table.get("aspect", "1:1")
        if aspect not in ASPECTS:
            self.fail(f"{key}.aspect", f"expected one of {', '.join(ASPECTS)}, got {show(aspect)}")
            return (long_edge, long_edge)
        a, b = (int(part) for part in aspect.split(":"))
        short = max(SIZE_MULTIPLE, round(long_edge * min(a, b) / max(a, b) / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        long_side = round(long_edge / SIZE_MULTIPLE) * SIZE_MULTIPLE
        return (long_side, short) if a >= b else (short, long_side)

    def seeds(self, key: str, value: Any, recipe_seed: int) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            count = self.integer(1, DEFAULT_MAX_JOBS)(key, value)
            return tuple(derive_seed(recipe_seed, i) for i in range(count))
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
            if not match or int(match.group(1)) > int(match.group(2)):
                self.fail(key, f'expected a range such as "1-8", a list of seeds or a count, got {show(value)}')
                return ()
            first, last = int(match.group(1)), int(match.group(2))
            if last - first >= DEFAULT_MAX_JOBS or last > MAX_SEED:
                self.fail(key, f"range {show(value)} is too large")
                return ()
            return tuple(range(first, last + 1))
        if isinstance(value, list) and value:
            seeds = tuple(self.integer(0, MAX_SEED)(key, item) for item in value)
            if len(set(seeds)) != len(seeds):
                self.fail(key, "lists the same seed twice")
            return seeds
        self.fail(key, f'expected a list of seeds, a range such as "1-8", or a count, got {show(value)}')
        return ()


def derive_seed(recipe_seed: int, index: int) -> int:
    """The ``index``-th seed drawn from a recipe seed.

    Each seed depends only on (recipe seed, index), not on a generator's position, so raising
    a count keeps every earlier seed, and the images made with them.
    """
    digest = hashlib.sha256(f"kiln-seed:{recipe_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _suggest(key: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_recipe(path: Path, project: Project) -> Recipe:
    """Read and validate one recipe file; raise :class:`InputError` listing every problem."""
    display = project.relative(path)
    name = path.stem
    doc = tomlfile.load(path, display)
    check = _Checker(doc)
    data = doc.data
    if not NAME_PATTERN.match(name):
        check.problems.append(
            Problem(display, None, None, "recipe file names use lowercase letters, digits, '-' and '_' only")
        )

    for key in data:
        if key not in KEYS:
            check.fail(key, f"unknown key{_suggest(key, KEYS)}")

    def get(key: str) -> Any:
        return data.get(key, DEFAULTS.get(key))

    title = check.text("title", data.get("title", name.replace("-", " ").replace("_", " ").capitalize()))
    description = check.text("description", data.get("description", ""))
    engine = check.text("engine", get("engine"), empty=False)
    try:
        engine_type = project.engine(engine).type
    except KeyError:
        known = sorted({"placeholder", *project.engines})
        check.fail("engine", f"no engine named {show(engine)} in kiln.toml{_suggest(engine, known)}")
        engine_type = None

    if "model" in data:
        models = check.axis("model", data["model"], lambda k, v: check.text(k, v, empty=False))
    elif engine_type in ("placeholder", None):
        models = (PLACEHOLDER_MODEL,)
    else:
        check.fail("model", f"required for engine {show(engine)}")
        models = ()

    if "prompt" not in data:
        check.problems.append(Problem(display, None, "prompt", "required: the prompt (a string or a list)"))
        prompts: tuple[str, ...] = ()
    else:
        prompts = check.axis("prompt", data["prompt"], lambda k, v: check.text(k, v, empty=False))

    recipe_seed = data.get("seed", zlib.crc32(name.encode()))
    recipe_seed = check.integer(0, MAX_SEED)("seed", recipe_seed)
    seeds = check.seeds("seeds", data["seeds"], recipe_seed) if "seeds" in data else (derive_seed(recipe_seed, 0),)

    sampler_value = data.get("sampler")
    samplers = (None,) if sampler_value is None else check.axis("sampler", sampler_value, check.text)

    recipe = Recipe(
        name=name,
        path=path,
        display=display,
        source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        title=title,
        description=description,
        engine=engine,
        models=models,
        prompts=prompts,
        negative_prompt=check.text("negative_prompt", get("negative_prompt")),
        sizes=check.axis("size", get("size"), check.size),
        seeds=seeds,
        steps=check.axis("steps", get("steps"), check.integer(1, 200)),
        guidance=check.axis("guidance", get("guidance"), check.number(0.0, 50.0)),
        samplers=samplers,
        count=check.integer(1, DEFAULT_MAX_JOBS)("count", get("count")),
        seed=recipe_seed,
        max_jobs=check.integer(1)("max_jobs", data.get("max_jobs", DEFAULT_MAX_JOBS)),
        gallery=_gallery(check, data.get("gallery", {})),
        lines=doc.lines,
    )
    if check.problems:
        raise InputError(sorted(check.problems, key=lambda p: p.line or 0))
    return recipe


def _gallery(check: _Checker, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        check.fail("gallery", f"expected a table, got {show(table)}")
        return {}
    for key, value in table.items():
        expected = GALLERY_KEYS.get(key)
        dotted = f"gallery.{key}"
        if expected is None:
            check.fail(dotted, f"unknown key{_suggest(key, list(GALLERY_KEYS))}")
        elif isinstance(value, bool) or not isinstance(value, expected):
            check.fail(dotted, f"expected {'a string' if expected is str else 'an integer'}, got {show(value)}")
    if table.get("sort", "recipe") not in GALLERY_SORTS:
        check.fail("gallery.sort", f"expected one of {', '.join(GALLERY_SORTS)}, got {show(table['sort'])}")
    if isinstance(table.get("page_size"), int) and not 1 <= table["page_size"] <= 1000:
        check.fail("gallery.page_size", f"expected an integer from 1 to 1000, got {table['page_size']}")
    return dict(table)


def load_all(project: Project, names: list[str] | None = None) -> list[Recipe]:
    """Load the named recipes (default: all), raising one error that lists every problem."""
    if names:
        paths = []
        for name in names:
            path = project.recipes_dir / f"{Path(name).stem}.toml"
            if not path.is_file():
                raise InputError([Problem(project.relative(project.recipes_dir), None, None, f"no recipe named {show(name)}")])
            paths.append(path)
    else:
        paths = project.recipe_files()
    recipes: list[Recipe] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            recipes.append(load_recipe(path, project))
        except InputError as error:
            problems.extend(error.problems)
    if problems:
        raise InputError(problems)
    return recipes
