"""The screenshots in docs/screenshots/: ``python bench/screenshots.py``.

Makes the demo project of this repository in a temporary folder (``kiln run`` with the
placeholder engine), culls some of it through the library as ``kiln rate`` would, serves it
with ``kiln serve`` and photographs the culled grid, the loupe, compare, the stats page and a
sweep grid laid out by the axis selector, the filters and a search at 1280×800, and a gallery on a phone (390 px, touch), in the
dark theme with Playwright on the installed Chromium.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from kiln.library.curation import Change, apply_change
from kiln.project import load_project
from kiln.server import Server
from kiln.store import open_store

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "docs" / "screenshots"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--hide-scrollbars"]
# (collection, position in its gallery, change): a collection half culled.
CULLING = [
    ("cities", 0, Change(rating=4, status="selected", add_tags=("skyline",))),
    ("cities", 1, Change(rating=2)),
    ("cities", 2, Change(status="rejected")),
    ("cities", 3, Change(rating=5, status="selected", note="the one for the poster")),
    ("cities", 5, Change(rating=3)),
    ("cities", 6, Change(status="rejected")),
    ("cities", 7, Change(rating=1, status="rejected")),
    ("cities", 9, Change(rating=4)),
    ("cities", 10, Change(rating=3, status="selected")),
]


def make_demo(root: Path) -> None:
    for name in ("recipes", "prompts", "wildcards", "kiln.toml"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy(source, root / name)
    subprocess.run([sys.executable, "-m", "kiln", "run"], cwd=root, check=True, capture_output=True)


def gallery_ids(store, recipe: str) -> list[str]:
    rows = store.query(
        "SELECT j.image_id FROM recipe_jobs rj JOIN jobs j ON j.key = rj.job_key "
        "WHERE rj.recipe = ? AND j.image_id IS NOT NULL ORDER BY rj.position",
        [recipe],
    )
    return [row["image_id"] for row in rows]


def cull(root: Path) -> list[str]:
    store = open_store(load_project(root).db_path)
    ids = gallery_ids(store, "cities")
    for recipe, position, change in CULLING:
        apply_change(store, [gallery_ids(store, recipe)[position]], change, "cli")
    store.close()
    return ids


def shoot(url: str, ids: list[str]) -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme="dark")
        page.goto(url + "cities/index.html")
        page.wait_for_function("window.kiln && window.kiln.live")
        page.evaluate("window.scrollBy(0, document.querySelector('.grid-head').getBoundingClientRect().top - 72)")
        # Two seeds' neighbours: the same prompt and seed at 12 and 28 steps.
        for position in (0, 1):
            page.locator(".grid .tile a").nth(position).focus()
            page.keyboard.press("s")
        page.locator(".grid .tile a").nth(4).focus()
        page.wait_for_timeout(3000)  # let the status line fade
        page.screenshot(path=str(TARGET / "culled-grid.png"))

        page.keyboard.press("c")
        page.wait_for_timeout(300)
        page.keyboard.press("z")
        page.keyboard.press("+")
        page.keyboard.press("+")
        box = page.locator(".compare-pane").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 - 260, steps=8)
        page.mouse.up()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(TARGET / "compare.png"))
        page.keyboard.press("Escape")

        page.goto(url + f"cities/index.html#view={ids[3]}")
        page.wait_for_function("window.kiln.loupe && window.kiln.loupe.current()")
        page.keyboard.press("i")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(TARGET / "loupe.png"))

        page.goto(url + "stats.html")
        page.screenshot(path=str(TARGET / "stats.png"), full_page=True)

        page.goto(url + "cities/grid.html?x=steps&y=seed")
        page.wait_for_selector(".xy-axes:not([hidden])")
        page.evaluate("window.scrollBy(0, document.querySelector('.xy-axes').getBoundingClientRect().top - 72)")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(TARGET / "grid.png"))

        # Filters: the culled collection narrowed to its picks of three stars or more.
        page.goto(url + "cities/index.html#rating=3&status=picked")
        page.wait_for_function("window.kiln.find && window.kiln.find.ready && !window.kiln.findPending")
        if page.locator(".find-panel").is_hidden():  # a fragment with filters may have opened it
            page.click(".find-toggle")
        page.wait_for_selector(".find-panel:not([hidden])")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(TARGET / "filters.png"))

        # Search over the whole library.
        page.goto(url + "search.html#q=night")
        page.wait_for_function("document.querySelectorAll('.grid .tile').length > 0")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(TARGET / "search.png"))

        # A phone: captions shown without hover, no key hints.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                    device_scale_factor=2, color_scheme="dark").new_page()
        phone.goto(url + "cities/index.html")
        phone.wait_for_function("window.kiln && window.kiln.gallery")
        phone.evaluate("window.scrollBy(0, document.querySelector('.grid').getBoundingClientRect().top - 64)")
        phone.wait_for_timeout(1000)
        phone.screenshot(path=str(TARGET / "phone.png"))
        browser.close()


def compact(path: Path) -> None:
    """256 dithered colours: a third of the bytes, and no difference a reader can see."""
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_demo(root)
        ids = cull(root)
        with Server(load_project(root), port=0) as server:
            shoot(server.url, ids)
    for name in ("culled-grid", "compare", "loupe", "stats", "grid", "filters", "search", "phone"):
        compact(TARGET / f"{name}.png")
        print(TARGET / f"{name}.png")


if __name__ == "__main__":
    main()
