"""Axes: the A1111 X/Y/Z range shorthands, and axes grouped into dimensions by ``zip``.

An axis is a named list of values. Expansion walks the product of the recipe's dimensions in a
fixed order, outermost first; a ``zip`` group walks its members in lockstep, as one dimension
placed where its first member would be.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_RANGE_VALUES = 10_000

_NUMBER = r"\d+(?:\.\d+)?"
_RANGE = re.compile(
    rf"^\s*(?P<start>{_NUMBER})\s*-\s*(?P<end>{_NUMBER})\s*"
    rf"(?:\(\s*(?P<step>[+-]?\s*{_NUMBER})\s*\)|\[\s*(?P<count>\d+)\s*\])?\s*$"
)
RANGE_FORMS = '"1-5", "1-10 (+2)", "10-1 (-3)" or "1-10 [5]"'

# Aliases users write for an axis, by its name in job axes.
AXIS_ALIASES = {"seeds": "seed", "prompts": "prompt", "models": "model", "sizes": "size", "styles": "style"}


def looks_like_range(text: str) -> bool:
    return bool(re.match(rf"^\s*{_NUMBER}\s*-", text))


def parse_range(text: str, *, integer: bool) -> list[float] | list[int] | str:
    """The values of an A1111 range, or a message saying why ``text`` is not one.

    ``"1-5"`` is inclusive; ``"1-10 (+2)"`` steps by 2 and ``"10-1 (-3)"`` counts down;
    ``"1-10 [5]"`` gives 5 evenly spaced values, rounded half up for integers.
    """
    match = _RANGE.match(text)
    if not match:
        return f"expected a range such as {RANGE_FORMS}"
    start, end = float(match["start"]), float(match["end"])
    if match["count"] is not None:
        count = int(match["count"])
        if not 1 <= count <= MAX_RANGE_VALUES:
            return f"the count in [{count}] must be from 1 to {MAX_RANGE_VALUES:,}"
        values = [start] if count == 1 else [start + (end - start) * i / (count - 1) for i in range(count)]
    else:
        step = float(match["step"].replace(" ", "")) if match["step"] else 1.0
        if step == 0:
            return "the step must not be 0"
        if (end - start) * step < 0:
            return f"a range from {match['start']} down to {match['end']} needs a negative step such as (-1)" if step > 0 else (
                f"a range from {match['start']} up to {match['end']} needs a positive step such as (+1)"
            )
        if integer and not step.is_integer():
            return "the step must be a whole number"
        if abs(end - start) / abs(step) >= MAX_RANGE_VALUES:
            return f"the range gives more than {MAX_RANGE_VALUES:,} values"
        count = math.floor(abs(end - start) / abs(step) + 1e-9) + 1
        values = [start + step * i for i in range(count)]
    if integer:
        if not (start.is_integer() and end.is_integer()):
            return "expected whole numbers"
        return [math.floor(v + 0.5) for v in values]
    return [round(v, 6) for v in values]


@dataclass(frozen=True)
class Dimension:
    """One axis of the product, or a zipped group of axes walked in lockstep.

    Each entry assigns a value to every axis named in ``names``.
    """

    names: tuple[str, ...]
    entries: tuple[dict[str, Any], ...]

    def __len__(self) -> int:
        return len(self.entries)


def dimensions(axes: Sequence[tuple[str, Sequence[Any]]], zips: Sequence[Sequence[str]]) -> list[Dimension]:
    """Axes in order, each zip group merged into one dimension at its first member's place.

    The caller has checked that zipped axes exist and have equal lengths.
    """
    values = dict(axes)
    group_of = {name: tuple(group) for group in zips for name in group}
    dims: list[Dimension] = []
    placed: set[tuple[str, ...]] = set()
    for name, _ in axes:
        group = group_of.get(name, (name,))
        if group in placed:
            continue
        placed.add(group)
        ordered = tuple(n for n, _ in axes if n in group)
        entries = tuple({n: values[n][i] for n in ordered} for i in range(len(values[ordered[0]])))
        dims.append(Dimension(ordered, entries))
    return dims
