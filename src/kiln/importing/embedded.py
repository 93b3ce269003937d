"""The text an image file carries about itself, read without decoding a single pixel.

:func:`embedded_text` gathers PNG text chunks (tEXt, zTXt, iTXt, wherever they sit in the
file), the EXIF fields image tools write into (in PNG, JPEG and WebP alike), XMP and JPEG
comments into one flat mapping of field name to text: the ``raw`` metadata an import keeps
whole. EXIF fields are named ``exif:<tag name>`` so they never collide with a PNG chunk of the
same name.

Pillow's own accessors are avoided where they would load the image: ``PngImageFile.text``
decodes every pixel to find chunks after the image data, and ``getexif`` does the same for a
PNG without an eXIf chunk before its data.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO

from PIL import Image

# Pillow's own ceiling for one text chunk: a zTXt "bomb" inflates no further than this.
MAX_TEXT = 1 << 20

_EXIF_IFD = 0x8769
# The EXIF fields image tools write text into, and those that date a picture.
_IFD0_TAGS = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x0132: "DateTime",
    0x013B: "Artist",
}
_EXIF_TAGS = {0x9003: "DateTimeOriginal", 0x9011: "OffsetTimeOriginal", 0x9286: "UserComment", 0x927C: "MakerNote"}
# The PNG chunks some image tool's generation metadata is in.
GENERATION_CHUNKS = frozenset(
    {"kiln", "parameters", "prompt", "workflow", "invokeai_metadata", "sd-metadata", "Dream", "Comment", "Description"}
)
# ComfyUI writes each of its graphs into one of these, counting down from Model.
COMFY_EXIF_TAGS = ("Model", "Make", "ImageDescription")


def embedded_text(image: Image.Image) -> dict[str, str]:
    """Every piece of text metadata in an opened image, by field name."""
    raw: dict[str, str] = {}
    for key, value in image.info.items():
        if key == "xmp" and "XML:com.adobe.xmp" in image.info:
            continue  # Pillow's second name for a PNG's XMP chunk
        if isinstance(value, str):
            raw[str(key)] = str(value)
        elif key in ("xmp", "comment") and isinstance(value, bytes):
            raw[key] = value.decode("utf-8", "replace")
    if image.format == "PNG" and image.fp is not None and not GENERATION_CHUNKS.intersection(raw):
        # Tools write their chunks before the image data (Pillow does); stepping past the data
        # to look behind it costs a read per 64 KB chunk, so it is done only for files that
        # have none of them in front.
        for key, value in _png_text_after_image_data(image).items():
            raw.setdefault(key, value)
    exif = image.info.get("exif")
    if isinstance(exif, bytes) and exif:
        raw.update(_exif_text(exif))
    return raw


def _png_text_after_image_data(image: Image.Image) -> dict[str, str]:
    """Text chunks that follow the image data, found by stepping from chunk header to header."""
    if not image.tile:
        return {}
    found: dict[str, str] = {}
    fp: IO[bytes] = image.fp  # type: ignore[assignment]
    try:
        position = fp.tell()
    except (OSError, ValueError):  # closed under the image
        return {}
    try:
        # The first tile starts at the data of the first IDAT chunk, 8 bytes after its header.
        fp.seek(image.tile[0][2] - 8)
        while True:
            header = fp.read(8)
            if len(header) < 8:
                break
            length, kind = struct.unpack(">I4s", header)
            if kind == b"IEND":
                break
            if kind in (b"tEXt", b"zTXt", b"iTXt") and length <= MAX_TEXT:
                chunk = _text_chunk(kind, fp.read(length))
                if chunk:
                    found.setdefault(*chunk)
                fp.seek(4, 1)
            else:
                fp.seek(length + 4, 1)
    except (OSError, ValueError, struct.error):
        pass
    finally:
        fp.seek(position)
    return found


def _text_chunk(kind: bytes, data: bytes) -> tuple[str, str] | None:
    keyword, _, rest = data.partition(b"\0")
    try:
        if kind == b"tEXt":
            return keyword.decode("latin-1"), rest.decode("latin-1")
        if kind == b"zTXt":
            return keyword.decode("latin-1"), _inflate(rest[1:]).decode("latin-1")
        compressed, _method = rest[0], rest[1]
        _language, _, rest = rest[2:].partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        return keyword.decode("latin-1"), (_inflate(text) if compressed else text).decode("utf-8")
    except (IndexError, UnicodeDecodeError, zlib.error):
        return None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, MAX_TEXT)
    if inflater.unconsumed_tail:
        raise zlib.error("text chunk too large")
    return text


def _exif_text(data: bytes) -> dict[str, str]:
    exif = Image.Exif()
    try:
        exif.load(data)
        ifd0 = dict(exif)
        sub = dict(exif.get_ifd(_EXIF_IFD))
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for broken EXIF; it is only skipped
        return {}
    found: dict[str, str] = {}
    # Fooocus sets UserComment and MakerNote on the first IFD, where the standard has no place
    # for them; they are read from there too.
    for tags, values in ((_IFD0_TAGS, ifd0), (_EXIF_TAGS, ifd0), (_EXIF_TAGS, sub)):
        for tag, name in tags.items():
            value = values.get(tag)
            if tag == 0x9286 and isinstance(value, bytes):
                text = user_comment(value)
            elif isinstance(value, bytes):
                # A camera's MakerNote is binary, not text: it is left out.
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:
                    continue
            elif isinstance(value, str):
                text = value
            else:
                continue
            text = text.rstrip("\0")
            if text:
                found.setdefault(f"exif:{name}", text)
    return found


def user_comment(value: bytes) -> str:
    """An EXIF UserComment: an 8-byte character code, then the text in that code."""
    code, text = value[:8], value[8:]
    if code == b"UNICODE\0":
        return _utf16(text)
    if code == b"JIS\0\0\0\0\0":
        return text.decode("shift_jis", "replace")
    if code in (b"ASCII\0\0\0", b"\0" * 8):
        # Tools write UTF-8 under the ASCII code; an undefined code is read the same way.
        return text.decode("utf-8", "replace")
    return value.decode("utf-8", "replace")


def _utf16(text: bytes) -> str:
    if text[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return text.decode("utf-16", "replace")
    # The byte order is the EXIF block's own (piexif, used by A1111 and Fooocus, writes big-
    # endian; Pillow and others little-endian): mostly-ASCII text has its zero bytes on one side.
    even_zeros = text[0::2].count(0)
    odd_zeros = text[1::2].count(0)
    return text.decode("utf-16-le" if odd_zeros > even_zeros else "utf-16-be", "replace")
