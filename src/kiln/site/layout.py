"""Where each page and file goes in build/, as posix paths relative to the build folder.

Pages link to one another relatively (``../media/thumb/x.webp``) so the site works from
``file://`` and under any path prefix, and always to a file, never a bare folder, because
``file://`` serves no ``index.html``.
"""

from __future__ import annotations

INDEX = "index.html"
SEARCH = "search.html"  # search and filters over the whole library
MEDIA = "media"
STATIC = "static"


def gallery_path(recipe: str, page: int = 1) -> str:
    return f"{recipe}/{INDEX}" if page == 1 else f"{recipe}/page-{page}.html"


def part_path(collection: str, part: int) -> str:
    """A slice of a newest-first collection, counted from its oldest images."""
    return f"{collection}/part-{part}.html"


def grid_path(recipe: str) -> str:
    return f"{recipe}/grid.html"


def image_path(recipe: str, image_id: str) -> str:
    return f"{recipe}/{image_id}.html"


def media_path(art_path: str) -> str:
    """Where a file of the art folder (``thumb/x.webp``) is published."""
    return f"{MEDIA}/{art_path}"


def root_of(path: str) -> str:
    """The relative prefix leading from the page at ``path`` back to the build folder."""
    return "../" * path.count("/")
