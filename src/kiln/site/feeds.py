"""Atom feeds of the newest images: ``feed.atom`` for the library, ``RECIPE/feed.atom`` for
each collection.

With ``[site] base_url`` set, every link in a feed is absolute (``https://host/path/x.html``);
without it links are relative to the feed's own address, which Atom allows (RFC 4287 §4.2.7
links are IRI references, resolved against the document) and most readers follow, but a feed
copied elsewhere loses its images, so setting ``base_url`` is recommended for publishing.

The XML is written by ElementTree, which escapes every text and attribute; characters XML 1.0
cannot carry at all (most control characters) are dropped from user text first. Entry ids are
``urn:uuid:`` names derived from the image id, so they do not change when the site moves.
"""

from __future__ import annotations

import heapq
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any

from kiln.site.collect import Entry, Recipe, Site
from kiln.site.layout import image_path, media_path

ATOM = "http://www.w3.org/2005/Atom"
LIBRARY_FEED = "feed.atom"
FEED_SIZE = 50
TITLE_CHARS = 120
EPOCH = "1970-01-01T00:00:00Z"
# What XML 1.0 cannot hold, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAMESPACE = uuid.UUID("6f1d1a3c-2f4e-5b6a-9c1d-4b1a7e0c2d11")

ET.register_namespace("", ATOM)


def recipe_feed_path(recipe: str) -> str:
    return f"{recipe}/feed.atom"


def library_feed(site: Site, base_url: str) -> bytes:
    """The newest images of the whole library, each linked to its page in its first collection."""
    first: dict[str, Entry] = {}
    for recipe in site.recipes:
        for entry in recipe.entries:
            first.setdefault(entry.image.id, entry)
    newest = heapq.nlargest(FEED_SIZE, first.values(), key=lambda e: (e.image.created_at, e.image.id))
    return _feed(site.title, LIBRARY_FEED, "feed", newest, base_url)


def recipe_feed(site: Site, recipe: Recipe, base_url: str) -> bytes:
    newest = heapq.nlargest(FEED_SIZE, recipe.entries, key=lambda e: (e.image.created_at, e.image.id))
    return _feed(f"{recipe.title} · {site.title}", recipe_feed_path(recipe.name), f"feed:{recipe.name}", newest, base_url)


def _feed(title: str, path: str, key: str, entries: list[Entry], base_url: str) -> bytes:
    def link(target: str) -> str:
        return base_url + target if base_url else _relative(path, target)

    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "title", title)
    _text(feed, "id", _urn(key))
    _text(feed, "updated", _stamp(entries[0].image.created_at) if entries else EPOCH)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", type="application/atom+xml", href=link(path))
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=link(_page_of(path)))
    _text(ET.SubElement(feed, f"{{{ATOM}}}author"), "name", title)
    _text(feed, "generator", "kiln")
    for entry in entries:
        image = entry.image
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(item, "title", _title(image.prompt, image.id))
        _text(item, "id", _urn(f"image:{image.id}"))
        _text(item, "updated", _stamp(image.created_at))
        ET.SubElement(item, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=link(image_path(entry.recipe, image.id)))
        _text(item, "summary", image.prompt)
        shown = image.grid
        if shown is not None:
            # HTML as text: ElementTree escapes it once, the reader unescapes it once.
            img = ET.Element("img", src=link(media_path(shown.path)), width=str(shown.width), height=str(shown.height), alt=_clean(image.prompt[:TITLE_CHARS]))
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
