"""Incremental builds: a change writes the pages that show it and nothing else, and a site
built change by change is the site built in one go."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path

import pytest

from kiln.errors import InputError
from kiln.project import load_project
from kiln.site import build_site
from kiln.site.produce import Link
from kiln.site.state import STATE
from sitefixtures import add_images, add_recipe, open_project_store

OLD = 1_000_000_000
ALL = ["all", "picks", "top", "recent", "tags"]


def make(root: Path, page_size: int = 2, collections: list[str] | None = None):
    lines = ["[project]", 'title = "T"', "", "[site]", f"page_size = {page_size}"]
    if collections is not None:
        lines.append(f"collections = {json.dumps(collections)}")
    (root / "kiln.toml").write_text("\n".join(lines) + "\n")
    project = load_project(root)
    (root / "recipes").mkdir(exist_ok=True)
    return project, open_project_store(project)


def recipe(project, store, name: str) -> None:
    (project.root / "recipes" / f"{name}.toml").write_text("")  # a recipe whose file is there is not archived
    add_recipe(store, name)
    store.conn.execute("UPDATE recipes SET path = ? WHERE name = ?", [f"recipes/{name}.toml", name])


def build(project, store):
    report = build_site(project, store)
    assert not report.problems, [str(p) for p in report.problems]
    return report


def age(build_dir: Path) -> None:
    """Pages only: a media copy keeps its source's modification time, which is how it is known."""
    for path in build_dir.rglob("*.html"):
        os.utime(path, (OLD, OLD))


def touched(build_dir: Path) -> set[str]:
    return {
        p.relative_to(build_dir).as_posix() for p in build_dir.rglob("*.html") if p.stat().st_mtime != OLD
    }


def delete_image(store, image_id: str) -> None:
    """As ``kiln rm`` leaves the store: rows gone, the job marked deleted."""
    with store.transaction():
        store.conn.execute("DELETE FROM derivatives WHERE image_id = ?", [image_id])
        store.conn.execute("DELETE FROM images WHERE id = ?", [image_id])
        store.conn.execute("UPDATE jobs SET status = 'deleted' WHERE image_id = ?", [image_id])


def test_a_new_image_writes_its_pages_its_neighbours_and_the_counts(tmp_path):
    project, store = make(tmp_path)
    recipe(project, store, "alpha")
    ids = add_images(project, store, "alpha", 5, status=None)
    build(project, store)
    age(project.build_dir)

    new = add_images(project, store, "alpha", 1, start=5, status=None)[0]
    report = build(project, store)
    assert touched(project.build_dir) == {
        "index.html",  # the card's count
        "alpha/index.html",  # the collection's count
        "alpha/page-3.html",  # where it lands
        f"alpha/{new}.html",
        f"alpha/{ids[4]}.html",  # its "next" link
        "stats.html",  # its counts
    }
    media = [f"media/{stage}/{new}.{ext}" for stage, ext in (("original", "png"), ("thumb", "webp"), ("web", "webp"))]
    feeds = ["feed.atom", "alpha/feed.atom"]
    # (the finder's files under find/ are checked in test_site_find.py)
    written = sorted(n for n in report.written_names if not n.startswith("find/"))
    assert written == sorted([*touched(project.build_dir), *media, *feeds])
    assert report.removed == 0


def test_a_rating_change_writes_the_pages_that_show_the_image(tmp_path):
    project, store = make(tmp_path, collections=["all"])
    recipe(project, store, "alpha")
    ids = add_images(project, store, "alpha", 5, status=None, rating=1)
    store.conn.execute("UPDATE images SET status = 'selected' WHERE id = ?", [ids[0]])  # keeps the cover
    build(project, store)
    age(project.build_dir)

    store.conn.execute("UPDATE images SET rating = 4 WHERE id = ?", [ids[2]])
    build(project, store)
    # All images shows the newest two (4, 3) first; parts count from the oldest: (0, 1), (2, 3).
    assert touched(project.build_dir) == {"alpha/page-2.html", f"alpha/{ids[2]}.html", "_all/part-2.html"}


def test_a_deleted_image_removes_its_files_and_rewrites_what_showed_it(tmp_path):
    project, store = make(tmp_path)
    recipe(project, store, "alpha")
    ids = add_images(project, store, "alpha", 5, status=None)
    build(project, store)
    age(project.build_dir)

    delete_image(store, ids[2])
    report = build(project, store)
    assert sorted(n for n in report.removed_names if not n.startswith("find/")) == sorted(
        ["alpha/page-3.html", f"alpha/{ids[2]}.html", f"media/original/{ids[2]}.png",
         f"media/thumb/{ids[2]}.webp", f"media/web/{ids[2]}.webp"]
    )
    assert touched(project.build_dir) == {
        "index.html", "alpha/index.html", "alpha/page-2.html",
        f"alpha/{ids[1]}.html", f"alpha/{ids[3]}.html",  # their neighbours changed
        f"alpha/{ids[4]}.html",  # now on page 2
        "stats.html",
    }


def test_a_noop_build_writes_nothing_and_reads_no_rows(tmp_path):
    project, store = make(tmp_path, collections=ALL)
    recipe(project, store, "alpha")
    add_images(project, store, "alpha", 5)
    first = build(project, store)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    second = build(project, store)
    store.conn.set_trace_callback(None)
    assert (second.written, second.removed, second.skipped) == (0, 0, first.written)
    assert [s for s in statements if "FROM images" in s or "FROM recipe_jobs" in s] == []


def series(project, store) -> None:
    """A run of changes, each followed by a build."""
    recipe(project, store, "alpha")
    recipe(project, store, "beta")
    alpha = add_images(project, store, "alpha", 5)
    build(project, store)
    beta = add_images(project, store, "beta", 3)
    build(project, store)
    store.conn.execute("UPDATE images SET rating = 5, tags = '[\"sky\", \"test\"]' WHERE id = ?", [alpha[1]])
    build(project, store)
    store.conn.execute("UPDATE images SET status = 'selected' WHERE id = ?", [beta[2]])
    add_images(project, store, "alpha", 3, start=5)
    build(project, store)
    delete_image(store, alpha[0])
    build(project, store)
    (project.root / "recipes" / "beta.toml").unlink()  # beta is archived now
    build(project, store)
    store.conn.execute("UPDATE recipes SET title = 'Alpha again' WHERE name = 'alpha'")


def test_a_site_built_change_by_change_equals_one_built_in_one_go(tmp_path):
    project, store = make(tmp_path, collections=ALL)
    series(project, store)
    build(project, store)
    step_by_step = tmp_path / "step-by-step"
    shutil.move(project.build_dir, step_by_step)
    build(project, store)
    compare = filecmp.dircmp(step_by_step, project.build_dir, ignore=[STATE, ".kiln-build.lock"])
    assert _differences(compare) == []
    assert (project.build_dir / "_tag-sky" / "index.html").is_file()
    assert (project.build_dir / "_archived" / "index.html").is_file()


def _differences(compare: filecmp.dircmp) -> list[str]:
    found = [*compare.left_only, *compare.right_only, *compare.funny_files]
    _, mismatch, errors = filecmp.cmpfiles(compare.left, compare.right, compare.common_files, shallow=False)
    found += mismatch + errors
    for sub in compare.subdirs.values():
        found += _differences(sub)
    return found


def tile_ids(page: Path) -> list[str]:
    text = page.read_text("utf-8")
    return [chunk.split('"', 1)[0] for chunk in text.split('<li class="tile')[1:] for chunk in [chunk.split('data-id="', 1)[1]]]


def test_virtual_collections_hold_what_their_names_say(tmp_path):
    project, store = make(tmp_path, page_size=48, collections=ALL)
    recipe(project, store, "alpha")
    recipe(project, store, "beta")
    alpha = add_images(project, store, "alpha", 6, status=None, rating=0, tags="[]")
    beta = add_images(project, store, "beta", 2, start=6, status=None, rating=0, tags="[]")
    store.conn.execute("UPDATE images SET status = 'selected' WHERE id IN (?, ?)", [alpha[1], beta[0]])
    store.conn.execute("UPDATE images SET rating = 5 WHERE id = ?", [alpha[3]])
    store.conn.execute("UPDATE images SET rating = 4 WHERE id IN (?, ?)", [alpha[0], beta[1]])
    store.conn.execute("UPDATE images SET tags = '[\"Night Sky\"]' WHERE id = ?", [alpha[2]])
    build(project, store)
    out = project.build_dir
    newest_first = [*reversed(beta), *reversed(alpha)]
    assert tile_ids(out / "_all" / "index.html") == newest_first
    assert tile_ids(out / "_recent" / "index.html") == newest_first
    assert tile_ids(out / "_picks" / "index.html") == [beta[0], alpha[1]]
    assert tile_ids(out / "_top" / "index.html") == [alpha[3], beta[1], alpha[0]]
    assert tile_ids(out / "_tag-night-sky" / "index.html") == [alpha[2]]
    # Tiles link to each image's own page in its recipe.
    assert f'href="../alpha/{alpha[2]}.html"' in (out / "_tag-night-sky" / "index.html").read_text()
    front = (out / "index.html").read_text()
    for title in ("All images", "Picks", "Top rated", "Recent", "#Night Sky"):
        assert title in front


def test_only_the_collections_kiln_toml_chooses(tmp_path):
    project, store = make(tmp_path, collections=["picks"])
    recipe(project, store, "alpha")
    add_images(project, store, "alpha", 8)
    build(project, store)
    assert sorted(p.name for p in project.build_dir.iterdir() if p.is_dir()) == ["_picks", "alpha", "find", "media", "static"]
    project, store = make(tmp_path)
    report = build(project, store)
    assert "_picks/index.html" in report.removed_names
    assert not (project.build_dir / "_picks").exists()


def test_an_unknown_collection_is_a_problem_at_its_line(tmp_path):
    (tmp_path / "kiln.toml").write_text('[project]\ntitle = "T"\n[site]\ncollections = ["all", "best"]\n')
    with pytest.raises(InputError) as problem:
        load_project(tmp_path)
    assert str(problem.value) == 'kiln.toml:4: site.collections: expected some of all, picks, top, recent, tags, got "best"'


def test_all_images_pages_stay_put_when_images_are_added(tmp_path):
    project, store = make(tmp_path, page_size=2, collections=["all"])
    recipe(project, store, "alpha")
    ids = add_images(project, store, "alpha", 7, status=None)
    build(project, store)
    out = project.build_dir / "_all"
    assert tile_ids(out / "index.html") == [ids[6], ids[5]]
    assert [tile_ids(out / f"part-{n}.html") for n in (1, 2, 3)] == [[ids[1], ids[0]], [ids[3], ids[2]], [ids[5], ids[4]]]
    age(project.build_dir)
    new = add_images(project, store, "alpha", 1, start=7, status=None)[0]
    build(project, store)
    assert {name for name in touched(project.build_dir) if name.startswith("_all/")} == {"_all/index.html"}
    assert tile_ids(out / "index.html") == [new, ids[6]]


def test_a_clean_build_reports_nothing_unchanged_even_with_shared_reference_thumbnails(tmp_path):
    project, store = make(tmp_path)
    recipe(project, store, "alpha")
    ids = add_images(project, store, "alpha", 3)
    (project.art_dir / "ref_thumb").mkdir()
    (project.art_dir / "ref_thumb" / "shared.webp").write_bytes(b"RIFF....WEBP")
    for image_id in ids:  # three images made from one reference share its thumbnail
        store.conn.execute(
            "INSERT INTO image_references (image_id, position, source_path, sha256, thumb_path)"
            " VALUES (?, 0, 'references/a.png', 'x', 'ref_thumb/shared.webp')", [image_id]
        )
    build(project, store)
    shutil.rmtree(project.build_dir)  # what `just clean` does, dotfiles included
    project.build_dir.mkdir()
    report = build(project, store)
    assert report.skipped == 0
    assert report.written == len(report.written_names) == len(set(report.written_names))


class Counter:
    """A producer: one file per collection, made from the collection's digest."""

    name = "counter"

    def __init__(self) -> None:
        self.made: list[str] = []
        self.runs = 0
        self.skip: set[str] = set()

    def inputs(self, project) -> str:
        return ""

    def links(self, project) -> list[Link]:
        return [Link("Counts", "counts/index.html")]

    def produce(self, build) -> None:
        self.runs += 1
        for collection in build.collections:
            if collection.name in self.skip:
                continue
            name = f"counts/{collection.name}.txt"

            def make(collection=collection, name=name) -> bytes:
                self.made.append(name)
                return f"{collection.title}: {collection.count}".encode()

            build.file(name, collection.digest, make)


def test_a_producer_makes_only_what_changed_and_its_dropped_files_go(tmp_path, monkeypatch):
    producer = Counter()
    monkeypatch.setattr("kiln.site.builder.PRODUCERS", [producer])
    project, store = make(tmp_path)
    recipe(project, store, "alpha")
    recipe(project, store, "beta")
    add_images(project, store, "alpha", 2)
    build(project, store)
    assert sorted(producer.made) == ["counts/alpha.txt", "counts/beta.txt"]
    assert (project.build_dir / "counts" / "beta.txt").read_text() == "Beta: 0"
    assert 'href="counts/index.html"' in (project.build_dir / "index.html").read_text()
    build(project, store)
    assert producer.runs == 1  # a no-op build runs no producer

    producer.made.clear()
    add_images(project, store, "beta", 1, start=2)
    build(project, store)
    assert producer.made == ["counts/beta.txt"]
    assert (project.build_dir / "counts" / "beta.txt").read_text() == "Beta: 1"

    producer.skip = {"alpha"}
    store.conn.execute("UPDATE images SET rating = 1")  # any change: a build that runs producers
    report = build(project, store)
    assert "counts/alpha.txt" in report.removed_names
    assert not (project.build_dir / "counts" / "alpha.txt").exists()


def test_an_unchanged_collection_is_skipped_without_reading_its_members(tmp_path, monkeypatch):
    monkeypatch.setattr("kiln.site.builder.PRODUCERS", [])  # the gallery's own pages
    project, store = make(tmp_path, collections=ALL)
    recipe(project, store, "alpha")
    recipe(project, store, "beta")
    add_images(project, store, "alpha", 4, status="selected", tags='["sky"]')
    add_images(project, store, "beta", 2, start=4, status=None, tags="[]")
    build(project, store)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    add_images(project, store, "beta", 1, start=6, status=None, tags="[]")
    build(project, store)
    store.conn.set_trace_callback(None)
    members = [s for s in statements if "ORDER BY" in s and ("FROM recipe_jobs rj" in s or "FROM images i" in s)]
    # beta's members, and All images' and Recent's (the new image is theirs); not alpha's,
    # the picks' or the tag's.
    assert [s for s in members if "'beta'" in s and "rj.position" in s]
    assert [s for s in members if "'alpha'" in s] == []
    assert [s for s in members if "status = 'selected'" in s or "instr(i.tags" in s] == []
    assert len([s for s in members if "WHERE 1 " in s and "ORDER BY i.created_at DESC" in s]) == 2


def same_as_full(project, store, tmp_path: Path) -> None:
    """The build folder as the builds so far left it is the one a full build makes."""
    step_by_step = tmp_path / "step-by-step"
    shutil.rmtree(step_by_step, ignore_errors=True)
    shutil.move(project.build_dir, step_by_step)
    build(project, store)
    compare = filecmp.dircmp(step_by_step, project.build_dir, ignore=[STATE, ".kiln-build.lock"])
    assert _differences(compare) == []


def read_members(monkeypatch) -> dict[str, int]:
    """How many members of each collection the builds read (a count that grows as they go)."""
    from kiln.site.collections import Collection

    counts: dict[str, int] = {}

    def counting(read):
        def counted(self, store, *args):
            for member in read(self, store, *args):
                counts[self.name] = counts.get(self.name, 0) + 1
                yield member

        return counted

    monkeypatch.setattr(Collection, "members", counting(Collection.members))
    monkeypatch.setattr(Collection, "members_between", counting(Collection.members_between))
    return counts


def test_a_new_image_reads_only_the_newest_of_all_images(tmp_path, monkeypatch):
    monkeypatch.setattr("kiln.site.builder.PRODUCERS", [])  # the gallery's own pages
    project, store = make(tmp_path, page_size=2, collections=["all", "picks", "tags"])
    recipe(project, store, "alpha")
    add_images(project, store, "alpha", 30, status="selected", tags='["sky"]')
    build(project, store)
    age(project.build_dir)
    counts = read_members(monkeypatch)
    new = add_images(project, store, "alpha", 1, start=30, status="selected", tags='["sky"]')[0]
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    build(project, store)
    store.conn.set_trace_callback(None)
    # Neither the list of shown images nor the recipes' summaries are read whole: what is newer
    # than the last build is found from the revisions' index.
    assert [s for s in statements if s.strip().startswith("SELECT i.id, i.revision, rj.recipe FROM recipe_jobs")] == []
    assert [s for s in statements if "GROUP BY recipe" in s and "rj.recipe IN" not in s] == []
    # 31 members; parts 1 to 13 (the 26 oldest) are left unread: the newest five read. Part 15
    # (two old images) was wholly on the first page before; part 14 gains it as its neighbour.
    assert {name: counts[name] for name in ("_all", "_picks", "_tag-sky")} == {"_all": 5, "_picks": 5, "_tag-sky": 5}
    for folder in ("_all", "_picks", "_tag-sky"):
        assert {n for n in touched(project.build_dir) if n.startswith(f"{folder}/")} == {
            f"{folder}/index.html", f"{folder}/part-14.html", f"{folder}/part-15.html",
        }
    assert tile_ids(project.build_dir / "_all" / "index.html")[0] == new
    same_as_full(project, store, tmp_path)


PICKS = range(0, 30, 3)  # ten picks: Picks' parts of two hold alpha 0-3, 6-9, 12-15, 18-21 (24-27 on its first page)
SKY = range(1, 30, 3)  # the same for the tag "sky": 1-4, 7-10, 13-16, 19-22 (25-28 on its first page)
CURATED = {
    # All images: its parts count from the oldest, so alpha 11 is in part 6, alpha 14 in part 8.
    "a rating": (
        "rating", 3, 11,
        {"alpha/page-6.html", "alpha/{id}.html", "_all/part-6.html"},
        {"_all": 4},  # its first page (two) and part 6
    ),
    "a pick in the middle of Picks": (
        "status", "selected", 14,
        {"index.html", "alpha/index.html", "alpha/page-8.html", "alpha/{id}.html", "_all/index.html", "_all/part-8.html",
         # 0-3, 6-9, 12-14, 15-18, 21-24, and 27 on the first page: the parts from 12 up
         "_picks/index.html", "_picks/part-3.html", "_picks/part-4.html", "_picks/part-5.html"},
        {"_all": 4, "_picks": 7},  # Picks' parts 1 and 2 unread
    ),
    "an unpick": (
        "status", None, 9,
        {"index.html", "alpha/index.html", "alpha/page-5.html", "alpha/{id}.html", "_all/index.html", "_all/part-5.html",
         # 0-3, 6-12, 15-18, 21-24, and 27 on the first page
         "_picks/index.html", "_picks/part-2.html", "_picks/part-3.html", "_picks/part-4.html"},
        {"_all": 4, "_picks": 7},
    ),
    "a rejection": (
        "status", "rejected", 9,
        {"index.html", "alpha/index.html", "alpha/page-5.html", "alpha/{id}.html", "_all/index.html", "_all/part-5.html",
         "_picks/index.html", "_picks/part-2.html", "_picks/part-3.html", "_picks/part-4.html"},
        {"_all": 4, "_picks": 7},
    ),
    "a tag in the middle of its collection": (
        "tags", '["sky"]', 11,
        {"index.html", "alpha/page-6.html", "alpha/{id}.html", "_all/part-6.html",  # the front page: its count
         # 1-4, 7-10, 11-13, 16-19, 22-25, and 28 on the first page
         "_tag-sky/index.html", "_tag-sky/part-3.html", "_tag-sky/part-4.html", "_tag-sky/part-5.html"},
        {"_all": 4, "_tag-sky": 9},  # from part 2, whose range alpha 11 falls in (after its newest, 10)
    ),
}


@pytest.mark.parametrize("change", list(CURATED))
def test_an_old_image_curated_writes_and_reads_only_what_shows_it(tmp_path, monkeypatch, change):
    monkeypatch.setattr("kiln.site.builder.PRODUCERS", [])  # the gallery's own pages
    project, store = make(tmp_path, page_size=2, collections=["all", "picks", "tags"])
    recipe(project, store, "alpha")
    ids = add_images(project, store, "alpha", 30, status=None, rating=0, tags="[]")
    store.conn.executemany("UPDATE images SET status = 'selected' WHERE id = ?", [[ids[i]] for i in PICKS])
    store.conn.executemany("UPDATE images SET tags = '[\"sky\"]' WHERE id = ?", [[ids[i]] for i in SKY])
    build(project, store)
    age(project.build_dir)
    counts = read_members(monkeypatch)
    column, value, index, pages, read = CURATED[change]
    store.conn.execute(f"UPDATE images SET {column} = ? WHERE id = ?", [value, ids[index]])
    build(project, store)
    assert touched(project.build_dir) == {page.format(id=ids[index]) for page in pages}
    assert counts == read  # alpha's members not read as a whole: the pages around the image alone
    same_as_full(project, store, tmp_path)


def _older_new_image(project, store, ids):
    """An image made now but dated before the others (as an import may be)."""
    new = add_images(project, store, "beta", 1, start=40)[0]
    store.conn.execute("UPDATE images SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", [new])


def _move_between_recipes(project, store, ids):
    store.conn.execute("UPDATE recipe_jobs SET recipe = 'beta' WHERE job_key = (SELECT job_key FROM images WHERE id = ?)", [ids[3]])


def _forget_recipe(project, store, ids):
    with store.transaction():
        store.conn.execute("DELETE FROM recipe_jobs WHERE recipe = 'beta'")
        store.conn.execute("DELETE FROM recipes WHERE name = 'beta'")
    (project.root / "recipes" / "beta.toml").unlink()


def _template(project, store, ids):
    from kiln.site.theme import theme_dirs

    ours = project.root / "site_templates"
    packaged = theme_dirs(project)[-1]
    shutil.copytree(packaged, ours)
    page = ours / "gallery.html"
    page.write_text(page.read_text().replace("</main>", "<p>changed</p></main>", 1))


def _set(column: str, value, *indexes: int):
    """Set ``column`` of the images at ``indexes`` of alpha (old images: beta's are newer)."""
    return lambda p, s, ids: s.conn.executemany(f"UPDATE images SET {column} = ? WHERE id = ?", [(value, ids[i]) for i in indexes])


def _curated_and_new(project, store, ids):
    _set("rating", 1, 13)(project, store, ids)
    add_images(project, store, "beta", 1, start=40)


def _curated_and_deleted(project, store, ids):
    _set("status", "selected", 12)(project, store, ids)
    delete_image(store, ids[20])


def _curated_together(project, store, ids):
    _set("rating", 2, 6, 7, 28)(project, store, ids)
    _set("status", "selected", 8)(project, store, ids)
    _set("tags", '["test", "dusk"]', 9)(project, store, ids)


CHANGES = {
    "a new image": lambda p, s, ids: add_images(p, s, "alpha", 2, start=30),
    # Curation of old images (picks are alpha 3, 10, 17 and 24; the cover alpha 17; "test"
    # tags alpha 0, 5, 10, ...).
    "an old image rated, its collections the same": _set("rating", 2, 13),
    "an old image rated into Top rated": _set("rating", 5, 13),
    "an old image picked into the middle of Picks": _set("status", "selected", 12),
    "an old pick unpicked": _set("status", None, 10),
    "an old pick rejected": _set("status", "rejected", 24),
    "the cover rated down": _set("rating", 0, 17),
    "the cover unpicked": _set("status", None, 17),
    "an old image tagged into the middle of a tag": _set("tags", '["test"]', 12),
    "an old image's tag taken off": _set("tags", "[]", 15),
    "an old image given a new tag": _set("tags", '["dawn"]', 14),
    "an old image noted": _set("notes", "a note", 16),
    "old images curated together": _curated_together,
    "an old image curated, a new one added": _curated_and_new,
    "an old image curated, another deleted": _curated_and_deleted,
    "the oldest image picked": _set("status", "selected", 0),
    "an old image's size changed (not curation: its recipe's sizes)": _set("width", 7, 13),
    "an old image's seed changed (not curation: its recipe's seeds)": _set("seed", 5, 13),
    "a new image older than the others": _older_new_image,
    "a rating": lambda p, s, ids: s.conn.execute("UPDATE images SET rating = 5 WHERE id = ?", [ids[2]]),
    "a pick": lambda p, s, ids: s.conn.execute("UPDATE images SET status = 'selected' WHERE id = ?", [ids[4]]),
    "a rejection of the cover": lambda p, s, ids: s.conn.execute("UPDATE images SET status = 'rejected' WHERE status = 'selected'"),
    "a tag": lambda p, s, ids: s.conn.execute("UPDATE images SET tags = '[\"sky\", \"dusk\"]' WHERE id = ?", [ids[1]]),
    "an old image deleted": lambda p, s, ids: delete_image(s, ids[0]),
    "the newest image deleted": lambda p, s, ids: delete_image(s, ids[-1]),
    "an image moved to another recipe": _move_between_recipes,
    "a recipe renamed": lambda p, s, ids: s.conn.execute("UPDATE recipes SET title = 'Alpha again' WHERE name = 'alpha'"),
    "a recipe archived": lambda p, s, ids: (p.root / "recipes" / "beta.toml").unlink(),
    "a recipe forgotten": _forget_recipe,
    "a template": _template,
}


def _two_recipes_built(tmp_path):
    """Every collection shown, 30 images of alpha and 4 of beta, pages of 3, built once."""
    project, store = make(tmp_path, page_size=3, collections=ALL)
    recipe(project, store, "alpha")
    recipe(project, store, "beta")
    ids = add_images(project, store, "alpha", 30)
    add_images(project, store, "beta", 4, start=30)
    build(project, store)
    return project, store, ids


@pytest.mark.parametrize("change", list(CHANGES))
def test_each_kind_of_change_built_incrementally_is_the_full_build(tmp_path, change):
    project, store, ids = _two_recipes_built(tmp_path)
    CHANGES[change](project, store, ids)
    build(project, store)
    same_as_full(project, store, tmp_path)


def test_curation_built_change_by_change_is_the_full_build(tmp_path):
    project, store, ids = _two_recipes_built(tmp_path)
    for change in ("an old image picked into the middle of Picks", "an old image rated, its collections the same",
                   "an old pick rejected", "the cover unpicked", "an old image tagged into the middle of a tag",
                   "a new image", "an old image's tag taken off", "old images curated together", "an old pick unpicked"):
        CHANGES[change](project, store, ids)
        build(project, store)
    same_as_full(project, store, tmp_path)


def test_a_settings_change_built_incrementally_is_the_full_build(tmp_path):
    project, store = make(tmp_path, page_size=3, collections=ALL)
    recipe(project, store, "alpha")
    add_images(project, store, "alpha", 20)
    build(project, store)
    project, store = make(tmp_path, page_size=4, collections=["all", "tags"])
    build(project, store)
    same_as_full(project, store, tmp_path)


def test_images_appended_one_by_one_build_the_full_site(tmp_path):
    project, store = make(tmp_path, page_size=2, collections=ALL)
    recipe(project, store, "alpha")
    add_images(project, store, "alpha", 10)
    build(project, store)
    for start in range(10, 14):  # the newest part fills, then a part is added below the first page
        add_images(project, store, "alpha", 1, start=start)
        build(project, store)
    same_as_full(project, store, tmp_path)


def test_virtual_summaries_are_each_collections_own_with_their_older_part(tmp_path):
    from kiln.site.summaries import virtual_summaries

    project, store = make(tmp_path)
    recipe(project, store, "alpha")
    add_images(project, store, "alpha", 12)
    store.conn.execute("UPDATE images SET rowid = rowid + 3000000000")  # hashes past 2**31 before their modulo
    since = store.conn.execute("SELECT max(revision) FROM images").fetchone()[0]
    add_images(project, store, "alpha", 3, start=12)
    chosen = [("all", None), ("recent", None), ("picks", None), ("top", None), ("tag", "test"), ("tag", "none")]
    found = virtual_summaries(store, chosen, since)
    for kind, tag in chosen:
        where = {"all": "1", "recent": "1", "picks": "status = 'selected'", "top": "rating >= 4",
                 "tag": "EXISTS (SELECT 1 FROM json_each(tags) WHERE value = :tag)"}[kind]
        rows = store.conn.execute(f"SELECT rowid, revision FROM images WHERE {where}", {"tag": tag}).fetchall()
        hashes = [(rowid * 1000003 + revision) % 2147483647 for rowid, revision in rows]
        old = [h for h, (_, revision) in zip(hashes, rows) if revision <= since]
        assert found[(kind, tag)].members == (len(hashes), sum(hashes), sum(h * h % 4294967291 for h in hashes))
        assert found[(kind, tag)].older == (len(old), sum(old), sum(h * h % 4294967291 for h in old))
    assert found[("tag", "none")].members == (0, 0, 0)


def _queued_job(store, ids):
    store.conn.execute(
        "INSERT INTO jobs (key, spec, recipe, engine, model, status, queued_at) SELECT 'extra', spec, recipe, engine, model,"
        " 'queued', queued_at FROM jobs WHERE image_id = ?", [ids[0]]
    )
    store.conn.execute("INSERT INTO recipe_jobs (recipe, job_key, position, axes) VALUES ('beta', 'extra', 99, '{}')")


RECIPE_CHANGES = {
    "a job failed": lambda s, ids: s.conn.execute("UPDATE jobs SET status = 'failed', image_id = NULL WHERE image_id = ?", [ids[1]]),
    "a job queued": _queued_job,
    "a place moved": lambda s, ids: s.conn.execute("UPDATE recipe_jobs SET position = 50 WHERE recipe = 'beta' AND position = 30"),
    "axes changed": lambda s, ids: s.conn.execute("UPDATE recipe_jobs SET axes = '{\"x\": 1}' WHERE recipe = 'alpha' AND position = 2"),
    "a rating": lambda s, ids: s.conn.execute("UPDATE images SET rating = 5 WHERE id = ?", [ids[2]]),
    "a derivative": lambda s, ids: s.conn.execute("UPDATE derivatives SET width = 1 WHERE image_id = ?", [ids[3]]),
    "an image row gone": lambda s, ids: s.conn.execute("DELETE FROM images WHERE id = ?", [ids[4]]),
    "an image deleted": lambda s, ids: delete_image(s, ids[5]),
    "a place gone": lambda s, ids: s.conn.execute("DELETE FROM recipe_jobs WHERE recipe = 'alpha' AND position = 6"),
    "a job gone": lambda s, ids: s.conn.execute("DELETE FROM jobs WHERE image_id = ?", [ids[7]]),
    "moved to another recipe": lambda s, ids: s.conn.execute("UPDATE recipe_jobs SET recipe = 'beta' WHERE recipe = 'alpha' AND position = 8"),
}


@pytest.mark.parametrize("change", list(RECIPE_CHANGES))
def test_the_summaries_of_the_recipes_that_changed_are_a_full_pass(tmp_path, change):
    from kiln.site.summaries import recipe_summaries

    project, store = make(tmp_path)
    for name in ("alpha", "beta", "gamma"):
        recipe(project, store, name)
    ids = add_images(project, store, "alpha", 10)
    add_images(project, store, "beta", 3, start=30)
    add_images(project, store, "gamma", 2, start=40)
    since = store.conn.execute("SELECT seq FROM change_sequence").fetchone()[0]
    recorded = recipe_summaries(store, -1, None)
    RECIPE_CHANGES[change](store, ids)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    incremental = recipe_summaries(store, since, recorded)
    store.conn.set_trace_callback(None)
    assert incremental == recipe_summaries(store, since, None)
    assert incremental != recorded
    summed = [s for s in statements if "json_each" in s and "GROUP BY recipe" in s]
    assert len(summed) == 1 and '"gamma"' not in summed[0]  # untouched: not summed again
