"""What the grid page's axis selector needs: every axis of a recipe, its values in the order
they first appear, and each image's value on each axis, as indexes.

The page is first laid out on the server by ``gallery.grid``'s two axes (so it reads without
JavaScript); the selector then moves the same tiles into another layout, X across, Y down
and a third axis as pages, so it needs no more than this small index.
"""

from __future__ import annotations

import json
from typing import Any

from kiln.site.collect import Entry, Grid


def grid_entries(grid: Grid) -> list[Entry]:
    """The grid's images in the recipe's order, each once."""
    seen: dict[str, Entry] = {}
    for entry in sorted((e for cell in grid.cells.values() for e in cell), key=lambda e: e.position):
        seen.setdefault(entry.image.id, entry)
    return list(seen.values())


def sweep_data(grid: Grid) -> dict[str, Any]:
    """``{"axes": [...], "labels": {axis: [...]}, "cells": [[id, index per axis...]], "x", "y"}``,
    cells in the recipe's order; the axes are those whose value varies."""
    entries = grid_entries(grid)
    values: dict[str, set[str]] = {}
    for entry in entries:
        for key, value in entry.axes.items():
            values.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    axes = [key for key, seen in values.items() if len(seen) > 1]
    seen: dict[str, dict[str, int]] = {axis: {} for axis in axes}
    labels: dict[str, list[str]] = {axis: [] for axis in axes}
    cells = []
    for entry in entries:
        indexes = []
        for axis in axes:
            value = entry.axes.get(axis)
            key = json.dumps(value, sort_keys=True)
            if key not in seen[axis]:
                seen[axis][key] = len(labels[axis])
                labels[axis].append(_label(value))
            indexes.append(seen[axis][key])
        cells.append([entry.image.id, *indexes])
    return {"axes": axes, "labels": labels, "cells": cells, "x": grid.x, "y": grid.y}


def _label(value: Any) -> str:
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
