"""The SQLite store: ``art/kiln.db``, the source of truth for what exists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.store.db import Store, open_store


def __getattr__(name: str) -> Any:
    # Imported on first use: the finishing workers need kiln.store.leases but not the store
    # itself, and sqlite-utils (with numpy) costs each of them a fifth of a second to import
    # while the engine makes its first image.
    if name in __all__:
        from kiln.store import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Store", "open_store"]
