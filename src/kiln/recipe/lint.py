"""``kiln check``: every recipe file parsed and expanded, every problem and warning collected.

Problems (syntax, types, unknown keys, missing wildcard, library or reference files, zip
lengths, the job cap) stop a run; warnings (a truncated prompt list, a size the engine may
round, duplicate axis values) only inform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiln.errors import InputError, Problem
from kiln.project import Project
from kiln.recipe.expand import Expansion
from kiln.recipe.model import Recipe
from kiln.recipe.parse import load_file
from kiln.tomlfile import show


@dataclass
class Checked:
    """One recipe that passed: how many jobs it makes (None for a target recipe)."""

    recipe: Recipe
    jobs: int | None

    @property
    def label(self) -> str:
        return f"{self.recipe.display} [{self.recipe.batch}]" if self.recipe.batch else self.recipe.display

    @property
    def summary(self) -> str:
        target = self.recipe.target
        if target:
            made = f"target {target.images} (±{target.tolerance})"
        else:
            made = f"{self.jobs} job{'s' if self.jobs != 1 else ''}"
        return f"{made}{'' if self.recipe.enabled else ', disabled'}"


@dataclass
class CheckReport:
    checked: list[Checked] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def check_project(project: Project) -> CheckReport:
    """Parse and expand every recipe file, collecting problems instead of stopping at the first."""
    from kiln.engines import check_engines  # imports the adapters in use: only kiln check needs them

    report = CheckReport(problems=check_engines(project))
    names: dict[str, str] = {}
    for path in project.recipe_files():
        try:
            recipes = load_file(path, project)
        except InputError as error:
            report.problems.extend(error.problems)
            continue
        for recipe in recipes:
            report.warnings.extend(w for w in recipe.warnings if w not in report.warnings)
            if recipe.name in names:
                report.problems.append(Problem(recipe.display, None, None,
                                               f"recipe name {show(recipe.name)} is also made by {names[recipe.name]}"))
                continue
            names[recipe.name] = recipe.display
            try:
                expansion = Expansion(recipe, project)
            except InputError as error:
                report.problems.extend(p for p in error.problems if p not in report.problems)
                continue
            report.warnings.extend(w for w in expansion.warnings if w not in report.warnings)
            report.checked.append(Checked(recipe, expansion.total))
    report.warnings.sort(key=lambda w: (str(w.path), w.line or 0))
    return report
