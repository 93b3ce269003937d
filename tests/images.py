"""Small real images for tests that need reference files: each label makes different bytes."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image
from PIL.PngImagePlugin import PngInfo


@cache
def image_bytes(label: str) -> bytes:
    """A 4x4 PNG holding ``label`` in a text chunk, the same bytes for the same label."""
    info = PngInfo()
    info.add_text("label", label)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "gray").save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()
