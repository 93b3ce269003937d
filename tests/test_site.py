"""The static site: what ``build_site`` writes, how it links, and what a rebuild touches."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from kiln.site import BuildReport, build_site
from kiln.site.state import STATE as MANIFEST
from kiln.store.db import Store
from sitefixtures import add_images, add_pending, add_recipe, make_project, open_project_store

OLD = 1_000_000_000  # a modification time no build writes


# ---- helpers --------------------------------------------------------------------------


class Links(HTMLParser):
    """Every URL a page refers to: href, src and each srcset candidate, plus style url()s."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("href", "src"):
                self.urls.append(value)
            elif name == "srcset":
                self.urls += [candidate.split()[0] for candidate in value.split(",")]
            elif name == "style":
                self.styles += re.findall(r"url\(([^)]*)\)", value)


def links(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text("utf-8"))
    return parser


def html_files(build: Path) -> list[Path]:
    return sorted(build.rglob("*.html"))


def age_pages(build: Path) -> None:
    for page in html_files(build):
        os.utime(page, (OLD, OLD))


def touched(build: Path) -> set[str]:
    return {p.relative_to(build).as_posix() for p in html_files(build) if p.stat().st_mtime != OLD}


def tiles(page: Path) -> int:
    return page.read_text("utf-8").count('<li class="tile')


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path, title="Test", description="A *test* site.")


@pytest.fixture
def store(project):
    store = open_project_store(project)
    yield store
    store.close()


@pytest.fixture
def catalogue(project, store: Store) -> dict[str, list[str]]:
    """``alpha`` with five images, ``beta`` with three, ``empty`` with two jobs still queued."""
    add_recipe(store, "alpha", title="Alpha", description="First paragraph.\n\nSecond *paragraph*.")
    add_recipe(store, "beta", title="Beta")
    add_recipe(store, "empty", title="Empty")
    add_pending(store, "empty", 2)
    return {"alpha": add_images(project, store, "alpha", 5), "beta": add_images(project, store, "beta", 3)}


def build(project, store) -> BuildReport:
    report = build_site(project, store)
    assert not report.problems, [str(p) for p in report.problems]
    return report


# ---- what is written ------------------------------------------------------------------


def test_build_writes_index_galleries_image_pages_media_and_static(project, store, catalogue):
    report = build(project, store)
    out = project.build_dir
    assert (out / "index.html").is_file()
    for recipe, ids in catalogue.items():
        assert (out / recipe / "index.html").is_file()
        for image in ids:
            assert (out / recipe / f"{image}.html").is_file()
            assert (out / "media" / "thumb" / f"{image}.webp").is_file()
            assert (out / "media" / "web" / f"{image}.webp").is_file()
            assert (out / "media" / "original" / f"{image}.png").is_file()
    assert (out / "empty" / "index.html").is_file()
    assert re.fullmatch(r"style\.[0-9a-f]{8}\.css", next((out / "static").glob("style.*.css")).name)
    assert (out / MANIFEST).is_file()
    assert report.pages == 1 + 3 + 8
    assert report.images == 8
    produced = 1 + 1 + 3  # the stats page, the library's feed and each collection's
    finder_files = [p for p in (out / "find").rglob("*") if p.is_file()]
    assert report.written == (
        report.pages + produced + 8 * 3 + len(list((out / "static").iterdir())) + len(finder_files) + 1  # search.html
    )
    assert report.skipped == report.removed == 0


def test_every_link_and_image_resolves_to_a_file_and_nothing_is_remote(project, store, catalogue):
    add_recipe(store, "shared", title="Shared")
    store.conn.execute(
        "INSERT INTO recipe_jobs (recipe, job_key, position, axes) SELECT 'shared', job_key, position, axes"
        " FROM recipe_jobs WHERE recipe = 'beta'"
    )
    build(project, store)
    out = project.build_dir
    checked = 0
    for page in html_files(out):
        found = links(page)
        for url in found.urls:
            if url.startswith("#"):
                assert f'id="{url[1:]}"' in page.read_text(), f"{page}: no target for {url}"
                continue
            assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", url, re.I), f"{page}: non-relative link {url}"
            assert not url.endswith("/"), f"{page}: link to a bare folder {url}"
            target = (page.parent / url.split("#")[0].split("?")[0]).resolve()
            assert target.is_file(), f"{page.relative_to(out)}: broken link {url}"
            assert out.resolve() in target.parents
            checked += 1
        for url in found.styles:
            assert url.startswith("data:image/webp;base64,"), f"{page}: style loads {url}"
    assert checked > 100
    assert (out / "shared" / f"{catalogue['beta'][0]}.html").is_file()


def test_pages_link_to_index_html_explicitly(project, store, catalogue):
    build(project, store)
    gallery = (project.build_dir / "alpha" / "index.html").read_text()
    assert 'href="../index.html"' in gallery
    image_page = (project.build_dir / "alpha" / f"{catalogue['alpha'][0]}.html").read_text()
    assert 'href="../alpha/index.html"' in image_page


# ---- pagination -----------------------------------------------------------------------


def test_pagination_splits_galleries_and_image_pages_link_back_to_their_page(tmp_path):
    project = make_project(tmp_path, page_size=2)
    store = open_project_store(project)
    add_recipe(store, "alpha")
    add_recipe(store, "solo", gallery={"page_size": 1})
    ids = add_images(project, store, "alpha", 5)
    add_images(project, store, "solo", 3)
    build(project, store)
    gallery = project.build_dir / "alpha"
    assert [tiles(gallery / name) for name in ("index.html", "page-2.html", "page-3.html")] == [2, 2, 1]
    assert not (gallery / "page-4.html").exists()
    assert not (gallery / "page-1.html").exists()
    assert (project.build_dir / "solo" / "page-3.html").is_file()
    assert not (project.build_dir / "solo" / "page-4.html").exists()

    second = (gallery / "page-2.html").read_text()
    assert 'rel="prev" href="../alpha/index.html"' in second
    assert 'rel="next" href="../alpha/page-3.html"' in second
    third_image = (gallery / f"{ids[2]}.html").read_text()
    assert 'href="../alpha/page-2.html"' in third_image
    assert f'rel="prev" href="../alpha/{ids[1]}.html"' in third_image
    assert f'rel="next" href="../alpha/{ids[3]}.html"' in third_image
    first_image = (gallery / f"{ids[0]}.html").read_text()
    assert 'rel="prev"' not in first_image
    store.close()


def test_gallery_sort_orders_the_grid_and_the_prev_next_chain(project, store):
    add_recipe(store, "alpha", gallery={"sort": "rating"})
    ids = add_images(project, store, "alpha", 4, status=None)
    for image, rating in zip(ids, (1, 4, 0, 5)):
        store.conn.execute("UPDATE images SET rating = ? WHERE id = ?", [rating, image])
    build(project, store)
    grid = (project.build_dir / "alpha" / "index.html").read_text()
    order = [grid.index(f"{image}.html") for image in (ids[3], ids[1], ids[0], ids[2])]
    assert order == sorted(order)


# ---- rebuilds -------------------------------------------------------------------------


def test_noop_rebuild_writes_nothing(project, store, catalogue):
    first = build(project, store)
    age_pages(project.build_dir)
    manifest = (project.build_dir / MANIFEST).read_bytes()
    second = build(project, store)
    assert second.written == 0
    assert second.removed == 0
    assert second.skipped == first.written
    assert touched(project.build_dir) == set()
    assert (project.build_dir / MANIFEST).read_bytes() != manifest  # it recorded the new times
    third = build(project, store)
    assert (third.written, third.skipped) == (0, first.written)


def test_changing_a_rating_rewrites_only_the_pages_that_show_it(tmp_path):
    project = make_project(tmp_path, page_size=2)
    store = open_project_store(project)
    add_recipe(store, "alpha")
    ids = add_images(project, store, "alpha", 5, status=None, rating=0)
    store.conn.execute("UPDATE images SET status = 'selected' WHERE id = ?", [ids[0]])  # keeps the cover
    build(project, store)
    age_pages(project.build_dir)

    store.conn.execute("UPDATE images SET rating = 4 WHERE id = ?", [ids[2]])
    report = build(project, store)
    assert touched(project.build_dir) == {"alpha/page-2.html", f"alpha/{ids[2]}.html"}
    # The finder's files that hold ratings: the column, the chunk with the image, the counts.
    finder = {f"find/{folder}/{name}.js" for folder in ("_library", "alpha") for name in ("rating-0", "items-0", "meta")}
    assert set(report.written_names) == {"alpha/page-2.html", f"alpha/{ids[2]}.html", *finder}
    assert report.changed_pages == sorted(["alpha/page-2.html", f"alpha/{ids[2]}.html"])
    assert "★★★★☆" in (project.build_dir / "alpha" / f"{ids[2]}.html").read_text()
    store.close()


def test_a_hand_edited_page_is_restored_by_a_verifying_build(project, store, catalogue):
    build(project, store)
    page = project.build_dir / "beta" / "index.html"
    original = page.read_bytes()
    page.write_text("edited")
    assert build(project, store).written == 0  # a plain build trusts what it recorded
    report = build_site(project, store, verify=True)
    assert report.written_names == ["beta/index.html"]
    assert page.read_bytes() == original


def test_removing_a_recipe_removes_its_pages_and_only_files_kiln_wrote(project, store, catalogue):
    build(project, store)
    out = project.build_dir
    (out / "notes.txt").write_text("mine")
    (out / "beta" / "keep.txt").write_text("mine too")

    store.conn.execute("DELETE FROM recipe_jobs WHERE recipe = 'beta'")
    store.conn.execute("DELETE FROM recipes WHERE name = 'beta'")
    report = build(project, store)

    # The collection's filter data goes, and search shards of words only its images had.
    finder = [name for name in report.removed_names if name.startswith("find/")]
    assert "find/beta/meta.js" in finder and not (out / "find" / "beta").exists()
    assert all(name.startswith(("find/beta/", "find/_search/", "find/_library/")) for name in finder)
    assert report.removed == 4 + 1 + 3 * 3 + len(finder)  # gallery + three image pages, its feed, the images' media
    assert sorted(set(report.removed_names) - set(finder)) == sorted(
        ["beta/index.html", "beta/feed.atom", *(f"beta/{i}.html" for i in catalogue["beta"]),
         *(f"media/original/{i}.png" for i in catalogue["beta"]),
         *(f"media/{stage}/{i}.webp" for stage in ("thumb", "web") for i in catalogue["beta"])]
    )
    assert set(report.changed_pages) == {"index.html", "beta/index.html", *(f"beta/{i}.html" for i in catalogue["beta"])}
    assert not (out / "beta" / "index.html").exists()
    assert not any((out / "media" / "thumb" / f"{i}.webp").exists() for i in catalogue["beta"])
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "beta" / "keep.txt").read_text() == "mine too"
    assert (out / "alpha" / "index.html").is_file()
    assert "Beta" not in (out / "index.html").read_text()


def test_emptied_folders_are_pruned(project, store, catalogue):
    build(project, store)
    store.conn.execute("DELETE FROM recipe_jobs WHERE recipe = 'beta'")
    store.conn.execute("DELETE FROM recipes WHERE name = 'beta'")
    build(project, store)
    assert not (project.build_dir / "beta").exists()


# ---- escaping and markdown ------------------------------------------------------------


def test_user_text_is_escaped_everywhere(tmp_path):
    project = make_project(tmp_path, title="<em>Site</em>")
    store = open_project_store(project)
    add_recipe(
        store,
        "alpha",
        title="<i>Alpha</i>",
        description="Raw <b>bold</b> and <script>bad()</script> and [link](javascript:alert(1)).",
    )
    [image] = add_images(
        project,
        store,
        "alpha",
        1,
        prompt="<script>alert(1)</script>",
        negative_prompt='"><img src=x onerror=alert(2)>',
        notes="<iframe>",
        tags=json.dumps(["<tag>"]),
    )
    build(project, store)
    out = project.build_dir
    pages = [out / "index.html", out / "alpha" / "index.html", out / "alpha" / f"{image}.html"]
    for page in pages:
        html = page.read_text()
        assert "<script>alert" not in html and "<script>bad" not in html
        assert "<b>bold</b>" not in html and "<i>Alpha</i>" not in html and "<em>Site</em>" not in html
        assert 'href="javascript:' not in html
        assert "&lt;i&gt;Alpha&lt;/i&gt;" in html
    image_html = pages[2].read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in image_html
    assert "onerror=alert(2)>" not in image_html
    assert "&lt;iframe&gt;" in image_html and "&lt;tag&gt;" in image_html
    gallery = pages[1].read_text()
    assert "Raw &lt;b&gt;bold&lt;/b&gt; and &lt;script&gt;bad()&lt;/script&gt;" in gallery
    store.close()


def test_descriptions_render_as_markdown(project, store, catalogue):
    build(project, store)
    index = (project.build_dir / "index.html").read_text()
    assert "<em>test</em>" in index  # the site description
    assert "First paragraph." in index and "Second" not in index  # cards show the first paragraph
    gallery = (project.build_dir / "alpha" / "index.html").read_text()
    assert "<p>Second <em>paragraph</em>.</p>" in gallery


# ---- theme ----------------------------------------------------------------------------


def test_a_project_template_overrides_the_packaged_one(project, store, catalogue):
    templates = project.templates_dir
    templates.mkdir()
    (templates / "index.html").write_text(
        '{% extends "base.html" %}{% block main %}<p id="custom">Custom {{ site.title }}</p>{% endblock %}'
    )
    build(project, store)
    assert '<p id="custom">Custom Test</p>' in (project.build_dir / "index.html").read_text()
    assert '<ul class="grid">' in (project.build_dir / "alpha" / "index.html").read_text()


def test_a_broken_template_is_reported_once_and_the_rest_is_built(project, store, catalogue):
    project.templates_dir.mkdir()
    (project.templates_dir / "image.html").write_text("{{ image.no_such_field.deeper }}")
    (project.templates_dir / "gallery.html").write_text("{% if %}")
    report = build_site(project, store)
    assert sorted(str(p).split(": ")[0] for p in report.problems) == ["gallery.html:1", "image.html:1"]
    assert (project.build_dir / "index.html").is_file()
    assert not list((project.build_dir / "alpha").glob("*.html"))
    assert report.pages == 12

    (project.templates_dir / "image.html").unlink()
    (project.templates_dir / "gallery.html").unlink()
    assert not build_site(project, store).problems  # the same inputs, but pages now render
    assert (project.build_dir / "alpha" / "index.html").is_file()


def test_a_project_static_file_overrides_the_packaged_one_and_renames_with_its_hash(project, store, catalogue):
    static = project.templates_dir / "static"
    static.mkdir(parents=True)
    css = static / "style.css"

    def published() -> str:
        [name] = [p.name for p in (project.build_dir / "static").glob("style.*.css")]
        return name

    css.write_text("body { color: red; }")
    build(project, store)
    first = published()
    assert first == f"style.{hashlib.sha256(b'body { color: red; }').hexdigest()[:8]}.css"
    assert f'href="static/{first}"' in (project.build_dir / "index.html").read_text()

    css.write_text("body { color: blue; }")
    report = build(project, store)
    second = published()
    assert second != first
    assert report.removed == 1
    assert f'href="../static/{second}"' in (project.build_dir / "alpha" / "index.html").read_text()
    assert re.search(r"keys\.[0-9a-f]{8}\.js", (project.build_dir / "index.html").read_text())


# ---- images ---------------------------------------------------------------------------


def test_thumbnails_are_lazy_sized_and_carry_a_blurhash_placeholder(project, store, catalogue):
    build(project, store)
    gallery = (project.build_dir / "alpha" / "index.html").read_text()
    tags = re.findall(r"<img [^>]*>", gallery)
    assert len(tags) == 5
    for tag in tags:
        assert 'loading="lazy"' in tag and 'decoding="async"' in tag
        assert re.search(r'width="\d+" height="\d+"', tag)
    # Thumbnails: a gradient of the blurhash's two halves, a few bytes each.
    assert re.search(r'style="background-image:linear-gradient\(#[0-9a-f]{6},#[0-9a-f]{6}\)"', tags[0])
    # The image's own page: the blurhash decoded into a tiny WebP.
    page = (project.build_dir / "alpha" / f"{catalogue['alpha'][0]}.html").read_text()
    match = re.search(r"background-image:url\(data:image/webp;base64,([A-Za-z0-9+/=]+)\)", page)
    assert match
    placeholder = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    assert placeholder.format == "WEBP" and max(placeholder.size) == 16


def test_an_image_without_blurhash_has_no_placeholder_and_a_bad_one_is_reported(project, store):
    add_recipe(store, "alpha")
    ids = add_images(project, store, "alpha", 2)
    store.conn.execute("UPDATE images SET blurhash = NULL WHERE id = ?", [ids[0]])
    store.conn.execute("UPDATE images SET blurhash = 'nope' WHERE id = ?", [ids[1]])
    report = build_site(project, store)
    assert [p.key for p in report.problems] == [f"images.{ids[1]}.blurhash"]
    assert "background-image" not in (project.build_dir / "alpha" / "index.html").read_text()


def test_a_missing_file_is_reported_and_pages_fall_back(project, store, catalogue):
    image = catalogue["alpha"][1]
    (project.art_dir / "thumb" / f"{image}.webp").unlink()
    report = build_site(project, store)
    assert [str(p) for p in report.problems] == [f"art/thumb/{image}.webp: missing file of image {image}"]
    gallery = (project.build_dir / "alpha" / "index.html").read_text()
    assert f'src="../media/web/{image}.webp"' in gallery
    assert "problem" in str(report)


def test_image_page_shows_full_provenance(project, store, catalogue):
    build(project, store)
    image = catalogue["alpha"][0]
    [row] = store.query("SELECT * FROM images WHERE id = ?", [image])
    html = (project.build_dir / "alpha" / f"{image}.html").read_text()
    for text in (
        row["prompt"], row["negative_prompt"], row["model"], row["engine"], str(row["seed"]),
        "euler_a", "7.0", "20", row["job_key"], "sampling", "840 ms", "2025-03-14 09:00 UTC",
        f'href="../media/original/{image}.png"', f'src="../media/web/{image}.webp"', "Procedural placeholder",
    ):
        assert text in html, text


def test_the_procedural_notice_only_shows_for_the_placeholder_engine(project, store):
    add_recipe(store, "alpha")
    [image] = add_images(project, store, "alpha", 1, engine="comfy", params=json.dumps({"engine_type": "comfyui"}))
    build(project, store)
    assert "Procedural placeholder" not in (project.build_dir / "alpha" / f"{image}.html").read_text()


def test_cover_is_the_gallery_choice_else_the_best_selected_or_rated(project, store):
    add_recipe(store, "chosen", gallery={"cover": None})
    chosen = add_images(project, store, "chosen", 3, status=None, rating=0)
    store.conn.execute(
        "UPDATE recipes SET gallery = ? WHERE name = 'chosen'", [json.dumps({"cover": chosen[2]})]
    )
    add_recipe(store, "rated")
    rated = add_images(project, store, "rated", 3, status=None, rating=0)
    store.conn.execute("UPDATE images SET rating = 5, status = 'rejected' WHERE id = ?", [rated[0]])
    store.conn.execute("UPDATE images SET rating = 2 WHERE id = ?", [rated[1]])
    build(project, store)
    index = (project.build_dir / "index.html").read_text()
    assert f"media/thumb/{chosen[2]}.webp" in index
    assert f"media/thumb/{rated[1]}.webp" in index


def test_empty_recipe_has_a_card_and_an_empty_gallery(project, store, catalogue):
    build(project, store)
    index = (project.build_dir / "index.html").read_text()
    assert "Empty" in index and "No images yet" in index
    gallery = (project.build_dir / "empty" / "index.html").read_text()
    assert "No images yet" in gallery and "kiln run empty" in gallery


def test_queries_do_not_grow_with_the_images(project, store):
    """Rows are read by collection and in batches of ids, never a query per image."""
    statements: list[str] = []
    add_recipe(store, "alpha")
    add_images(project, store, "alpha", 2)
    store.conn.set_trace_callback(statements.append)
    build(project, store)
    small = sum(s.lstrip().upper().startswith("SELECT") for s in statements)
    add_images(project, store, "alpha", 12, start=2)
    (project.build_dir / MANIFEST).unlink()  # a full build again
    statements.clear()
    build(project, store)
    store.conn.set_trace_callback(None)
    # The collections' queries, the stats page's five, the feeds' (a changed collection's members
    # and their rows, the library's newest images and their rows), and the finder's (the images'
    # facts once, full rows once per chunk of 200 it makes).
    assert sum(s.lstrip().upper().startswith("SELECT") for s in statements) == small <= 16 + 5 + 4 + 8


def test_report_reads_as_one_line(project, store, catalogue):
    report = build(project, store)
    assert re.fullmatch(
        r"build/: 12 pages, 8 images; \d+ written, 0 unchanged, 0 removed in \d+\.\d\d s", str(report)
    )
