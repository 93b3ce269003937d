"""``kiln serve``: the built gallery over HTTP on 127.0.0.1, optionally rebuilt on change.

The server only answers GET and HEAD (the standard library handler refuses everything
else with 501), so there is nothing cross-site requests could write.
"""

from __future__ import annotations

import functools
import ipaddress
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


def _relevant(changes: Iterable[tuple[object, str]], project: Project) -> tuple[bool, bool]:
    """Whether the changes need a run (inputs changed) and a build (anything that shows changed)."""
    inputs = templates = store = False
    for _, changed in changes:
        path = Path(changed)
        if path.is_relative_to(project.art_dir):
            store = store or path.name in ("kiln.db", "kiln.db-wal")
        elif path.is_relative_to(project.templates_dir):
            templates = True
        else:
            inputs = True
    return inputs, inputs or templates or store


def watch(project: Project, rebuild: Callable[[bool], None], stop: threading.Event) -> None:
    """Call ``rebuild(run_recipes)`` after each batch of relevant changes until ``stop``."""
    from watchfiles import watch as watch_files

    for changes in watch_files(*watched_paths(project), stop_event=stop, debounce=400):
        needs_run, needs_build = _relevant(changes, project)
        if needs_build:
            rebuild(needs_run)
