"""The pages of the site, the inputs each one is made from, and rendering them.

Every page is planned from thin rows with a digest of everything it shows: the images on it
(ids and revisions), its neighbours, and for a collection's first page and the front page the
collection's header. A page whose digest is the one the last build recorded is left alone;
the others are rendered, in batches that read the full rows of just their images, in worker
processes when there are many.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from kiln.errors import Problem
from kiln.site.collect import Entry, Image, fetch_images, make_grid
from kiln.site.collections import Member, parse_axes
from kiln.site.layout import INDEX, grid_path, image_path, root_of
from kiln.site.output import Output
from kiln.site.render import environment
from kiln.site.views import Gallery, Pager, pagers
from kiln.store.db import Store

PAGE_TEMPLATES = ("index.html", "gallery.html", "grid.html", "image.html")


@dataclass
class Page:
    """One HTML file to render: where, with which template, from what."""

    path: str
    template: str
    gallery: Gallery | None = None
    pager: Pager | None = None
    members: list[Member] = field(default_factory=list)
    previous: Member | None = None
    next: Member | None = None
    number: int = 1
    galleries: list[Gallery] = field(default_factory=list)  # the front page's collections
    image_count: int = 0  # the front page's: images the site shows
    owner: str = ""  # who the build state records it under
    inputs: str = ""  # the digest of what it is made from


def digest(*parts: Any) -> str:
    """A digest of ``parts`` (tuples, strings and numbers, whose ``repr`` is stable)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def shown(member: Member, missing: dict[str, str]) -> tuple:
    """What of a member a page shows: it changes when its revision or its missing files do."""
    return (*member[:10], missing.get(member.image_id, ""))


def collection_pages(
    gallery: Gallery, members: Sequence[Member | None], site_key: str, missing: dict[str, str],
    parts: Container[int] | None = None, images: Iterable[int] | None = None,
) -> Iterator[tuple[Page, str]]:
    """Each page of one collection with the digest of its inputs; or only the first page, the
    pages numbered in ``parts`` and (of a recipe) the image pages of the members at the indexes
    ``images``, ``members`` then holding only what those show (None where a member was not read)."""
    head = digest(gallery.digest_parts())
    brief = (gallery.name, gallery.title, gallery.kind)
    for pager in pagers(gallery):
        if parts is not None and pager.number not in parts and not pager.is_first:
            continue
        on_page = members[pager.start : pager.start + pager.size]
        assert None not in on_page, f"{pager.path} planned from members not read"
        about = head if pager.is_first else brief
        inputs = digest(
            site_key, "gallery", pager.path, pager.label, pager.previous, pager.next, pager.window, about,
            [shown(m, missing) for m in on_page],
        )
        yield Page(pager.path, "gallery.html", gallery, pager, on_page), inputs
    if gallery.kind not in ("recipe", "archived"):
        return  # a virtual collection links to the images' pages in their recipes
    if gallery.grid is not None and parts is None:
        inputs = digest(site_key, "grid", head, [shown(m, missing) for m in members])
        yield Page(grid_path(gallery.name), "grid.html", gallery, members=members), inputs
    size = gallery.page_size
    many = gallery.page_count > 1
    for i in range(len(members)) if images is None else images:
        member = members[i]
        assert member is not None, f"image page {i} of {gallery.name} planned from members not read"
        before = members[i - 1] if i > 0 else None
        after = members[i + 1] if i + 1 < len(members) else None
        number = i // size + 1
        inputs = digest(
            site_key, "image", brief, number, many, shown(member, missing),
            before.image_id if before else None, after.image_id if after else None,
        )
        path = image_path(gallery.name, member.image_id)
        yield Page(path, "image.html", gallery, members=[member], previous=before, next=after, number=number), inputs


def front_page(galleries: list[Gallery], image_count: int, site_key: str, missing: dict[str, str]) -> tuple[Page, str]:
    covers = [(g.digest_parts(), missing.get(g.cover_member.image_id, "") if g.cover_member else "") for g in galleries]
    page = Page(INDEX, "index.html", galleries=galleries, image_count=image_count)
    return page, digest(site_key, "index", image_count, covers)


@dataclass
class Setup:
    """What rendering needs besides the pages, the same for every batch of a build (and
    cheap to send to a worker process)."""

    db_path: Path
    build_dir: Path
    theme: tuple[Path, ...]
    theme_key: str
    assets: dict[str, str]
    site: dict[str, str]  # title, description
    links: list[Any]
    where: str  # the store, as problems name it
    fresh: bool = False  # the build folder held nothing as the build began (kiln/site/output.py)


def members_of(pages: list[Page]) -> Iterator[Member]:
    for page in pages:
        yield from page.members
        yield from (m for m in (page.previous, page.next) if m is not None)
        for gallery in page.galleries:
            if gallery.cover_member is not None:
                yield gallery.cover_member


def render_batch(
    store: Store, setup: Setup, pages: list[Page], missing: dict[str, str]
) -> tuple[list[tuple[str, int, int, bool]], list[Problem]]:
    """Render ``pages`` into build/: for each, ``(name, size, mtime_ns, written)``; and the
    problems met (a template error costs only the pages it breaks)."""
    problems: list[Problem] = []
    images = fetch_images(store, (m.image_id for m in members_of(pages)), problems, setup.where)
    for image_id, files in missing.items():
        if image_id in images and files:
            images[image_id].drop(set(files.split("\n")))
    env = environment(setup.theme, setup.theme_key)
    output = Output(setup.build_dir, setup.fresh)
    common = {"site": setup.site, "assets": setup.assets, "links": setup.links}
    reported: set[str] = set()
    done = []
    for page in pages:
        try:
            context = _context(page, images)
            template = env.get_template(page.template)
            html = template.render(common, root=root_of(page.path), **context)
        except (TemplateError, LookupError, TypeError, ValueError, ArithmeticError, AttributeError) as error:
            message = f"{type(error).__name__}: {error}"
            if message not in reported:
                reported.add(message)
                problems.append(Problem(*_template_line(page.template, error), None, message))
            continue
        done.append(output.write(page.path, html.encode("utf-8")))
    return done, problems


def _entry(member: Member, images: dict[str, Image]) -> Entry | None:
    image = images.get(member.image_id)
    if image is None:
        return None
    return Entry(member.home, image, member.job_key, member.position, parse_axes(member.axes))


def _context(page: Page, images: dict[str, Image]) -> dict[str, Any]:
    entries = [e for e in (_entry(m, images) for m in page.members) if e is not None]
    if page.template == "index.html":
        for gallery in page.galleries:
            gallery.cover = _entry(gallery.cover_member, images) if gallery.cover_member else None
        return {"galleries": page.galleries, "image_count": page.image_count}
    gallery = page.gallery
    assert gallery is not None
    if page.template == "gallery.html":
        return {"recipe": gallery, "pager": page.pager, "entries": entries}
    if page.template == "grid.html":
        return {"recipe": gallery, "grid": make_grid(gallery.name, entries, gallery.grid.x, gallery.grid.y)}
    if not entries:
        raise LookupError(f"image {page.members[0].image_id} is gone")
    entry = entries[0]
    return {
        "recipe": gallery,
        "entry": entry,
        "image": entry.image,
        "previous": _entry(page.previous, images) if page.previous else None,
        "next": _entry(page.next, images) if page.next else None,
        "page": page.number,
    }


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
