"""Work of a build done in this process or, when there is much of it, in worker processes.

Work comes in batches (pages to render, images whose files to publish) that carry only thin
rows; whoever does a batch reads the full rows of just those images from the store, writes
the files and hands back what it wrote. The pool starts only once a build has more work than
one process does quickly (or at once when the caller knows that much is coming), uses every
core, and its workers end with kiln however kiln ends. Results are handed back in the order
the batches were given, as they come: the process that hands out the work is free to do
other work meanwhile (a full build writes the finder's files while its last pages are
rendered). A few batches per worker are in flight at most: handing out one more first waits
for the oldest, so what waits in memory is bounded whatever the library's size.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from kiln.lifeline import watch_parent
from kiln.store.db import Store

POOL_AFTER = 20  # batches done in this process before the work moves to a pool
# Batches handed to the pool and not yet collected, at most, per worker: each holds its rows
# (and the pickled copy the pool sends) until its result is collected. Four keep a worker fed
# while the next batch is planned, pickled and sent; more only hold memory.
IN_FLIGHT = 4

_store: Store | None = None  # a worker's connection to the store, opened at its first batch


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    watch_parent(parent)


def _in_worker(db_path: Path, work: Callable[..., Any], args: tuple) -> Any:
    global _store
    if _store is None or _store.path != db_path:
        _store = Store(db_path)
    return work(_store, *args)


class Workers:
    """Runs ``work(store, *args)`` for each batch and calls ``done`` with each result."""

    def __init__(self, store: Store):
        self.store = store
        self.batches = 0
        self.pool: ProcessPoolExecutor | None = None
        self.pending: deque[tuple[Future[Any], Callable[[Any], None]]] = deque()
        self.workers = max(1, os.cpu_count() or 1)

    def expect(self, batches: int) -> None:
        """Say that ``batches`` more are coming: the pool starts now when they are many."""
        if self.batches + batches > POOL_AFTER:
            self._start()

    def run(self, work: Callable[..., Any], args: tuple, done: Callable[[Any], None]) -> None:
        self.batches += 1
        if self.batches > POOL_AFTER:
            self._start()
        if self.pool is None:
            done(work(self.store, *args))
            return
        self.pending.append((self.pool.submit(_in_worker, self.store.path, work, args), done))
        while self.pending and (self.pending[0][0].done() or len(self.pending) > self.limit):
            self._collect()

    @property
    def limit(self) -> int:
        """Batches in flight at most: handing out one more first collects the oldest."""
        return IN_FLIGHT * self.workers

    def _start(self) -> None:
        if self.pool is None and self.workers > 1:
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
            )

    def wait(self) -> None:
        """Until every batch given so far is done."""
        while self.pending:
            self._collect()

    def _collect(self) -> None:
        future, done = self.pending.popleft()
        done(future.result())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
