"""The pages beyond the collections: stats, pages from Markdown, Atom feeds, the grid's selector
data, and the links to them from every page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kiln.project import load_project
from kiln.site import build_site
from sitefixtures import add_images, add_recipe, make_project, open_project_store

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = 'a fox <script>alert("x")</script> <img src=x onerror=alert(1)> & co'


@pytest.fixture
def built(tmp_path: Path):
    def build(**config: str):
        project = make_project(tmp_path, title="Studio")
        if config:
            with (tmp_path / "kiln.toml").open("a") as f:
                f.write("\n[site]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items()))
            project = load_project(tmp_path)
        store = open_project_store(project)
        if not store.query("SELECT 1 FROM recipes"):
            add_recipe(store, "coast", title="Coast")
            add_images(project, store, "coast", 5)
            add_images(project, store, "coast", 1, start=5, prompt=HOSTILE, timings='{"generate_ms": 300}')
            add_recipe(store, "fog", title="Fog")
            add_images(project, store, "fog", 2, model="other-model", timings='{"generate_ms": 100}')
            with store.transaction() as db:
                # Generation times: 100 to 600 ms for coast's six jobs, 100 and 300 for fog's two.
                db.execute("UPDATE jobs SET duration_ms = 100 * (1 + (SELECT position FROM recipe_jobs WHERE job_key = key)) WHERE recipe = 'coast'")
                db.execute("UPDATE jobs SET model = 'other-model', duration_ms = 100 + 200 * (SELECT position FROM recipe_jobs WHERE job_key = key) WHERE recipe = 'fog'")
                key = db.execute("SELECT key FROM jobs LIMIT 1").fetchone()[0]
                for outcome, code in (("failed", "TIMEOUT"), ("retried", "TIMEOUT"), ("retried", "HTTP_429"), ("succeeded", None)):
                    db["attempts"].insert({"job_key": key, "engine": "placeholder", "attempt": 1, "started_at": "2025-03-14T09:00:00Z",
                                           "duration_ms": 5.0, "outcome": outcome, "error_code": code})
        report = build_site(project, store)
        store.close()
        return report, tmp_path / "build"

    return build


def test_stats_page_shows_each_figure_with_a_table_and_a_chart(built):
    report, build = built()
    assert not report.problems
    html = (build / "stats.html").read_text()
    # Per recipe: images, picked, rejected.
    assert re.search(r'<th scope="row">coast</th><td>6</td><td>1</td><td>1</td>', html)
    assert re.search(r'<th scope="row">other-model</th><td>2</td>', html)
    # Jobs per engine and model: succeeded, failed, rate, engine calls, succeeded calls, median time.
    assert re.search(r"placeholder · placeholder-v1</th><td>6</td><td>0</td><td>100%</td><td>0</td><td>0</td><td>350 ms</td>", html)
    assert re.search(r"placeholder · other-model</th><td>2</td><td>0</td><td>100%</td><td>0</td><td>0</td><td>200 ms</td>", html)
    # Failures by kind: failed and retried attempts.
    assert re.search(r"<code>TIMEOUT</code></th><td>1</td><td>1</td>", html)
    assert re.search(r"<code>HTTP_429</code></th><td>0</td><td>1</td>", html)
    # Disk per stage.
    for stage in ("original", "thumb", "web"):
        assert f'<th scope="row">{stage}</th>' in html
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) >= 6
    for svg in svgs:
        assert 'role="img"' in svg and "aria-labelledby" in svg
        ET.fromstring(svg)  # well-formed, so nothing in a label opened an element


def test_stats_labels_are_text(built, tmp_path):
    project = make_project(tmp_path, title="Studio")
    store = open_project_store(project)
    add_recipe(store, "coast")
    add_images(project, store, "coast", 2, model=HOSTILE)
    store.close()
    _, build = built()
    html = (build / "stats.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_every_page_links_the_stats_page_the_markdown_pages_and_the_feed(built, tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "about.md").write_text("Intro line\n\n# About *this* <b>site</b>\n\nSome <script>x()</script> text.\n")
    report, build = built()
    assert not report.problems
    about = (build / "about.html").read_text()
    assert "<title>About this &lt;b&gt;site&lt;/b&gt; · Studio</title>" in about
    assert "<script>x()</script>" not in about and "&lt;script&gt;x()&lt;/script&gt;" in about
    for page in ("index.html", "coast/index.html", "stats.html", "about.html"):
        html = (build / page).read_text()
        nav = re.search(r'<nav class="site-links".*?</nav>', html, re.S).group(0)
        links = re.findall(r'href="([^"]+)"', nav)
        assert [(build / Path(page).parent / link).resolve() for link in links] == [(build / "stats.html").resolve(), (build / "about.html").resolve()]
        (feed,) = re.findall(r'<link rel="alternate" type="application/atom\+xml" title="Studio: newest images" href="([^"]+)">', html)
        assert (build / Path(page).parent / feed).resolve() == (build / "feed.atom").resolve()
    gallery = (build / "coast" / "index.html").read_text()
    assert '<link rel="alternate" type="application/atom+xml" title="Coast: newest images" href="../coast/feed.atom">' in gallery


def test_bad_markdown_pages_are_reported_by_file_and_left_out(built, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "Bad Name.md").write_text("# x\n")
    (pages / "stats.md").write_text("# mine\n")
    (pages / "latin.md").write_bytes(b"# caf\xe9\n")
    (pages / "plain.md").write_text("no heading here\n")
    outside = tmp_path.parent / f"{tmp_path.name}-secret.md"
    outside.write_text("# Secret\n")
    (pages / "linked.md").symlink_to(outside)
    report, build = built()
    assert sorted((str(p.path), p.message.split(";")[0]) for p in report.problems) == [
        ("pages/Bad Name.md", "a page's file name must be lower-case letters, digits, - and _ (it becomes NAME.html)"),
        ("pages/latin.md", "not UTF-8 text"),
        ("pages/linked.md", "not a file inside the project"),
        ("pages/plain.md", "no heading to take the title from (start the file with '# Title')"),
        ("pages/stats.md", "stats.html is one of the site's own pages"),
    ]
    assert not (build / "latin.html").exists() and not (build / "Bad Name.html").exists()
    assert not (build / "linked.html").exists()
    assert "<h1>Stats</h1>" in (build / "stats.html").read_text()
    assert "<title>plain · Studio</title>" in (build / "plain.html").read_text()
    # Removing the file removes the page.
    (pages / "plain.md").unlink()
    built()
    assert not (build / "plain.html").exists()


def _feed(path: Path) -> ET.Element:
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{required}") is not None
    for entry in root.iter(f"{ATOM}entry"):
        for required in ("id", "title", "updated", "link"):
            assert entry.find(f"{ATOM}{required}") is not None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.findtext(f"{ATOM}updated"))
    return root


def test_feeds_are_valid_atom_newest_first_with_relative_links(built):
    _, build = built()
    root = _feed(build / "feed.atom")
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 8
    stamps = [e.findtext(f"{ATOM}updated") for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    for entry in entries:
        href = entry.find(f"{ATOM}link").get("href")
        assert not href.startswith(("/", "http")) and (build / href).is_file()
    recipe = _feed(build / "coast" / "feed.atom")
    links = [e.find(f"{ATOM}link").get("href") for e in recipe.findall(f"{ATOM}entry")]
    assert len(links) == 6 and all((build / "coast" / link).is_file() for link in links)


def test_feed_text_is_escaped_and_links_absolute_with_a_base_url(built):
    _, build = built(base_url="https://example.org/gallery")
    raw = (build / "coast" / "feed.atom").read_text()
    assert "<script>" not in raw and "<img src=x" not in raw
    root = _feed(build / "coast" / "feed.atom")
    (hostile,) = [e for e in root.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}summary") == HOSTILE]
    assert hostile.findtext(f"{ATOM}title") == HOSTILE
    content = hostile.findtext(f"{ATOM}content")
    # The content is HTML as text: the prompt in it is escaped once more, so a reader shows it as text.
    assert "&lt;script&gt;" in content and "<script>" not in content
    assert re.match(r'<img src="https://example\.org/gallery/media/thumb/\w+\.webp"', content)
    for link in root.iter(f"{ATOM}link"):
        assert link.get("href").startswith("https://example.org/gallery/")


def test_base_url_must_be_an_http_address(tmp_path):
    make_project(tmp_path)
    with (tmp_path / "kiln.toml").open("a") as f:
        f.write('\n[site]\nbase_url = "ftp://example.org"\n')
    from kiln.errors import InputError

    with pytest.raises(InputError) as caught:
        load_project(tmp_path)
    assert "site.base_url: expected an http:// or https:// address with no query or fragment, got \"ftp://example.org\"" in str(caught.value)


def test_xml_cannot_carry_control_characters_so_feeds_drop_them(built, tmp_path):
    project = make_project(tmp_path, title="Studio")
    store = open_project_store(project)
    add_recipe(store, "coast")
    add_images(project, store, "coast", 1, prompt="bell\x07 and\x0b tab\tok")
    store.close()
    _, build = built()
    entry = _feed(build / "feed.atom").find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}summary") == "bell and tab\tok"


def test_grid_page_carries_every_axis_for_the_selector(built, tmp_path):
    project = make_project(tmp_path, title="Studio")
    store = open_project_store(project)
    add_recipe(store, "sweep", gallery={"grid": {"x": "steps", "y": "cfg"}})
    ids = add_images(project, store, "sweep", 8)
    with store.transaction() as db:
        for i, image in enumerate(ids):
            axes = {"steps": [4, 8][i % 2], "cfg": [1.5, 3.5][i // 2 % 2], "sampler": ["euler", "dpm++ 2m karras"][i // 4]}
            db.execute("UPDATE recipe_jobs SET axes = ? WHERE job_key = (SELECT job_key FROM images WHERE id = ?)", [json.dumps(axes), image])
    store.close()
    _, build = built()
    html = (build / "sweep" / "grid.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="kiln-grid">(.*?)</script>', html).group(1))
    assert data["axes"] == ["steps", "cfg", "sampler"]
    assert data["labels"] == {"cfg": ["1.5", "3.5"], "sampler": ["euler", "dpm++ 2m karras"], "steps": ["4", "8"]}
    assert (data["x"], data["y"]) == ("steps", "cfg")
    assert data["cells"][5] == [ids[5], 1, 0, 1]
    # The cells are tiles the loupe opens, with its data on the page.
    assert len(re.findall(r'<div class="tile xy-tile[^"]*" data-id="', html)) == 8
    records = json.loads(re.search(r'<script type="application/json" id="kiln-images">(.*?)</script>', html).group(1))
    assert sorted(r["id"] for r in records) == sorted(ids)


def test_a_rebuild_makes_again_only_what_changed(built, tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "about.md").write_text("# About\n\nFirst.\n")
    built()
    report, build = built()
    assert report.written_names == []
    (tmp_path / "pages" / "about.md").write_text("# About\n\nSecond.\n")
    report, build = built()
    assert report.written_names == ["about.html"]
    assert "Second." in (build / "about.html").read_text()
    # A new image changes its collection's feed, the library's and the stats, not the other feed.
    project = load_project(tmp_path)
    store = open_project_store(project)
    add_images(project, store, "fog", 1, start=2, created_at="2030-01-01T00:00:00.000Z")
    store.close()
    report, build = built()
    written = set(report.written_names)
    assert {"stats.html", "feed.atom", "fog/feed.atom"} <= written
    assert "coast/feed.atom" not in written
    newest = _feed(build / "feed.atom").find(f"{ATOM}entry")
    assert newest.findtext(f"{ATOM}updated") == "2030-01-01T00:00:00Z"


def test_kiln_build_names_a_bad_page_and_still_builds(tmp_path):
    from click.testing import CliRunner

    from kiln.cli import cli

    make_project(tmp_path, title="Studio")
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "bad.md").write_bytes(b"# ok\n\ncaf\xe9\n")
    result = CliRunner().invoke(cli, ["build", "-C", str(tmp_path)])
    assert result.exit_code == 0
    assert "warning: pages/bad.md:3: not UTF-8 text; skipped" in result.output
    assert (tmp_path / "build" / "stats.html").is_file()
