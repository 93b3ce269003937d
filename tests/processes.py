"""Which processes are alive, read from /proc: to check that nothing kiln starts outlives it."""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, parent pid)`` of a process, or None if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces or parentheses itself.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def parent(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by whoever adopted it, does not count)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every live process started, directly or not, by ``pid``."""
    children: dict[int, list[int]] = {}
    for other in _pids():
        stat = _stat(other)
        if stat is not None and stat[0] not in ("Z", "X"):
            children.setdefault(stat[1], []).append(other)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def naming(text: str) -> set[int]:
    """Live processes (other than this one) whose command line contains ``text``."""
    found = set()
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text in cmdline and alive(pid):
            found.add(pid)
    return found


def survivors(pids: set[int], timeout: float = 5.0) -> set[int]:
    """Those of ``pids`` still alive after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = {pid for pid in pids if alive(pid)}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def describe(pids: set[int]) -> list[str]:
    """Each pid with its command line, for an assertion's message."""
    lines = []
    for pid in sorted(pids):
        try:
            cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            cmdline = "?"
        lines.append(f"{pid}: {cmdline[:200]}")
    return lines


def kill_all(pids: set[int]) -> None:
    """Teardown: a test that failed must still not leave its processes behind."""
    for pid in pids:
        try:
            os.kill(pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


def carrying(variable: str, value: str) -> set[int]:
    """Live processes (other than this one) whose environment sets ``variable`` to ``value``:
    everything a test session started, even after its parent died and it was adopted."""
    marker = f"{variable}={value}".encode()
    found = set()
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = (PROC / str(pid) / "environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker in environ.split(b"\0") and alive(pid):
            found.add(pid)
    return found
