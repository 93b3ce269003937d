"""What an image file says about how it was made.

:func:`read_generation` reads the text chunks and EXIF that image tools write (kiln's own
``kiln`` chunk, A1111 / Forge ``parameters``, ComfyUI's graphs, InvokeAI, Fooocus, SwarmUI,
NovelAI, Midjourney) into a :class:`Generation` with the same fields as an image kiln made.
It reads metadata only, never pixels, and never raises for odd metadata: what it cannot
understand is still kept whole in ``raw``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from PIL import Image

from kiln.importing.embedded import embedded_text
from kiln.importing.tool_metadata import READERS, fields_view


@dataclass(frozen=True)
class Generation:
    """How an image was made, as far as its metadata says."""

    tool: str | None  # "kiln", "A1111", "Forge", "ComfyUI", ...; None when nothing was found
    prompt: str = ""
    negative_prompt: str = ""
    model: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None  # CFG scale
    sampler: str | None = None
    width: int | None = None  # as the metadata says; the pixels are measured separately
    height: int | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the rest of what was read
    raw: dict[str, str] = field(default_factory=dict)  # field name -> text, whole
    created_at: str | None = None  # ISO 8601; EXIF times without an offset are the camera's local time
    kiln: dict[str, Any] | None = None  # kiln's own chunk: spec, job key, recipe, ...


def read_generation(image: Image.Image) -> Generation:
    """The generation metadata of an opened image."""
    try:
        raw = embedded_text(image)
    except Exception:  # noqa: BLE001 - a file's odd metadata must not stop an import of thousands
        raw = {}
    view = fields_view(raw)
    for reader in READERS:
        try:
            found = reader(view)
        except Exception:  # noqa: BLE001 - as above: the next reader, or nothing, is the answer
            continue
        if found is not None:
            return _generation(found, raw)
    return Generation(tool=None, raw=raw, created_at=_created_at(raw, None))


def _generation(found: dict[str, Any], raw: dict[str, str]) -> Generation:
    width, height = _int(found.get("width")), _int(found.get("height"))
    return Generation(
        tool=found["tool"],
        prompt=_str(found.get("prompt")) or "",
        negative_prompt=_str(found.get("negative_prompt")) or "",
        model=_str(found.get("model")) or None,
        seed=_int(found.get("seed")),
        steps=_int(found.get("steps")),
        guidance=_float(found.get("guidance")),
        sampler=_str(found.get("sampler")) or None,
        width=width if width and height else None,
        height=height if width and height else None,
        params=_json_safe(found.get("params") or {}),
        raw=raw,
        created_at=_created_at(raw, found.get("created_at")),
        kiln=found.get("kiln"),
    )


# --- creation time --------------------------------------------------------------------------

_EXIF_TIME = re.compile(r"^(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)$")


def _created_at(raw: dict[str, str], found: Any) -> str | None:
    exif_time = raw.get("exif:DateTimeOriginal") or raw.get("exif:DateTime")
    if exif_time:
        match = _EXIF_TIME.match(exif_time.strip())
        if match:
            y, mo, d, h, mi, s = match.groups()
            offset = raw.get("exif:OffsetTimeOriginal", "") if "exif:DateTimeOriginal" in raw else ""
            offset = offset if re.fullmatch(r"[+-]\d\d:\d\d", offset) else ""
            return f"{y}-{mo}-{d}T{h}:{mi}:{s}{offset}"
    for text in (found, raw.get("Creation Time"), raw.get("creation_time")):
        when = _parse_time(text)
        if when:
            return when
    return None


def _parse_time(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text).isoformat()  # RFC 1123, the PNG spec's suggestion
    except (TypeError, ValueError, IndexError):
        return None


# --- values ---------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _json_safe(value: Any) -> Any:
    """A value as JSON holds it: a tool's odd value becomes its text, NaN and infinity null."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
