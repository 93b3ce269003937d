"""The stats page, a Markdown page, the grid's axis selector and the touch fixes, in Chromium:
the selector lays the grid out again and its cells open the loupe, captions show without
hover, key hints hide on a phone, no console errors, no serious accessibility violation, and
every page fits 390 px."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from browsing import VIEWPORT, blocking_violations, loupe_image, make_gallery
from kiln.site import build_site
from sitefixtures import add_images, add_recipe, open_project_store
from kiln.project import load_project

pytestmark = pytest.mark.browser

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">'
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(tmp_path_factory, static_server) -> Iterator[str]:
    root = make_gallery(tmp_path_factory.mktemp("find-pages"))
    project = load_project(root)
    store = open_project_store(project)
    add_recipe(store, "sweep", title="Sweep", gallery={"grid": {"x": "steps", "y": "cfg"}})
    ids = add_images(project, store, "sweep", 8, model=HOSTILE)
    with store.transaction() as db:
        for i, image in enumerate(ids):
            axes = {"steps": [4, 8][i % 2], "cfg": [1.5, 3.5][i // 2 % 2], "sampler": ["euler", "dpm++ 2m karras"][i // 4]}
            db.execute(
                "UPDATE recipe_jobs SET axes = ? WHERE job_key = (SELECT job_key FROM images WHERE id = ?)",
                [json.dumps(axes), image],
            )
    (root / "pages").mkdir()
    (root / "pages" / "about.md").write_text(f"# About\n\nMade with kiln. {HOSTILE}\n")
    report = build_site(project, store)
    store.close()
    assert not report.problems
    yield static_server(Path(root) / "build")


def watch(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_the_selector_lays_the_grid_out_again_and_a_cell_opens_the_loupe(page, site):
    errors = watch(page)
    page.goto(site + "sweep/grid.html")
    page.wait_for_selector(".xy-axes:not([hidden])")
    heads = page.eval_on_selector_all(".xy thead th", "ths => ths.map(t => t.textContent)")
    assert heads == ["cfg \\ steps", "4", "8"]
    assert page.locator(".xy .tile").count() == 8
    # Labels wrap between words only.
    breaks = page.eval_on_selector_all(
        ".xy th", "ths => [...new Set(ths.map(t => { const s = getComputedStyle(t); return [s.overflowWrap, s.wordBreak, s.hyphens].join(' '); }))]"
    )
    assert breaks == ["normal normal none"]
    # A third axis as pages: four images to a page, the choice kept in the address.
    page.select_option("select[name=z]", "sampler")
    assert page.locator(".xy .tile").count() == 4
    assert "z=sampler" in page.url and "page=1" in page.url
    page.select_option("select[name=page]", "2")
    assert page.locator(".xy .tile").count() == 4
    # Choosing for X the axis that is Y swaps them.
    page.select_option("select[name=x]", "cfg")
    assert page.eval_on_selector_all(".xy thead th", "ths => ths.map(t => t.textContent)") == ["steps \\ cfg", "1.5", "3.5"]
    shown = page.eval_on_selector_all(".xy .tile", "tiles => tiles.map(t => t.dataset.id)")
    page.reload()
    page.wait_for_selector(".xy-axes:not([hidden])")
    assert page.eval_on_selector_all(".xy .tile", "tiles => tiles.map(t => t.dataset.id)") == shown
    page.locator(".xy .tile a").first.click()
    assert loupe_image(page) == shown[0]
    page.keyboard.press("ArrowRight")
    assert loupe_image(page) == shown[1]
    assert errors == []


def test_without_scripts_the_grid_is_the_configured_one(chromium, site):
    context = chromium.new_context(viewport=VIEWPORT, java_script_enabled=False)
    page = context.new_page()
    page.goto(site + "sweep/grid.html")
    assert page.locator(".xy-axes").is_hidden()
    assert page.eval_on_selector_all(".xy thead th", "ths => ths.map(t => t.textContent.trim())") == ["cfg \\ steps", "4", "8"]
    context.close()


def test_stats_page_shows_hostile_labels_as_text(page, site):
    errors = watch(page)
    page.goto(site + "stats.html")
    assert page.evaluate("window.__pwned") is None
    assert HOSTILE in page.locator("section[aria-labelledby=stat-models] table").inner_text()
    assert HOSTILE in page.locator("#chart-models-title").text_content()
    assert page.locator("svg[role=img]").count() == 5  # days, recipes, models, success, disk
    assert errors == []


@pytest.mark.parametrize("path", ["stats.html", "sweep/grid.html", "about.html"])
def test_no_serious_accessibility_violation(page, site, path):
    page.goto(site + path)
    assert blocking_violations(page) == []


def test_captions_show_without_hover_and_key_hints_hide_on_a_phone(chromium, site):
    context = chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors = watch(page)
    page.goto(site + "coastal-dusk/index.html")
    page.wait_for_function("window.kiln && window.kiln.gallery")
    caption = page.locator(".tile-info").first
    page.wait_for_function("getComputedStyle(document.querySelector('.tile-info')).opacity === '1'")
    assert caption.is_visible()
    assert page.locator(".kbd-hint").first.is_hidden()
    assert errors == []
    context.close()


def test_with_a_mouse_captions_wait_for_hover_and_hints_show(page, site):
    page.goto(site + "coastal-dusk/index.html")
    page.wait_for_function("window.kiln && window.kiln.gallery")
    assert page.evaluate("getComputedStyle(document.querySelector('.tile-info')).opacity") == "0"
    assert page.locator(".kbd-hint").first.is_visible()


@pytest.mark.parametrize("path", ["stats.html", "about.html", "sweep/grid.html", "coastal-dusk/index.html", "index.html"])
def test_pages_fit_a_phone(chromium, site, path):
    context = chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors = watch(page)
    page.goto(site + path)
    # Nothing but the grid's own scroller may be wider than the screen.
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter(el => {
            if (el.closest('.xy-scroll, .figures, svg, .skip, .sr-only')) return false;
            const box = el.getBoundingClientRect();
            return box.width > 0 && (box.right > innerWidth + 1 || box.left < -1);
        }).map(el => el.tagName + '.' + el.className)"""
    )
    assert wide == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []
    context.close()
