"""The finder's counts narrow as filters are set, in Chromium: each chooser counts its values
among the images the search and the *other* filters let through, its own choice aside.

The collection "study" has twelve images, the first six made with the model "sdxl", the
others with "flux"; image i is rated i % 6, picked when i % 7 == 3 (3 and 10), rejected when
i % 11 == 5 (5), tagged "test" when i % 5 == 0 (0, 5, 10), made with the seed 1000 + i % 4 (an
axis of the recipe), and the prompts of 8 to 11 say "in heavy fog". So, of the whole
collection: flux 6, sdxl 6; picked 2, rejected 1, unrated (no status, no rating: 0 and 6) 2;
rated 1 or more 10, 2 or more 8, ... 5 or more 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browsing import blocking_violations, tile_ids
from kiln.site import build_site
from sitefixtures import add_images, add_recipe, image_id, make_project, open_project_store
from test_browser_find import held_until_asked, settle, wait_for

pytestmark = pytest.mark.browser

# The counts are the ones the finder's state asks for (narrowed, or the whole set's).
COUNTED = "['narrowed', 'whole'].includes((document.querySelector('.find-panel') || {dataset: {}}).dataset.counts)"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("counts")
    project = make_project(root, title="Counts", page_size=8)
    store = open_project_store(project)
    add_recipe(store, "study", title="Study")
    add_images(project, store, "study", 6, model="sdxl")
    add_images(project, store, "study", 6, start=6, model="flux")
    report = build_site(project, store)
    store.close()
    assert not report.problems
    return project.build_dir


def study(indexes) -> list[str]:
    return [image_id("study", i) for i in indexes]


def counted(page) -> None:
    """Waits until the results and the counts are those the state asks for."""
    settle(page)
    page.wait_for_function(COUNTED)


def options(page, name: str) -> list[str]:
    return page.locator(f".find-panel select[name={name}] option").all_text_contents()


def shows(page, wanted: list[str]) -> None:
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(wanted)}")
    assert tile_ids(page) == wanted


WHOLE_MODELS = ["any", "flux (6)", "sdxl (6)"]
WHOLE_STATUSES = ["any", "picked (2)", "rejected (1)", "unrated (2)"]
WHOLE_RATINGS = ["any", "★ ≥ 1 (10)", "★ ≥ 2 (8)", "★ ≥ 3 (6)", "★ ≥ 4 (4)", "★ ≥ 5 (2)"]


def test_each_chooser_counts_among_the_images_the_other_filters_let_through(page, site):
    page.goto((site / "study" / "index.html").as_uri())
    page.click(".find-toggle")
    page.wait_for_selector(".find-panel:not([hidden])")
    assert options(page, "model") == WHOLE_MODELS
    assert options(page, "status") == WHOLE_STATUSES

    page.get_by_label("Status").select_option("picked")
    counted(page)
    shows(page, study([3, 10]))
    assert page.locator(".find-panel").get_attribute("data-counts") == "narrowed"
    assert options(page, "model") == ["any", "flux (1)", "sdxl (1)"]
    assert options(page, "rating") == ["any", "★ ≥ 1 (2)", "★ ≥ 2 (2)", "★ ≥ 3 (2)", "★ ≥ 4 (1)", "★ ≥ 5 (0)"]
    assert options(page, "tag") == ["any", "test (1)"]
    # The recipe's axis: image i has the seed 1000 + i % 4.
    assert options(page, "seed") == ["any", "1000 (0)", "1001 (0)", "1002 (1)", "1003 (1)"]
    # Its own choice does not narrow its counts: the other statuses say what they would give.
    assert options(page, "status") == WHOLE_STATUSES

    page.get_by_label("Model").select_option("sdxl")
    counted(page)
    shows(page, study([3]))
    assert options(page, "status") == ["any", "picked (1)", "rejected (1)", "unrated (1)"]
    assert options(page, "model") == ["any", "flux (1)", "sdxl (1)"]
    assert options(page, "rating") == ["any", "★ ≥ 1 (1)", "★ ≥ 2 (1)", "★ ≥ 3 (1)", "★ ≥ 4 (0)", "★ ≥ 5 (0)"]
    assert options(page, "tag") == ["any", "test (0)"]

    # A value counted 0 can still be chosen, and the choice stays shown with its 0.
    page.get_by_label("Rating").select_option("5")
    counted(page)
    page.wait_for_function("/^0 images of 12 match/.test(document.querySelector('.find-summary').textContent)")
    assert tile_ids(page) == []
    assert page.input_value(".find-panel select[name=rating]") == "5"
    rating = page.locator(".find-panel select[name=rating]")
    assert rating.evaluate("s => s.options[s.selectedIndex].textContent") == "★ ≥ 5 (0)"
    assert options(page, "model") == ["any", "flux (0)", "sdxl (0)"]
    # Image 5 (sdxl, rated 5) is the one the status filter keeps out.
    assert options(page, "status") == ["any", "picked (0)", "rejected (1)", "unrated (0)"]
    assert "rating=5" in page.url and "model=sdxl" in page.url and "status=picked" in page.url

    page.click(".find-clear")
    counted(page)
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 8")
    assert page.locator(".find-panel").get_attribute("data-counts") == "whole"
    assert options(page, "model") == WHOLE_MODELS
    assert options(page, "status") == WHOLE_STATUSES
    assert options(page, "rating") == WHOLE_RATINGS


def test_a_search_narrows_the_counts_once_the_panel_is_open_and_loads_no_column_before(page, site, static_server):
    url = static_server(site)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(url + "study/index.html")
    page.locator("#find-q").press_sequentially("fog")
    page.wait_for_function("location.hash === '#q=fog'")
    settle(page)
    shows(page, study([8, 9, 10, 11]))
    # The panel is closed: nothing is counted, so no chooser's column is fetched.
    assert not [u for u in fetched if "/find/study/model-" in u or "/find/study/status-" in u]
    assert page.locator(".find-panel").get_attribute("data-counts") == "pending"

    page.click(".find-toggle")
    page.wait_for_function(COUNTED)
    assert [u for u in fetched if "/find/study/model-" in u]
    assert options(page, "model") == ["any", "flux (4)", "sdxl (0)"]
    assert options(page, "status") == ["any", "picked (1)", "rejected (0)", "unrated (0)"]
    assert options(page, "rating") == ["any", "★ ≥ 1 (4)", "★ ≥ 2 (4)", "★ ≥ 3 (3)", "★ ≥ 4 (2)", "★ ≥ 5 (1)"]

    # Search and a filter: the status counts stay those of the search alone.
    page.get_by_label("Status").select_option("picked")
    counted(page)
    shows(page, study([10]))
    assert options(page, "model") == ["any", "flux (1)", "sdxl (0)"]
    assert options(page, "status") == ["any", "picked (1)", "rejected (0)", "unrated (0)"]
    assert options(page, "tag") == ["any", "test (1)"]

    # A word more: the counts follow the search as typed.
    page.locator("#find-q").press("End")
    page.locator("#find-q").press_sequentially(" harbour")
    page.wait_for_function("new URLSearchParams(location.hash.slice(1)).get('q') === 'fog harbour'")
    counted(page)
    page.wait_for_function("/^0 images of 12 match/.test(document.querySelector('.find-summary').textContent)")
    assert options(page, "model") == ["any", "flux (0)", "sdxl (0)"]
    assert options(page, "status") == ["any", "picked (0)", "rejected (0)", "unrated (0)"]


def test_the_whole_counts_stand_until_the_narrowed_ones_are_in_and_a_newer_choice_wins(page, site, static_server):
    url = static_server(site)
    page.goto(url + "study/index.html")
    page.click(".find-toggle")
    page.wait_for_selector(".find-panel:not([hidden])")
    held = held_until_asked(page, "**/find/study/model-0.js*")
    page.get_by_label("Status").select_option("picked")
    wait_for(page, held)
    # The results do not wait for the counts' columns; the counts say they are being worked out.
    settle(page)
    shows(page, study([3, 10]))
    panel = page.locator(".find-panel")
    assert panel.get_attribute("data-counts") == "pending" and panel.get_attribute("aria-busy") == "true"
    assert options(page, "model") == WHOLE_MODELS
    # Chosen again before the column came: the counts are those of the newer choice.
    page.get_by_label("Status").select_option("rejected")
    settle(page)
    shows(page, study([5]))
    held[0].continue_()
    counted(page)
    assert panel.get_attribute("aria-busy") is None
    assert options(page, "model") == ["any", "flux (0)", "sdxl (1)"]
    assert options(page, "rating") == ["any", "★ ≥ 1 (1)", "★ ≥ 2 (1)", "★ ≥ 3 (1)", "★ ≥ 4 (1)", "★ ≥ 5 (1)"]


def test_the_library_narrows_its_counts_from_a_bookmark(page, site, static_server):
    # The library's data set (the search page) numbers its images itself, oldest first.
    url = static_server(site)
    page.goto(url + "search.html#q=lighthouse&model=flux")
    counted(page)
    page.wait_for_selector(".find-panel:not([hidden])")
    shows(page, study([8]))
    assert options(page, "model") == ["any", "flux (1)", "sdxl (1)"]
    assert options(page, "status") == ["any", "picked (0)", "rejected (0)", "unrated (0)"]
    assert options(page, "rating") == ["any", "★ ≥ 1 (1)", "★ ≥ 2 (1)", "★ ≥ 3 (0)", "★ ≥ 4 (0)", "★ ≥ 5 (0)"]


def test_the_counted_choosers_are_labelled_described_and_pass_axe(page, site, static_server):
    url = static_server(site)
    page.goto(url + "study/index.html#status=picked")
    counted(page)
    page.wait_for_selector(".find-panel:not([hidden])")
    model = page.get_by_role("combobox", name="Model")
    assert model.get_attribute("aria-describedby") == "find-counts"
    assert page.text_content("#find-counts") == "Each count is of the images that match the search and the other filters."
    assert page.locator(".find-panel").get_attribute("aria-busy") is None
    assert blocking_violations(page) == []
