"""Curation as a file: JSON Lines, one curated image per line, sorted by id.

The file keeps what no recipe can make again (ratings, picks and rejects, tags, notes) next to
the recipes in git: keys in a fixed order and one image per line, so a diff shows exactly which
images changed. Each line names the image by its id (the hash of its bytes) and by the key of the
job that made it, so it can be put back onto a store rebuilt from scratch even when an engine
does not make the same bytes twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.art import write_atomic
from kiln.errors import InputError, KilnError, Problem
from kiln.library.curation import (
    STATUSES,
    Change,
    CurationResult,
    Diff,
    apply_changes_within,
    clean_tag,
    image_states,
    row_state,
    summarize,
)
from kiln.store.db import Store

KEYS = ("id", "job_key", "recipe", "rating", "status", "tags", "notes")
VALUES = ("rating", "status", "tags", "notes")
DEFAULT = {"rating": 0, "status": "", "tags": [], "notes": ""}
SHOWN = 5


def export_lines(store: Store) -> Iterator[str]:
    """One JSON object per curated image (rated, picked or rejected, tagged or noted), by id."""
    with store.lock:
        rows = store.conn.execute(
            "SELECT id, job_key, recipe, rating, status, tags, notes FROM images"
            " WHERE rating > 0 OR status IS NOT NULL OR tags != '[]' OR notes != '' ORDER BY id"
        )
        for image_id, job_key, recipe, *values in rows:
            state = row_state([image_id, *values])
            record = {"id": image_id, "job_key": job_key, "recipe": recipe, **{key: state[key] for key in VALUES}}
            yield json.dumps(record, ensure_ascii=False)


def write_export(store: Store, path: Path) -> int:
    """Write the export to ``path`` (replaced whole, never half written); the number of images."""
    lines = list(export_lines(store))
    write_atomic(path, "".join(f"{line}\n" for line in lines).encode("utf-8"))
    return len(lines)


@dataclass
class Entry:
    """One line of a curation file: which image, and the values it gives (only those present)."""

    line: int
    id: str | None
    job_key: str | None
    values: dict[str, Any]

    def label(self) -> str:
        names = [f"id {self.id}"] if self.id else []
        names += [f"job key {self.job_key}"] if self.job_key else []
        return f"line {self.line} ({', '.join(names)})"


def _value(key: str, value: Any) -> Any:
    """A curation value from the file, checked; raises ValueError with the reason."""
    if key == "rating":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
            raise ValueError(f"expected a whole number from 0 to 5, got {json.dumps(value)}")
        return value
    if key == "status":
        if value is None:
            return ""
        if value not in STATUSES:
            raise ValueError(f'expected "selected", "rejected" or "", got {json.dumps(value)}')
        return value
    if key == "tags":
        if not isinstance(value, list):
            raise ValueError(f"expected a list of tags, got {json.dumps(value)}")
        try:
            return sorted({clean_tag(tag) for tag in value})
        except KilnError as error:
            raise ValueError(str(error)) from None
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {json.dumps(value)}")
    return value


def read_entries(text: str, name: str) -> list[Entry]:
    """Every entry of a curation file; every bad line is reported (file and line), none skipped."""
    entries, problems = [], []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            problems.append(Problem(name, number, None, f"not valid JSON: {error.msg} (column {error.colno})"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(name, number, None, "expected a JSON object, one image per line"))
            continue
        before = len(problems)
        for key in sorted(set(data) - set(KEYS)):
            problems.append(Problem(name, number, key, f"unknown key (expected {', '.join(KEYS)})"))
        for key in ("id", "job_key"):
            if data.get(key) is not None and not (isinstance(data[key], str) and data[key]):
                problems.append(Problem(name, number, key, f"expected text, got {json.dumps(data[key])}"))
        if not data.get("id") and not data.get("job_key"):
            problems.append(Problem(name, number, None, "names no image: give an id or a job_key"))
        values = {}
        for key in VALUES:
            if key in data:
                try:
                    values[key] = _value(key, data[key])
                except ValueError as error:
                    problems.append(Problem(name, number, key, str(error)))
        for key in ("id", "job_key"):
            if isinstance(data.get(key), str):
                if (key, data[key]) in seen:
                    problems.append(Problem(name, number, key, f"{data[key]} is also on line {seen[key, data[key]]}"))
                seen.setdefault((key, data[key]), number)
        if len(problems) == before:
            entries.append(Entry(number, data.get("id"), data.get("job_key"), values))
    if problems:
        raise InputError(problems)
    return entries


@dataclass
class Conflict:
    """An image curated otherwise than its line in the file says."""

    entry: Entry
    image_id: str
    current: dict[str, Any]

    def describe(self) -> str:
        differences = [
            f"{key} {json.dumps(self.current[key], ensure_ascii=False)} here,"
            f" {json.dumps(value, ensure_ascii=False)} in the file"
            for key, value in self.entry.values.items()
            if self.current[key] != value
        ]
        return f"line {self.entry.line}, image {self.image_id}: {'; '.join(differences)}"


@dataclass
class ImportReport:
    """What an import found (matches, lines not found, conflicts), planned and did."""

    matched: int = 0
    by_job_key: int = 0
    already: int = 0
    not_found: list[Entry] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    changes: list[tuple[str, Change]] = field(default_factory=list)
    diffs: list[Diff] = field(default_factory=list)
    result: CurationResult | None = None
    dry_run: bool = False
    overwrite: bool = False

    @property
    def refused(self) -> bool:
        """Conflicts and no --overwrite: nothing was (or would be) changed."""
        return bool(self.conflicts) and not self.overwrite

    def lines(self) -> list[str]:
        conflicts = len(self.conflicts)
        lines = [
            f"{self.matched} matched ({self.by_job_key} by job key), {self.already} already as in the file,"
            f" {len(self.not_found)} not found, {conflicts} conflict{'s' if conflicts != 1 else ''}"
        ]
        lines += [f"not found: {entry.label()}" for entry in self.not_found[:SHOWN]]
        if len(self.not_found) > SHOWN:
            lines.append(f"not found: … and {len(self.not_found) - SHOWN} more")
        lines += [f"conflict: {conflict.describe()}" for conflict in self.conflicts[:SHOWN]]
        if conflicts > SHOWN:
            lines.append(f"conflict: … and {conflicts - SHOWN} more")
        if self.refused:
            lines.append("nothing changed: --overwrite lets the file win")
            return lines
        what = ", ".join(summarize(self.diffs)) or "nothing to change"
        if self.dry_run and self.diffs:
            lines.append(f"dry run, nothing changed; the import would do: {what}")
        elif self.dry_run:
            lines.append("dry run: nothing to change")
        elif self.result is not None:
            lines.append(f"{what} (kiln undo reverts this import)")
        else:
            lines.append(what)
        return lines


def _match(store: Store, entries: Sequence[Entry], name: str) -> list[tuple[Entry, str | None, bool]]:
    """``(entry, image id or None, matched by job key)`` for each entry."""
    known = {state["id"] for state in image_states(store, [e.id for e in entries if e.id])}
    wanted = [e.job_key for e in entries if e.id not in known and e.job_key]
    made: dict[str, str] = {}
    with store.lock:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = store.conn.execute(
                "SELECT jobs.key, images.id FROM jobs JOIN images ON images.id = jobs.image_id"
                f" WHERE jobs.key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            made.update(rows)
    matches, problems, claimed = [], [], {}
    for entry in entries:
        if entry.id in known:
            image, by_key = entry.id, False
        else:
            image, by_key = made.get(entry.job_key or ""), True
        if image is not None:
            if image in claimed:
                problems.append(Problem(name, entry.line, None, f"image {image} is also on line {claimed[image]}"))
            claimed.setdefault(image, entry.line)
        matches.append((entry, image, by_key))
    if problems:
        raise InputError(problems)
    return matches


def _plan(store: Store, entries: Sequence[Entry], name: str, report: ImportReport) -> None:
    matches = _match(store, entries, name)
    current = {s["id"]: s for s in image_states(store, [image for _, image, _ in matches if image])}
    for entry, image, by_key in matches:
        if image is None:
            report.not_found.append(entry)
            continue
        report.matched += 1
        report.by_job_key += by_key
        state = current[image]
        target = {**state, **entry.values}
        if target == state:
            report.already += 1
            continue
        if any(state[key] != DEFAULT[key] for key in VALUES):
            report.conflicts.append(Conflict(entry, image, state))
        values = entry.values
        change = Change(
            rating=values.get("rating"),
            status=values.get("status"),
            add_tags=tuple(sorted(set(target["tags"]) - set(state["tags"]))),
            remove_tags=tuple(sorted(set(state["tags"]) - set(target["tags"]))),
            note=values.get("notes"),
        )
        report.changes.append((image, change))
        report.diffs += [(key, state[key], target[key]) for key in VALUES if state[key] != target[key]]


def import_curation(
    store: Store, text: str, name: str, *, overwrite: bool = False, dry_run: bool = False
) -> ImportReport:
    """Put a curation file's values onto the images it names, as one undoable batch.

    An image matches by id, else by the job that made it. Images curated differently from the
    file are conflicts: with any conflict nothing changes, unless ``overwrite`` (the file wins).
    """
    entries = read_entries(text, name)
    report = ImportReport(dry_run=dry_run, overwrite=overwrite)
    if dry_run:
        _plan(store, entries, name, report)
        return report
    # Planned and applied in one transaction, so what was checked for conflicts is what changes.
    with store.transaction():
        _plan(store, entries, name, report)
        if report.changes and not report.refused:
            report.result = apply_changes_within(store, report.changes, "import")
    return report
