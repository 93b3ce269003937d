"""A recipe's ``gallery.grid`` becomes a page laying its images out by two axes."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from kiln.cli import cli

RECIPE = """
prompt = "a {red|blue} kite"
steps = [2, 3, 4]
size = "64x64"
seeds = [1]

[gallery]
grid = { x = "steps", y = "prompt" }
"""


def kiln(project: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "-C", str(project)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_grid_page_lays_out_columns_and_rows(project_dir, write_recipe):
    write_recipe("kites", RECIPE)
    kiln(project_dir, "run")
    kiln(project_dir, "build")
    page = (project_dir / "build" / "kites" / "grid.html").read_text()
    assert [h.strip() for h in re.findall(r'<th scope="col">([^<]*)</th>', page)] == ["2", "3", "4"]
    assert [h.strip() for h in re.findall(r'<th scope="row">([^<]*)</th>', page)] == ["a red kite", "a blue kite"]
    cells = re.findall(r"<td>(.*?)</td>", page, re.S)
    assert len(cells) == 6
    for cell in cells:
        (link,) = re.findall(r'<a href="([^"]+)"', cell)
        assert (project_dir / "build" / "kites" / link).is_file()
    gallery = (project_dir / "build" / "kites" / "index.html").read_text()
    (link,) = re.findall(r'href="([^"]*grid\.html)"', gallery)
    assert (project_dir / "build" / "kites" / link).resolve() == (project_dir / "build" / "kites" / "grid.html").resolve()


def test_no_grid_page_without_the_option(project_dir, write_recipe):
    write_recipe("kites", RECIPE.split("[gallery]")[0])
    kiln(project_dir, "run")
    kiln(project_dir, "build")
    assert not (project_dir / "build" / "kites" / "grid.html").exists()
    assert "grid.html" not in (project_dir / "build" / "kites" / "index.html").read_text()
