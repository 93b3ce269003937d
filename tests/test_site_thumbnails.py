"""Two thumbnail widths: grids, sweep grids and covers offer both in a srcset with the sizes of
their layout; a store made before the small one existed still builds, and doctor makes it."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from kiln.cli import cli

RECIPE = """
prompt = "a {red|blue} kite"
steps = [2, 3]
size = "512x448"
seeds = [1]

[gallery]
grid = { x = "steps", y = "prompt" }
"""
GRID_SIZES = "(max-width: 32rem) 46vw, 16rem"
COVER_SIZES = "(max-width: 40rem) 100vw, 24rem"


def kiln(project: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "-C", str(project)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def images_in(page: Path) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w+)="([^"]*)"', tag)) for tag in re.findall(r"<img [^>]*>", page.read_text())]


def ids(project: Path) -> list[str]:
    with sqlite3.connect(project / "art" / "kiln.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM images ORDER BY id")]


def test_both_widths_are_made_and_offered_with_the_sizes_of_each_layout(project_dir, write_recipe):
    write_recipe("kites", RECIPE)
    kiln(project_dir, "run")
    for image_id in ids(project_dir):
        assert Image.open(project_dir / "art" / "thumb" / f"{image_id}.webp").size == (400, 400)
        assert Image.open(project_dir / "art" / "thumb_small" / f"{image_id}.webp").size == (256, 256)
    kiln(project_dir, "build")
    build = project_dir / "build"
    (cover,) = images_in(build / "index.html")
    assert cover["src"].startswith("media/thumb/")
    image_id = cover["src"].split("/")[-1].removesuffix(".webp")
    # The cover never offers the 1600 px web copy: 400 px is the most a cover needs.
    assert cover["srcset"] == f"media/thumb_small/{image_id}.webp 256w, media/thumb/{image_id}.webp 400w"
    assert cover["sizes"] == COVER_SIZES
    tiles = images_in(build / "kites" / "index.html")
    assert len(tiles) == 4
    for tile in tiles:
        image_id = tile["src"].split("/")[-1].removesuffix(".webp")
        assert tile["src"] == f"../media/thumb/{image_id}.webp"
        assert tile["srcset"] == f"../media/thumb_small/{image_id}.webp 256w, ../media/thumb/{image_id}.webp 400w"
        assert (tile["sizes"], tile["width"], tile["height"]) == (GRID_SIZES, "400", "400")
        assert (build / "kites" / tile["srcset"].split()[0]).is_file()
    cells = images_in(build / "kites" / "grid.html")
    assert len(cells) == 4 and {cell["sizes"] for cell in cells} == {"12rem"}
    assert all("thumb_small/" in cell["srcset"] for cell in cells)


def test_a_store_without_small_thumbnails_falls_back_and_doctor_makes_them(project_dir, write_recipe):
    write_recipe("kites", RECIPE)
    kiln(project_dir, "run")
    art = project_dir / "art"
    # As a store made before there were two widths.
    with sqlite3.connect(art / "kiln.db") as db:
        db.execute("DELETE FROM derivatives WHERE stage = 'thumb_small'")
    for path in (art / "thumb_small").iterdir():
        path.unlink()
    kiln(project_dir, "build")
    tiles = images_in(project_dir / "build" / "kites" / "index.html")
    assert len(tiles) == 4
    for tile in tiles:
        assert tile["src"].startswith("../media/thumb/") and "srcset" not in tile
    (cover,) = images_in(project_dir / "build" / "index.html")
    assert cover["src"].startswith("media/thumb/") and "srcset" not in cover

    result = CliRunner().invoke(cli, ["doctor", "-C", str(project_dir)])
    assert result.exit_code == 1
    assert "4 derivatives missing" in result.output and "no thumb_small is recorded" in result.output
    assert "regenerated 4 derivatives" in kiln(project_dir, "doctor", "--fix")
    for image_id in ids(project_dir):
        assert Image.open(art / "thumb_small" / f"{image_id}.webp").size == (256, 256)
    kiln(project_dir, "build")
    tiles = images_in(project_dir / "build" / "kites" / "index.html")
    assert all("thumb_small/" in tile["srcset"] for tile in tiles)


def test_an_image_smaller_than_the_small_thumbnail_offers_one_file(project_dir, write_recipe):
    write_recipe("kites", RECIPE.replace('"512x448"', '"192x192"'))
    kiln(project_dir, "run")
    kiln(project_dir, "build")
    for tile in images_in(project_dir / "build" / "kites" / "index.html"):
        assert tile["src"].startswith("../media/thumb/") and "srcset" not in tile
