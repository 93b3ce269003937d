"""The pages beyond the collections: the stats page, pages written in Markdown, Atom feeds.

``Extras.read`` gathers what they show before the collection pages are rendered, because
those pages link to them (the navigation, the feeds' ``<link rel="alternate">``);
``Extras.render`` writes them. They are few, so they are rendered on every build and
written only when their bytes changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, TemplateError

from kiln.errors import Problem
from kiln.project import Project
from kiln.site.collect import Site
from kiln.site.feeds import LIBRARY_FEED, library_feed, recipe_feed, recipe_feed_path
from kiln.site.layout import root_of
from kiln.site.output import Output
from kiln.site.stats import Stats, read_stats, stats_charts
from kiln.site.textpages import TextPage, read_text_pages
from kiln.store.db import Store

STATS = "stats.html"


@dataclass
class Extras:
    pages: list[TextPage]
    stats: Stats
    base_url: str

    @classmethod
    def read(cls, project: Project, store: Store, problems: list[Problem]) -> Extras:
        return cls(read_text_pages(project, problems), read_stats(store), project.base_url)

    @property
    def nav(self) -> list[tuple[str, str]]:
        """The site's own pages for the navigation: (path, title)."""
        return [(STATS, "Stats")] + [(page.path, page.title) for page in self.pages]

    def context(self) -> dict[str, Any]:
        """What every page template is given, for the navigation and feed links."""
        return {"nav": self.nav, "library_feed": LIBRARY_FEED, "recipe_feed": recipe_feed_path}

    def key(self) -> str:
        """A digest of what the other pages show of these (their links and titles)."""
        return hashlib.sha256(repr((self.nav, self.base_url)).encode()).hexdigest()

    def render(self, env: Environment, site: Site, assets: dict[str, str], output: Output, problems: list[Problem]) -> int:
        """Write the stats page, the Markdown pages and the feeds; returns how many pages
        (HTML files: feeds are not counted)."""
        common = {"site": site, "assets": assets, "image_count": len(site.images), **self.context()}
        files = 0
        for path, template, context in [
            (STATS, "stats.html", {"stats": self.stats, "charts": stats_charts(self.stats)}),
            *[(page.path, "text.html", {"page": page}) for page in self.pages],
        ]:
            try:
                html = env.get_template(template).render(common, root=root_of(path), current=path, **context)
            except (TemplateError, LookupError, TypeError, ValueError, ArithmeticError) as error:
                problems.append(Problem(template, getattr(error, "lineno", None), None, f"{type(error).__name__}: {error}"))
                continue
            output.write(path, html.encode("utf-8"))
            files += 1
        output.write(LIBRARY_FEED, library_feed(site, self.base_url))
        for recipe in site.recipes:
            output.write(recipe_feed_path(recipe.name), recipe_feed(site, recipe, self.base_url))
        return files
