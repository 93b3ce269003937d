"""The resident memory of a process and everything it started, sampled while it runs.

``wait4``'s ``ru_maxrss`` is the peak of the largest single process; a command with worker
processes holds the sum of theirs at once, which is what a machine has to have.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def tree_rss_kb(pid: int) -> int:
    """The resident memory of ``pid`` and all its descendants, in KB (Linux's /proc). Only the
    tree is read, each process's ``statm`` and its threads' ``children``: reading every
    process's ``status`` every few milliseconds slowed the build it measured by a third."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * PAGE_KB
            for task in os.listdir(f"/proc/{current}/task"):
                todo += [int(child) for child in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


class PeakTreeRss:
    """Samples ``pid``'s tree every ``interval`` seconds from a thread until :meth:`stop`, which
    returns the largest sum seen, in MB."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.is_set():
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))
            time.sleep(self.interval)

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return self.peak_kb / 1024
