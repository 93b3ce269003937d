"""What the browser tests share: Playwright driving Debian's Chromium, a built gallery with
several pages per collection, and a plain static server for it.

The tests are skipped when Chromium or Playwright is missing, unless ``KILN_REQUIRE_BROWSER=1``
(as in CI), which turns a missing browser into a failure. No browser is ever downloaded.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kiln.site import build_site
from sitefixtures import add_images, add_recipe, make_project, open_project_store

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
PAGE_SIZE = 8
# Impacts an accessibility check may not report.
BLOCKING = ("serious", "critical")


def unavailable(reason: str) -> None:
    if os.environ.get("KILN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"KILN_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


# Module scope: test modules import these fixtures, and each import is a fixture of its own,
# so a wider scope would start a second Playwright while the first still runs.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        unavailable("neither chromium nor chromium-browser is on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium) -> Iterator[Any]:
    context = chromium.new_context(viewport=VIEWPORT, color_scheme="dark")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Any:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"script errors on the page: {errors}"


def make_gallery(root: Path) -> Path:
    """A project with two collections of 20 and 6 images, 8 to a page; returns its root."""
    project = make_project(root, title="Kiln Studio", page_size=PAGE_SIZE)
    store = open_project_store(project)
    add_recipe(store, "coastal-dusk", title="Coastal dusk", description="Harbours and headlands as the light goes.")
    add_images(project, store, "coastal-dusk", 20)
    add_recipe(store, "fog-studies", title="Fog studies", description="Low contrast and a lot of grey.")
    add_images(project, store, "fog-studies", 6)
    report = build_site(project, store)
    store.close()
    assert not report.problems
    return root


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def static_server() -> Iterator[Any]:
    """Serves a folder over HTTP on a free port: ``static_server(folder)`` gives its URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def tile_ids(page: Any, visible_only: bool = False) -> list[str]:
    selector = ".grid .tile:not([hidden])" if visible_only else ".grid .tile"
    return page.eval_on_selector_all(selector, "tiles => tiles.map(t => t.dataset.id)")


def loupe_image(page: Any) -> str | None:
    """The id the open loupe shows, or None when it is closed."""
    return page.evaluate("window.kiln.loupe && document.querySelector('dialog.loupe[open]') ? window.kiln.loupe.current() : null")


def blocking_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]
