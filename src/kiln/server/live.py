"""Live reload: rebuild when the inputs change, and tell open pages what changed.

Two kinds of news reach the pages through the event stream. A commit to the store (from this
server, the CLI, another tab or any other process) is followed by ``curation`` with the state
of every image whose history grew; any change to the store, the templates, kiln.toml, styles or
recipes is followed by a rebuild and ``build`` with the pages it wrote or removed. Curation
events never wait for a rebuild: the two run as separate tasks.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import click
from watchfiles import awatch

from kiln.errors import InputError, KilnError
from kiln.project import STYLES_FILE, Project
from kiln.server.events import Broadcaster
from kiln.store.db import Store

# How often the store is asked whether someone committed: a pragma that reads shared memory,
# cheap enough to ask five times a second, and well inside the second a change may take to show.
STORE_POLL_S = 0.2
# A burst of changes (keys pressed in a row, a run's images, an editor saving twice) makes one
# rebuild rather than one each.
REBUILD_DELAY_S = 0.3


def watched_paths(project: Project) -> list[Path]:
    """What a rebuild depends on besides the store: recipes and what they read, templates, settings."""
    paths = [
        project.recipes_dir, project.wildcards_dir, project.prompts_dir, project.references_dir,
        project.templates_dir, project.root / "kiln.toml", project.root / STYLES_FILE,
    ]
    return [p for p in paths if p.exists()]


def _relevant(changes: Iterable[tuple[object, str]], project: Project) -> tuple[bool, bool]:
    """Whether the changes touch the inputs (a run is due) or only the templates."""
    inputs = templates = False
    for _, changed in changes:
        if Path(changed).is_relative_to(project.templates_dir):
            templates = True
        else:
            inputs = True
    return inputs, templates


class StoreVersion:
    """Tells whether anyone committed to the store since the last look.

    File events cannot: every open and close of a WAL database touches ``kiln.db-wal``, and a
    writer's event can arrive before its commit is visible. SQLite's ``data_version`` changes
    exactly when another connection commits.
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

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class CurationFeed:
    """The images whose history grew since the last look."""

    def __init__(self, store: Store):
        self.store = store
        self.last = store.query("SELECT coalesce(max(id), 0) AS id FROM history")[0]["id"]

    def news(self) -> list[dict]:
        from kiln.library.curation import image_states

        rows = self.store.query("SELECT id, image_id FROM history WHERE id > ? ORDER BY id", [self.last])
        if not rows:
            return []
        self.last = rows[-1]["id"]
        return image_states(self.store, list(dict.fromkeys(row["image_id"] for row in rows)))


def builder(project: Project, stop: threading.Event) -> Callable[[bool], list[str]]:
    """What a change sets off: run the recipes if asked, then build; returns the pages written
    or removed. Problems are printed and the server keeps going, since the next save may fix them."""
    from kiln.progress import LineObserver, summary
    from kiln.runner import run_recipes
    from kiln.site import build_site
    from kiln.store import open_store

    def build(run: bool) -> list[str]:
        try:
            if run:
                for line in summary(run_recipes(project, observer=LineObserver(), stop=stop)):
                    click.echo(line)
                if stop.is_set():
                    return []
            store = open_store(project.db_path)
            try:
                report = build_site(project, store)
            finally:
                store.close()
        except InputError as error:
            for problem in error.problems:
                click.secho(f"error: {problem}", fg="red", err=True)
            return []
        except KilnError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            return []
        for problem in report.problems:
            click.secho(f"warning: {problem}", fg="yellow", err=True)
        click.echo(str(report))
        return report.changed_pages

    return build


class Live:
    """The watch tasks (store and files) and the rebuild task of one server.

    ``run_recipes``: whether a change to the recipes (or what they read) runs them before the
    rebuild, as ``kiln serve --watch`` asks.
    """

    def __init__(
        self, project: Project, store: Store, events: Broadcaster, build: Callable[[bool], list[str]],
        stop: threading.Event, run_recipes: bool = False,
    ):
        self.project = project
        self.events = events
        self.build = build
        self.stop = stop
        self.run_recipes = run_recipes
        self.feed = CurationFeed(store)
        self.version = StoreVersion(project.db_path)
        self.wanted = asyncio.Event()
        self.run_due = False

    async def watch_store(self) -> None:
        """Send ``curation`` and rebuild after every commit to the store, whoever made it."""
        while True:
            await asyncio.sleep(STORE_POLL_S)
            if await asyncio.to_thread(self.version.changed):
                images = await asyncio.to_thread(self.feed.news)
                if images:
                    self.events.publish("curation", {"images": images})
                self.wanted.set()

    async def watch_files(self) -> None:
        async for changes in awatch(*watched_paths(self.project), stop_event=self.stop, debounce=500):
            inputs, templates = _relevant(changes, self.project)
            self.run_due = self.run_due or (inputs and self.run_recipes)
            if inputs or templates:
                self.wanted.set()

    async def rebuild(self) -> None:
        """One rebuild at a time; changes made meanwhile are caught by the next."""
        while True:
            await self.wanted.wait()
            await asyncio.sleep(REBUILD_DELAY_S)
            self.wanted.clear()
            run, self.run_due = self.run_due, False
            try:
                pages = await asyncio.to_thread(self.build, run)
            except Exception as error:  # a bug in a build must not end live reload for the session
                click.secho(f"error: the rebuild failed: {error!r}", fg="red", err=True)
                continue
            if pages:
                self.events.publish("build", {"pages": pages})

    def close(self) -> None:
        """Once no task runs any more: a check cancelled on the loop may still run in its thread."""
        self.version.close()
