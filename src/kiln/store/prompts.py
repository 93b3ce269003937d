"""The ``prompts`` table: what the store knows about the prompt library's files.

The files in ``prompts/`` are the truth; a row mirrors one file (size, words, whether it holds
variants or wildcards, its hash) and adds what only the store knows: how often recipes using it
were run, and when last.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kiln.recipe.library import LibraryPrompt
from kiln.store.db import Store, now


def _row(entry: LibraryPrompt, stamp: str) -> dict[str, Any]:
    return {
        "name": entry.name,
        "path": entry.path,
        "bytes": entry.bytes,
        "words": entry.words,
        "has_wildcards": int(entry.has_wildcards),
        "sha256": entry.sha256,
        "updated_at": stamp,
    }


def sync(store: Store, entries: Sequence[LibraryPrompt]) -> None:
    """Make the table mirror ``entries`` (every library file): update, add, drop the missing."""
    stamp = now()
    with store.transaction() as db:
        if entries:
            db["prompts"].upsert_all([_row(entry, stamp) for entry in entries], pk="name")
        names = [entry.name for entry in entries]
        marks = ",".join("?" * len(names))
        store.conn.execute(f"DELETE FROM prompts WHERE name NOT IN ({marks})", names)


def note_use(store: Store, entries: Iterable[LibraryPrompt]) -> None:
    """Record that a run used these library prompts: refresh their rows and count the use."""
    stamp = now()
    with store.transaction() as db:
        for entry in entries:
            db["prompts"].upsert(_row(entry, stamp), pk="name")
            store.conn.execute(
                "UPDATE prompts SET use_count = use_count + 1, last_used_at = ? WHERE name = ?", [stamp, entry.name]
            )


def listing(store: Store) -> list[dict[str, Any]]:
    """Every row, by name."""
    return store.query("SELECT * FROM prompts ORDER BY name")
