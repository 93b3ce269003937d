"""The pages of the site, what each one shows, and rendering them into build/."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateError

from kiln.errors import Problem
from kiln.site.collect import Entry, Recipe, Site
from kiln.site.layout import INDEX, SEARCH, gallery_path, grid_path, image_path, root_of
from kiln.site.output import Output

PAGE_TEMPLATES = ("index.html", "gallery.html", "grid.html", "image.html", "search.html")
# Pages shown around the current one in a long pager, beside the first and the last.
PAGER_REACH = 2


@dataclass
class Pager:
    """One page of a recipe's gallery."""

    recipe: Recipe
    number: int

    @property
    def count(self) -> int:
        return self.recipe.page_count

    @property
    def entries(self) -> list[Entry]:
        return self.recipe.page_entries(self.number)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.count else None

    @property
    def window(self) -> list[int | None]:
        """Page numbers to offer, with None where a run of them is left out."""
        shown = sorted(
            {1, self.count}
            | set(range(max(1, self.number - PAGER_REACH), min(self.count, self.number + PAGER_REACH) + 1))
        )
        numbers: list[int | None] = []
        last = 0
        for n in shown:
            if n - last > 1:
                numbers.append(None)
            numbers.append(n)
            last = n
        return numbers


@dataclass
class Page:
    """One HTML file: where it goes, its template, and what the template sees."""

    path: str
    template: str
    context: dict[str, Any]


def plan(site: Site) -> Iterator[Page]:
    yield Page(INDEX, "index.html", {})
    yield Page(SEARCH, "search.html", {})
    for recipe in site.recipes:
        for number in range(1, recipe.page_count + 1):
            yield Page(gallery_path(recipe.name, number), "gallery.html", {"recipe": recipe, "pager": Pager(recipe, number)})
        if recipe.grid is not None:
            yield Page(grid_path(recipe.name), "grid.html", {"recipe": recipe, "grid": recipe.grid})
        entries = recipe.entries
        for i, entry in enumerate(entries):
            yield Page(
                image_path(recipe.name, entry.image.id),
                "image.html",
                {
                    "recipe": recipe,
                    "entry": entry,
                    "image": entry.image,
                    "previous": entries[i - 1] if i > 0 else None,
                    "next": entries[i + 1] if i + 1 < len(entries) else None,
                    "page": recipe.page_of(entry),
                },
            )


def _template_line(template: str, error: Exception) -> tuple[str, int | None]:
    """The template file and line an error arose in: a syntax error says so itself, a
    runtime error through the innermost template frame of its traceback (Jinja maps those
    frames to template lines)."""
    if getattr(error, "lineno", None):
        return getattr(error, "name", None) or template, error.lineno  # type: ignore[attr-defined]
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.endswith(".html")]
    if frames:
        return Path(frames[-1].filename).name, frames[-1].lineno
    return template, None


def render_pages(
    env: Environment, site: Site, assets: dict[str, str], output: Output, digest: str, problems: list[Problem]
) -> int:
    """Render every page into ``output``; returns how many pages there are.

    When ``digest`` says nothing the pages depend on changed since the last build, and the
    pages are as that build left them, nothing is rendered. A template error costs only the
    pages it breaks (an override's mistake should not stop the build), reported once per
    distinct error.
    """
    pages = list(plan(site))
    if output.unchanged((page.path for page in pages), digest):
        return len(pages)
    reported: set[str] = set()

    def report(template: str, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"
        if message not in reported:
            reported.add(message)
            problems.append(Problem(*_template_line(template, error), None, message))

    templates = {}
    for name in PAGE_TEMPLATES:
        try:
            templates[name] = env.get_template(name)
        except TemplateError as error:
            report(name, error)
    common = {"site": site, "assets": assets, "image_count": len(site.images)}
    for page in pages:
        template = templates.get(page.template)
        if template is None:
            continue
        try:
            html = template.render(common, root=root_of(page.path), **page.context)
        except (TemplateError, LookupError, TypeError, ValueError, ArithmeticError) as error:
            report(page.template, error)
            continue
        output.write(page.path, html.encode("utf-8"))
    return len(pages)
