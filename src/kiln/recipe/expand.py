"""Recipe → job specs: pure and deterministic.

The same recipe (and wildcard, library and reference files) gives the same jobs in the same
order on any machine. Each job's key is a hash of its canonical spec, so an unchanged job keeps
its key and its image, and two recipes that ask for the same thing share it.

The axes are walked outermost first in this order: repeat, prompt template, style, the prompts
that template and style expand to, model, size, steps, guidance, sampler, params, references,
seed, and the image index of ``count`` innermost, so images that differ only by seed sit
together. Axes named in one ``zip`` group walk together, in the place of the first.

A recipe with a ``target`` has no last job: its *cycle* is every combination of its axes, and
job ``k`` is combination ``k mod len(cycle)`` made for the ``k // len(cycle)``-th time, with the
seed that image would have under ``count`` (see :func:`kiln.recipe.seeds.image_seed`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kiln.errors import InputError, Problem
from kiln.project import Project
from kiln.recipe import styles
from kiln.recipe.axes import Dimension, dimensions
from kiln.recipe.model import Recipe
from kiln.recipe.prompts import expand_template, read_wildcards
from kiln.recipe.references import Choice, resolve
from kiln.recipe.seeds import image_seed, prompt_seed

KEY_LENGTH = 16
# The order job axes are listed in; params come after sampler.
AXES = ("repeat", "prompt", "style", "model", "size", "steps", "guidance", "sampler")
LAST_AXES = ("references", "seed", "image")


@dataclass(frozen=True)
class Job:
    key: str
    spec: dict[str, Any]
    axes: dict[str, Any]
    template: str


def job_key(spec: dict[str, Any]) -> str:
    """The hash of a spec's canonical JSON: sorted keys, no whitespace, UTF-8."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class _Cell:
    """One combination of the axes: everything about a job but its image and repeat number."""

    template: str
    spec: dict[str, Any]
    axes: dict[str, Any]


class Expansion:
    """A recipe's jobs: every one of them or, in target mode, any stretch of its sequence.

    Raises :class:`InputError` naming every problem (unknown wildcards, unparsable templates,
    references that match nothing, zip lengths, the job cap, grid axes).
    """

    def __init__(self, recipe: Recipe, project: Project):
        self.recipe = recipe
        self.warnings: list[Problem] = []
        problems: list[Problem] = []
        variants = self._variants(recipe, project, problems)
        slots, reference_problems = resolve(recipe.references, project, recipe.seed)
        problems.extend(reference_problems)
        if problems:
            raise InputError(problems)
        dims = self._dimensions(recipe, slots)
        self._varying: set[str] | None = None
        self.cycle = self._cycle(recipe, project, dims, variants)
        self._varying = self._varying_axes()
        self._check_grid()

    # the sequence ------------------------------------------------------------------------

    @property
    def total(self) -> int | None:
        """How many jobs a recipe without a target has (duplicates made once), or None."""
        return None if self.recipe.target else len(self.jobs())

    def jobs(self) -> list[Job]:
        """Every job of the recipe; with a target, the first ``target`` jobs of its sequence."""
        if self.recipe.target:
            return self.between(0, self.recipe.target.images)
        jobs: list[Job] = []
        seen: set[str] = set()
        for job in self._all():
            if job.key not in seen:
                seen.add(job.key)
                jobs.append(job)
        return jobs

    def between(self, start: int, stop: int) -> list[Job]:
        """Jobs ``start`` to ``stop - 1`` of a target recipe's endless sequence."""
        return [self.job(index) for index in range(start, stop)]

    def job(self, index: int) -> Job:
        """Job ``index`` of a target recipe's sequence: the same on every call and machine."""
        cell = self.cycle[index % len(self.cycle)]
        return self._job(cell, index // len(self.cycle), 0)

    def _all(self) -> Iterator[Job]:
        for repeat in range(self.recipe.repeat):
            for cell in self.cycle:
                for image in range(self.recipe.count):
                    yield self._job(cell, image, repeat)

    def _job(self, cell: _Cell, image: int, repeat: int) -> Job:
        seed = image_seed(cell.spec["seed"], image, repeat)
        spec = {**cell.spec, "seed": seed}
        axes = {"repeat": repeat, **cell.axes, "seed": seed, "image": image}
        if self._varying is not None:  # None only while working out which axes vary
            axes = {name: value for name, value in axes.items() if name in self._varying}
        return Job(job_key(spec), spec, axes, cell.template)

    # building -----------------------------------------------------------------------------

    def _variants(self, recipe: Recipe, project: Project, problems: list[Problem]) -> dict[tuple[int, int], list[tuple[str, int]]]:
        """The prompts of each (template, style) pair."""
        variants: dict[tuple[int, int], list[tuple[str, int]]] = {}
        wildcards = read_wildcards(project.wildcards_dir, project.relative(project.wildcards_dir) + "/")
        for (t, template), (s, style) in itertools.product(enumerate(recipe.prompts), enumerate(recipe.styles)):
            text = styles.apply(template.text, style)
            result = expand_template(
                text, mode=recipe.mode, max_prompts=recipe.max_prompts, recipe_seed=recipe.seed,
                wildcards=wildcards, limit=recipe.max_jobs,
            )
            where = f"library prompt {template.library}: " if template.library else ""
            key = "prompt.library" if template.library else "prompt"
            for error in result.errors:
                problem = recipe.problem(key, where + error)
                if problem not in problems:
                    problems.append(problem)
            messages = list(result.warnings)
            if result.variants is not None:
                messages.append(self._few_variants(result.variants, recipe))
            for message in messages:
                warning = recipe.problem(key, where + message)
                if warning not in self.warnings:
                    self.warnings.append(warning)
            variants[(t, s)] = result.prompts
        return variants

    @staticmethod
    def _few_variants(count: int, recipe: Recipe) -> str:
        shortfall = f"the template has {count} variant{'s' if count != 1 else ''}, fewer than max_prompts = {recipe.max_prompts}"
        if recipe.seed_policy == "per_prompt":
            return f"{shortfall}: each is drawn, then drawn again with seeds of its own"
        return (f"{shortfall}: it makes {count} prompt{'s' if count != 1 else ''}"
                ' (with seed_policy "per_prompt" each further draw would get seeds of its own)')

    def _dimensions(self, recipe: Recipe, slots: list[list[Choice]]) -> list[Dimension]:
        references = [tuple(ref for choice in combo for ref in choice) for combo in itertools.product(*slots)]
        axes: list[tuple[str, list[Any]]] = [
            ("prompt", list(range(len(recipe.prompts)))),
            ("style", list(range(len(recipe.styles)))),
            ("model", list(recipe.models)),
            ("size", list(recipe.sizes)),
            ("steps", list(recipe.steps)),
            ("guidance", list(recipe.guidance)),
            ("sampler", list(recipe.samplers)),
            *((name, list(values)) for name, values in recipe.params),
            ("references", references),
            ("seed", list(range(recipe.seeds_per_prompt)) if recipe.seed_policy == "per_prompt" else list(recipe.seeds)),
        ]
        lengths = {name: len(values) for name, values in axes}
        for group in recipe.zips:
            if "references" in group and len({lengths[name] for name in group}) > 1:
                shown = " but ".join(f"{name} has {lengths[name]}" for name in group)
                raise InputError([recipe.problem("zip", f"{shown} values; zipped axes need equal lengths")])
        return dimensions(axes, recipe.zips)

    def _cycle(self, recipe: Recipe, project: Project, dims: list[Dimension], variants: dict[tuple[int, int], list[tuple[str, int]]]) -> list[_Cell]:
        p = next(i for i, d in enumerate(dims) if "prompt" in d.names)
        s = next(i for i, d in enumerate(dims) if "style" in d.names)
        others = math.prod(len(d) for i, d in enumerate(dims) if i not in (p, s))
        if p == s:
            pairs = sum(len(variants[(e["prompt"], e["style"])]) for e in dims[p].entries)
        else:
            pairs = sum(len(variants[(e["prompt"], f["style"])]) for e in dims[p].entries for f in dims[s].entries)
        size = pairs * others
        total = size if recipe.target else size * recipe.count * recipe.repeat
        if total > recipe.max_jobs:
            what = f"the recipe's axes make {total:,} combinations" if recipe.target else f"the recipe expands to {total:,} jobs"
            raise InputError([recipe.problem(
                "max_jobs", f"{what}, more than the limit of {recipe.max_jobs:,} (raise max_jobs or shrink an axis)",
            )])

        engine_type = project.engine(recipe.engine).type
        point = max(p, s)
        cells: list[_Cell] = []
        seen: set[str] = set()
        for values in _walk(dims, point, variants):
            template = recipe.prompts[values["prompt"]]
            style = recipe.styles[values["style"]]
            text, occurrence = values["text"]
            seed = prompt_seed(recipe.seed, text, occurrence, values["seed"]) if recipe.seed_policy == "per_prompt" else values["seed"]
            width, height = values["size"]
            spec: dict[str, Any] = {
                "engine": recipe.engine,
                "engine_type": engine_type,
                "model": values["model"],
                "prompt": text,
                "negative_prompt": styles.negative(recipe.negative_prompt, style),
                "width": width,
                "height": height,
                "seed": seed,
                "steps": values["steps"],
                "guidance": values["guidance"],
                "sampler": values["sampler"],
                "references": [dict(ref) for ref in values["references"]],
            }
            params = {name: values[name] for name, _ in recipe.params}
            if params:
                spec["params"] = params
            key = job_key(spec)
            if key in seen:
                continue
            seen.add(key)
            axes = {
                "prompt": text,
                "style": style.name if style else None,
                "model": values["model"],
                "size": f"{width}x{height}",
                "steps": values["steps"],
                "guidance": values["guidance"],
                "sampler": values["sampler"],
                **params,
                "references": [ref["path"] for ref in values["references"]],
            }
            cells.append(_Cell(styles.apply(template.text, style), spec, axes))
        return cells

    def _varying_axes(self) -> set[str]:
        """The axes whose values differ between the recipe's jobs (all a target may reach)."""
        target = self.recipe.target
        if target:
            sample = self.between(0, target.images + target.tolerance + target.max_failures)
        else:
            sample = list(self._all())
        names = {name for job in sample for name in job.axes}
        return {name for name in names if len({json.dumps(job.axes[name], sort_keys=True) for job in sample}) > 1}

    def _check_grid(self) -> None:
        grid = self.recipe.gallery.get("grid") or {}
        problems = []
        for key in ("x", "y"):
            name = grid.get(key)
            if name and name not in self.axes:
                axes = ", ".join(self.axes) or "none"
                problems.append(self.recipe.problem(f"gallery.grid.{key}", f"{json.dumps(name)} is not an axis of this recipe; its axes: {axes}"))
        if problems:
            raise InputError(problems)

    @property
    def axes(self) -> list[str]:
        """The names of the axes that vary, in walking order."""
        order = [*AXES, *(name for name, _ in self.recipe.params), *LAST_AXES]
        return [name for name in order if name in (self._varying or ())]


def _walk(dims: list[Dimension], point: int, variants: dict[tuple[int, int], list[tuple[str, int]]]) -> Iterator[dict[str, Any]]:
    """Every combination of the dimensions, with each template's prompts walked at ``point``."""

    def walk(i: int, cell: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if i == len(dims):
            yield cell
            return
        for entry in dims[i].entries:
            values = {**cell, **entry}
            if i == point:
                for text in variants[(values["prompt"], values["style"])]:
                    yield from walk(i + 1, {**values, "text": text})
            else:
                yield from walk(i + 1, values)

    yield from walk(0, {})


def expand(recipe: Recipe, project: Project) -> list[Job]:
    """The recipe's jobs, in gallery order (with a target: the first ``target``).

    Raises :class:`InputError` if they exceed ``max_jobs``, or on any problem expansion finds.
    """
    return Expansion(recipe, project).jobs()


def expand_target(recipe: Recipe, project: Project, start: int, count: int) -> list[Job]:
    """Jobs ``start`` to ``start + count - 1`` of a target recipe's sequence (pure)."""
    if recipe.target is None:
        raise ValueError(f"{recipe.name} has no target")
    return Expansion(recipe, project).between(start, start + count)
