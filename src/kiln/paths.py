"""Paths written in files: what no file system takes, the entries kiln never reads, and whether
a path stays inside the project."""

from __future__ import annotations

import stat
from pathlib import Path

# Limits of Linux and macOS file systems, in bytes of UTF-8 (Windows counts characters, fewer).
NAME_MAX = 255
PATH_MAX = 4096


def unusable_path(text: str) -> str | None:
    """Why no file system would take ``text`` as a path (a NUL, an over-long name), or None.

    Asked before a path written in a file is looked up, so the problem is reported with that
    file's line rather than as an ``OSError`` of the first ``stat``.
    """
    if "\0" in text:
        return "contains a NUL character"
    if len(text.encode("utf-8", "surrogatepass")) > PATH_MAX:
        return f"is longer than {PATH_MAX} bytes"
    for part in text.replace("\\", "/").split("/"):
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > NAME_MAX:
            return f"holds a name of {size} bytes; file and folder names are at most {NAME_MAX} bytes"
    return None


def special_file(path: Path) -> str | None:
    """What ``path`` is if it is neither a regular file nor a folder ("a FIFO", …), else None.

    Reading a FIFO waits for a writer forever, and a device may never end: kiln reads neither.
    """
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def inside(root: Path, candidate: Path) -> bool:
    """Whether ``candidate`` resolves to a place inside ``root`` (symlinks followed)."""
    try:
        candidate.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
