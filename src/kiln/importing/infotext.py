"""A1111's ``parameters`` text (also written by Forge, SD.Next, Fooocus, kiln and many others).

Read by A1111's own rules (``modules/infotext_utils.py``): the last line holds the
parameters if it yields at least three ``key: value`` pairs; the lines before are the prompt,
and from a line starting ``Negative prompt:`` on, the negative prompt. A value holding a comma,
colon or line break is written JSON-quoted, so the pattern takes a quoted value whole. One more
than A1111's own pattern: a dict value (``Hashes: {"model": "…", "lora:x": "…"}``, written
by A1111 and Civitai) comes out of its quoting as a bare JSON object, taken whole as well.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|\{[^{}]*\}|[^,]*)(?:,|$)')
_NEGATIVE = "Negative prompt:"


@dataclass(frozen=True)
class Infotext:
    prompt: str
    negative_prompt: str
    fields: dict[str, Any]  # in the order written; quoted values unquoted, JSON objects parsed


def parse_infotext(text: str) -> Infotext | None:
    """The parts of an A1111 ``parameters`` text; None when it has no parameter line."""
    *lines, last = text.strip().split("\n")
    pairs = _PARAM.findall(last)
    if len(pairs) < 3:
        return None
    prompt: list[str] = []
    negative: list[str] | None = None
    for line in lines:
        line = line.strip()
        if negative is None and line.startswith(_NEGATIVE):
            negative = [line[len(_NEGATIVE) :].strip()]
        elif negative is not None:
            negative.append(line)
        else:
            prompt.append(line)
    fields: dict[str, Any] = {}
    for key, value in pairs:
        fields[key] = _unquote(value.strip())
    return Infotext("\n".join(prompt), "\n".join(negative or []), fields)


def _unquote(value: str) -> Any:
    if len(value) >= 2 and (value[0] == value[-1] == '"' or (value[0], value[-1]) == ("{", "}")):
        try:
            unquoted = json.loads(value)
        except ValueError:
            return value
        return unquoted if isinstance(unquoted, (str, dict)) else value
    return value
