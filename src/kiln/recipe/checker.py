"""Value checks for recipe keys: each converts a TOML value or records a problem at its line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from kiln.errors import Problem
from kiln.recipe.axes import RANGE_FORMS, looks_like_range, parse_range
from kiln.recipe.source import RecipeSource
from kiln.tomlfile import show

MIN_SIDE, MAX_SIDE = 64, 4096
SIZE_KEYS = ("long_edge", "aspect")
HUMAN_BOUND = 10**9  # upper bounds past this are limits of the format, not of the setting
ASPECTS = ("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16", "4:5", "5:4", "21:9", "9:21")


def suggest(key: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _whole_number(low: int, high: int | None, value: Any) -> str:
    """The range an integer must be in, as a person reads it: no 19-digit upper bound unless
    the value went past it."""
    if high is None:
        return f"an integer ≥ {low}"
    if high < HUMAN_BOUND:
        return f"an integer from {low} to {high}"
    if isinstance(value, int) and not isinstance(value, bool) and value > high:
        return f"a whole number ≥ {low}, at most {high:,}"
    return f"a whole number ≥ {low}"


class Checker:
    """Collects the problems and warnings of one recipe while converting its values."""

    def __init__(self, source: RecipeSource):
        self.source = source
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def fail(self, key: str | None, message: str) -> None:
        self.problems.append(self.source.problem(key, message))

    def warn(self, key: str, message: str) -> None:
        self.warnings.append(self.source.problem(key, message))

    def axis(self, key: str, value: Any, convert: Callable[[str, Any], Any]) -> tuple[Any, ...]:
        """A single value or a non-empty list of values, each converted."""
        if isinstance(value, list):
            if not value:
                self.fail(key, "expected a value or a non-empty list, got []")
                return ()
            values = tuple(convert(key, item) for item in value)
            repeated = sorted({show(v) for v in values if values.count(v) > 1})
            if repeated:
                self.warn(key, f"lists {', '.join(repeated)} more than once; each job is made once")
            return values
        return (convert(key, value),)

    def numeric_axis(self, key: str, value: Any, convert: Callable[[str, Any], Any], *, integer: bool) -> tuple[Any, ...]:
        """Like :meth:`axis`, and a string is an A1111 range such as ``"4-8 (+2)"``."""
        if isinstance(value, str) and looks_like_range(value):
            values = parse_range(value, integer=integer)
            if isinstance(values, str):
                self.fail(key, f"{show(value)}: {values}")
                return ()
            return self.axis(key, values, convert)
        return self.axis(key, value, convert)

    def integer(self, low: int, high: int | None = None) -> Callable[[str, Any], int]:
        def convert(key: str, value: Any) -> int:
            if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
                value = int(value)  # from a range such as "1-10 [4]"
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
                self.fail(key, f"expected {_whole_number(low, high, value)}, got {show(value)}")
                return low
            return value

        return convert

    def number(self, low: float, high: float) -> Callable[[str, Any], float]:
        def convert(key: str, value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                self.fail(key, f"expected a number from {low:g} to {high:g}, got {show(value)}")
                return low
            return float(value)

        return convert

    def text(self, key: str, value: Any, *, empty: bool = True) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {show(value)}")
            return ""
        if not empty and not value.strip():
            self.fail(key, "must not be empty")
        return value

    def choice(self, key: str, value: Any, options: tuple[str, ...]) -> str:
        if value not in options:
            self.fail(key, f"expected one of {', '.join(options)}, got {show(value)}")
            return options[0]
        return value

    def flag(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {show(value)}")
            return True
        return value

    def sizer(self, multiple: int) -> Callable[[str, Any], tuple[int, int]]:
        """Converts ``"WxH"`` or ``{ long_edge, aspect }``; the latter is rounded to ``multiple``."""

        def convert(key: str, value: Any) -> tuple[int, int]:
            if isinstance(value, str):
                match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
                if not match:
                    self.fail(key, f'expected "WIDTHxHEIGHT" such as "1024x768", got {show(value)}')
                    return (MIN_SIDE, MIN_SIDE)
                width, height = int(match.group(1)), int(match.group(2))
                if width % multiple or height % multiple:
                    self.warn(key, f"{width}x{height} is not a multiple of {multiple}, the engine's size_multiple; the engine may round it")
            elif isinstance(value, dict):
                width, height = self._size_from_aspect(key, value, multiple)
            else:
                self.fail(key, f'expected "WIDTHxHEIGHT" or {{ long_edge = N, aspect = "W:H" }}, got {show(value)}')
                return (MIN_SIDE, MIN_SIDE)
            for side in (width, height):
                if not MIN_SIDE <= side <= MAX_SIDE:
                    self.fail(key, f"{width}x{height}: each side must be from {MIN_SIDE} to {MAX_SIDE} pixels")
                    break
            return (width, height)

        return convert

    def _size_from_aspect(self, key: str, table: dict[str, Any], multiple: int) -> tuple[int, int]:
        unknown = set(table) - set(SIZE_KEYS)
        if unknown:
            self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key; expected long_edge and aspect")
        long_edge = self.integer(MIN_SIDE, MAX_SIDE)(f"{key}.long_edge", table.get("long_edge", 1024))
        aspect = table.get("aspect", "1:1")
        if aspect not in ASPECTS:
            self.fail(f"{key}.aspect", f"expected one of {', '.join(ASPECTS)}, got {show(aspect)}")
            return (long_edge, long_edge)
        a, b = (int(part) for part in aspect.split(":"))
        short = max(multiple, round(long_edge * min(a, b) / max(a, b) / multiple) * multiple)
        long_side = round(long_edge / multiple) * multiple
        return (long_side, short) if a >= b else (short, long_side)

    def seed_list(self, key: str, value: Any, max_seed: int, limit: int) -> tuple[int, ...] | int:
        """Explicit seeds (a list or a range), or a count of seeds to draw."""
        if isinstance(value, int) and not isinstance(value, bool):
            return self.integer(1, limit)(key, value)
        if isinstance(value, str):
            values = parse_range(value, integer=True)
            if isinstance(values, str):
                self.fail(key, f"expected a list of seeds, a count, or a range such as {RANGE_FORMS}; {show(value)}: {values}")
                return ()
            if max(values) > max_seed:
                self.fail(key, f"range {show(value)} goes past the largest seed, {max_seed:,}")
                return ()
            return tuple(values)
        if isinstance(value, list) and value:
            seeds = tuple(self.integer(0, max_seed)(key, item) for item in value)
            if len(set(seeds)) != len(seeds):
                self.fail(key, "lists the same seed twice")
            return seeds
        self.fail(key, f"expected a list of seeds, a count, or a range such as {RANGE_FORMS}, got {show(value)}")
        return ()
