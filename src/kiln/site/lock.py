"""One build at a time in a build folder (``kiln serve --watch`` and a manual ``kiln build``).

The second build waits for the first, then finds its pages already written. Holding the lock
also tells a build that no other is writing, so any temporary file it finds was left by a build
that was killed, and can go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: builds are not serialised there
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".kiln-build.lock"


@contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """Hold the build folder's lock (waiting for it) for the duration of the block."""
    build_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    # The lock is held by the open file, and goes with it when the process dies, however.
    handle = os.open(build_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def build_in_progress(build_dir: Path) -> bool:
    """Whether a build holds the folder's lock now (``kiln doctor`` then leaves its files alone)."""
    if fcntl is None:
        return False
    try:
        handle = os.open(build_dir / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


def sweep_build_temporaries(build_dir: Path, suffix: str) -> int:
    """Delete the ``.NAME<suffix>`` files in ``build_dir``: a killed build's (call with the lock held)."""
    removed = 0
    for folder, _, files in os.walk(build_dir):
        for name in files:
            if name.startswith(".") and name.endswith(suffix):
                try:
                    os.unlink(os.path.join(folder, name))
                except FileNotFoundError:
                    continue
                removed += 1
    return removed
