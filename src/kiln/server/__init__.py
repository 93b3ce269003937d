"""``kiln serve``: the gallery in build/ with culling turned on, rebuilt and reloaded live.

:class:`Server` binds the port, builds once, then serves (uvicorn, on its own thread and event
loop) until :meth:`Server.stop`. See ``app.py`` for what it answers, ``guard.py`` for who may
ask, ``live.py`` for what makes pages reload.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
import threading

import click
import uvicorn

from kiln.errors import KilnError
from kiln.project import Project
from kiln.server.app import GalleryApp
from kiln.server.events import Broadcaster
from kiln.server.guard import HostCheck, is_loopback
from kiln.server.live import Live, builder


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


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        click.secho(f"error: live reload stopped: {task.exception()}", fg="red", err=True)


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
        live = Live(self.project, self.store, self.events, self.build, self.stopping, self.run_recipes)
        try:
            asyncio.run(self._serve(live))  # returns once every thread it handed work to is done
        except BaseException as error:  # reported by start() or stop(), on the caller's thread
            self.failure = error
        finally:
            live.close()

    async def _serve(self, live: Live) -> None:
        self.loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(job) for job in (live.watch_store(), live.watch_files(), live.rebuild())]
        for task in tasks:
            task.add_done_callback(_report_failure)
        try:
            await self.uvicorn.serve(sockets=[self.socket])
        finally:
            self.events.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def wait(self) -> None:
        """Until the server fails; a signal handler raising (Ctrl-C) ends the wait."""
        while self.thread.is_alive():
            self.thread.join(0.5)
        if self.failure is not None:
            raise self.failure

    def stop(self) -> None:
        """Stop serving: open event streams end, a run in progress stops after the image in
        hand, and nothing is left running once this returns. Safe to call again."""
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


__all__ = ["Server", "bind", "is_loopback", "url"]
