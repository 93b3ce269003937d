"""Provenance written into each original PNG.

Two text chunks: ``parameters``, the A1111 infotext most image tools can read, and ``kiln``,
JSON with the job key, recipe and full spec, so a file carries its own recipe entry.
"""

from __future__ import annotations

import json
from typing import Any

from PIL.PngImagePlugin import PngInfo

from kiln import __version__


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


def png_info(key: str, recipe: str, spec: dict[str, Any], template: str, extra: dict[str, Any]) -> PngInfo:
    info = PngInfo()
    info.add_text("parameters", infotext(spec, template))
    payload = {"job_key": key, "recipe": recipe, "template": template, "spec": spec, **extra}
    info.add_itxt("kiln", json.dumps(payload, sort_keys=True, ensure_ascii=False))
    return info
