"""Culling in the browser under ``kiln serve``: keys write the store, a refused change is put
back, and what changes elsewhere (another tab, the library as the CLI uses it) shows live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from browsing import loupe_image, make_gallery, tile_ids
from kiln.library.curation import Change, apply_change, image_states
from kiln.project import load_project
from kiln.server import Server
from kiln.store import open_store

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[Server, Any]]:
    """A gallery served by ``kiln serve`` on a free port, and a store of its own to check it."""
    root = make_gallery(tmp_path)
    server = Server(load_project(root), port=0)
    server.start()
    store = open_store(server.project.db_path)
    yield server, store
    store.close()
    server.stop()


def state(store, image_id: str) -> dict[str, Any]:
    return image_states(store, [image_id])[0]


def open_gallery(page, server: Server, fragment: str = "") -> list[str]:
    page.goto(server.url + "coastal-dusk/index.html" + fragment)
    page.wait_for_function("window.kiln && window.kiln.culling && window.kiln.live")
    return tile_ids(page)


def settled(page) -> None:
    """Wait until every write the page sent has been answered."""
    page.wait_for_function("window.kiln.culling.idle()")


def tile(page, image_id: str) -> dict[str, Any]:
    return page.eval_on_selector(
        f'.tile[data-id="{image_id}"]',
        "t => ({rating: +t.dataset.rating, status: t.dataset.status, tags: JSON.parse(t.dataset.tags),"
        " notes: t.dataset.notes, classes: t.className, marks: t.querySelector('.tile-marks').innerText})",
    )


def test_keys_on_a_thumbnail_and_in_the_loupe_write_the_store_and_survive_a_reload(page, served):
    server, store = served
    ids = open_gallery(page, server)
    page.locator(".grid .tile a").nth(0).focus()
    page.keyboard.press("4")
    page.keyboard.press("p")
    shown = tile(page, ids[0])
    assert (shown["rating"], shown["status"]) == (4, "selected")
    assert "PICKED" in shown["marks"].upper() and "★★★★" in shown["marks"]
    page.locator(".grid .tile a").nth(1).click()
    page.keyboard.press("x")
    page.keyboard.press("0")
    assert "REJECTED" in page.locator(".loupe-verdict").inner_text().upper()
    settled(page)
    assert state(store, ids[0])["rating"] == 4 and state(store, ids[0])["status"] == "selected"
    assert state(store, ids[1])["status"] == "rejected" and state(store, ids[1])["rating"] == 0
    page.keyboard.press("u")
    settled(page)
    assert state(store, ids[1])["status"] == ""
    page.keyboard.press("x")
    settled(page)
    page.reload()
    page.wait_for_function("window.kiln.loupe && window.kiln.loupe.current()")
    assert loupe_image(page) == ids[1]
    assert tile(page, ids[0])["rating"] == 4
    assert "is-rejected" in tile(page, ids[1])["classes"]
    assert page.locator("#kiln-status, .kiln-status").count() >= 1


def test_shift_3_rates_and_moves_on(page, served):
    server, store = served
    ids = open_gallery(page, server)
    page.locator(".grid .tile a").nth(0).click()
    page.keyboard.press("Shift+Digit3")
    assert loupe_image(page) == ids[1]
    page.keyboard.press("Shift+KeyX")
    assert loupe_image(page) == ids[2]
    settled(page)
    assert state(store, ids[0])["rating"] == 3
    assert state(store, ids[1])["status"] == "rejected"
    assert tile(page, ids[0])["rating"] == 3


def test_t_adds_and_removes_tags_and_n_writes_the_note(page, served):
    server, store = served
    ids = open_gallery(page, server)
    assert tile(page, ids[0])["tags"] == ["test"]
    page.locator(".grid .tile a").nth(0).click()
    page.keyboard.press("t")
    field = page.get_by_role("textbox", name="Tags")
    assert field.evaluate("f => f === document.activeElement")
    field.fill("+dusk, warm , -test")
    page.keyboard.press("Enter")
    settled(page)
    assert state(store, ids[0])["tags"] == ["dusk", "warm"]
    assert tile(page, ids[0])["tags"] == ["dusk", "warm"]
    assert "#dusk" in page.locator(".loupe-verdict").inner_text()
    assert loupe_image(page) == ids[0]  # the loupe stayed open under the dialog
    page.keyboard.press("n")
    note = page.get_by_role("textbox", name="Note")
    note.fill("hands look wrong")
    page.keyboard.press("Control+Enter")
    settled(page)
    assert state(store, ids[0])["notes"] == "hands look wrong"
    page.keyboard.press("Shift+KeyT")
    page.get_by_role("textbox", name="Tags").fill("keeper")
    page.keyboard.press("Enter")
    settled(page)
    assert loupe_image(page) == ids[1]
    assert "keeper" in state(store, ids[0])["tags"]
    page.keyboard.press("t")
    page.keyboard.press("Escape")  # a cancelled dialog changes nothing
    settled(page)
    assert state(store, ids[1])["tags"] == []


def test_ctrl_z_undoes_the_last_change(page, served):
    server, store = served
    ids = open_gallery(page, server)
    before = state(store, ids[2])["rating"]
    page.locator(".grid .tile a").nth(2).focus()
    page.keyboard.press("5")
    settled(page)
    assert state(store, ids[2])["rating"] == 5
    page.keyboard.press("Control+z")
    page.wait_for_function(f"document.querySelector('.tile[data-id=\"{ids[2]}\"]').dataset.rating === '{before}'")
    assert state(store, ids[2])["rating"] == before


def test_a_refused_change_is_put_back_and_said(page, served):
    server, store = served
    ids = open_gallery(page, server)
    before = tile(page, ids[0])
    page.route(
        "**/_kiln/api/curate",
        lambda route: route.fulfill(status=400, content_type="application/json", body=json.dumps({"error": "rating must be 0-5"})),
    )
    page.locator(".grid .tile a").nth(0).focus()
    page.keyboard.press("5")
    page.wait_for_function("document.querySelector('.kiln-status.is-error')")
    assert "rating must be 0-5" in page.locator(".kiln-status.is-error").inner_text()
    assert page.locator(".kiln-status.is-error").get_attribute("role") == "status"
    assert tile(page, ids[0]) == before
    assert state(store, ids[0])["rating"] == before["rating"]


def test_a_change_in_one_page_or_from_the_library_shows_in_another_without_a_reload(context, served):
    # That it arrives, unasked; how soon is for a benchmark, not a test under a loaded machine.
    server, store = served
    first, second = context.new_page(), context.new_page()
    ids = open_gallery(first, server)
    open_gallery(second, server)
    second.locator(".grid .tile a").nth(1).click()
    first.locator(".grid .tile a").nth(1).focus()
    first.keyboard.press("2")
    second.wait_for_function(f"document.querySelector('.tile[data-id=\"{ids[1]}\"]').dataset.rating === '2'", timeout=10_000)
    assert "★★☆☆☆" in second.locator(".loupe-verdict").inner_text()
    assert tile(second, ids[2])["status"] == ""
    apply_change(store, [ids[2]], Change(status="selected", add_tags=("cli",)), "cli")
    for page in (first, second):
        page.wait_for_function(
            f"document.querySelector('.tile[data-id=\"{ids[2]}\"]').dataset.tags === '[\"cli\"]'", timeout=10_000
        )
        assert tile(page, ids[2])["status"] == "selected"


def test_a_rebuild_replaces_the_grid_in_place_keeping_the_loupe_and_the_view(page, served):
    server, store = served
    ids = open_gallery(page, server, "#show=unrated")
    page.evaluate("window.stayed = true")  # gone if the page reloads
    unrated = tile_ids(page, visible_only=True)
    page.locator(".grid .tile:not([hidden]) a").first.click()
    page.keyboard.press("z")
    zoomed = page.locator(".loupe-img").bounding_box()
    picked_before = page.locator(".intro .counts").inner_text()
    apply_change(store, [i for i in ids if i not in unrated][:1], Change(status="selected"), "cli")
    page.wait_for_function(f"document.querySelector('.intro .counts').innerText !== {json.dumps(picked_before)}", timeout=5000)
    assert page.evaluate("window.stayed") is True
    assert loupe_image(page) == unrated[0]
    assert page.locator(".loupe-img").bounding_box() == zoomed  # still at 100 %, where it was
    assert "show=unrated" in page.url
    assert page.locator('.views [aria-pressed="true"]').inner_text() == "Unrated"
    assert tile_ids(page, visible_only=True) == unrated


def test_a_page_that_cannot_be_patched_reloads_where_it_was(page, served):
    server, store = served
    ids = open_gallery(page, server)
    page.goto(server.url + f"coastal-dusk/{ids[0]}.html")
    page.wait_for_function("window.kiln && window.kiln.live")
    page.evaluate("window.scrollTo(0, 300); window.stayed = true")
    apply_change(store, [ids[0]], Change(rating=5, note="seen from the command line"), "cli")
    page.wait_for_function("!window.stayed && document.body.innerText.includes('seen from the command line')", timeout=5000)
    assert page.evaluate("window.scrollY") == 300


def test_in_compare_the_keys_cull_the_highlighted_image(page, served):
    server, store = served
    ids = open_gallery(page, server)
    for n in (4, 5):
        page.locator(".grid .tile a").nth(n).focus()
        page.keyboard.press("s")
    page.keyboard.press("c")
    page.keyboard.press("Shift+Digit5")
    page.keyboard.press("x")
    settled(page)
    assert state(store, ids[4])["rating"] == 5
    assert state(store, ids[5])["status"] == "rejected"
    captions = page.locator(".compare-pane figcaption").all_inner_texts()
    assert "★★★★★" in captions[0] and "REJECTED" in captions[1].upper()
