"""Planning: what each recipe expands to and which of those jobs already have an image.

A job whose image the user deleted (status ``deleted``) is neither made nor to run: plans
list it, so ``kiln plan`` can show it, but never hand it to the runner. In target mode it is
passed over like a failure that cost nothing, so the sequence moves on and the target is met
again by images the user keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiln.project import Project
from kiln.recipe import Expansion, Job, Recipe, library
from kiln.recipe.model import Target
from kiln.store import Store
from kiln.store import prompts as stored_prompts

# Job key → "succeeded" or "deleted", for the keys in either state (Store.job_states).
StateLookup = Callable[[Sequence[str]], dict[str, str]]


@dataclass
class RecipePlan:
    """A recipe's jobs and which of them are done.

    For a recipe with a ``target``, ``jobs`` starts as the images already made (within the
    stretch of the sequence earlier runs can have reached: ``target + tolerance +
    max_failures`` jobs plus one for each deleted job in it, at most ``target + tolerance`` of
    them) followed by the first jobs not yet made, enough to reach the target if they all
    succeed. :meth:`more` extends it. ``deleted`` jobs are listed but never run.
    """

    recipe: Recipe
    jobs: list[Job]
    done: set[str]
    expansion: Expansion | None = None
    project: Project | None = None
    lookup: StateLookup | None = None
    cursor: int = 0  # target mode: where :meth:`more` resumes looking along the sequence
    listed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    @property
    def todo(self) -> list[Job]:
        return [job for job in self.jobs if job.key not in self.done and job.key not in self.deleted]

    @property
    def target(self) -> Target | None:
        return self.recipe.target

    @property
    def made(self) -> int:
        """How many of the plan's jobs have an image."""
        return sum(1 for job in self.jobs if job.key in self.done)

    @property
    def remaining(self) -> int:
        """Target mode: how many more images must succeed to reach the target (0 if reached)."""
        return max(0, self.target.images - self.made) if self.target else 0

    def more(self, n: int) -> list[Job]:
        """Target mode: the next ``n`` jobs of the sequence that have no image yet.

        They are appended to ``jobs`` and returned. Jobs passed over because an earlier run
        made them are appended too and added to ``done``, so they count toward the target;
        jobs whose image was deleted are appended and added to ``deleted``, and do not.
        A runner drives a target plan like this::

            queue, failures = list(plan.todo), 0
            while plan.remaining and failures < plan.target.max_failures:
                if not queue:
                    queue = plan.more(plan.remaining)  # replacements for the failed ones
                job = queue.pop(0)
                ...generate job: on success plan.done.add(job.key), else failures += 1...
            record_plan(plan, store)  # so the recipe lists the replacements too

        A runner that works on several jobs at once may have at most ``plan.remaining +
        plan.target.tolerance`` of them in flight. The sequence never ends, never repeats a
        job, and is the same on every call and machine.
        """
        if self.target is None or self.expansion is None:
            raise ValueError(f"{self.recipe.name} has no target, so it has no more jobs")
        found: list[Job] = []
        while len(found) < n:
            window = self.expansion.between(self.cursor, self.cursor + n)
            fresh = [job.key for job in window if job.key not in self.listed]
            states = self.lookup(fresh) if self.lookup and fresh else {}
            for job in window:
                if len(found) == n:
                    break
                self.cursor += 1
                if job.key in self.listed:
                    continue
                self.jobs.append(job)
                self.listed.add(job.key)
                state = states.get(job.key)
                if state == "succeeded":
                    self.done.add(job.key)
                elif state == "deleted":
                    self.deleted.add(job.key)
                else:
                    found.append(job)
        return found


def make_plan(recipes: list[Recipe], project: Project, store: Store) -> list[RecipePlan]:
    """Expand each recipe and look up, in one pass per recipe, which jobs are done."""
    return list(plan_each(recipes, project, store))


def plan_each(recipes: list[Recipe], project: Project, store: Store) -> Iterator[RecipePlan]:
    """:func:`make_plan`'s plans one at a time, each as soon as it is made: ``kiln run`` starts
    a recipe's engine once its plan has work, while the next recipes are planned."""
    for recipe in recipes:
        expansion = Expansion(recipe, project)
        if recipe.target is None:
            jobs = expansion.jobs()
            states = store.job_states([job.key for job in jobs])
            yield RecipePlan(
                recipe, jobs, _having(states, "succeeded"), expansion, project, store.job_states,
                deleted=_having(states, "deleted"),
            )
        else:
            yield _target_plan(recipe, expansion, project, store.job_states)


def _having(states: dict[str, str], status: str) -> set[str]:
    return {key for key, state in states.items() if state == status}


def _target_plan(recipe: Recipe, expansion: Expansion, project: Project, lookup: StateLookup) -> RecipePlan:
    target = recipe.target
    assert target is not None
    # A deleted job takes no place in the stretch earlier runs can have reached: they went on
    # past it, so the window grows by one for each.
    base = target.images + target.tolerance + target.max_failures
    window: list[Job] = []
    states: dict[str, str] = {}
    reach = base
    while len(window) < reach:
        window += (fresh := expansion.between(len(window), reach))
        if not fresh:
            break
        states.update(lookup([job.key for job in fresh]))
        reach = base + sum(1 for job in window if states.get(job.key) == "deleted")
    made_jobs = [job for job in window if states.get(job.key) == "succeeded"][: target.images + target.tolerance]
    deleted = {job.key for job in window if states.get(job.key) == "deleted"}
    needed = max(0, target.images - len(made_jobs))
    keep = {job.key for job in made_jobs} | set([job.key for job in window if job.key not in states][:needed])
    jobs = [job for job in window if job.key in keep or job.key in deleted]
    cursor = next((i for i, job in enumerate(window) if job.key not in states and job.key not in keep), len(window))
    return RecipePlan(
        recipe, jobs, {job.key for job in made_jobs}, expansion, project, lookup, cursor, keep | deleted, deleted
    )


def record_plan(plan: RecipePlan, store: Store) -> None:
    """Save the recipe and its job list, so the gallery and Datasette know what it holds.

    Library prompts the recipe reads are refreshed in the store, and counted as used when the
    plan has jobs to run.
    """
    recipe = plan.recipe
    store.save_recipe(
        name=recipe.name,
        path=recipe.display,
        title=recipe.title,
        description=recipe.description,
        source_sha256=recipe.source_sha256,
        gallery=recipe.gallery,
        jobs=[(job.key, job.spec, job.axes) for job in plan.jobs],
    )
    if plan.project and recipe.libraries and plan.todo:
        used = [entry for entry in library.scan(plan.project) if entry.name in recipe.libraries]
        stored_prompts.note_use(store, used)


def prompt_library(project: Project, store: Store) -> list[dict[str, Any]]:
    """The prompt library as the store knows it, after refreshing it from ``prompts/``."""
    stored_prompts.sync(store, library.scan(project))
    return stored_prompts.listing(store)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "references":
        return "+".join(path.rsplit("/", 1)[-1] for path in value) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


MAX_LISTED_VALUES = 8
MAX_VALUE_WIDTH = 40


def table(plan: RecipePlan) -> list[str]:
    """What ``kiln plan`` prints: the axes and their values, one line per job, the counts."""
    recipe = plan.recipe
    axes = plan.expansion.axes if plan.expansion else []
    lines = [f"{recipe.name} ({recipe.display}): {_amount(plan)}"]
    for name in axes:
        values = list(dict.fromkeys(_shown(name, job.axes.get(name)) for job in plan.jobs))
        shortened = [v if len(v) <= MAX_VALUE_WIDTH else v[: MAX_VALUE_WIDTH - 1] + "…" for v in values[:MAX_LISTED_VALUES]]
        listed = " | ".join(shortened) + (" | …" if len(values) > MAX_LISTED_VALUES else "")
        lines.append(f"  {name:<10} {len(values):>3} value{'s' if len(values) != 1 else ' '}  {listed}")
    columns = [name for name in axes if name not in ("prompt", "seed")] + ["seed", "prompt"]
    rows = [
        ["done" if job.key in plan.done else "deleted" if job.key in plan.deleted else "new", job.key]
        + [_shown(name, job.axes.get(name, job.spec.get(name))) for name in columns]
        for job in plan.jobs
    ]
    header = ["", "key", *columns]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    deleted = sum(1 for job in plan.jobs if job.key in plan.deleted)
    gone = f", {deleted} deleted (not made again)" if deleted else ""
    lines.append(f"{recipe.name}: {_amount(plan)}, {plan.made} already made{gone}, {len(plan.todo)} to run")
    return lines


def _amount(plan: RecipePlan) -> str:
    target = plan.recipe.target
    if target:
        return f"target {target.images} (±{target.tolerance}), {len(plan.jobs)} jobs planned"
    return f"{len(plan.jobs)} job{'s' if len(plan.jobs) != 1 else ''}"
