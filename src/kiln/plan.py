"""Planning: what each recipe expands to and which of those jobs already have an image."""

from __future__ import annotations

from dataclasses import dataclass

from kiln.project import Project
from kiln.recipe import Job, Recipe, expand
from kiln.store import Store


@dataclass
class RecipePlan:
    recipe: Recipe
    jobs: list[Job]
    done: set[str]

    @property
    def todo(self) -> list[Job]:
        return [job for job in self.jobs if job.key not in self.done]


def make_plan(recipes: list[Recipe], project: Project, store: Store) -> list[RecipePlan]:
    """Expand each recipe and look up, in one pass per recipe, which jobs are done."""
    plans = []
    for recipe in recipes:
        jobs = expand(recipe, project)
        plans.append(RecipePlan(recipe, jobs, store.done_keys([job.key for job in jobs])))
    return plans


def record_plan(plan: RecipePlan, store: Store) -> None:
    """Save the recipe and its job list, so the gallery and Datasette know what it holds."""
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
