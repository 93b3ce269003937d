"""Provenance spliced into a JPEG or WebP an engine encoded, keeping its compressed image data.

A1111 writes its infotext into these formats as the EXIF ``UserComment`` (tag 0x9286) with the
``UNICODE`` header and UTF-16BE text (piexif's ``UserComment.dump(..., encoding="unicode")``),
and that is where A1111-style readers look for it; kiln puts its own ``kiln`` JSON beside it in
the EXIF ``MakerNote`` (tag 0x927C, UTF-8). The engine's other EXIF tags are kept. Only the
metadata segment (JPEG ``APP1``) or chunk (WebP ``EXIF``) is written anew: the picture itself is
never decoded or compressed again, so it stays exactly the engine's.
"""

from __future__ import annotations

import io
import struct

from PIL import Image

from kiln.pngmeta import KILN, PARAMETERS

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
MAKER_NOTE = 0x927C
UNICODE_HEADER = b"UNICODE\0"
_EXIF_HEADER = b"Exif\0\0"


def exif_bytes(data: bytes, texts: dict[str, str]) -> bytes:
    """The EXIF of the image in ``data`` (read from its header), with ``texts`` set, as the
    ``Exif\\0\\0``-prefixed block JPEG carries."""
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
    ifd = exif.get_ifd(EXIF_IFD)
    ifd[USER_COMMENT] = UNICODE_HEADER + texts[PARAMETERS].encode("utf-16-be")
    ifd[MAKER_NOTE] = texts[KILN].encode("utf-8")
    block = exif.tobytes()
    return block if block.startswith(_EXIF_HEADER) else _EXIF_HEADER + block


def splice_jpeg(data: bytes, texts: dict[str, str]) -> bytes:
    """``data``, a JPEG, with its EXIF (``APP1``) segment replaced by one holding ``texts``,
    placed after the SOI marker and a JFIF ``APP0`` if there is one."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG file (no SOI marker)")
    block = exif_bytes(data, texts)
    if len(block) + 2 > 0xFFFF:
        raise ValueError(f"the provenance is too long for a JPEG's EXIF segment ({len(block):,} bytes)")
    segment = b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block
    parts = [data[:2]]
    position = 2
    placed = False
    while True:
        if position + 4 > len(data) or data[position] != 0xFF:
            raise ValueError(f"JPEG markers broken at byte {position}")
        marker = data[position + 1]
        if marker == 0xDA:  # start of scan: the compressed picture follows, kept as it is
            break
        length = struct.unpack_from(">H", data, position + 2)[0]
        end = position + 2 + length
        is_jfif = marker == 0xE0 and data[position + 4 : position + 9] == b"JFIF\0"
        if not placed and not is_jfif:
            parts.append(segment)
            placed = True
        if not (marker == 0xE1 and data[position + 4 : position + 10] == _EXIF_HEADER):
            parts.append(data[position:end])
        position = end
    if not placed:
        parts.append(segment)
    parts.append(data[position:])
    return b"".join(parts)


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def splice_webp(data: bytes, texts: dict[str, str]) -> bytes:
    """``data``, a WebP, with an ``EXIF`` chunk holding ``texts`` (the extended ``VP8X`` layout,
    made from a simple file's header if need be)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file (no RIFF/WEBP header)")
    chunks: list[tuple[bytes, bytes]] = []
    position = 12
    while position + 8 <= len(data):
        kind = data[position : position + 4]
        size = struct.unpack_from("<I", data, position + 4)[0]
        if position + 8 + size > len(data):
            raise ValueError(f"WebP truncated in its {kind.decode('latin-1')!r} chunk")
        chunks.append((kind, data[position + 8 : position + 8 + size]))
        position += 8 + size + size % 2
    kinds = [kind for kind, _ in chunks]
    if not kinds:
        raise ValueError("WebP without image data")
    exif = _riff_chunk(b"EXIF", exif_bytes(data, texts)[len(_EXIF_HEADER):])
    if kinds[0] == b"VP8X":
        flags = chunks[0][1][0] | 0x08
        header = bytes([flags]) + chunks[0][1][1:]
        body = [_riff_chunk(b"VP8X", header)]
        rest = [(kind, payload) for kind, payload in chunks[1:] if kind != b"EXIF"]
    else:
        with Image.open(io.BytesIO(data)) as image:
            width, height, alpha = image.width, image.height, image.mode == "RGBA"
        header = bytes([0x08 | (0x10 if alpha else 0)]) + b"\0\0\0"
        header += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        body = [_riff_chunk(b"VP8X", header)]
        rest = chunks
    # The EXIF chunk goes after the image data and before XMP, as the container's spec orders them.
    tail = [_riff_chunk(kind, payload) for kind, payload in rest if kind == b"XMP "]
    body += [_riff_chunk(kind, payload) for kind, payload in rest if kind != b"XMP "] + [exif] + tail
    payload = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def kiln_text(image: Image.Image) -> str:
    """The ``kiln`` text of an original kiln wrote, whatever its format: a PNG's text chunk, a
    JPEG's or WebP's EXIF ``MakerNote``. KeyError if it has none."""
    if image.format == "PNG":
        return image.text[KILN]  # type: ignore[attr-defined]
    note = image.getexif().get_ifd(EXIF_IFD)[MAKER_NOTE]
    return note.decode("utf-8") if isinstance(note, bytes) else str(note)
