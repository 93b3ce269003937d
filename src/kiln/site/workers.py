"""Rendering batches of pages, in this process or, when there are many, in worker processes.

A batch carries its pages' thin rows; whoever renders it reads the full rows of just those
images, renders and writes the pages, and hands back what it wrote. The pool starts only once
a build has more pages to render than one process makes quickly, uses every core, and its
workers end with kiln however kiln ends.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from kiln.errors import Problem
from kiln.lifeline import watch_parent
from kiln.site.output import Written
from kiln.site.pages import Page, Setup, render_batch
from kiln.store.db import Store

BATCH = 100  # pages a batch
POOL_AFTER = 600  # pages rendered in this process before the work moves to a pool

Result = tuple[list[Written], list[Problem]]

_store: Store | None = None  # a worker's connection, opened at its first batch


def _start_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    watch_parent(parent)


def _render_in_worker(setup: Setup, pages: list[Page], missing: dict[str, str]) -> Result:
    global _store
    if _store is None or _store.path != setup.db_path:
        _store = Store(Path(setup.db_path))
    return render_batch(setup, _store, pages, missing)


class Renderer:
    """Takes pages to render, in order, and calls ``done`` with each batch's result."""

    def __init__(self, setup: Setup, store: Store, missing: dict[str, str], done: Callable[[Result], None]):
        self.setup = setup
        self.store = store
        self.missing = missing
        self.done = done
        self.batch: list[Page] = []
        self.rendered = 0
        self.pool: ProcessPoolExecutor | None = None
        self.pending: deque[Future[Result]] = deque()
        self.workers = max(1, os.cpu_count() or 1)

    def add(self, page: Page) -> None:
        self.batch.append(page)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        pages, self.batch = self.batch, []
        ids = {m.image_id for page in pages for m in page.members}
        missing = {k: v for k, v in self.missing.items() if k in ids} if self.missing else {}
        if self.pool is None and self.rendered >= POOL_AFTER and self.workers > 1:
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
            )
        self.rendered += len(pages)
        if self.pool is None:
            self.done(render_batch(self.setup, self.store, pages, missing))
            return
        self.pending.append(self.pool.submit(_render_in_worker, self.setup, pages, missing))
        while len(self.pending) > 2 * self.workers:  # bounded: pages wait as thin rows, not as HTML
            self.done(self.pending.popleft().result())

    def finish(self) -> None:
        self.flush()
        try:
            while self.pending:
                self.done(self.pending.popleft().result())
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
                self.pool = None
