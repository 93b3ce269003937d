"""Digests of what every page depends on besides its own rows: the theme and the renderer.

The theme digest covers every file of the theme folders; the renderer digest the builder's own
source and the versions of the libraries that shape the HTML. A change to either makes the
next build a full one (which still writes only the pages whose bytes changed).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import jinja2
import markdown_it
import PIL

import kiln

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


@functools.cache
def renderer_digest() -> str:
    """A digest of the builder's source and the versions of what renders the pages."""
    digest = hashlib.sha256()
    for version in (kiln.__version__, jinja2.__version__, markdown_it.__version__, PIL.__version__):
        digest.update(f"{version}\0".encode())
    for source in sorted(_RENDERER.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()
