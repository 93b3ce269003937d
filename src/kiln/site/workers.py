"""Work of a build done in this process or, when there is much of it, in worker processes.

Work comes in batches (pages to render, images whose files to publish) that carry only thin
rows; whoever does a batch reads the full rows of just those images from the store, writes
the files and hands back what it wrote. The pool starts only once a build has more work than
one process does quickly (or at once when the caller knows that much is coming), uses every
core, and its workers end with kiln however kiln ends. Results are handed back in the order
the batches were given, as they come: the process that hands out the work is free to do
other work meanwhile (a full build writes the finder's files while its last pages are
rendered). A batch is pickled as it is handed out, a few times smaller than its rows as
objects, and the pickled batches waiting for the pool are bounded in bytes: handing out one
more past the bound first collects the oldest, so what waits in memory is bounded whatever
the library's size, while hundreds of batches of pages still wait for the pool (what it
renders while this process makes the producers' files).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from kiln.lifeline import watch_parent
from kiln.store.db import Store

POOL_AFTER = 20  # batches done in this process before the work moves to a pool
# Bytes of pickled batches handed to the pool and not yet collected, at most: some 300 batches
# of 100 pages, which the pool renders for about as long as a full build of 100,000 images
# takes to make the finder's files.
IN_FLIGHT_BYTES = 16 << 20

_store: Store | None = None  # a worker's connection to the store, opened at its first batch


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    watch_parent(parent)


def _in_worker(db_path: Path, batch: bytes) -> Any:
    global _store
    if _store is None or _store.path != db_path:
        _store = Store(db_path)
    work, args = pickle.loads(batch)
    return work(_store, *args)


class Workers:
    """Runs ``work(store, *args)`` for each batch and calls ``done`` with each result."""

    def __init__(self, store: Store):
        self.store = store
        self.batches = 0
        self.pool: ProcessPoolExecutor | None = None
        # Each batch handed to the pool and not yet collected: its future, what takes its
        # result, and its size pickled; ``waiting`` sums those sizes.
        self.pending: deque[tuple[Future[Any], Callable[[Any], None], int]] = deque()
        self.waiting = 0
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
        batch = pickle.dumps((work, args), pickle.HIGHEST_PROTOCOL)
        self.pending.append((self.pool.submit(_in_worker, self.store.path, batch), done, len(batch)))
        self.waiting += len(batch)
        while self.pending and (self.pending[0][0].done() or self.waiting > IN_FLIGHT_BYTES):
            self._collect()

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
        future, done, size = self.pending.popleft()
        self.waiting -= size
        done(future.result())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
