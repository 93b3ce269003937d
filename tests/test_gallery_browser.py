"""The built gallery in a real headless Chromium, opened from ``file://``.

Skipped when Chromium or Playwright is missing, unless ``KILN_REQUIRE_BROWSER=1`` (as in CI),
which turns a missing browser into a failure.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from kiln.site import build_site
from sitefixtures import demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    project, store = demo(root, 60)
    report = build_site(project, store)
    store.close()
    assert not report.problems
    return project.build_dir


def screenshot(page, path: Path) -> Image.Image:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return Image.open(io.BytesIO(page.screenshot())).convert("RGB")


def distinct_colours(image: Image.Image) -> int:
    return len(image.getcolors(maxcolors=1 << 24) or [])


def dominant_share(image: Image.Image) -> float:
    colours = image.getcolors(maxcolors=1 << 24) or []
    return max(count for count, _ in colours) / (image.width * image.height)


def test_index_renders_a_card_per_recipe_and_runs_its_script(page, site):
    page.goto((site / "index.html").as_uri())
    assert page.locator("li.card").count() == 4
    assert "No images yet" in page.content()
    assert "js" in page.evaluate("document.documentElement.className"), "keys.js did not run from file://"


def test_gallery_page_dom_has_its_thumbnails(page, site):
    page.goto((site / "coastal-dusk" / "index.html").as_uri())
    links = page.eval_on_selector_all(".grid .tile > a", "links => links.map(a => a.getAttribute('href'))")
    assert len(links) == 20
    assert all(re.fullmatch(r"\.\./coastal-dusk/[0-9a-f]{16}\.html", href) for href in links)
    assert page.locator(".grid .tile img[loading=lazy]").count() == 20
    assert page.evaluate("Object.keys(window.kiln.records).length") == 20


def test_index_screenshot_shows_pictures(page, site):
    shot = screenshot(page, site / "index.html")
    assert shot.size == (1280, 900)
    assert distinct_colours(shot) > 2000
    assert dominant_share(shot) < 0.8
    covers = shot.crop((40, 360, 1240, 620))  # where the first row of cover images sits
    assert distinct_colours(covers) > 1000


def test_image_page_screenshot_shows_the_image(page, site):
    image = next(p for p in sorted((site / "fog-studies").glob("*.html")) if re.fullmatch(r"[0-9a-f]{16}\.html", p.name))
    shot = screenshot(page, image)
    stage = shot.crop((100, 200, 760, 700))
    assert distinct_colours(stage) > 1000
    assert dominant_share(stage) < 0.5
