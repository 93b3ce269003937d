"""The loupe, views and compare in the static gallery, from file:// and from a plain server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browsing import loupe_image, make_gallery, tile_ids

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    return make_gallery(tmp_path_factory.mktemp("gallery")) / "build"


@pytest.fixture(params=["file", "http"])
def site(request, build, static_server) -> str:
    """The build folder's URL: from file:// or over HTTP."""
    return build.as_uri() + "/" if request.param == "file" else static_server(build)


def open_gallery(page, site: str, path: str = "coastal-dusk/index.html", fragment: str = "") -> None:
    page.goto(site + path + fragment)
    page.wait_for_function("window.kiln && window.kiln.gallery")


def test_a_click_opens_the_loupe_and_the_url_names_the_image(page, site):
    open_gallery(page, site)
    first = tile_ids(page)[0]
    page.locator(".grid .tile a").first.click()
    dialog = page.locator("dialog.loupe")
    assert dialog.evaluate("d => d.open")
    assert page.url.endswith(f"#view={first}")
    assert re.search(rf"media/(web|original)/{first}\.\w+$", page.locator(".loupe-img").get_attribute("src"))
    line = page.locator(".loupe-line").inner_text()
    assert "a lighthouse on a basalt cliff" in line and "seed 1000" in line
    page.keyboard.press("i")
    info = page.locator(".loupe-info")
    assert info.is_visible()
    for fact in ("placeholder-v1", "euler_a", "blurry, text, watermark", first):
        assert fact in info.inner_text()


def test_enter_opens_and_esc_gives_focus_back_to_the_thumbnail(page, site):
    open_gallery(page, site)
    third = tile_ids(page)[2]
    page.locator(".grid .tile a").nth(2).focus()
    page.keyboard.press("Enter")
    assert loupe_image(page) == third
    assert page.evaluate("document.activeElement.closest('dialog.loupe') !== null")
    page.keyboard.press("Escape")
    assert loupe_image(page) is None
    assert page.evaluate("document.activeElement.closest('.tile').dataset.id") == third
    assert "#view=" not in page.url


def test_arrows_walk_on_into_the_next_page_and_back(page, site):
    open_gallery(page, site)
    first_page = tile_ids(page)
    page.locator(".grid .tile a").nth(len(first_page) - 1).click()
    page.keyboard.press("ArrowLeft")
    assert loupe_image(page) == first_page[-2]
    page.keyboard.press("ArrowRight")
    with page.expect_navigation():
        page.keyboard.press("ArrowRight")
    page.wait_for_function("window.kiln && window.kiln.loupe && window.kiln.loupe.current()")
    second_page = tile_ids(page)
    assert "page-2.html" in page.url
    assert loupe_image(page) == second_page[0]
    assert page.url.endswith(f"#view={second_page[0]}")
    with page.expect_navigation():
        page.keyboard.press("ArrowLeft")
    page.wait_for_function("window.kiln && window.kiln.loupe && window.kiln.loupe.current()")
    assert page.url.split("#")[0].endswith("coastal-dusk/index.html")
    assert loupe_image(page) == first_page[-1]


def test_the_back_button_closes_the_loupe(page, site):
    open_gallery(page, site)
    page.locator(".grid .tile a").nth(1).click()
    page.keyboard.press("ArrowRight")
    assert loupe_image(page) == tile_ids(page)[2]
    page.go_back()
    page.wait_for_function("!document.querySelector('dialog.loupe[open]')")
    assert page.url.split("#")[0].endswith("coastal-dusk/index.html")
    assert "#view=" not in page.url
    assert page.locator(".grid .tile").count() == 8


def test_a_reload_or_a_shared_link_opens_the_same_image(page, site):
    open_gallery(page, site)
    fourth = tile_ids(page)[3]
    page.locator(".grid .tile a").nth(3).click()
    page.reload()
    page.wait_for_function("window.kiln.loupe && window.kiln.loupe.current()")
    assert loupe_image(page) == fourth
    page.goto("about:blank")
    open_gallery(page, site, fragment=f"#view={fourth}")
    assert loupe_image(page) == fourth


def test_z_shows_the_original_at_100_percent_and_back(page, site):
    open_gallery(page, site)
    first = tile_ids(page)[0]
    page.locator(".grid .tile a").first.click()
    img = page.locator(".loupe-img")
    fitted = img.bounding_box()
    assert fitted["height"] == pytest.approx(800, abs=1) or fitted["width"] == pytest.approx(1280, abs=1)
    page.keyboard.press("z")
    page.wait_for_function(f"document.querySelector('.loupe-img').src.endsWith('/original/{first}.png')")
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    box = img.bounding_box()
    assert (round(box["width"]), round(box["height"])) == tuple(natural)
    assert page.locator(".loupe-tools button").first.inner_text() == "100 %"
    page.keyboard.press("z")
    assert img.bounding_box() == pytest.approx(fitted)


def test_a_click_zooms_and_a_drag_pans(context, build):
    page = context.new_page()
    page.set_viewport_size({"width": 480, "height": 360})
    page.goto((build / "coastal-dusk" / "index.html").as_uri())
    page.locator(".grid .tile a").first.click()
    img = page.locator(".loupe-img")
    page.mouse.click(240, 180)
    page.wait_for_function("document.querySelector('.loupe-img').src.includes('/original/')")
    before = img.bounding_box()
    assert before["width"] == 720  # the original's own size
    page.mouse.move(240, 180)
    page.mouse.down()
    page.mouse.move(200, 170, steps=4)
    page.mouse.move(180, 160, steps=4)
    page.mouse.up()
    after = img.bounding_box()
    assert (after["x"] - before["x"], after["y"] - before["y"]) == (-60, -20)
    page.mouse.move(240, 180)
    page.mouse.down()
    page.mouse.move(240, 100, steps=4)
    page.mouse.up()
    assert img.bounding_box()["y"] == pytest.approx(360 - 405)  # no further than the image's edge
    assert page.evaluate("window.kiln.loupe.current()")  # a drag is not a click: still at 100 %
    assert img.bounding_box()["width"] == 720
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert img.bounding_box()["width"] < 720


def test_next_and_previous_images_are_preloaded(page, site):
    open_gallery(page, site)
    ids = tile_ids(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.locator(".grid .tile a").nth(1).click()
    page.wait_for_timeout(200)
    for neighbour in (ids[0], ids[2]):
        assert any(url.endswith(f"/web/{neighbour}.webp") for url in requested) or page.evaluate(
            f"performance.getEntriesByType('resource').some(e => e.name.endsWith('/web/{neighbour}.webp'))"
        )


def test_views_hide_tiles_and_the_loupe_skips_them(page, site):
    open_gallery(page, site)
    states = page.eval_on_selector_all(".grid .tile", "ts => ts.map(t => [t.dataset.id, +t.dataset.rating, t.dataset.status])")
    picked = [i for i, _, status in states if status == "selected"]
    unrated = [i for i, rating, status in states if not rating and not status]
    page.get_by_role("button", name="Picked", exact=True).click()
    assert tile_ids(page, visible_only=True) == picked
    assert "show=picked" in page.url
    page.keyboard.press("v")  # on to Rejected
    page.keyboard.press("Shift+V")
    page.keyboard.press("Shift+V")  # back to Unrated
    assert tile_ids(page, visible_only=True) == unrated
    page.locator(".grid .tile:not([hidden]) a").first.click()
    assert loupe_image(page) == unrated[0]
    if len(unrated) > 1:
        page.keyboard.press("ArrowRight")
        assert loupe_image(page) == unrated[1]
    page.keyboard.press("Escape")
    page.get_by_role("combobox", name="Minimum stars").select_option("4")
    high = [i for i, rating, _ in states if rating >= 4]
    assert tile_ids(page, visible_only=True) == high
    assert "show=stars4" in page.url
    assert page.locator('link[rel="next"]').get_attribute("href").endswith("#show=stars4")
    page.locator(".pager a", has_text="2").first.click()
    page.wait_for_function("window.kiln && window.kiln.gallery")
    shown = page.eval_on_selector_all(".grid .tile:not([hidden])", "ts => ts.map(t => +t.dataset.rating)")
    assert shown and all(rating >= 4 for rating in shown)
    assert page.locator(".views [aria-pressed=true]").inner_text() == "★ ≥"


def test_compare_two_images_side_by_side_at_the_same_zoom(page, site):
    open_gallery(page, site)
    ids = tile_ids(page)
    page.locator(".grid .tile a").nth(0).focus()
    page.keyboard.press("s")
    page.locator(".grid .tile a").nth(1).click()  # S works in the loupe too
    page.keyboard.press("s")
    page.keyboard.press("Escape")
    assert page.locator(".tile.is-compared").count() == 2
    assert page.locator(".compare-tray").inner_text().startswith("2 of 4 marked")
    page.keyboard.press("c")
    panes = page.locator(".compare-pane img")
    assert panes.count() == 2
    assert [re.search(r"/(\w+)\.\w+$", src).group(1) for src in panes.evaluate_all("imgs => imgs.map(i => i.src)")] == ids[:2]
    page.keyboard.press("z")
    page.wait_for_function("[...document.querySelectorAll('.compare-pane img')].every(i => i.src.includes('/original/'))")
    widths = panes.evaluate_all("imgs => imgs.map(i => [i.getBoundingClientRect().width, i.naturalWidth])")
    assert all(round(shown) == natural for shown, natural in widths)
    page.keyboard.press("+")
    page.keyboard.press("+")
    before = panes.evaluate_all("imgs => imgs.map(i => i.getBoundingClientRect().x)")
    box = page.locator(".compare-pane").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 - 50, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    after = panes.evaluate_all("imgs => imgs.map(i => i.getBoundingClientRect().x)")
    assert [round(a - b) for a, b in zip(after, before)] == [-50, -50]
    page.keyboard.press("Escape")
    assert not page.locator("dialog.compare").evaluate("d => d.open")
    page.reload()
    page.wait_for_function("window.kiln && window.kiln.gallery")
    assert page.locator(".tile.is-compared").count() == 2  # the marks survive a reload


def test_without_javascript_a_thumbnail_is_a_link_to_its_page(chromium, build):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto((build / "coastal-dusk" / "index.html").as_uri())
    first = page.locator(".grid .tile").first.get_attribute("data-id")
    page.locator(".grid .tile a").first.click()
    assert page.url.endswith(f"coastal-dusk/{first}.html")
    assert page.locator("img.shot").count() == 1
    context.close()


def test_the_static_gallery_has_no_culling(page, site):
    open_gallery(page, site)
    before = page.eval_on_selector(".grid .tile", "t => t.dataset.rating")
    page.locator(".grid .tile a").first.click()
    page.keyboard.press("5")
    page.keyboard.press("p")
    assert page.eval_on_selector(".grid .tile", "t => t.dataset.rating") == before
    assert page.evaluate("window.kiln.token") is None
    assert page.evaluate("window.kiln.culling") is None


def test_the_loupe_walks_the_view_across_pages(page, site):
    open_gallery(page, site, fragment="#show=picked")
    picked = tile_ids(page, visible_only=True)
    assert len(picked) == 1 and len(tile_ids(page)) == 8
    page.locator(".grid .tile:not([hidden]) a").first.click()
    with page.expect_navigation():
        page.keyboard.press("ArrowRight")
    page.wait_for_function("window.kiln && window.kiln.loupe && window.kiln.loupe.current()")
    assert "page-2.html" in page.url and "show=picked" in page.url
    shown = loupe_image(page)
    assert page.eval_on_selector(f'.tile[data-id="{shown}"]', "t => t.dataset.status") == "selected"
    assert tile_ids(page, visible_only=True) == [shown]
