"""The SQLite store: ``art/kiln.db``, the source of truth for what exists."""

from kiln.store.db import Store, open_store

__all__ = ["Store", "open_store"]
