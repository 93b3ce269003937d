"""A data set's column files grown by images appended at its end, from the files on disk.

A data set whose images are those of the last build, unchanged and in the same places, with new
ones after them, needs only its last block of each per-image column, its ``tags`` and its meta
made again (kiln/site/filters.py): the others keep their bytes. The blocks and ``tags`` are read
back from the files the last build wrote, each trusted only when its bytes are the ones the
meta names (their version is the digest of their bytes). A dictionary field whose codes move
(a value becomes more frequent than another, or a new one comes) has all its blocks made again
from the old ones. Anything unreadable raises :class:`Stale`: the caller makes the set whole.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiln.site.collections import Member, parse_axes
from kiln.site.filters import (
    BLOCK, DICTIONARIES, MAX_AXIS_VALUES, Facts, Tally, _axis_value, _day, blocks, dictionary_values, encode,
    filter_axes,
)
from kiln.site.findfiles import digest, script

Key = Any


class Stale(Exception):
    """A file the last build wrote is not as its meta says: the data set is made whole."""


class OldFiles:
    """The files of a data set as the last build left them, read only when their bytes are
    those its meta names; or, for those in ``fresh``, as this build made them already (a
    build after curation and new images changes a set in place, then grows it)."""

    def __init__(self, folder: Path, name: str, meta: dict[str, Any], fresh: dict[str, bytes] | None = None):
        self.folder, self.name = folder, name
        files = meta.get("files")
        if not isinstance(files, dict):
            raise Stale("no files")
        self.versions: dict[str, str] = files
        self.fresh = fresh or {}

    def read(self, file: str) -> Any:
        if file not in self.versions:
            raise Stale(file)
        try:
            data = self.fresh[file] if file in self.fresh else (self.folder / f"{file}.js").read_bytes()
        except OSError as error:
            raise Stale(file) from error
        if version(data) != self.versions[file]:
            raise Stale(file)
        prefix = f"kiln.found({json.dumps(f'{self.name}/{file}')},".encode()
        if not data.startswith(prefix) or not data.endswith(b");\n"):
            raise Stale(file)
        return json.loads(data[len(prefix) : -3])


def version(data: bytes) -> str:
    """A column file's version: the digest of its bytes."""
    return digest(data)


def grow_columns(
    old: OldFiles, meta: dict[str, Any], new: list[tuple[Facts, int, str]]
) -> tuple[dict[str, Any], Tally]:
    """The per-image columns' files and ``tags`` that change when images are appended (each
    new one's facts, number in the library and collection of its page), and the new tally."""
    try:
        tally = Tally.of_meta(meta)
    except (KeyError, TypeError, ValueError) as error:
        raise Stale("meta") from error
    count = tally.count
    before = {name: tally.order(name) for name, _ in DICTIONARIES}
    for facts, _, recipe in new:
        tally.add(facts, recipe)
    files: dict[str, Any] = {}
    fresh = {name: [dictionary_values(f, recipe)[k] for f, _, recipe in new] for k, (name, _) in enumerate(DICTIONARIES)}
    for name, _ in DICTIONARIES:
        after = tally.order(name)
        if len(after) <= 1:
            continue  # one value for all: no column
        if after == before[name]:
            files.update(_appended(old, name, count, encode(fresh[name], after)))
            continue
        # The codes moved: every block again, from the old values.
        if len(before[name]) <= 1:
            values = before[name] * count
        else:
            codes = [c for k in range(-(-count // BLOCK)) for c in _block(old, name, k, count)]
            values = [before[name][c] for c in codes]
        files.update(blocks(name, encode(values + fresh[name], after)))
    files.update(_appended(old, "rating", count, [f.rating for f, _, _ in new]))
    files.update(_appended(old, "status", count, [f.status for f, _, _ in new]))
    files.update(_appended(old, "day", count, [_day(f.created_at) for f, _, _ in new]))
    files.update(_appended(old, "g", count, [number for _, number, _ in new]))
    if any(f.tags for f, _, _ in new):
        tags = old.read("tags")
        if not isinstance(tags, dict):
            raise Stale("tags")
        for index, (f, _, _) in enumerate(new, start=count):
            for tag in dict.fromkeys(f.tags):
                tags.setdefault(tag, []).append(index)
        files["tags"] = tags
    return files, tally


def grow_axes(
    old: OldFiles, meta: dict[str, Any], members: list[Member], count: int
) -> tuple[dict[str, list[int]], list[dict[str, Any]], dict[str, Any]]:
    """A recipe's ``axes`` file, axis fields and other axes with its members from ``count`` on
    appended, only theirs parsed. Stale when that needs the others' values: an axis that
    becomes a filter, one never seen, or a filter's value that is empty."""
    try:
        fields = [f for f in meta["fields"] if "axis" in f]
        counts = {f["axis"]: {str(v): int(n) for v, n in f["values"]} for f in fields}
        others = {str(k): (None if v is None else set(map(str, v))) for k, v in meta["axisValues"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise Stale("meta") from error
    if any("" in c for c in counts.values()):
        raise Stale("an image without a filter's axis")  # its values are not all listed
    fresh: dict[str, list[str]] = {key: [] for key in counts}
    for member in members[count:]:
        axes = parse_axes(member.axes) if member.axes != "{}" else {}
        for key in counts:
            v = _axis_value(axes[key]) if key in axes else ""
            if not v:
                raise Stale(key)
            fresh[key].append(v)
        for key, v in axes.items():
            if key in counts:
                continue
            if key not in others:
                raise Stale(key)
            if others[key] is not None:
                others[key].add(_axis_value(v))  # type: ignore[union-attr]
    values = {key: set(c) | set(fresh[key]) for key, c in counts.items()}
    values.update({key: seen for key, seen in others.items() if seen is not None})
    # An axis listed as too many stays so: its values only grow.
    many = {key: {str(n) for n in range(MAX_AXIS_VALUES + 1)} for key, seen in others.items() if seen is None}
    keys, now_others = filter_axes({**values, **many}, len(members))
    if any(key not in counts for key in keys):
        raise Stale("a new filter")
    axes_file: dict[str, list[int]] = {}
    new_fields = []
    old_axes = old.read("axes") if keys else {}
    for key in keys:
        before = [v for v, _ in next(f for f in fields if f["axis"] == key)["values"]]
        tally = dict(counts[key])
        for v in fresh[key]:
            tally[v] = tally.get(v, 0) + 1
        order = sorted(tally, key=lambda v: (-tally[v], v))
        column = old_axes.get(key) if isinstance(old_axes, dict) else None
        if not isinstance(column, list) or len(column) != count:
            raise Stale("axes")
        if order != before:
            column = encode([before[c] for c in column], order)
        axes_file[key] = column + encode(fresh[key], order)
        new_fields.append({"name": f"axis:{key}", "label": key, "values": [[v, tally[v]] for v in order], "axis": key})
    # ``many`` stood for the axes too many to list: they stay None.
    return axes_file, new_fields, {key: (None if key in many else seen) for key, seen in now_others.items()}


def insert_order(order: list[int], key_of: Callable[[int], Key], new: list[tuple[int, Key]]) -> list[int]:
    """A sort order (indexes sorted by key, ties by index) with ``new`` indexes, each larger
    than any in it, put in place: as sorting them all again would."""
    keys: dict[int, Key] = {}

    def key(index: int) -> Key:
        if index not in keys:
            keys[index] = key_of(index)
        return keys[index]

    merged = list(order)
    for index, value in new:
        keys[index] = value
        merged.insert(bisect.bisect_right(merged, value, key=key), index)
    return merged


def _block(old: OldFiles, name: str, k: int, count: int) -> list[Any]:
    data = old.read(f"{name}-{k}")
    if not isinstance(data, list) or len(data) != min(BLOCK, count - k * BLOCK):
        raise Stale(f"{name}-{k}")
    return data


def _appended(old: OldFiles, name: str, count: int, values: list[Any]) -> dict[str, list[Any]]:
    """The blocks of a per-image column that change when ``values`` are appended to its
    ``count`` values."""
    first = count // BLOCK
    last = _block(old, name, first, count) if count % BLOCK else []
    return blocks(name, last + values, first)


def encoded(name: str, file: str, data: Any) -> tuple[bytes, str]:
    """A data file's bytes and version."""
    made = script(f"{name}/{file}", data)
    return made, version(made)
