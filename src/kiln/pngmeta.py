"""Provenance written into each original.

Two texts: ``parameters``, the A1111 infotext most image tools can read, and ``kiln``, JSON
with the job key, recipe and full spec, so a file carries its own recipe entry.

A PNG kiln encodes gets them as text chunks from Pillow (:func:`png_info`). A PNG an engine
already encoded gets the same chunks spliced into its bytes (:func:`splice_png`): nothing is
decoded or compressed again, so the engine's pixels are kept exactly and it costs a copy of
the file instead of an encode. A JPEG or WebP keeps its bytes too, with the infotext where
A1111 puts it for those formats, the EXIF ``UserComment`` (see :mod:`kiln.exifmeta`).
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from PIL.PngImagePlugin import PngInfo

from kiln import __version__

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMETERS = "parameters"
KILN = "kiln"
_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")


def _quote(value: Any) -> str:
    text = str(value)
    # A1111 quotes a value that would break its "key: value, key: value" line.
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n\"") else text


def infotext(spec: dict[str, Any], template: str | None = None) -> str:
    """The A1111 ``parameters`` text for a job spec."""
    lines = [spec["prompt"]]
    if spec.get("negative_prompt"):
        lines.append(f"Negative prompt: {spec['negative_prompt']}")
    fields: list[tuple[str, Any]] = [
        ("Steps", spec["steps"]),
        ("Sampler", spec.get("sampler") or "default"),
        ("CFG scale", f"{spec['guidance']:g}"),
        ("Seed", spec["seed"]),
        ("Size", f"{spec['width']}x{spec['height']}"),
        ("Model", spec["model"]),
    ]
    if template and template != spec["prompt"]:
        fields.append(("Template", template))
    fields.append(("Version", f"kiln {__version__}"))
    if spec.get("engine_type") == "placeholder":
        fields.append(("Engine", "kiln placeholder (procedural - no AI model)"))
    else:
        fields.append(("Engine", spec["engine"]))
    lines.append(", ".join(f"{name}: {_quote(value)}" for name, value in fields))
    return "\n".join(lines)


def kiln_json(key: str, recipe: str, spec: dict[str, Any], template: str, extra: dict[str, Any]) -> str:
    """The ``kiln`` text: the job key, recipe, template, spec and ``extra``, as sorted JSON."""
    payload = {"job_key": key, "recipe": recipe, "template": template, "spec": spec, **extra}
    return json.dumps(payload, sort_keys=True, ensure_ascii=False)


def provenance_texts(key: str, recipe: str, spec: dict[str, Any], template: str, extra: dict[str, Any]) -> dict[str, str]:
    """Both texts by name, in the order they are written."""
    return {PARAMETERS: infotext(spec, template), KILN: kiln_json(key, recipe, spec, template, extra)}


def png_info(key: str, recipe: str, spec: dict[str, Any], template: str, extra: dict[str, Any]) -> PngInfo:
    """Both texts as chunks for Pillow to write into a PNG it encodes."""
    return texts_info(provenance_texts(key, recipe, spec, template, extra))


def texts_info(texts: dict[str, str]) -> PngInfo:
    """:func:`provenance_texts` as chunks for Pillow to write into a PNG it encodes."""
    info = PngInfo()
    info.add_text(PARAMETERS, texts[PARAMETERS])
    info.add_itxt(KILN, texts[KILN])
    return info


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_chunk(keyword: str, text: str) -> bytes:
    """A ``tEXt`` chunk, or an uncompressed ``iTXt`` one when ``text`` is not Latin-1: the chunks
    Pillow's ``PngInfo.add_text`` writes, so readers see the same either way."""
    try:
        return chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return itxt_chunk(keyword, text)


def itxt_chunk(keyword: str, text: str) -> bytes:
    """An uncompressed ``iTXt`` chunk, as ``PngInfo.add_itxt`` writes it."""
    return chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def texts_chunks(texts: dict[str, str]) -> bytes:
    """The chunks of :func:`provenance_texts`, as :func:`texts_info` has Pillow write them."""
    return b"".join(itxt_chunk(name, text) if name == KILN else text_chunk(name, text) for name, text in texts.items())


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """``(type, start, end)`` of each chunk of a PNG, ``end`` past its CRC; ValueError if the
    bytes are not a whole PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file (no PNG signature)")
    chunks = []
    position = len(PNG_SIGNATURE)
    while position < len(data):
        if position + 8 > len(data):
            raise ValueError(f"PNG truncated in a chunk header at byte {position}")
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > len(data):
            raise ValueError(f"PNG truncated in its {kind.decode('latin-1')!r} chunk at byte {position}")
        chunks.append((kind, position, end))
        position = end
        if kind == b"IEND":
            break
    kinds = [kind for kind, _, _ in chunks]
    if not kinds or kinds[0] != b"IHDR" or b"IDAT" not in kinds or kinds[-1] != b"IEND":
        raise ValueError("PNG without IHDR, IDAT or IEND")
    return chunks


def _keyword(data: bytes, start: int, end: int) -> bytes:
    body = data[start + 8 : end - 4]
    return body.split(b"\0", 1)[0]


def splice_png(data: bytes, texts: dict[str, str]) -> bytes:
    """``data``, a PNG, with a text chunk for each of ``texts`` placed before its first ``IDAT``
    (where ``Image.open(...).info`` finds them without decoding) and any text chunks it had
    under those names dropped. Every other chunk, the image data above all, is kept byte for
    byte, so the pixels are exactly the engine's."""
    keywords = {name.encode("latin-1") for name in texts}
    new = texts_chunks(texts)
    parts = [PNG_SIGNATURE]
    placed = False
    for kind, start, end in _chunks(data):
        if kind in _TEXT_TYPES and _keyword(data, start, end) in keywords:
            continue
        if kind == b"IDAT" and not placed:
            parts.append(new)
            placed = True
        parts.append(data[start:end])
    return b"".join(parts)
