"""Recipe → job specs: pure and deterministic.

The same recipe (and wildcard files) gives the same jobs in the same order on any machine.
Each job's key is a hash of its canonical spec, so an unchanged job keeps its key and its
image, and two recipes that ask for the same thing share it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamicprompts.generators import CombinatorialPromptGenerator
from dynamicprompts.wildcards import WildcardManager

from kiln.errors import InputError, Problem
from kiln.project import Project
from kiln.recipe.model import Recipe
from kiln.recipe.parse import derive_seed

KEY_LENGTH = 16
_WILDCARD = re.compile(r"__([\w/*.-]+?)__")
# The order axes are nested in, outermost first: images that differ only by seed sit together.
AXES = ("prompt", "model", "size", "steps", "guidance", "sampler", "seed", "image")


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


def expand_prompt(template: str, recipe: Recipe, wildcards: Path) -> list[str]:
    """Every variant of one prompt template, in order, without repeats."""
    manager = WildcardManager(wildcards if wildcards.is_dir() else None)
    for name in _WILDCARD.findall(template):
        if not manager.get_values(name):
            raise InputError([_prompt_problem(recipe, f"no wildcard file for __{name}__ in {wildcards.name}/")])
    generator = CombinatorialPromptGenerator(manager)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prompts = generator.generate(template, max_prompts=recipe.max_jobs + 1)
    except Exception as exc:  # dynamicprompts raises pyparsing errors with the column
        raise InputError([_prompt_problem(recipe, f"cannot parse {template!r}: {exc}")]) from None
    return list(dict.fromkeys(str(p) for p in prompts))


def _prompt_problem(recipe: Recipe, message: str) -> Problem:
    return Problem(recipe.display, recipe.lines.get("prompt"), "prompt", message)


def expand(recipe: Recipe, project: Project) -> list[Job]:
    """The recipe's jobs, in gallery order. Raises if they exceed ``max_jobs``."""
    engine = project.engine(recipe.engine)
    wildcards = project.root / "wildcards"
    prompts: list[tuple[str, str]] = [
        (template, prompt) for template in recipe.prompts for prompt in expand_prompt(template, recipe, wildcards)
    ]
    total = len(prompts) * len(recipe.models) * len(recipe.sizes) * len(recipe.steps) * len(recipe.guidance)
    total *= len(recipe.samplers) * len(recipe.seeds) * recipe.count
    if total > recipe.max_jobs:
        raise InputError(
            [
                Problem(
                    recipe.display,
                    recipe.lines.get("max_jobs"),
                    "max_jobs",
                    f"the recipe expands to {total:,} jobs, more than the limit of {recipe.max_jobs:,}"
                    " (raise max_jobs or shrink an axis)",
                )
            ]
        )

    jobs: list[Job] = []
    seen: set[str] = set()
    for (template, prompt), model, size, steps, guidance, sampler, base_seed, index in itertools.product(
        prompts, recipe.models, recipe.sizes, recipe.steps, recipe.guidance, recipe.samplers,
        recipe.seeds, range(recipe.count),
    ):
        seed = base_seed if index == 0 else derive_seed(base_seed, index)
        spec = {
            "engine": recipe.engine,
            "engine_type": engine.type,
            "model": model,
            "prompt": prompt,
            "negative_prompt": recipe.negative_prompt,
            "width": size[0],
            "height": size[1],
            "seed": seed,
            "steps": steps,
            "guidance": guidance,
            "sampler": sampler,
            "references": [],
        }
        key = job_key(spec)
        if key in seen:
            continue
        seen.add(key)
        values = {
            "prompt": prompt,
            "model": model,
            "size": f"{size[0]}x{size[1]}",
            "steps": steps,
            "guidance": guidance,
            "sampler": sampler,
            "seed": seed,
            "image": index,
        }
        jobs.append(Job(key=key, spec=spec, axes=values, template=template))
    return _keep_varying_axes(jobs)


def _keep_varying_axes(jobs: list[Job]) -> list[Job]:
    """Keep in each job's ``axes`` only the parameters that differ between the jobs."""
    varying = [name for name in AXES if len({json.dumps(job.axes[name]) for job in jobs}) > 1]
    return [Job(job.key, job.spec, {n: job.axes[n] for n in varying}, job.template) for job in jobs]
