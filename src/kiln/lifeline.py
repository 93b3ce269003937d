"""Child processes that end with kiln, however kiln ends (Ctrl-C, ``kill``, ``kill -9``).

Two mechanisms, because neither covers every child everywhere:

* **A parent-death signal** (Linux ``prctl(PR_SET_PDEATHSIG)``) for programs kiln starts
  with :func:`popen`: an engine process, Datasette. The kernel sends the signal when the
  *thread* that started the child ends, not the process, so every such child is started
  from one thread kept for the life of the process.
* **A watch on the parent** for kiln's own Python children (the finishing workers):
  :func:`watch_parent` starts a thread that exits the process as soon as its parent is
  gone. It needs no ``prctl``, and it holds whichever of the parent's threads started it.

multiprocessing's resource tracker needs neither: it exits when the last process holding its
pipe (kiln and its workers) is gone.
"""

from __future__ import annotations

import ctypes
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_PR_SET_PDEATHSIG = 1
# How often a child without pidfd support looks at its parent's id.
POLL_S = 0.25


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


# Looked up once, in the parent: the child, between fork and exec, only calls it.
_prctl = _load_prctl()


def _dies_with(parent: int, death_signal: int) -> Callable[[], None]:
    def set_signal() -> None:
        # Runs in the child between fork and exec.
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), death_signal)

    return set_signal


class _Starter:
    """The one thread that starts children, so that it outlives all of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def call(self, start: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="kiln-lifeline-starter", daemon=True)
                self._thread.start()
        if threading.current_thread() is self._thread:
            return start()
        future: Future[Any] = Future()
        self._requests.put((start, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            start, future = self._requests.get()
            try:
                future.set_result(start())
            except BaseException as error:  # handed back to the caller's thread
                future.set_exception(error)


_starter = _Starter()


def popen(argv: list[str], *, death_signal: int = signal.SIGKILL, **options: Any) -> subprocess.Popen[Any]:
    """:class:`subprocess.Popen` for a child that gets ``death_signal`` when kiln dies (Linux).

    Elsewhere the child is started plainly; an engine still sees its stdin close.
    """
    if _prctl is None:
        return subprocess.Popen(argv, **options)
    preexec = _dies_with(os.getpid(), death_signal)
    return _starter.call(lambda: subprocess.Popen(argv, preexec_fn=preexec, **options))  # type: ignore[no-any-return]


def watch_parent(parent: int) -> None:
    """In a child process: exit at once when ``parent`` (the process that started it) ends."""

    def watch() -> None:
        try:
            handle = os.pidfd_open(parent)
        except (AttributeError, OSError):
            handle = None
        try:
            # Checked after opening: a parent gone before then may have lent its id to another.
            if handle is not None and os.getppid() == parent:
                select.select([handle], [], [])
            else:
                while os.getppid() == parent:
                    time.sleep(POLL_S)
        finally:
            os._exit(1)

    threading.Thread(target=watch, name="kiln-lifeline-watch", daemon=True).start()
