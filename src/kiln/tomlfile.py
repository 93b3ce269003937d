"""Reading TOML files with positions, so errors can name the line of a key.

``tomllib`` gives values but no positions; user-facing errors need the line, so this module
pairs the parsed document with a small index from dotted key to line number.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import InputError, Problem
from kiln.paths import special_file

# A bare key, a "basic" quoted key (with escapes) or a 'literal' one.
_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_DECODE_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


# Longer values are cut in messages: a 5,000-character name would hide the message itself.
SHOWN_MAX = 80


def show(value: Any) -> str:
    """A value as the user would have written it in TOML, for error messages."""
    if isinstance(value, str):
        if len(value) > SHOWN_MAX:
            return json.dumps(value[:SHOWN_MAX], ensure_ascii=False)[:-1] + f'…" ({len(value)} characters)'
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else f"{text[:SHOWN_MAX]}…"


def _split_dotted(text: str) -> list[str]:
    return [_unquote(part) for part in re.findall(_PART, text)]


def _unquote(part: str) -> str:
    """A key as TOML reads it: quotes removed, escapes (``"\\t"``, ``"\\u00e9"``) decoded."""
    if part.startswith("'"):
        return part[1:-1]
    if part.startswith('"'):
        try:
            return str(tomllib.loads(f"k = {part}")["k"])
        except tomllib.TOMLDecodeError:
            return part[1:-1]
    return part


@dataclass
class TomlDocument:
    """A parsed TOML file and where each key was written."""

    path: Path
    display: str
    data: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        """The line of ``key`` (dotted), or of its nearest written parent."""
        parts = key.split(".")
        while parts:
            line = self.lines.get(".".join(parts))
            if line:
                return line
            parts.pop()
        return None

    def problem(self, key: str | None, message: str) -> Problem:
        return Problem(self.display, self.line_of(key) if key is not None else None, key, message)


def index_lines(text: str) -> dict[str, int]:
    """Map each dotted key (and table header) to the first line it appears on.

    Keys inside the *n*-th ``[[name]]`` table are also indexed as ``name.n.key`` (from 0), so
    each element of an array of tables has lines of its own.
    """
    lines: dict[str, int] = {}
    table: list[str] = []
    positional: list[str] = []
    arrays: dict[tuple[str, ...], int] = {}
    in_multiline: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            in_multiline = _open_string(raw, in_multiline)
            continue
        header = _HEADER.match(raw)
        if header and not _KEY.match(raw):
            table = _split_dotted(header.group(1))
            positional = _positional(table, arrays, raw.lstrip().startswith("[["))
            # [x.y] also writes x: a problem with x (an unknown key, say) is on this line
            for parts in (table, positional):
                for end in range(1, len(parts) + 1):
                    lines.setdefault(".".join(parts[:end]), number)
            continue
        key = _KEY.match(raw)
        if key:
            written = _split_dotted(key.group(1))
            for parts in (table + written, positional + written):
                for end in range(len(parts) - len(written) + 1, len(parts) + 1):
                    lines.setdefault(".".join(parts[:end]), number)
        # A value (or a line of a multi-line array) may open a multi-line string: its lines
        # are text, not keys.
        in_multiline = _open_string(raw[key.end():] if key else raw, None)
    return lines


def _open_string(line: str, open_quote: str | None) -> str | None:
    """The multi-line string delimiter (three double or three single quotes) still open at the
    end of ``line``, given the one open at its start: quotes in strings and comments do not count."""
    i, end = 0, len(line)
    while i < end:
        if open_quote:
            if open_quote == '"""' and line[i] == "\\":
                i += 2
            elif line.startswith(open_quote, i):
                i += 3
                while i < end and line[i] == open_quote[0]:  # up to two quotes may end the string itself
                    i += 1
                open_quote = None
            else:
                i += 1
        elif line[i] == "#":
            break
        elif line.startswith('"""', i) or line.startswith("'''", i):
            open_quote, i = line[i : i + 3], i + 3
        elif line[i] == '"':
            i += 1
            while i < end and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
        elif line[i] == "'":
            close = line.find("'", i + 1)
            i = end if close < 0 else close + 1
        else:
            i += 1
    return open_quote


def _positional(table: list[str], arrays: dict[tuple[str, ...], int], is_array: bool) -> list[str]:
    """``table`` with the current index inserted after each part that names an array of tables."""
    if is_array:
        path = tuple(table)
        arrays[path] = arrays.get(path, -1) + 1
        for nested in [p for p in arrays if len(p) > len(path) and p[: len(path)] == path]:
            del arrays[nested]  # a new element starts its own nested arrays afresh
    parts: list[str] = []
    for i, part in enumerate(table):
        parts.append(part)
        index = arrays.get(tuple(table[: i + 1]))
        if index is not None:
            parts.append(str(index))
    return parts


def load(path: Path, display: str | None = None) -> TomlDocument:
    """Parse ``path``; a syntax error becomes an :class:`InputError` naming the line."""

    display = display or str(path)
    kind = special_file(path)
    if kind:
        raise InputError([Problem(display, None, None, f"is {kind}, not a file; kiln reads only regular files")])
    try:
        raw = path.read_bytes()
    except OSError as exc:  # a folder named like a file, a file it may not read
        raise InputError([Problem(display, None, None, f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, message = not_utf8(raw, exc)
        raise InputError([Problem(display, line, None, message)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([_syntax_problem(display, text, str(exc))]) from None
    return TomlDocument(path=path, display=display, data=data, lines=index_lines(text))


def not_utf8(raw: bytes, exc: UnicodeDecodeError) -> tuple[int, str]:
    """The line of the first byte that is not UTF-8, and a message naming it and its column."""
    line = raw.count(b"\n", 0, exc.start) + 1
    column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
    return line, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {column} is not valid UTF-8 (save the file as UTF-8)"


# tomllib's words for a string left open: at a line's end, or at the end of the file.
_OPEN_STRING = re.compile(r"""^(Illegal character '\\n'|Unterminated string|Expected "'")""")


def _syntax_problem(display: str, text: str, message: str) -> Problem:
    match = _DECODE_POS.search(message)
    line = int(match.group(1)) if match else None
    if "(at end of document)" in message:
        line = max(1, len(text.splitlines()))  # the file's last line
    message = _DECODE_POS.sub("", message).replace("(at end of document)", "").strip()
    if _OPEN_STRING.match(message):
        opened = unclosed_string(text)
        if opened:
            line, quote = opened
            return Problem(display, line, None, f"invalid TOML: the string is not closed: its closing {quote} is missing")
    return Problem(display, line, None, f"invalid TOML: {message}")


def unclosed_string(text: str) -> tuple[int, str] | None:
    """The line and quote of the first string that is never closed (single-line strings close
    on their line), or None."""
    line, i, size = 1, 0, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
        elif char == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        elif char in "\"'":
            quote = text[i : i + 3] if text.startswith(char * 3, i) else char
            start, i = line, i + len(quote)
            while True:
                if i >= size or (len(quote) == 1 and text[i] == "\n"):
                    return start, quote
                if text.startswith(quote, i):
                    i += len(quote)
                    break
                if text[i] == "\\" and char == '"' and i + 1 < size:
                    i += 1
                if text[i] == "\n":
                    line += 1
                i += 1
            continue
        i += 1
    return None
