"""Recipe files → :class:`Recipe`s, with every problem named by file, line and key.

All problems of a file are collected before raising, so one ``kiln check`` shows them all.
Problems that need the file system (wildcards, references) are found by expansion.
"""

from __future__ import annotations

import re
import tomllib
import zlib
from pathlib import Path
from typing import Any

from kiln.errors import InputError, KilnError, Problem
from kiln.project import DEFAULT_SIZE_MULTIPLE, Project, Style
from kiln.recipe import library
from kiln.recipe.axes import AXIS_ALIASES
from kiln.recipe.checker import SIZE_KEYS, Checker, suggest
from kiln.recipe.model import PromptTemplate, Recipe, ReferencePattern, Target
from kiln.recipe.prompts import MODES
from kiln.recipe.references import parse_pattern
from kiln.recipe.seeds import MAX_SEED, SEED_POLICIES, derive_seed
from kiln.recipe.source import RecipeSource, read_sources
from kiln.tomlfile import show

DEFAULT_MAX_JOBS = 10_000
DEFAULT_TOLERANCE = 3
DEFAULT_MAX_FAILURES = 5
PLACEHOLDER_MODEL = "procedural-v1"
DEFAULTS: dict[str, Any] = {
    "engine": "placeholder",
    "negative_prompt": "",
    "size": "1024x1024",
    "steps": 20,
    "guidance": 5.0,
    "count": 1,
}

KEYS = (
    "title",
    "description",
    "enabled",
    "extends",
    "engine",
    "model",
    "mode",
    "prompt",
    "max_prompts",
    "negative_prompt",
    "style",
    "size",
    "seeds",
    "seed",
    "seed_policy",
    "steps",
    "guidance",
    "sampler",
    "params",
    "references",
    "zip",
    "count",
    "repeat",
    "target",
    "tolerance",
    "max_failures",
    "max_jobs",
    "gallery",
    "batch",
)
BATCH_KEYS = ("name",)
PROMPT_TABLE_KEYS = ("library",)
GALLERY_KEYS = {"title": str, "sort": str, "cover": str, "page_size": int, "grid": dict}
GRID_KEYS = ("x", "y")
NESTED_KEYS = {
    "size": SIZE_KEYS, "prompt": PROMPT_TABLE_KEYS, "gallery": tuple(GALLERY_KEYS), "gallery.grid": GRID_KEYS,
    "batch": BATCH_KEYS,
}
GALLERY_SORTS = ("recipe", "created", "prompt", "seed", "rating")
# Axes a zip group or a gallery grid may name (besides params), by their name in job axes.
AXIS_NAMES = ("prompt", "style", "model", "size", "steps", "guidance", "sampler", "references", "seed")
PARAM_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Names job axes already use, so a param cannot take them.
RESERVED_PARAMS = (*KEYS, *AXIS_NAMES, "image", "repeat", "width", "height", "negative", "engine_type")


def load_file(path: Path, project: Project) -> list[Recipe]:
    """The recipes one file describes (one per ``[[batch]]``); raises listing every problem."""
    recipes: list[Recipe] = []
    problems: list[Problem] = []
    for source in read_sources(path, project):
        try:
            recipes.append(build(source, project))
        except InputError as error:
            problems.extend(p for p in error.problems if p not in problems)
    if problems:
        raise InputError(problems)
    return recipes


def load_recipe(path: Path, project: Project) -> Recipe:
    """The one recipe a file without ``[[batch]]`` tables describes."""
    recipes = load_file(path, project)
    if len(recipes) != 1:
        raise KilnError(f"{project.relative(path)} holds {len(recipes)} batches; load it with load_file")
    return recipes[0]


def build(source: RecipeSource, project: Project) -> Recipe:
    """Validate one recipe's merged keys."""
    check = Checker(source)
    data = source.data
    for key in data:
        if key == "name":
            check.fail(key, "only a [[batch]] has a name; a recipe is named after its file")
        elif key not in KEYS:
            check.fail(key, f"unknown key{suggest(key, KEYS)}")

    def get(key: str) -> Any:
        return data.get(key, DEFAULTS.get(key))

    name = source.name
    title = check.text("title", data.get("title", name.replace("-", " ").replace("_", " ").capitalize()))
    engine = check.text("engine", get("engine"), empty=False)
    try:
        engine_config = project.engine(engine)
    except KeyError:
        known = sorted({"placeholder", *project.engines})
        check.fail("engine", f"no engine named {show(engine)} in kiln.toml{suggest(engine, known)}")
        engine_config = None

    if "model" in data:
        models = check.axis("model", data["model"], lambda k, v: check.text(k, v, empty=False))
    elif engine_config is None or engine_config.type == "placeholder":
        models = (PLACEHOLDER_MODEL,)
    else:
        check.fail("model", f"missing: engine {show(engine)} needs a model (model = \"name\")")
        models = ()

    mode = check.choice("mode", data.get("mode", "combinatorial"), MODES)
    max_prompts = None
    if "max_prompts" in data:
        max_prompts = check.integer(1, DEFAULT_MAX_JOBS)("max_prompts", data["max_prompts"])
    elif mode == "random":
        check.fail("max_prompts", 'missing: mode = "random" needs it: how many prompts to draw from each template')

    if "prompt" not in data:
        check.fail("prompt", 'missing: add prompt = "..." (a string, { library = "name" }, or a list)')
        prompts: tuple[PromptTemplate, ...] = ()
    else:
        prompts = check.axis("prompt", data["prompt"], lambda k, v: _prompt(check, project, k, v))

    recipe_seed = check.integer(0, MAX_SEED)("seed", data.get("seed", zlib.crc32(name.encode())))
    policy = check.choice("seed_policy", data.get("seed_policy", "per_image"), SEED_POLICIES)
    seeds, per_prompt = _seeds(check, data, policy, recipe_seed)
    params = _params(check, data.get("params", {}))
    styles = _styles(check, project, data["style"]) if "style" in data else (None,)
    references = _references(check, project, data["references"]) if "references" in data else ()

    multiple = engine_config.size_multiple if engine_config else DEFAULT_SIZE_MULTIPLE
    sizes = check.axis("size", get("size"), check.sizer(multiple))
    steps = check.numeric_axis("steps", get("steps"), check.integer(1, 200), integer=True)
    guidance = check.numeric_axis("guidance", get("guidance"), check.number(0.0, 50.0), integer=False)
    sampler_value = data.get("sampler")
    samplers = (None,) if sampler_value is None else check.axis("sampler", sampler_value, check.text)

    lengths: dict[str, int | None] = {
        "prompt": len(prompts), "style": len(styles), "model": len(models), "size": len(sizes),
        "steps": len(steps), "guidance": len(guidance), "sampler": len(samplers),
        "references": None,  # known once the files are listed
        "seed": len(seeds) if policy != "per_prompt" else None,
        **{param: len(values) for param, values in params},
    }
    zips = _zips(check, data["zip"], lengths) if "zip" in data else ()
    count, repeat, target = _amounts(check, data)
    max_jobs = check.integer(1)("max_jobs", data.get("max_jobs", DEFAULT_MAX_JOBS))
    if target and target.images + target.max_failures > max_jobs:
        check.fail("target", f"target {target.images} plus max_failures {target.max_failures} is more than max_jobs, {max_jobs:,}")

    recipe = Recipe(
        name=name,
        path=source.path,
        display=source.display,
        source_sha256=source.sha256,
        title=title,
        description=check.text("description", data.get("description", "")),
        engine=engine,
        models=models,
        prompts=prompts,
        negative_prompt=check.text("negative_prompt", get("negative_prompt")),
        sizes=sizes,
        seeds=seeds,
        steps=steps,
        guidance=guidance,
        samplers=samplers,
        count=count,
        seed=recipe_seed,
        max_jobs=max_jobs,
        gallery=_gallery(check, data.get("gallery", {})),
        mode=mode,
        max_prompts=max_prompts,
        styles=styles,
        seed_policy=policy,
        seeds_per_prompt=per_prompt,
        params=params,
        references=references,
        zips=zips,
        repeat=repeat,
        target=target,
        enabled=check.flag("enabled", data.get("enabled", True)),
        batch=source.batch,
        origins=source.origin_lines(),
        warnings=tuple(check.warnings),
    )
    if check.problems:
        raise InputError(sorted(check.problems, key=lambda p: (str(p.path) != source.display, str(p.path), p.line or 0)))
    return recipe


def _prompt(check: Checker, project: Project, key: str, value: Any) -> PromptTemplate:
    if isinstance(value, dict):
        for extra in sorted(set(value) - set(PROMPT_TABLE_KEYS)):
            check.fail(f"{key}.{extra}", f"unknown key; a prompt table holds library{suggest(extra, PROMPT_TABLE_KEYS)}")
        name = value.get("library")
        if not isinstance(name, str):
            wanted = f"the name of a file in {project.relative(project.prompts_dir)}/"
            check.fail(f"{key}.library", f"expected {wanted}, got {show(name)}" if "library" in value else f"missing: {wanted}")
            return PromptTemplate("")
        try:
            return PromptTemplate(library.read(project, name), library=name)
        except ValueError as error:
            check.fail(f"{key}.library", str(error))
            return PromptTemplate("", library=name)
    if isinstance(value, str) and not value.strip():
        check.fail(key, "must not be empty")
    elif not isinstance(value, str):
        check.fail(key, f"expected a string or {{ library = \"name\" }}, got {show(value)}")
        return PromptTemplate("")
    return PromptTemplate(value)


def _seeds(check: Checker, data: dict[str, Any], policy: str, recipe_seed: int) -> tuple[tuple[int, ...], int]:
    """The seeds axis and, for ``per_prompt``, how many seeds each prompt draws."""
    if "seeds" not in data:
        return (derive_seed(recipe_seed, 0),), 1
    value = check.seed_list("seeds", data["seeds"], MAX_SEED, DEFAULT_MAX_JOBS)
    if policy == "per_prompt":
        if isinstance(value, tuple):
            check.fail("seeds", 'with seed_policy = "per_prompt" each prompt draws its own seeds: give a count such as 2')
            return (), 1
        return (), value
    seeds = tuple(derive_seed(recipe_seed, i) for i in range(value)) if isinstance(value, int) else value
    if policy == "fixed" and len(seeds) > 1:
        check.fail("seeds", f'seed_policy = "fixed" uses one seed for every image, got {len(seeds)}')
    return seeds, 1


def _styles(check: Checker, project: Project, value: Any) -> tuple[Style | None, ...]:
    def convert(key: str, name: Any) -> Style | None:
        if not isinstance(name, str):
            check.fail(key, f"expected the name of a style, got {show(name)}")
            return None
        if name not in project.styles:
            known = sorted(project.styles)
            listed = f"; defined: {', '.join(known)}" if known else ""
            check.fail(key, f"no style named {show(name)} in kiln.toml or styles.toml{suggest(name, known) or listed}")
            return None
        return project.styles[name]

    return check.axis("style", value, convert)


def _params(check: Checker, table: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(table, dict):
        check.fail("params", f"expected a table such as {{ strength = 0.6 }}, got {show(table)}")
        return ()
    params = []
    for name, value in sorted(table.items()):
        key = f"params.{name}"
        if name in RESERVED_PARAMS:
            check.fail(key, f"{name} is not an extra parameter: set it at the top level of the recipe")
            continue
        if not PARAM_NAME.match(name):
            check.fail(key, "parameter names use lowercase letters, digits and _")
            continue

        def scalar(k: str, v: Any) -> Any:
            if not isinstance(v, str | int | float | bool):
                check.fail(k, f"expected a string, number or true/false, got {show(v)}")
            return v

        params.append((name, check.axis(key, value, scalar)))
    return tuple(params)


def _references(check: Checker, project: Project, value: Any) -> tuple[ReferencePattern, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        check.fail("references", f"expected a pattern or a list of patterns, got {show(value)}")
        return ()
    display, line = check.source.where("references")
    patterns: list[ReferencePattern] = []
    for item in items:
        if item.startswith("@"):
            group = project.reference_groups.get(item[1:])
            if group is None:
                known = sorted(project.reference_groups)
                check.fail("references", f"no reference group {show(item[1:])} in kiln.toml{suggest(item[1:], known)}")
                continue
            sources = [(p, (group.display, group.line, f"reference_groups.{group.name}")) for p in group.patterns]
        else:
            sources = [(item, (display, line, "references"))]
        for text, where in sources:
            pattern = parse_pattern(text, where)
            if isinstance(pattern, str):
                check.problems.append(Problem(where[0], where[1], where[2], pattern))
            else:
                patterns.append(pattern)
    return tuple(patterns)


def _zips(check: Checker, value: Any, lengths: dict[str, int | None]) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not all(isinstance(g, list) for g in value):
        check.fail("zip", f'expected a list of axis groups such as [["steps", "guidance"]], got {_listed(value)}')
        return ()
    groups: list[tuple[str, ...]] = []
    used: set[str] = set()
    for group in value:
        names = []
        for raw in group:
            name = AXIS_ALIASES.get(raw, raw) if isinstance(raw, str) else raw
            if name not in lengths:
                check.fail("zip", f"{show(raw)} is not an axis{suggest(str(raw), list(lengths))}; axes: {', '.join(lengths)}")
            elif name == "seed" and lengths["seed"] is None:
                check.fail("zip", 'seeds cannot be zipped with seed_policy = "per_prompt": each prompt draws its own')
            elif name in used or name in names:
                check.fail("zip", f"{show(raw)} is in more than one zip group")
            else:
                names.append(name)
        if len(group) < 2:
            check.fail("zip", f"a zip group pairs two or more axes, got {_listed(group)}")
            continue
        known = {n: lengths[n] for n in names if lengths[n] is not None}
        if len(set(known.values())) > 1:
            shown = " but ".join(f"{n} has {length}" for n, length in known.items())
            check.fail("zip", f"{shown} values; zipped axes need equal lengths")
        used.update(names)
        groups.append(tuple(names))
    return tuple(groups)


def _listed(value: Any) -> str:
    """A list as TOML writes it (``show`` prints lists as Python does)."""
    if isinstance(value, list):
        return "[" + ", ".join(_listed(item) for item in value) + "]"
    return show(value)


def _amounts(check: Checker, data: dict[str, Any]) -> tuple[int, int, Target | None]:
    """``count`` and ``repeat``, or a ``target`` with its ``tolerance`` and ``max_failures``."""
    count = check.integer(1, DEFAULT_MAX_JOBS)("count", data.get("count", 1))
    repeat = check.integer(1, DEFAULT_MAX_JOBS)("repeat", data.get("repeat", 1))
    if "target" not in data:
        for key in ("tolerance", "max_failures"):
            if key in data:
                check.fail(key, "applies only with target")
        return count, repeat, None
    for key in ("count", "repeat"):
        if key in data:
            check.fail(key, "does not apply with target: the target says how many images to make")
    target = Target(
        images=check.integer(1, DEFAULT_MAX_JOBS)("target", data["target"]),
        tolerance=check.integer(0, DEFAULT_MAX_JOBS)("tolerance", data.get("tolerance", DEFAULT_TOLERANCE)),
        max_failures=check.integer(1, DEFAULT_MAX_JOBS)("max_failures", data.get("max_failures", DEFAULT_MAX_FAILURES)),
    )
    return 1, 1, target


def _gallery(check: Checker, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        check.fail("gallery", f"expected a table, got {show(table)}")
        return {}
    for key, value in table.items():
        expected = GALLERY_KEYS.get(key)
        dotted = f"gallery.{key}"
        if expected is None:
            check.fail(dotted, f"unknown key{suggest(key, list(GALLERY_KEYS))}")
        elif expected is dict and not isinstance(value, dict):
            check.fail(dotted, f'expected a table such as {{ x = "steps", y = "seed" }}, got {show(value)}')
        elif isinstance(value, bool) or not isinstance(value, expected):
            check.fail(dotted, f"expected {'a string' if expected is str else 'an integer'}, got {show(value)}")
    if table.get("sort", "recipe") not in GALLERY_SORTS:
        check.fail("gallery.sort", f"expected one of {', '.join(GALLERY_SORTS)}, got {show(table['sort'])}")
    if isinstance(table.get("page_size"), int) and not 1 <= table["page_size"] <= 1000:
        check.fail("gallery.page_size", f"expected an integer from 1 to 1000, got {table['page_size']}")
    gallery = dict(table)
    grid = table.get("grid")
    if isinstance(grid, dict):
        for key, value in grid.items():
            if key not in GRID_KEYS:
                check.fail(f"gallery.grid.{key}", f"unknown key; a grid has x and y{suggest(key, GRID_KEYS)}")
            elif not isinstance(value, str):
                check.fail(f"gallery.grid.{key}", f"expected the name of an axis, got {show(value)}")
        if "x" not in grid:
            check.fail("gallery.grid", "expected x (and optionally y): the axes to lay out as columns and rows")
        gallery["grid"] = {k: AXIS_ALIASES.get(v, v) for k, v in grid.items() if isinstance(v, str)}
        if gallery["grid"].get("x") and gallery["grid"].get("x") == gallery["grid"].get("y"):
            check.fail("gallery.grid", "x and y must be different axes")
    return gallery


def find_recipe_files(project: Project, names: list[str]) -> list[tuple[Path, str | None]]:
    """The file of each named recipe, with the batch it names (None for the whole file)."""
    found = []
    for name in names:
        stem = Path(name).stem if name.endswith(".toml") else name
        path = project.recipes_dir / f"{stem}.toml"
        if path.is_file() and not stem.startswith("_"):
            found.append((path, None))
            continue
        # "foxes-night" is the batch "night" of foxes.toml: try each split at a "-".
        for cut in [i for i, c in enumerate(stem) if c == "-"]:
            candidate = project.recipes_dir / f"{stem[:cut]}.toml"
            if candidate.is_file() and not stem.startswith("_"):
                found.append((candidate, stem))
                break
        else:
            raise InputError([Problem(project.relative(project.recipes_dir), None, None,
                                      f"no recipe named {show(name)}{suggest(stem, recipe_names(project))}")])
    return found


def recipe_names(project: Project) -> list[str]:
    """Every name a recipe can be run by: file stems, and ``file-batch`` for each batch."""
    names = []
    for path in project.recipe_files():
        names.append(path.stem)
        try:
            batches = tomllib.loads(path.read_text(encoding="utf-8")).get("batch")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if isinstance(batches, list):
            names += [f"{path.stem}-{b['name']}" for b in batches if isinstance(b, dict) and isinstance(b.get("name"), str)]
    return names


def load_all(project: Project, names: list[str] | None = None) -> list[Recipe]:
    """Load the named recipes (default: every enabled one), raising one error listing every problem.

    Names are file stems (every batch of the file) or ``file-batch`` names. Recipe names must be
    unique across files, since the store and gallery key recipes by name.
    """
    wanted = find_recipe_files(project, names) if names else [(path, None) for path in project.recipe_files()]
    recipes: list[Recipe] = []
    problems: list[Problem] = []
    defined: dict[str, str] = {}
    for path, only in wanted:
        try:
            loaded = load_file(path, project)
        except InputError as error:
            problems.extend(p for p in error.problems if p not in problems)
            continue
        if only is not None:
            loaded_all, loaded = loaded, [r for r in loaded if r.name == only]
            if not loaded:
                batches = [r.name for r in loaded_all]
                problems.append(Problem(project.relative(path), None, None,
                                        f"no batch makes a recipe named {show(only)}{suggest(only, batches)}"))
        for recipe in loaded:
            if recipe.name in defined and defined[recipe.name] != recipe.display:
                problems.append(Problem(recipe.display, recipe.origins.get("", ("", None))[1], None,
                                        f"recipe name {show(recipe.name)} is also made by {defined[recipe.name]}"))
            defined.setdefault(recipe.name, recipe.display)
        recipes.extend(r for r in loaded if names or r.enabled)
    if problems:
        raise InputError(problems)
    return recipes
