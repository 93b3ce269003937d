"""The pages of the site, what each one shows, and rendering them into build/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, TemplateError

from kiln.errors import Problem
from kiln.site.collect import Entry, Recipe, Site
from kiln.site.layout import INDEX, gallery_path, image_path, root_of
from kiln.site.output import Output

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
        for n in shown:
            if numbers and n - numbers[-1] > 1:  # type: ignore[operator]
                numbers.append(None)
            numbers.append(n)
        return numbers


@dataclass
class Page:
    """One HTML file: where it goes, its template, and what the template sees."""

    path: str
    template: str
    context: dict[str, Any]


def plan(site: Site) -> Iterator[Page]:
    yield Page(INDEX, "index.html", {})
    for recipe in site.recipes:
        for number in range(1, recipe.page_count + 1):
            yield Page(gallery_path(recipe.name, number), "gallery.html", {"recipe": recipe, "pager": Pager(recipe, number)})
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


def render_pages(
    env: Environment, site: Site, assets: dict[str, str], output: Output, problems: list[Problem]
) -> int:
    """Render every page into ``output``; returns how many pages there are.

    A template error costs only the pages it breaks, reported once per distinct error.
    """
    templates = {name: env.get_template(name) for name in ("index.html", "gallery.html", "image.html")}
    common = {"site": site, "assets": assets, "image_count": len(site.images)}
    reported: set[str] = set()
    count = 0
    for page in plan(site):
        count += 1
        try:
            html = templates[page.template].render(common, root=root_of(page.path), **page.context)
        except (TemplateError, LookupError) as error:
            message = f"{type(error).__name__}: {error}"
            if message not in reported:
                reported.add(message)
                problems.append(Problem(page.template, getattr(error, "lineno", None), None, message))
            continue
        output.write(page.path, html.encode("utf-8"))
    return count
