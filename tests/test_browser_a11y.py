"""Accessibility checks (axe) of the gallery, the open loupe, compare, the culling dialogs and
an image page: no serious or critical violation, in the dark and the light theme."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from browsing import VIEWPORT, blocking_violations, loupe_image, make_gallery
from kiln.project import load_project
from kiln.server import Server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    root = make_gallery(tmp_path_factory.mktemp("a11y"))
    with Server(load_project(root), port=0) as server:
        yield server.url


@pytest.fixture(params=["dark", "light"])
def page(request, chromium):
    context = chromium.new_context(viewport=VIEWPORT, color_scheme=request.param)
    page = context.new_page()
    yield page
    context.close()


def gallery(page, url: str) -> None:
    page.goto(url + "coastal-dusk/index.html")
    page.wait_for_function("window.kiln && window.kiln.gallery")


def test_index_and_gallery(page, served):
    page.goto(served + "index.html")
    assert blocking_violations(page) == []
    gallery(page, served)
    page.locator(".grid .tile a").first.focus()
    page.keyboard.press("s")
    assert blocking_violations(page) == []


def test_open_loupe_with_its_provenance(page, served):
    gallery(page, served)
    page.locator(".grid .tile a").nth(1).click()
    assert loupe_image(page)
    assert page.locator("dialog.loupe").get_attribute("aria-label") == "Image viewer"
    assert blocking_violations(page) == []
    page.keyboard.press("i")
    assert blocking_violations(page) == []


def test_tag_dialog_and_compare(page, served):
    gallery(page, served)
    page.locator(".grid .tile a").nth(0).focus()
    page.keyboard.press("s")
    page.locator(".grid .tile a").nth(1).focus()
    page.keyboard.press("s")
    page.keyboard.press("c")
    assert page.locator("dialog.compare").evaluate("d => d.open")
    assert blocking_violations(page) == []
    page.keyboard.press("Escape")
    page.keyboard.press("t")
    assert page.get_by_role("textbox", name="Tags").is_visible()
    assert blocking_violations(page) == []
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    assert blocking_violations(page) == []


def test_image_page(page, served):
    gallery(page, served)
    href = page.locator(".grid .tile a").first.get_attribute("href")
    page.goto(served + "coastal-dusk/" + href.split("/")[-1])
    assert blocking_violations(page) == []
