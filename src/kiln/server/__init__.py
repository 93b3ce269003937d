"""``kiln serve``: the gallery in build/ with culling turned on, rebuilt and reloaded live.

:class:`Server` binds the port, builds once, then serves (uvicorn, on its own thread and event
loop) until :meth:`Server.stop`. See ``app.py`` for what it answers, ``guard.py`` for who may
ask, ``live.py`` for what makes pages reload.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

from kiln.errors import KilnError
from kiln.project import Project
from kiln.server.app import GalleryApp
from kiln.server.events import Broadcaster
from kiln.server.guard import HostCheck, is_loopback
from kiln.server.live import Live, builder

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line error saying what to do instead."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise KilnError(f"cannot listen on {host}: {error.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise KilnError(f"port {port} on {host} is in use; try --port {port + 1}") from None
        raise KilnError(f"cannot listen on {host} port {port}: {error.strerror}") from None
    sock.set_inheritable(False)
    return sock


def url(host: str, port: int) -> str:
    """Where a browser on this machine finds a server listening on ``host``."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class Server:
    """One ``kiln serve``: ``start()`` builds and serves in a thread, ``stop()`` ends it all."""

    def __init__(self, project: Project, host: str = "127.0.0.1", port: int = 8000, *, run_recipes: bool = False):
        from kiln.store import open_store

        self.project = project
        self.host = host
        self.socket = bind(host, port)
        self.port: int = self.socket.getsockname()[1]
        self.url = url(host, self.port)
        self.token = secrets.token_urlsafe(32)
        self.stopping = threading.Event()
        self.store = open_store(project.db_path)
        self.events = Broadcaster()
        self.build = builder(project, self.stopping)
        self.app = GalleryApp(project.build_dir, self.store, self.token, HostCheck(host, self.port), self.events)
        self.run_recipes = run_recipes
        config = uvicorn.Config(
            self.app, lifespan="off", ws="none", http="h11", log_config=None, log_level="warning",
            access_log=False, server_header=False, timeout_graceful_shutdown=2,
        )
        self.uvicorn = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._thread, name="kiln-serve", daemon=True)
        self.failure: BaseException | None = None

    def start(self) -> None:
        self.build(False)
        self.thread.start()
        while not self.uvicorn.started and self.thread.is_alive():
            self.thread.join(0.02)
        if self.failure is not None:
            raise self.failure

    def _thread(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start() or stop(), on the caller's thread
            self.failure = error

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        live = Live(self.project, self.store, self.events, self.build, self.stopping, self.run_recipes)
        tasks = [asyncio.create_task(live.watch()), asyncio.create_task(live.rebuild())]
        try:
            await self.uvicorn.serve(sockets=[self.socket])
        finally:
            self.events.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving: open event streams end, a run in progress stops after the image in
        hand, and nothing is left running once this returns."""
        self.stopping.set()
        if self.loop is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(self.events.close)
            except RuntimeError:  # the loop closed meanwhile
                pass
        self.uvicorn.should_exit = True
        if self.thread.is_alive():
            self.thread.join()
        self.socket.close()
        self.store.close()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_signal(server: Server, ready: Callable[[], None] = lambda: None) -> None:
    """Block until Ctrl-C, SIGTERM or SIGHUP (or the server failing), then stop ``server``.

    ``ready`` is called once the signals are caught: a signal sent as soon as it has said
    so stops the server as cleanly as any later one.
    """
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)  # no locks in a signal handler: the loop below polls

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        ready()
        while server.thread.is_alive() and not received:
            server.thread.join(0.2)
    finally:
        server.stop()
        for sig, old in previous.items():
            signal.signal(sig, old)
    if server.failure is not None:
        raise server.failure


__all__ = ["Server", "bind", "is_loopback", "url", "wait_for_signal"]
