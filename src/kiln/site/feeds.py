"""Atom feeds of the newest images: ``feed.atom`` for the library and ``NAME/feed.atom`` for
each collection (a recipe's, the archive, the virtual ones), announced on every page by
``<link rel="alternate">``.

With ``[site] base_url`` set, every link in a feed is absolute (``https://host/path/x.html``);
without it links are relative to the feed's own address, which Atom allows (RFC 4287 links are
IRI references, resolved against the document) and feed readers follow, but a feed copied
elsewhere loses its images, so setting ``base_url`` is recommended for publishing.

The XML is written by ElementTree, which escapes every text and attribute; characters XML 1.0
cannot carry at all (most control characters) are dropped from user text first. Entry ids are
``urn:uuid:`` names derived from the image id, so they do not change when the site moves.

A collection's feed is made again only when its digest (members and their revisions) changed,
from its newest members alone (SQLite sorts; the rest are never read); the library's newest
images come from one query on ``images.created_at``'s index.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from kiln.project import Project
from kiln.site.layout import image_path, media_path

if TYPE_CHECKING:
    from kiln.site.collect import Image
    from kiln.site.collections import Collection
    from kiln.site.produce import Build, Link

ATOM = "http://www.w3.org/2005/Atom"
LIBRARY_FEED = "feed.atom"
FEED_SIZE = 50
TITLE_CHARS = 120
EPOCH = "1970-01-01T00:00:00Z"
# What XML 1.0 cannot hold, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAMESPACE = uuid.UUID("6f1d1a3c-2f4e-5b6a-9c1d-4b1a7e0c2d11")
# The images newest first with the recipes they are in, read along ``images.created_at``'s
# index (CROSS JOIN keeps images the outer loop, so nothing is sorted but ties) until a feed's
# worth is found in the recipes shown.
_NEWEST_SQL = """
SELECT i.id, i.created_at, rj.recipe FROM images i CROSS JOIN recipe_jobs rj ON rj.job_key = i.job_key
ORDER BY i.created_at DESC, i.id DESC, rj.recipe
"""

ET.register_namespace("", ATOM)


class Item(NamedTuple):
    """An image in a feed, and the folder of its page."""

    image_id: str
    created_at: str
    home: str


def collection_feed_path(collection: str) -> str:
    return f"{collection}/feed.atom"


class Feeds:
    """The producer of the feeds (kiln/site/produce.py)."""

    name = "feeds"

    def inputs(self, project: Project) -> str:
        return project.base_url

    def links(self, project: Project) -> list[Link]:
        return []

    def produce(self, build: Build) -> None:
        project = build.project
        site = (project.title, project.base_url)
        for collection in build.collections:
            build.file(
                collection_feed_path(collection.name),
                _digest(collection.digest, collection.title, *site),
                lambda collection=collection: collection_feed(build, collection),
            )
        build.file(LIBRARY_FEED, _digest(str(build.sequence), *site), lambda: library_feed(build))


def library_feed(build: Build) -> bytes:
    """The newest images of the whole library, each linked to its page in its collection."""
    homes: dict[str, str] = {}
    for collection in build.collections:
        if collection.kind in ("recipe", "archived"):
            homes.update({recipe: collection.name for recipe in collection.recipes})
    items: dict[str, Item] = {}
    for image_id, created_at, recipe in build.store.conn.execute(_NEWEST_SQL):
        if recipe in homes and image_id not in items:
            items[image_id] = Item(image_id, created_at, homes[recipe])
            if len(items) == FEED_SIZE:
                break
    newest = list(items.values())
    return _feed(build, build.project.title, LIBRARY_FEED, "feed", newest)


def collection_feed(build: Build, collection: Collection) -> bytes:
    newest = [Item(m.image_id, m.created_at, m.home) for m in collection.newest(build.store, FEED_SIZE)]
    title = f"{collection.title} · {build.project.title}"
    return _feed(build, title, collection_feed_path(collection.name), f"feed:{collection.name}", newest)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _feed(build: Build, title: str, path: str, key: str, items: list[Item]) -> bytes:
    base_url = build.project.base_url
    images: dict[str, Image] = build.images([item.image_id for item in items])

    def link(target: str) -> str:
        return base_url + target if base_url else _relative(path, target)

    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "title", title)
    _text(feed, "id", _urn(key))
    _text(feed, "updated", _stamp(items[0].created_at) if items else EPOCH)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", type="application/atom+xml", href=link(path))
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=link(_page_of(path)))
    _text(ET.SubElement(feed, f"{{{ATOM}}}author"), "name", title)
    _text(feed, "generator", "kiln")
    for shown in items:
        image = images.get(shown.image_id)
        if image is None:
            continue
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(item, "title", _title(image.prompt, image.id))
        _text(item, "id", _urn(f"image:{image.id}"))
        _text(item, "updated", _stamp(image.created_at))
        ET.SubElement(item, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=link(image_path(shown.home, image.id)))
        _text(item, "summary", image.prompt)
        thumb = image.grid
        if thumb is not None:
            # HTML as text: ElementTree escapes it once, the reader unescapes it once.
            img = ET.Element("img", src=link(media_path(thumb.path)), width=str(thumb.width), height=str(thumb.height), alt=_clean(image.prompt[:TITLE_CHARS]))
            paragraph = ET.Element("p")
            paragraph.text = _clean(image.prompt)
            html = ET.tostring(img, encoding="unicode", method="html") + ET.tostring(paragraph, encoding="unicode", method="html")
            _text(item, "content", html, type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _text(parent: ET.Element, tag: str, text: str, **attributes: Any) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", **attributes)
    element.text = _clean(text)
    return element


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _title(prompt: str, image_id: str) -> str:
    line = " ".join(prompt.split())
    if not line:
        return image_id
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _urn(key: str) -> str:
    return uuid.uuid5(_NAMESPACE, key).urn


def _stamp(value: str) -> str:
    """An RFC 3339 time for Atom; a time with no zone is taken as UTC, an unreadable one as the epoch."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_of(feed_path: str) -> str:
    """The page a feed belongs to: the index of its folder."""
    folder = feed_path.rpartition("/")[0]
    return f"{folder}/index.html" if folder else "index.html"


def _relative(feed_path: str, target: str) -> str:
    """``target`` (relative to the build folder) as seen from the feed at ``feed_path``."""
    depth = feed_path.count("/")
    folder = feed_path.rpartition("/")[0]
    if folder and target.startswith(folder + "/"):
        return target[len(folder) + 1 :]
    return "../" * depth + target
