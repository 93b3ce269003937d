"""Blurhash placeholders, decoded at build time into tiny inline WebP images.

An image's own page carries its placeholder as a CSS ``background-image`` data URI, so a
blurred preview shows before the real file arrives, without JavaScript; thumbnails, hundreds
to a page, carry a two-colour gradient instead (``blur_tint``). The placeholder keeps the
original's aspect ratio (long edge 16 px) so that ``background-size: cover`` crops it exactly
as the square thumbnail was cropped, and fits the web-size image exactly.
"""

from __future__ import annotations

import base64
import functools
import io

import blurhash
from PIL import Image

LONG_EDGE = 16
QUALITY = 60


def placeholder_size(width: int, height: int) -> tuple[int, int]:
    """The placeholder's pixel size for an image of ``width`` × ``height``."""
    if width <= 0 or height <= 0:
        return LONG_EDGE, LONG_EDGE
    if width >= height:
        return LONG_EDGE, max(1, round(LONG_EDGE * height / width))
    return max(1, round(LONG_EDGE * width / height)), LONG_EDGE


@functools.lru_cache(maxsize=8192)
def blur_data_uri(hash_: str, width: int, height: int) -> str | None:
    """A ``data:image/webp`` URI of ``hash_`` decoded for an image of that size, or None if
    the hash is not valid. Cached per process, so watch-mode rebuilds decode each hash once."""
    if not hash_ or not blurhash.is_valid_blurhash(hash_):
        return None
    try:
        image = blurhash.decode(hash_, *placeholder_size(width, height))
    except (ValueError, blurhash.BlurhashDecodeError):
        return None
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=QUALITY)
    return "data:image/webp;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=65536)
def blur_tint(hash_: str | None) -> str | None:
    """The blurhash as a CSS gradient from its top half's colour to its bottom half's: the
    placeholder of thumbnails, about a third of the bytes of the WebP one (whose container
    alone outweighs a gradient) and compressible, where a page holds hundreds of them."""
    if not hash_ or not blurhash.is_valid_blurhash(hash_):
        return None
    try:
        image = blurhash.decode(hash_, 4, 4)
    except (ValueError, blurhash.BlurhashDecodeError):
        return None
    top, bottom = (image.convert("RGB").resize((1, 2), Image.Resampling.BOX).getpixel((0, y)) for y in (0, 1))
    return f"linear-gradient(#{top[0]:02x}{top[1]:02x}{top[2]:02x},#{bottom[0]:02x}{bottom[1]:02x}{bottom[2]:02x})"
