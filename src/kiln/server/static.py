"""Finding a file of build/ for a URL path, and what to say about it.

Only files inside the build folder are served: every segment of the (already percent-decoded)
path is checked, then the real path, with links followed, must still lie inside the folder.
Names starting with a dot (the build state, temporaries, ``..``) are never served.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from kiln.site.layout import INDEX, MEDIA, STATIC

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".woff2": "font/woff2",
}
# Files there are named by their content (style.1a2b3c4d.css, media/thumb/<sha256>.webp), so a
# name never changes meaning and browsers may keep them; pages are checked on every visit.
IMMUTABLE = (f"{STATIC}/", f"{MEDIA}/")


@dataclass(frozen=True)
class Found:
    path: Path
    name: str  # posix, relative to the build folder

    @property
    def is_html(self) -> bool:
        return self.path.suffix == ".html"

    @property
    def content_type(self) -> str:
        suffix = self.path.suffix.lower()
        return TYPES.get(suffix) or mimetypes.guess_type(self.path.name)[0] or "application/octet-stream"

    @property
    def cache_control(self) -> str:
        if self.name.startswith(IMMUTABLE):
            return "public, max-age=31536000, immutable"
        return "no-cache"


@dataclass(frozen=True)
class Redirect:
    location: str


def locate(root: Path, url_path: str) -> Found | Redirect | None:
    """The file ``url_path`` names in ``root``; a folder asked without its slash redirects to
    it, a folder with it gives its index.html; None when nothing may be served."""
    segments = [segment for segment in url_path.split("/") if segment]
    if any(segment.startswith(".") or "\\" in segment or "\0" in segment for segment in segments):
        return None
    try:
        base = root.resolve(strict=True)
        path = root.joinpath(*segments).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a loop of links, a name too long
        return None
    if path != base and not path.is_relative_to(base):
        return None
    relative = path.relative_to(base)
    if any(part.startswith(".") for part in relative.parts):
        return None
    if path.is_dir():
        if not url_path.endswith("/"):
            return Redirect(quote(url_path) + "/")
        return locate(root, f"{url_path}{INDEX}")
    if not path.is_file():
        return None
    return Found(path, relative.as_posix())


def with_token(html: bytes, token: str) -> bytes:
    """The page with the meta element that turns culling on, right before ``</head>``."""
    at = html.lower().find(b"</head>")
    if at < 0:
        return html
    meta = f'<meta name="kiln-serve" content="{token}">'.encode()
    return html[:at] + meta + html[at:]
