"""What gallery pages carry for their script: the tiles' culling state and the loupe's data."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kiln.site import build_site
from sitefixtures import add_images, add_recipe, make_project, open_project_store


@pytest.fixture
def built(tmp_path):
    project = make_project(tmp_path, page_size=4)
    store = open_project_store(project)
    add_recipe(store, "alpha", title="Alpha")
    ids = add_images(project, store, "alpha", 6)
    store.conn.execute(
        "UPDATE images SET prompt = ?, notes = ?, tags = ? WHERE id = ?",
        ['a </script><script>alert(1)</script> "quoted" & \'single\'', 'note with "quotes" & <b>', json.dumps(["it's", "<x>"]), ids[0]],
    )
    store.conn.commit()
    assert not build_site(project, store).problems
    store.close()
    return project.build_dir, ids


def island(page: Path) -> list[dict]:
    text = page.read_text("utf-8")
    found = re.search(r'<script type="application/json" id="kiln-images">(.*?)</script>', text, re.S)
    assert found, "no data for the loupe"
    return json.loads(found.group(1))


class _Tiles(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "li" and "tile" in (values.get("class") or "").split():
            self.found.append({name[5:]: value for name, value in attrs if name.startswith("data-")})


def tiles(page: Path) -> list[dict[str, str | None]]:
    """Each tile's data attributes, as the browser reads them."""
    parser = _Tiles()
    parser.feed(page.read_text("utf-8"))
    return parser.found


def test_each_tile_carries_its_culling_state(built):
    build, ids = built
    first = tiles(build / "alpha" / "index.html")[0]
    assert json.loads(first.pop("tags")) == ["it's", "<x>"]
    assert first == {"id": ids[0], "rating": "0", "status": "", "notes": 'note with "quotes" & <b>'}
    assert [t["id"] for t in tiles(build / "alpha" / "page-2.html")] == ids[4:]


def test_the_loupe_data_has_a_record_per_tile_with_links_that_resolve(built):
    build, ids = built
    for name, expected in (("index.html", ids[:4]), ("page-2.html", ids[4:])):
        page = build / "alpha" / name
        records = island(page)
        assert [r["id"] for r in records] == expected
        for record in records:
            for link in (record["page"], record["web"][0], record["original"][0]):
                assert (page.parent / link).resolve().is_file()
            assert record["original"][1:] == record["size"]
            assert record["facts"]["sampler"] == "euler_a" and record["facts"]["steps"] == 20
            assert record["axes"] == []  # prompt and seed are shown on their own


def test_a_prompt_cannot_end_the_data_script(built):
    build, ids = built
    text = (build / "alpha" / "index.html").read_text("utf-8")
    assert "</script><script>alert(1)" not in text
    assert island(build / "alpha" / "index.html")[0]["prompt"].startswith("a </script><script>alert(1)</script>")
