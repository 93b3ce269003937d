"""The built gallery in a real headless Chromium, opened from ``file://``.

Skipped when no Chromium is installed, unless ``KILN_REQUIRE_BROWSER=1`` (as in CI), which
turns a missing browser into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from kiln.site import build_site
from sitefixtures import demo

pytestmark = pytest.mark.browser

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-dark-mode",
    # Virtual time runs ahead when the page is idle, so this costs far less than 10 s.
    "--virtual-time-budget=10000",
]


def find_chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("KILN_REQUIRE_BROWSER") == "1":
        pytest.fail("KILN_REQUIRE_BROWSER=1 but neither chromium nor chromium-browser is on PATH")
    pytest.skip("no chromium on PATH")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = find_chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")

    def run(*args: str) -> str:
        done = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    return run


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    project, store = demo(root, 60)
    report = build_site(project, store)
    store.close()
    assert not report.problems
    return project.build_dir


def screenshot(browser, page: Path, target: Path) -> Image.Image:
    browser(f"--screenshot={target}", "--window-size=1280,900", page.as_uri())
    return Image.open(target).convert("RGB")


def distinct_colours(image: Image.Image) -> int:
    return len(image.getcolors(maxcolors=1 << 24) or [])


def dominant_share(image: Image.Image) -> float:
    colours = image.getcolors(maxcolors=1 << 24) or []
    return max(count for count, _ in colours) / (image.width * image.height)


def test_index_renders_a_card_per_recipe_and_runs_its_script(browser, site):
    dom = browser("--dump-dom", (site / "index.html").as_uri())
    assert len(re.findall(r'<li class="card', dom)) == 4
    assert "No images yet" in dom
    assert re.search(r'<html[^>]* class="js"', dom), "keys.js did not run from file://"


def test_gallery_page_dom_has_its_thumbnails(browser, site):
    dom = browser("--dump-dom", (site / "coastal-dusk" / "index.html").as_uri())
    thumbs = re.findall(r'<li class="tile[^"]*">\s*<a href="\.\./coastal-dusk/[0-9a-f]{16}\.html">\s*<img [^>]*loading="lazy"', dom)
    assert len(thumbs) == 20


def test_index_screenshot_shows_pictures(browser, site, tmp_path):
    shot = screenshot(browser, site / "index.html", tmp_path / "index.png")
    assert shot.size == (1280, 900)
    assert distinct_colours(shot) > 2000
    assert dominant_share(shot) < 0.8
    covers = shot.crop((40, 360, 1240, 620))  # where the first row of cover images sits
    assert distinct_colours(covers) > 1000


def test_image_page_screenshot_shows_the_image(browser, site, tmp_path):
    page = next(p for p in sorted((site / "fog-studies").glob("*.html")) if re.fullmatch(r"[0-9a-f]{16}\.html", p.name))
    shot = screenshot(browser, page, tmp_path / "image.png")
    stage = shot.crop((100, 200, 760, 700))
    assert distinct_colours(stage) > 1000
    assert dominant_share(stage) < 0.5
