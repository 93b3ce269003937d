"""Leases on claims: when a job left ``running`` may be taken back.

A run claims jobs by marking them ``running`` with its id. While it lives, a
:class:`Heartbeat` thread renews ``runs.heartbeat_at`` every :data:`HEARTBEAT_S`; a claim
holds while its run's lease (the last heartbeat plus :data:`LEASE_S`) has not run out. That
works for a store shared between machines or containers, where a process id means nothing;
on this host a dead process releases its claims at once. :func:`lapsed` is the one rule that
``kiln run`` (taking claims back) and ``kiln doctor`` (reporting jobs stuck) both follow.

The lease is compared with this machine's clock, so hosts sharing a store need clocks that
agree within seconds (NTP does); the lease is long enough to absorb a busy store.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HEARTBEAT_S = 5.0
LEASE_S = 60.0

# Runs of this process whose heartbeat is beating: its own pid says nothing about them.
_live_here: set[int] = set()
_live_lock = threading.Lock()


def _age_s(stamp: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()


def lapsed(run: dict[str, Any] | None, now: datetime | None = None) -> str | None:
    """Why the claims of ``run`` (a ``runs`` row: id, status, pid, host, started_at,
    heartbeat_at; None if no run made them) may be taken back, or None while they hold."""
    if run is None or run.get("id") is None:
        return "no run claimed it"
    run_id, pid, host = run["id"], run["pid"], run["host"]
    if run["status"] != "running":
        return f"run #{run_id} is over ({run['status']})"
    here = host == socket.gethostname()
    if here and pid == os.getpid():
        with _live_lock:
            live = run_id in _live_here
        return None if live else f"run #{run_id} (pid {pid}) is gone"
    if here and (pid is None or not process_alive(pid)):
        return f"run #{run_id} (pid {pid}) is gone"
    heartbeat = run.get("heartbeat_at")
    if heartbeat is None and here:
        return None  # a run of a kiln without leases: its live process is all there is to go by
    last = heartbeat or run["started_at"]
    if _age_s(last, now or datetime.now(UTC)) <= LEASE_S:
        return None
    where = "" if here else f" on {host}"
    return f"run #{run_id}{where} has not renewed its lease since {last}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but alive
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits to be reaped: a process whose parent was killed is
    handed to init, which may take a while to reap it, and until then it still answers kill()."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc here: take the answer of kill()
    # The state follows the command name, which is in parentheses and may hold anything.
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z"


class Heartbeat:
    """Renews a live run's lease from a thread of its own, on a connection of its own (so a
    busy runner never delays it), until the ``with`` block ends."""

    def __init__(self, db_path: Path, run_id: int, every_s: float = HEARTBEAT_S):
        self.db_path = db_path
        self.run_id = run_id
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"kiln-heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        with _live_lock:
            _live_here.add(self.run_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with _live_lock:
            _live_here.discard(self.run_id)

    def _beat(self) -> None:
        from kiln.store.db import BUSY_TIMEOUT_S, now

        try:
            conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error:
            return  # the run's own writes fail and say why; its claims lapse with the lease
        try:
            while not self._stop.wait(self.every_s):
                try:
                    conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", [now(), self.run_id])
                except sqlite3.Error:
                    pass  # a locked or failing store: the next beat tries again, well within the lease
        finally:
            conn.close()
