"""Digests of what the pages depend on, so a rebuild with nothing new can skip rendering.

The inputs are the whole view-model (its dataclass ``repr``, which names every field,
including media found missing), every file of the theme, the renderer's own source, and the
versions of the libraries that shape the HTML. Any change to any of them re-renders every
page, and the byte comparison still writes only pages that really changed: the digest only
has to be complete, never precise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2
import markdown_it
import PIL

import kiln
from kiln.site.collect import Site

_RENDERER = Path(__file__).parent


def theme_digest(theme: list[Path]) -> str:
    """A digest of every file (name and bytes) in the theme folders, in lookup order."""
    digest = hashlib.sha256()
    for folder in theme:
        digest.update(f"\0{folder}\0".encode())
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    digest.update(f"\0{path.relative_to(folder).as_posix()}\0".encode())
                    digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(site: Site, theme: str) -> str:
    """A digest of everything the pages are rendered from; ``theme`` is the theme's digest."""
    digest = hashlib.sha256()
    for version in (kiln.__version__, jinja2.__version__, markdown_it.__version__, PIL.__version__, theme):
        digest.update(f"{version}\0".encode())
    for source in sorted(_RENDERER.glob("*.py")):
        digest.update(source.read_bytes())
    digest.update(repr(site).encode())
    return digest.hexdigest()
