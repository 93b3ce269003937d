"""Filters, sorting and search in the static gallery, in Chromium: from file:// (the data files
are scripts, which file:// pages may load) and over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browsing import VIEWPORT, blocking_violations, loupe_image, make_gallery, tile_ids
from kiln.site import build_site, find
from sitefixtures import SUBJECTS, add_images, add_recipe, image_id, make_project, open_project_store

pytestmark = pytest.mark.browser

HOSTILE = '<script>alert("p")</script><img src=x onerror=alert("i")> zanzibar'
HOSTILE_TAG = '<img src=y onerror=alert("t")>'


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = make_gallery(tmp_path_factory.mktemp("find"))
    return root / "build"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    project = make_project(root, title="Hostile", page_size=8)
    store = open_project_store(project)
    add_recipe(store, "evil", title="Evil")
    add_images(project, store, "evil", 3, prompt=HOSTILE, tags=json.dumps([HOSTILE_TAG]), model=HOSTILE)
    add_images(project, store, "evil", 2, start=3)
    build_site(project, store)
    store.close()
    return project.build_dir


@pytest.fixture
def watched(page):
    """The page, failing the test on a console error or any dialog (an alert would be one)."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield page
    assert problems == []


# Whether the finder has shown the results its state asks for. A page entered by a link or a
# script is waited on from its first byte, before its deferred scripts made window.kiln.
SETTLED = (
    "!!(window.kiln && window.kiln.find && window.kiln.find.ready && !window.kiln.findPending"
    " && document.querySelector('.find-summary')"
    " && !/Searching/.test(document.querySelector('.find-summary').textContent))"
)


def settle(page) -> None:
    """Waits until the finder has shown the results its state asks for."""
    page.wait_for_function(SETTLED)


def coastal(indexes) -> list[str]:
    return [image_id("coastal-dusk", i) for i in indexes]


def test_a_filter_changes_the_set_and_the_url_and_survives_a_reload(watched, site):
    page = watched
    page.goto((site / "coastal-dusk" / "index.html").as_uri())
    assert len(tile_ids(page)) == 8  # the first page of 20
    page.click(".find-toggle")
    page.wait_for_selector(".find-panel:not([hidden])")
    assert page.locator(".find-toggle").get_attribute("aria-expanded") == "true"
    page.select_option(".find-panel select[name=rating]", "4")
    settle(page)
    # Ratings are index % 6: the matches come from every page of the collection.
    wanted = coastal(i for i in range(20) if i % 6 >= 4)
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(wanted)}")
    assert tile_ids(page) == wanted
    assert page.url.endswith("#rating=4")
    assert page.is_hidden(".pager")
    assert "6 images of 20 match" in page.text_content(".find-summary")
    option = page.locator(".find-panel select[name=rating] option[value='4']").text_content()
    assert option == "★ ≥ 4 (6)"

    page.select_option(".find-panel select[name=sort]", "seed")
    settle(page)
    page.wait_for_function("location.hash.includes('sort=seed')")
    assert sorted(tile_ids(page)) == sorted(wanted) and tile_ids(page) != wanted

    page.reload()
    settle(page)
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(wanted)}")
    assert sorted(tile_ids(page)) == sorted(wanted)
    assert page.input_value(".find-panel select[name=rating]") == "4"
    assert page.input_value(".find-panel select[name=sort]") == "seed"

    page.click(".find-clear")
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 8")
    assert tile_ids(page) == coastal(range(8)) and page.is_visible(".pager")
    assert "#" not in page.url or page.url.endswith("#")


def test_an_axis_filter_and_the_loupe_walks_the_filtered_set(watched, site):
    page = watched
    page.goto((site / "coastal-dusk" / "index.html").as_uri() + "#seed=1002")
    settle(page)
    # Seeds are 1000 + index % 4, an axis of the recipe.
    wanted = coastal(i for i in range(20) if i % 4 == 2)
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(wanted)}")
    assert tile_ids(page) == wanted
    page.locator(".grid .tile a").first.click()
    seen = [loupe_image(page)]
    for _ in wanted[1:]:
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"window.kiln.loupe.current() !== {json.dumps(seen[-1])}")
        seen.append(loupe_image(page))
    assert seen == wanted
    assert page.text_content(".loupe-count") == f"{len(wanted)} of {len(wanted)}"
    assert "seed=1002" in page.url and f"view={wanted[-1]}" in page.url
    page.reload()
    settle(page)
    page.wait_for_function(f"window.kiln.loupe && window.kiln.loupe.current() === {json.dumps(wanted[-1])}")


def test_search_finds_an_image_by_a_word_of_its_prompt_and_by_a_tag(watched, site, static_server):
    page = watched
    url = static_server(site)
    page.goto(url + "index.html")
    page.fill("#find-q", "lighthouse")
    page.press("#find-q", "Enter")
    page.wait_for_function("location.pathname.endsWith('/search.html')")
    assert page.evaluate("location.hash") == "#q=lighthouse", page.evaluate("[location.href, document.referrer]")
    settle(page)
    lighthouse = [i for i in range(20) if SUBJECTS[i % len(SUBJECTS)].endswith("lighthouse on a basalt cliff")]
    expected = set(coastal(lighthouse)) | {image_id("fog-studies", i) for i in range(6) if i % len(SUBJECTS) == 0}
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(expected)}")
    assert set(tile_ids(page)) == expected
    page.locator(".grid .tile a").first.click()
    assert loupe_image(page) in expected
    page.keyboard.press("Escape")

    # A prefix of a tag, inside one collection, combined with a filter.
    page.goto(url + "coastal-dusk/index.html")
    page.fill("#find-q", "tes")
    settle(page)
    page.wait_for_function("location.hash.includes('q=tes')")
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 4")
    assert tile_ids(page) == coastal(i for i in range(20) if i % 5 == 0)
    page.goto(url + "coastal-dusk/index.html#q=test&rating=1")
    page.reload()
    settle(page)
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 3")
    assert tile_ids(page) == coastal([5, 10, 15])
    assert page.input_value("#find-q") == "test"


def held_until_asked(page, pattern: str) -> list:
    """Holds the requests for ``pattern``: each waits in the list until the test continues it."""
    held: list = []
    page.route(pattern, lambda route: held.append(route))
    return held


def wait_for(page, held: list) -> None:
    """Waits until a held request has come (for ten seconds at most)."""
    for _ in range(500):
        if held:
            return
        page.wait_for_timeout(20)
    raise AssertionError("the request to hold never came")


def test_a_search_sent_to_the_search_page_is_followed_from_its_first_byte(watched, site, static_server):
    # The search page is entered by the finder's own script, so nothing waits for its load:
    # the test looks at it while its kiln.js is still on the way, then lets it come.
    page = watched
    url = static_server(site)
    page.goto(url + "index.html")
    held = held_until_asked(page, "**/static/kiln.*.js")
    page.fill("#find-q", "harbour")
    page.press("#find-q", "Enter")
    page.wait_for_function("location.pathname.endsWith('/search.html')")
    wait_for(page, held)
    assert page.evaluate(SETTLED) is False
    held[0].continue_()
    settle(page)
    harbour = [i for i in range(20) if "harbour" in SUBJECTS[i % len(SUBJECTS)]]
    expected = set(coastal(harbour)) | {image_id("fog-studies", i) for i in range(6) if "harbour" in SUBJECTS[i % len(SUBJECTS)]}
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(expected)}")
    assert expected and set(tile_ids(page)) == expected


def test_a_fragment_changed_while_the_data_set_is_loading_is_the_one_shown(watched, site, static_server):
    # The fragment changes (a link, the back button) before the collection's meta is in: the
    # finder must not filter without it, and shows the newer state once it comes.
    page = watched
    url = static_server(site)
    held = held_until_asked(page, "**/find/coastal-dusk/meta.js*")
    page.goto(url + "coastal-dusk/index.html#rating=4", wait_until="domcontentloaded")
    wait_for(page, held)
    page.evaluate("location.hash = '#rating=5'")
    page.wait_for_function("location.hash === '#rating=5'")
    held[0].continue_()
    settle(page)
    wanted = coastal(i for i in range(20) if i % 6 == 5)
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(wanted)}")
    assert tile_ids(page) == wanted
    assert page.input_value(".find-panel select[name=rating]") == "5"


def test_values_the_set_has_no_image_with_are_named_and_ignored(watched, site):
    page = watched
    page.goto((site / "coastal-dusk" / "index.html").as_uri() + "#model=no-such-model&rating=4&tag=nope")
    settle(page)
    wanted = coastal(i for i in range(20) if i % 6 >= 4)
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(wanted)}")
    assert tile_ids(page) == wanted
    assert page.text_content(".find-summary") == (
        "6 images of 20 match. Not in this set, so ignored: model=no-such-model, tag=nope."
    )
    page.wait_for_function("location.hash === '#rating=4'")
    # Nothing left to filter by: the page as built, with the note.
    page.goto((site / "coastal-dusk" / "index.html").as_uri() + "#sort=sideways")
    settle(page)
    assert tile_ids(page) == coastal(range(8)) and page.is_visible(".pager")
    assert page.text_content(".find-summary") == "Not in this set, so ignored: sort=sideways."


def test_show_more_asked_twice_while_a_batch_loads_appends_each_batch_once(watched, tmp_path, monkeypatch, static_server):
    from kiln.site import filters

    for module in (filters, find):
        monkeypatch.setattr(module, "CHUNK", 40)
    project = make_project(tmp_path, title="Many", page_size=8)
    store = open_project_store(project)
    add_recipe(store, "coast", title="Coast")
    add_images(project, store, "coast", 230)
    build_site(project, store)
    store.close()
    page = watched
    url = static_server(project.build_dir)
    # Newest first: the first batch is in the last chunks, the second reaches the first one.
    held = held_until_asked(page, "**/find/coast/items-0.js*")
    page.goto(url + "coast/index.html#sort=newest")
    settle(page)
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 100")
    page.click(".find-more")
    wait_for(page, held)
    page.click(".find-more")
    held[0].continue_()
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 230")
    assert tile_ids(page) == [image_id("coast", i) for i in reversed(range(230))]
    assert page.is_hidden(".find-more")


def test_hostile_text_is_shown_as_text_in_results_and_filter_values(watched, hostile):
    page = watched
    page.goto((hostile / "evil" / "index.html").as_uri() + "#q=zanzibar")
    settle(page)
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 3")
    assert page.locator(".grid .tile .tile-prompt").first.text_content() == HOSTILE
    page.click(".find-toggle")
    options = page.locator(".find-panel select[name=tag] option").all_text_contents()
    assert f"{HOSTILE_TAG} (3)" in options
    models = page.locator(".find-panel select[name=model] option").all_text_contents()
    assert f"{HOSTILE} (3)" in models
    page.select_option(".find-panel select[name=tag]", HOSTILE_TAG)
    settle(page)
    page.locator(".grid .tile a").first.click()
    assert page.locator(".loupe-prompt").text_content() == HOSTILE
    assert page.evaluate("document.querySelectorAll('img[src=x], img[src=y], main script:not([type])').length") == 0


def test_axe_on_a_filtered_collection_and_on_search_results(page, site, static_server):
    url = static_server(site)
    page.goto(url + "coastal-dusk/index.html#rating=3")
    settle(page)
    page.click(".find-toggle")
    assert blocking_violations(page) == []
    page.goto(url + "search.html#q=harbour")
    settle(page)
    page.wait_for_function("document.querySelectorAll('.grid .tile').length > 0")
    assert blocking_violations(page) == []


def test_the_finder_works_at_390_pixels(watched, site):
    page = watched
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto((site / "coastal-dusk" / "index.html").as_uri())
    page.click(".find-toggle")
    page.wait_for_selector(".find-panel:not([hidden])")
    page.select_option(".find-panel select[name=rating]", "5")
    settle(page)
    page.wait_for_function("document.querySelectorAll('.grid .tile').length === 3")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert page.is_visible("#find-q")
    page.set_viewport_size(VIEWPORT)


def test_a_column_in_several_blocks_is_read_whole(watched, tmp_path, monkeypatch):
    from kiln.site import filters

    monkeypatch.setattr(filters, "BLOCK", 4)
    project = make_project(tmp_path, title="Blocks", page_size=4)
    store = open_project_store(project)
    add_recipe(store, "coast", title="Coast")
    add_images(project, store, "coast", 14)
    build_site(project, store)
    store.close()
    assert (project.build_dir / "find" / "coast" / "rating-3.js").is_file()
    page = watched
    page.goto((project.build_dir / "coast" / "index.html").as_uri() + "#rating=4&sort=newest")
    settle(page)
    wanted = [image_id("coast", i) for i in reversed(range(14)) if i % 6 >= 4]
    page.wait_for_function(f"document.querySelectorAll('.grid .tile').length === {len(wanted)}")
    assert tile_ids(page) == wanted
