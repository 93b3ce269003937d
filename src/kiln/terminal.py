"""User text made safe to print on a terminal.

A file name, a prompt or an engine's error can hold ESC and the other control characters, or
the marks that reorder text (bidi overrides): printed raw they recolour the terminal, move the
cursor, retitle the window, or make a line read differently from what it holds. Every line
kiln prints passes through :func:`printable`, which writes them as escapes instead (``\\x1b``,
``\\u202e``); newlines and tabs, which lay out the output, stay.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidi marks, embeddings, overrides,
# isolates and line separators of Unicode.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every character that would act on the terminal written as an escape."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
