"""``kiln serve``: the built gallery over HTTP on 127.0.0.1, optionally rebuilt on change.

The server only answers GET and HEAD (the standard library handler refuses everything
else with 501), so there is nothing cross-site requests could write.
"""

from __future__ import annotations

import functools
import ipaddress
import sqlite3
import threading
from collections.abc import Callable, Iterable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kiln.project import STYLES_FILE, Project


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    return ThreadingHTTPServer((host, port), handler)


def watched_paths(project: Project) -> list[Path]:
    """What a rebuild depends on: recipes and what they read, templates, settings, the store."""
    paths = [
        project.recipes_dir, project.wildcards_dir, project.prompts_dir, project.references_dir,
        project.templates_dir, project.root / "kiln.toml", project.root / STYLES_FILE, project.art_dir,
    ]
    return [p for p in paths if p.exists()]


def _relevant(changes: Iterable[tuple[object, str]], project: Project) -> tuple[bool, bool, bool]:
    """Whether the changes touch the inputs (a run is due), the templates, or the store's files."""
    inputs = templates = store = False
    for _, changed in changes:
        path = Path(changed)
        if path.is_relative_to(project.art_dir):
            store = store or path.name in ("kiln.db", "kiln.db-wal")
        elif path.is_relative_to(project.templates_dir):
            templates = True
        else:
            inputs = True
    return inputs, templates, store


class StoreVersion:
    """Tells a real change to the store from its files being touched by a mere reader.

    Every open and close of a WAL database touches ``kiln.db-wal``, so file events alone would
    have each rebuild trigger the next. SQLite's ``data_version`` changes only when another
    connection commits.
    """

    def __init__(self, path: Path):
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.version = self._read()

    def _read(self) -> int | None:
        if self.conn is None:
            if not self.path.exists():
                return None
            self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        version = self._read()
        changed, self.version = version != self.version, version
        return changed


def watch(project: Project, rebuild: Callable[[bool], None], stop: threading.Event) -> None:
    """Call ``rebuild(run_recipes)`` after each batch of relevant changes until ``stop``."""
    from watchfiles import watch as watch_files

    store = StoreVersion(project.db_path)
    for changes in watch_files(*watched_paths(project), stop_event=stop, debounce=400):
        inputs, templates, store_files = _relevant(changes, project)
        if inputs or templates or (store_files and store.changed()):
            rebuild(inputs)
            store.changed()  # what the rebuild itself committed is not news


def rebuilder(project: Project) -> Callable[[bool], None]:
    """What ``kiln serve --watch`` does on a change: run the recipes if inputs changed, then
    build; problems are printed and the server keeps going, since the next save may fix them."""
    import click

    from kiln.errors import InputError, KilnError
    from kiln.progress import LineObserver, summary
    from kiln.runner import run_recipes
    from kiln.site import build_site
    from kiln.store import open_store

    def rebuild(run_inputs: bool) -> None:
        try:
            if run_inputs:
                for line in summary(run_recipes(project, observer=LineObserver())):
                    click.echo(line)
            store = open_store(project.db_path)
            try:
                click.echo(str(build_site(project, store)))
            finally:
                store.close()
        except InputError as error:
            for problem in error.problems:
                click.secho(f"error: {problem}", fg="red", err=True)
        except KilnError as error:
            click.secho(f"error: {error}", fg="red", err=True)

    return rebuild
