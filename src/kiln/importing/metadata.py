"""What an image file says about how it was made.

:func:`read_generation` reads the text chunks and EXIF that image tools write (kiln's own
``kiln`` chunk, A1111 / Forge ``parameters``, ...) into a :class:`Generation` with the same
fields as an image kiln generated. It reads metadata only, never pixels, and never raises for
odd metadata: what cannot be understood is still kept whole in ``raw``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class Generation:
    """How an image was made, as far as its metadata says."""

    tool: str | None  # "kiln", "A1111", "ComfyUI", ...; None when nothing was found
    prompt: str = ""
    negative_prompt: str = ""
    model: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    width: int | None = None  # as the metadata says; the pixels are measured separately
    height: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None
    kiln: dict[str, Any] | None = None


def read_generation(image: Image.Image) -> Generation:
    """The generation metadata of an opened (not loaded) image."""
    raw = _text_metadata(image)
    kiln = _json_object(raw.get("kiln"))
    if kiln is not None and isinstance(kiln.get("spec"), dict):
        return _from_kiln(kiln, raw)
    if isinstance(raw.get("parameters"), str):
        parsed = parse_infotext(raw["parameters"])
        if parsed is not None:
            return _from_infotext("A1111", parsed, raw)
    return Generation(tool=None, raw=raw)


def _text_metadata(image: Image.Image) -> dict[str, str]:
    raw: dict[str, str] = {}
    for key, value in image.info.items():
        if isinstance(value, str):
            raw[str(key)] = value
    return raw


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- kiln's own chunk -------------------------------------------------------------------------


def _from_kiln(kiln: dict[str, Any], raw: dict[str, str]) -> Generation:
    spec = kiln["spec"]
    known = {"prompt", "negative_prompt", "model", "seed", "steps", "guidance", "sampler", "width", "height"}
    return Generation(
        tool="kiln",
        prompt=_str(spec.get("prompt")) or "",
        negative_prompt=_str(spec.get("negative_prompt")) or "",
        model=_str(spec.get("model")),
        seed=_int(spec.get("seed")),
        steps=_int(spec.get("steps")),
        guidance=_float(spec.get("guidance")),
        sampler=_str(spec.get("sampler")),
        width=_int(spec.get("width")),
        height=_int(spec.get("height")),
        params={key: value for key, value in spec.items() if key not in known},
        raw=raw,
        kiln=kiln,
    )


# --- A1111 infotext ---------------------------------------------------------------------------

# A1111's own rule (modules/infotext_utils.py): a value holding "," "\n" or ":" is JSON-quoted.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class Infotext:
    prompt: str
    negative_prompt: str
    fields: dict[str, str]


def parse_infotext(text: str) -> Infotext | None:
    """An A1111 ``parameters`` text, read by A1111's own rules; None when it has no parameter line."""
    *lines, last = text.strip().split("\n")
    matches = _PARAM.findall(last)
    if len(matches) < 3:
        return None
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        line = line.strip()
        if not negative and line.startswith("Negative prompt:"):
            negative.append(line[len("Negative prompt:") :].strip())
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    fields: dict[str, str] = {}
    for key, value in matches:
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                pass
        fields[key] = str(value)
    return Infotext("\n".join(prompt), "\n".join(negative), fields)


def _from_infotext(tool: str, info: Infotext, raw: dict[str, str]) -> Generation:
    fields = dict(info.fields)
    width = height = None
    size = _SIZE.match(fields.get("Size", ""))
    if size:
        del fields["Size"]
        width, height = int(size.group(1)), int(size.group(2))
    return Generation(
        tool=tool,
        prompt=info.prompt,
        negative_prompt=info.negative_prompt,
        model=fields.pop("Model", None),
        seed=_int(fields.pop("Seed", None)),
        steps=_int(fields.pop("Steps", None)),
        guidance=_float(fields.pop("CFG scale", None)),
        sampler=fields.pop("Sampler", None),
        width=width,
        height=height,
        params=fields,
        raw=raw,
    )


# --- values -----------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
