"""``kiln import-queue``: a legacy JSON generation queue → recipe files, one per group.

The queue file holds ``groups`` (each listing its entries' ids, in order) and ``entries``. An
entry is one batch: a prompt (``inline`` text, a ``library`` file, or ``wildcard`` files to draw
from), a resolution, a model and style, ``imagesPerBatch`` × ``batchCount`` images (or, in
``target`` mode, ``targetImages`` with a ``tolerance``), reference patterns and ``extParams``.

A group with one entry becomes a plain recipe, one with several a file of ``[[batch]]`` tables.
The legacy queue sampled a fresh prompt for every batch, so a prompt with variants or
wildcards becomes ``mode = "random"`` with ``max_prompts = batchCount`` and a seed per draw.
Whatever has no equivalent, or needs files copied into the project, is reported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import KilnError
from kiln.project import Project
from kiln.recipe import library
from kiln.recipe.checker import ASPECTS, MAX_SIDE, MIN_SIDE
from kiln.recipe.prompts import is_dynamic
from kiln.recipe.references import parse_pattern, resolve

PRESETS = {"1k": 1024, "2k": 2048, "4k": 4096, "8k": 8192}
REFERENCE_KINDS = {"explicit": "{}", "random": "!{}", "random_recursive": "!!{}", "all": "!!{}!!"}
KNOWN_PARAMS = {"steps", "cfgScale", "guidanceScale", "strength", "seed", "safetyChecker", "aspectRatio"}


@dataclass
class ImportReport:
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    groups: int = 0
    entries: int = 0

    def lines(self) -> list[str]:
        lines = [*self.written, *self.skipped]
        if self.notes:
            lines.append("not carried over:")
            lines.extend(f"  {note}" for note in self.notes)
        lines.append(
            f"imported {self.groups} group{'s' if self.groups != 1 else ''} "
            f"({self.entries} entr{'ies' if self.entries != 1 else 'y'}), "
            f"{len(self.written)} file{'s' if len(self.written) != 1 else ''} written, {len(self.skipped)} skipped"
        )
        return lines


@dataclass
class _Recipe:
    """The keys of one converted entry, in the order they are written, and what was lost."""

    keys: list[tuple[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def set(self, key: str, value: Any) -> None:
        self.keys.append((key, value))


def import_queue(project: Project, path: Path, *, engine: str = "placeholder", force: bool = False) -> ImportReport:
    """Write a recipe file per group of the queue at ``path``; never overwrite unless ``force``."""
    try:
        queue = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KilnError(f"{path}: not a JSON queue file ({exc})") from None
    if not isinstance(queue, dict) or not isinstance(queue.get("groups"), list) or not isinstance(queue.get("entries"), list):
        raise KilnError(f"{path}: expected a queue with \"groups\" and \"entries\" lists")
    if engine != "placeholder" and engine not in project.engines:
        raise KilnError(f"no engine named {engine!r} in kiln.toml")
    report = ImportReport()
    if queue.get("version", 1) != 1:
        report.notes.append(f"the queue is version {queue.get('version')!r}; kiln reads version 1 and tried anyway")
    entries = {e.get("id"): e for e in queue["entries"] if isinstance(e, dict)}
    grouped: set[Any] = set()
    groups = sorted((g for g in queue["groups"] if isinstance(g, dict)), key=lambda g: g.get("sortOrder", 0))
    names: set[str] = set()
    for index, group in enumerate(groups, start=1):
        members = []
        for entry_id in group.get("entries", []):
            if entry_id in entries:
                members.append(entries[entry_id])
                grouped.add(entry_id)
            else:
                report.notes.append(f"group {group.get('name')!r} lists entry {entry_id!r}, which the file does not hold")
        _write_group(project, str(group.get("name") or f"group {index}"), members, engine, force, names, report)
    loose = [entry for entry_id, entry in entries.items() if entry_id not in grouped]
    if loose:
        _write_group(project, "ungrouped", loose, engine, force, names, report)
    return report


def _slug(name: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "queue"
    if not slug[0].isalnum():
        slug = f"q{slug}"
    candidate, n = slug, 2
    while candidate in taken:
        candidate, n = f"{slug}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _write_group(
    project: Project, name: str, entries: list[dict[str, Any]], engine: str, force: bool, taken: set[str], report: ImportReport
) -> None:
    stem = _slug(name, taken)
    path = project.recipes_dir / f"{stem}.toml"
    shown = project.relative(path)
    if path.exists() and not force:
        report.skipped.append(f"skipped {shown}: it exists (--force overwrites it)")
        return
    report.groups += 1
    report.entries += len(entries)
    converted = [_entry(project, entry, engine) for entry in entries]
    lines = [f"# Imported from a legacy queue: group {json.dumps(name, ensure_ascii=False)}."]
    if len(converted) == 1:
        lines.extend([f"title = {_toml(name)}", *_body(converted[0])])
        recipes = [stem]
    else:
        lines.append("")
        for i, batch in enumerate(converted, start=1):
            lines.extend(["[[batch]]", f"title = {_toml(f'{name} {i}')}", *_body(batch), ""])
        recipes = [f"{stem}-{i}" for i in range(1, len(converted) + 1)]
    for recipe, batch in zip(recipes, converted):
        report.notes.extend(f"{recipe}: {note}" for note in batch.notes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
    report.written.append(f"wrote {shown}: {', '.join(recipes)}")


def _body(recipe: _Recipe) -> list[str]:
    return [*recipe.comments, *(f"{key} = {_toml(value)}" for key, value in recipe.keys)]


def _entry(project: Project, entry: dict[str, Any], engine: str) -> _Recipe:
    out = _Recipe(comments=[f"# legacy entry {entry.get('id')}"])
    params = dict(entry.get("extParams") or {})
    if entry.get("enabled") is False:
        out.set("enabled", False)
    out.set("engine", engine)
    if entry.get("model"):
        out.set("model", str(entry["model"]))
    dynamic = _prompt(project, entry.get("prompt") or {}, out)
    _size(entry.get("resolution") or {}, params.get("aspectRatio"), out)
    _style(project, entry.get("style"), out)
    steps = params.get("steps")
    if isinstance(steps, int) and 1 <= steps <= 200:
        out.set("steps", steps)
    elif steps is not None:
        out.notes.append(f"extParams.steps {steps!r} is not an integer from 1 to 200")
    guidance = params.get("guidanceScale", params.get("cfgScale"))
    if "guidanceScale" in params and "cfgScale" in params:
        out.notes.append(f"extParams.cfgScale {params['cfgScale']!r}: guidance is taken from guidanceScale")
    if isinstance(guidance, int | float) and not isinstance(guidance, bool) and 0 <= guidance <= 50:
        out.set("guidance", float(guidance))
    elif guidance is not None:
        out.notes.append(f"guidance {guidance!r} is not a number from 0 to 50")
    extra = {"strength": params.get("strength"), "safety_checker": params.get("safetyChecker")}
    for key, value in params.items():
        if key not in KNOWN_PARAMS:
            extra[re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()] = value
    extra = {k: v for k, v in extra.items() if v is not None}
    for key, value in list(extra.items()):
        if not isinstance(value, str | int | float | bool):
            out.notes.append(f"extParams.{key} {json.dumps(value)} is not a single value")
            del extra[key]
    _amounts(entry, params.get("seed"), dynamic, out)
    if extra:
        out.set("params", extra)
    _references(project, entry.get("references") or [], out)
    return out


def _prompt(project: Project, prompt: dict[str, Any], out: _Recipe) -> bool:
    """Set ``prompt``; True if it draws a fresh prompt per batch (variants or wildcards)."""
    kind, value = prompt.get("type"), prompt.get("value")
    if kind == "library" and isinstance(value, str):
        name = re.sub(r"\.(txt|md)$", "", value.strip().lstrip("/"))
        out.set("prompt", {"library": name})
        if library.file_for(project, name) is None:
            out.notes.append(f"library prompt {value!r}: copy it into {project.relative(project.prompts_dir)}/{name}.txt")
            return False
        try:
            return is_dynamic(library.read(project, name))
        except ValueError as error:
            out.notes.append(str(error))
            return False
    if kind == "wildcard":
        files = value if isinstance(value, list) else [value]
        names = [re.sub(r"\.(txt|yaml|yml|json)$", "", str(f).strip().lstrip("/")) for f in files if str(f).strip()]
        if not names:
            out.set("prompt", "?")
            out.notes.append("a wildcard prompt with no files; write the prompt by hand")
            return False
        out.set("prompt", "{" + "|".join(f"__{n}__" for n in names) + "}" if len(names) > 1 else f"__{names[0]}__")
        wildcards = project.relative(project.wildcards_dir)
        missing = [n for n in names if not any((project.wildcards_dir / f"{n}{s}").is_file() for s in (".txt", ".yaml", ".yml", ".json"))]
        if missing:
            out.notes.append(f"wildcard files {', '.join(missing)}: copy them into {wildcards}/ (one prompt per line)")
        return True
    text = value if isinstance(value, str) else " ".join(str(v) for v in value or [])
    if kind != "inline":
        out.notes.append(f"prompt type {kind!r} is unknown; its value is used as an inline prompt")
    out.set("prompt", text or "?")
    if not text:
        out.notes.append("the entry has no prompt; write one")
    return is_dynamic(text)


def _size(resolution: dict[str, Any], aspect_param: Any, out: _Recipe) -> None:
    width, height = resolution.get("width"), resolution.get("height")
    if resolution.get("type", "dimensions") == "dimensions" and isinstance(width, int) and isinstance(height, int):
        scale = min(1.0, MAX_SIDE / max(width, height))
        fitted = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
        if fitted != (width, height):
            out.notes.append(f"size {width}x{height} is outside {MIN_SIDE}-{MAX_SIDE} pixels a side; made {fitted[0]}x{fitted[1]}")
        out.set("size", f"{fitted[0]}x{fitted[1]}")
        return
    preset = resolution.get("preset")
    aspect = resolution.get("aspectRatio") or aspect_param or "square"
    aspect = "1:1" if aspect == "square" else aspect
    if preset not in PRESETS:
        out.notes.append(f"resolution preset {preset!r} has no kiln equivalent; the default size is used")
        return
    long_edge = min(PRESETS[preset], MAX_SIDE)
    if long_edge != PRESETS[preset]:
        out.notes.append(f"resolution preset {preset!r} is larger than {MAX_SIDE} pixels; made {MAX_SIDE}")
    if aspect not in ASPECTS:
        out.notes.append(f"aspect ratio {aspect!r} has no kiln equivalent; made 1:1")
        aspect = "1:1"
    out.set("size", {"long_edge": long_edge, "aspect": aspect})


def _style(project: Project, style: Any, out: _Recipe) -> None:
    if not style:
        return
    if style in project.styles:
        out.set("style", style)
        return
    out.comments.append(f"# style = {_toml(style)}  (define [styles.{style}] in kiln.toml, then uncomment)")
    out.notes.append(f"style {style!r} is not defined in kiln.toml or styles.toml; the line is commented out")


def _amounts(entry: dict[str, Any], seed: Any, dynamic: bool, out: _Recipe) -> None:
    """count, seeds, mode and target, from the batch sizes, execution mode and seed."""
    per_batch = entry.get("imagesPerBatch") or 1
    batches = entry.get("batchCount") or 1
    target = entry.get("targetImages")
    fixed_seed = isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0
    if entry.get("executionMode") == "target" and not (isinstance(target, int) and target >= 1):
        out.notes.append("target mode without targetImages; imported as a fixed number of images")
    if entry.get("executionMode") == "target" and isinstance(target, int) and target >= 1:
        if dynamic:
            out.set("mode", "random")
            out.set("max_prompts", target)
        if fixed_seed or dynamic:
            out.set("seed_policy", "fixed" if fixed_seed else "per_prompt")
        if fixed_seed:
            out.set("seeds", [seed])
        out.set("target", target)
        out.set("tolerance", int(entry.get("tolerance") or 0))
        if per_batch > 1:
            out.notes.append(f"imagesPerBatch {per_batch}: kiln makes one image per job, until the target")
        return
    if dynamic:
        out.set("mode", "random")
        out.set("max_prompts", batches)
        out.set("seed_policy", "fixed" if fixed_seed else "per_prompt")
        if fixed_seed:
            out.set("seeds", [seed])
        if per_batch > 1:
            out.set("count", per_batch)
        return
    if fixed_seed:
        out.set("seed_policy", "fixed")
        out.set("seeds", [seed])
        if per_batch * batches > 1:
            out.set("count", per_batch * batches)
            out.notes.append(f"seed {seed}: images after the first use seeds derived from it")
        return
    if batches > 1:
        out.set("seeds", batches)
    if per_batch > 1:
        out.set("count", per_batch)


def _references(project: Project, references: list[Any], out: _Recipe) -> None:
    patterns = []
    for ref in references:
        if not isinstance(ref, dict):
            continue
        kind, raw = ref.get("type"), str(ref.get("path") or "")
        path = raw.split("/references/")[-1] if raw.startswith("/") else raw
        if kind == "random_global":
            text = f"!#{ref.get('count') or 1}"
        elif kind == "wildcard":
            text = raw if raw.startswith("{") else "{" + raw + "}"
        elif kind in REFERENCE_KINDS:
            if path.startswith("/"):
                out.notes.append(f"reference {raw!r} is outside any references/ folder; copy it into references/ and fix the path")
                path = path.rsplit("/", 1)[-1]
            text = REFERENCE_KINDS[kind].format(path.strip("/") if kind != "explicit" else path)
        else:
            out.notes.append(f"reference type {kind!r} is unknown: {raw!r} was left out")
            continue
        if isinstance(parse_pattern(text, ("", None, "references")), str):
            out.notes.append(f"reference {raw!r} ({kind}) has no kiln pattern; left out")
            continue
        patterns.append(text)
    if not patterns:
        return
    out.set("references", patterns)
    parsed = tuple(p for p in (parse_pattern(t, ("", None, "references")) for t in patterns) if not isinstance(p, str))
    _, problems = resolve(parsed, project, 0)
    for problem in problems:
        out.notes.append(f"{problem.message} (copy the reference images into {project.relative(project.references_dir)}/)")


def _toml(value: Any) -> str:
    """``value`` as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
