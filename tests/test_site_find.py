"""The finder's data files under build/find/: what they hold, that they are deterministic, and
that a rebuild rewrites only those whose data changed."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiln.site import build_site, find, findcurated, findgrown
from kiln.site.filters import BLOCK, CHUNK
from kiln.site.search import numbers_of, postings, shard_of, words
from sitefixtures import add_images, add_recipe, image_id, make_project, open_project_store

FILE = re.compile(r'kiln\.found\(("[^"]*"),(.*)\);\n\Z', re.S)


def read(build: Path, name: str) -> Any:
    """A data file's JSON, after checking it names itself."""
    match = FILE.match((build / "find" / f"{name}.js").read_text("utf-8"))
    assert match, name
    assert json.loads(match.group(1)) == name
    return json.loads(match.group(2))


def column(build: Path, name: str) -> list[Any]:
    """A per-image column of a data set, its blocks joined."""
    meta = read(build, f"{name.partition('/')[0]}/meta")
    return [v for k in range(-(-meta["count"] // meta["block"])) for v in read(build, f"{name}-{k}")]


def numbers(posting: list[int] | str, count: int) -> list[int]:
    """The image numbers a posting list holds, whichever way it is written."""
    if isinstance(posting, str):
        bits = base64.b64decode(posting[1:])
        return [n for n in range(min(count, len(bits) * 8)) if bits[n >> 3] & (1 << (n & 7))]
    total, out = 0, []
    for gap in posting:
        total += gap
        out.append(total)
    return out


def finder_bytes(build: Path) -> dict[str, bytes]:
    return {p.relative_to(build).as_posix(): p.read_bytes() for p in sorted((build / "find").rglob("*")) if p.is_file()}


@pytest.fixture
def gallery(tmp_path):
    project = make_project(tmp_path, title="Finder")
    store = open_project_store(project)
    add_recipe(store, "coast", title="Coastal dusk")
    add_images(project, store, "coast", 30)
    add_recipe(store, "fog", title="Fog studies")
    add_images(project, store, "fog", 5, model="other-model", engine="other-engine")
    report = build_site(project, store)
    assert not report.problems
    yield project, store
    store.close()


def test_a_collection_has_counts_facets_columns_and_chunks(gallery):
    project, _ = gallery
    build = project.build_dir
    meta = read(build, "coast/meta")
    assert meta["count"] == 30 and meta["chunk"] == CHUNK
    # Ratings are index % 6, picks index % 7 == 3, rejects index % 11 == 5, tags every fifth.
    assert meta["ratings"] == [sum(1 for i in range(30) if i % 6 >= n) for n in range(1, 6)]
    assert meta["statuses"] == {
        "picked": sum(1 for i in range(30) if i % 7 == 3),
        "rejected": sum(1 for i in range(30) if i % 11 == 5 and i % 7 != 3),
        "unrated": sum(1 for i in range(30) if i % 6 == 0 and i % 7 != 3 and i % 11 != 5),
    }
    assert meta["tags"] == [["test", 6]]
    fields = {f["name"]: f for f in meta["fields"]}
    # One model and one engine in this collection: nothing to filter on.
    assert "model" not in fields and "engine" not in fields
    sizes = fields["size"]["values"]
    assert sum(n for _, n in sizes) == 30 and sizes == sorted(sizes, key=lambda v: (-v[1], v[0]))
    assert all(re.fullmatch(r"\d+×\d+", v) for v, _ in sizes)
    assert fields["axis:seed"]["axis"] == "seed"
    # A field with one value has no column: the meta says it.
    assert meta["single"] == {"model": "placeholder-v1", "engine": "placeholder", "recipe": "coast"}
    blocked = {f"{name}-0" for name in ("size", "rating", "status", "day", "g")}
    assert set(meta["files"]) == {"axes", "tags", "order-seed", "order-prompt", "items-0", *blocked}
    assert meta["block"] == BLOCK
    assert read(build, "coast/axes")["seed"] == [
        [v for v, _ in fields["axis:seed"]["values"]].index(str(1000 + i % 4)) for i in range(30)
    ]

    rating = column(build, "coast/rating")
    assert rating == [i % 6 for i in range(30)]
    size = column(build, "coast/size")
    assert len(size) == 30 and all(fields["size"]["values"][code][1] for code in size)
    assert read(build, "coast/tags") == {"test": [i for i in range(30) if i % 5 == 0]}
    seeds = read(build, "coast/order-seed")
    assert sorted(seeds) == list(range(30)) and [1000 + i % 4 for i in seeds] == sorted(1000 + i % 4 for i in range(30))

    items = read(build, "coast/items-0")
    first = items[0]
    assert first["id"] == image_id("coast", 0)
    assert first["page"] == f"coast/{first['id']}.html"
    assert first["thumb"][0] == f"media/thumb/{first['id']}.webp"
    assert first["facts"]["model"] == "placeholder-v1"
    assert "status" not in first and "tags" in first  # empty values are left out


def test_the_library_numbers_each_image_once_and_collections_point_into_it(gallery):
    project, _ = gallery
    build = project.build_dir
    library = read(build, "_library/meta")
    assert library["count"] == 35
    assert {f["name"]: f["values"] for f in library["fields"]}["model"] == [["placeholder-v1", 30], ["other-model", 5]]
    ids = [item["id"] for n in range(-(-35 // CHUNK)) for item in read(build, f"_library/items-{n}")]
    fog = [item["id"] for item in read(build, "fog/items-0")]
    assert [ids[g] for g in column(build, "fog/g")] == fog


def test_search_shards_find_an_image_by_its_words(gallery):
    project, _ = gallery
    build = project.build_dir
    meta = read(build, "_search/meta")
    ids = [item["id"] for item in read(build, "_library/items-0")]
    shard = read(build, "_search/" + shard_of("harbour"))
    found = {ids[n] for n in numbers(shard["harbour"], meta["count"])}
    # Subjects cycle through eight, "a quiet harbour town" second.
    assert found == {image_id("coast", i) for i in range(30) if i % 8 == 1} | {image_id("fog", i) for i in range(5) if i % 8 == 1}
    tagged = {ids[n] for n in numbers(read(build, "_search/te")["test"], meta["count"])}
    assert image_id("coast", 5) in tagged and image_id("coast", 6) not in tagged
    titles = {ids[n] for n in numbers(read(build, "_search/st")["studies"], meta["count"])}
    assert titles == {image_id("fog", i) for i in range(5)}
    assert set(meta["files"]) == {p.stem for p in (build / "find" / "_search").glob("*.js")} - {"meta"}
    assert (build / "search.html").is_file()


def test_postings_are_gaps_or_a_bitmap_whichever_is_shorter():
    assert postings([3, 1000, 1001]) == [3, 997, 1]
    dense = list(range(0, 1000, 2))
    packed = postings(dense)
    assert isinstance(packed, str) and numbers(packed, 1000) == dense == numbers_of(packed)
    assert numbers_of([3, 7, 1]) == [3, 10, 11]


def test_numbers_added_to_a_posting_read_as_a_posting_made_whole():
    import random

    from kiln.site.search import add_to

    draw = random.Random(9)
    for _ in range(400):
        every = sorted(draw.sample(range(3000), draw.randint(2, 2500)))
        cut = draw.randint(1, len(every) - 1)
        shard = {"w": postings(every[:cut])}
        assert add_to(shard, {"w": every[cut:]}) == {"w": postings(every)}


def test_words_and_shards_match_what_the_page_computes():
    assert list(words("Ein Café_au-lait, 35mm!")) == ["ein", "café", "au", "lait", "35mm"]
    assert shard_of("café") == "ca" and shard_of("été") == "~e9t" and shard_of("x") == "x"


def test_the_files_are_the_same_bytes_for_the_same_data(gallery, tmp_path):
    project, store = gallery
    (tmp_path / "q").mkdir()
    again = make_project(tmp_path / "q", title="Finder")
    other = open_project_store(again)
    add_recipe(other, "coast", title="Coastal dusk")
    add_images(again, other, "coast", 30)
    add_recipe(other, "fog", title="Fog studies")
    add_images(again, other, "fog", 5, model="other-model", engine="other-engine")
    build_site(again, other)
    other.close()
    assert finder_bytes(again.build_dir) == finder_bytes(project.build_dir)


def test_a_rebuild_rewrites_only_the_files_whose_data_changed(gallery, monkeypatch):
    project, store = gallery
    build = project.build_dir
    report = build_site(project, store)
    assert not [name for name in report.written_names if name.startswith("find/")]

    before = finder_bytes(build)
    numbers_before = column(build, "coast/g")
    add_images(project, store, "coast", 1, start=30, prompt="a solitary zeppelin", created_at="2025-03-15T00:00:00.000Z")
    with monkeypatch.context() as patch:  # the new image's words are added, the rest is not read
        patch.setattr(find, "shards", lambda *args: pytest.fail("the whole index was made again"))
        report = build_site(project, store)
    written = {name for name in report.written_names if name.startswith("find/")}
    after = finder_bytes(build)
    assert written == {name for name in after if before.get(name) != after[name]}
    # The new image is the newest: it takes the next number, the others keep theirs.
    assert column(build, "coast/g") == [*numbers_before, 35]
    assert "find/_search/ze.js" in written and "find/fog/meta.js" not in written
    untouched_shards = [n for n in after if n.startswith("find/_search/") and n not in written]
    assert len(untouched_shards) > len(written)
    assert image_id("coast", 30) in {
        read(build, "_library/items-0")[n]["id"] for n in numbers(read(build, "_search/ze")["zeppelin"], 36)
    }
    # What was added to is what a whole index would be.
    added = {name: data for name, data in after.items() if name.startswith("find/_search/")}
    shutil.rmtree(build / "find" / "_search")
    build_site(project, store, verify=True)
    assert {name: data for name, data in finder_bytes(build).items() if name.startswith("find/_search/")} == added


def test_a_changed_prompt_makes_the_index_whole_again(gallery):
    project, store = gallery
    store.conn.execute("UPDATE images SET prompt = 'a brass orrery' WHERE id = ?", [image_id("coast", 1)])
    build_site(project, store)
    build = project.build_dir
    ids = [item["id"] for item in read(build, "_library/items-0")]
    assert {ids[n] for n in numbers(read(build, "_search/or")["orrery"], 35)} == {image_id("coast", 1)}
    harbour = {ids[n] for n in numbers(read(build, "_search/ha")["harbour"], 35)}
    assert image_id("coast", 1) not in harbour and image_id("coast", 9) in harbour


def test_hostile_text_stays_data(tmp_path):
    project = make_project(tmp_path, title="Hostile")
    store = open_project_store(project)
    add_recipe(store, "evil", title="Evil")
    hostile = '</script><script>alert(1)</script><img src=x onerror=alert(2)> \u2028'
    add_images(project, store, "evil", 2, prompt=hostile, tags=json.dumps([hostile]), model=hostile)
    build_site(project, store)
    store.close()
    text = (project.build_dir / "find" / "evil" / "items-0.js").read_text("utf-8")
    assert "\u2028" not in text
    assert read(project.build_dir, "evil/items-0")[0]["prompt"] == hostile
    assert read(project.build_dir, "evil/tags") == {hostile: [0, 1]}


def scratch(project, store) -> dict[str, bytes]:
    """The finder's files as a build into an empty folder makes them."""
    shutil.rmtree(project.build_dir)
    build_site(project, store)
    return finder_bytes(project.build_dir)


def test_an_unchanged_collection_keeps_its_files_unread(gallery, monkeypatch):
    project, store = gallery
    read_members: list[str] = []  # the collections whose members the finder read
    original = find.arrange
    monkeypatch.setattr(find, "arrange", lambda c, *args: read_members.append(c.name) or original(c, *args))
    store.conn.execute("UPDATE images SET rating = 5 WHERE id = ?", [image_id("coast", 2)])
    report = build_site(project, store)
    written = {name for name in report.written_names if name.startswith("find/")}
    assert "coast" in read_members and "fog" not in read_members
    assert "find/coast/rating-0.js" in written and "find/_library/rating-0.js" in written
    assert not [name for name in written if name.startswith("find/fog/")]
    assert not [name for name in written if name.startswith("find/_search/")]
    add_images(project, store, "fog", 1, start=5, prompt="a lone zeppelin", created_at="2025-03-15T00:00:00.000Z")
    read_members.clear()
    report = build_site(project, store)
    assert read_members == ["fog"]
    incremental = finder_bytes(project.build_dir)
    monkeypatch.undo()
    assert scratch(project, store) == incremental


def test_an_unchanged_collection_is_renumbered_when_an_older_image_comes(gallery):
    project, store = gallery
    fog_numbers = column(project.build_dir, "fog/g")
    # Older than every image: each image of the library moves one number on.
    add_images(project, store, "coast", 1, start=30, prompt="a lone zeppelin", created_at="2025-03-13T00:00:00.000Z")
    build_site(project, store)
    assert column(project.build_dir, "fog/g") == [n + 1 for n in fog_numbers]
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


def test_an_image_in_a_second_recipe_moves_home_in_every_data_set(gallery):
    project, store = gallery
    moved = image_id("fog", 0)
    assert read(project.build_dir, "fog/meta")["count"] == 5
    # The image joins "coast" too (a second job that made the same file): its page moves
    # there, which the "recipe" column of "fog" shows.
    key = "f" * 64
    store.conn.execute(
        "INSERT INTO jobs (key, spec, recipe, engine, model, status, queued_at, image_id)"
        " SELECT ?, spec, 'coast', engine, model, status, queued_at, image_id FROM jobs WHERE image_id = ?", [key, moved]
    )
    store.conn.execute("INSERT INTO recipe_jobs (recipe, job_key, position, axes) VALUES ('coast', ?, 99, '{}')", [key])
    build_site(project, store)
    fields = {f["name"]: f for f in read(project.build_dir, "fog/meta")["fields"]}
    assert dict(fields["recipe"]["values"]) == {"coast": 1, "fog": 4}
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


# ---- incremental builds against builds in one go -------------------------------------------


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A gallery whose blocks and chunks are small, so a few images cross their ends; every
    virtual collection shown."""
    from kiln.site import curating, filters, growing

    for module, name, size in (
        (filters, "BLOCK", 8), (growing, "BLOCK", 8), (curating, "BLOCK", 8), (filters, "CHUNK", 5), (find, "CHUNK", 5),
        (findgrown, "CHUNK", 5), (findcurated, "CHUNK", 5),
    ):
        monkeypatch.setattr(module, name, size)
    (tmp_path / "kiln.toml").write_text(
        '[project]\ntitle = "Small"\n\n[site]\ncollections = ["all", "picks", "top", "recent", "tags"]\n'
    )
    project = make_project.__globals__["load_project"](tmp_path)
    store = open_project_store(project)
    add_recipe(store, "coast", title="Coastal dusk")
    add_images(project, store, "coast", 21)
    add_recipe(store, "fog", title="Fog studies")
    add_images(project, store, "fog", 6, model="other-model", engine="other-engine")
    assert not build_site(project, store).problems
    yield project, store
    store.close()


def grown(project, store, monkeypatch) -> dict[str, bytes]:
    """The finder's files after a build that must not read the whole library."""
    with monkeypatch.context() as patch:
        patch.setattr(find, "read_library", lambda *args: pytest.fail("the whole library was read"))
        patch.setattr(findgrown, "axis_columns", lambda *args: pytest.fail("every member's axes were read"))
        report = build_site(project, store)
    assert not report.problems
    return finder_bytes(project.build_dir)


def test_new_images_grow_every_data_set_as_a_build_in_one_go_makes_it(small, monkeypatch):
    project, store = small
    # Across the ends of a block and a chunk; a new model (its codes move), a new tag, a pick.
    add_images(project, store, "coast", 4, start=21, prompt="a solitary zeppelin", created_at="2025-03-15T00:00:00.000Z")
    add_images(project, store, "fog", 1, start=6, model="third-model", tags='["novel"]', status="selected",
               rating=5, created_at="2025-03-16T00:00:00.000Z")
    incremental = grown(project, store, monkeypatch)
    assert scratch(project, store) == incremental
    # Again, from a build that grew: one more, in the middle of nothing.
    add_images(project, store, "coast", 1, start=25, created_at="2025-03-17T00:00:00.000Z")
    incremental = grown(project, store, monkeypatch)
    assert scratch(project, store) == incremental
    assert len(column(project.build_dir, "_library/rating")) == 33


def test_a_new_image_in_a_sorted_recipe_remakes_that_set_alone(tmp_path, monkeypatch):
    project = make_project(tmp_path, title="Sorted")
    store = open_project_store(project)
    add_recipe(store, "coast", title="Coastal dusk", gallery={"sort": "prompt"})
    add_images(project, store, "coast", 12)
    build_site(project, store)
    add_images(project, store, "coast", 1, start=12, prompt="a abacus", created_at="2025-03-15T00:00:00.000Z")
    incremental = grown(project, store, monkeypatch)
    assert read(project.build_dir, "coast/items-0")[0]["prompt"] == "a abacus"
    assert scratch(project, store) == incremental
    store.close()


def delete_image(store, image: str) -> None:
    store.conn.execute("UPDATE jobs SET status = 'deleted' WHERE image_id = ?", [image])
    store.conn.execute("DELETE FROM derivatives WHERE image_id = ?", [image])
    store.conn.execute("DELETE FROM images WHERE id = ?", [image])


@pytest.mark.parametrize(
    "change",
    [
        "deleted", "deleted and one added", "rating", "status", "tag", "moved", "older image changed",
        "older image added", "recipe renamed",
    ],
)
def test_a_build_after_a_change_makes_what_a_build_in_one_go_makes(small, change):
    project, store = small
    sql = store.conn.execute
    target = image_id("coast", 4)
    if change == "deleted":
        delete_image(store, target)
    elif change == "deleted and one added":
        delete_image(store, target)
        add_images(project, store, "coast", 1, start=21, created_at="2025-03-15T00:00:00.000Z")
    elif change == "rating":
        sql("UPDATE images SET rating = 5 WHERE id = ?", [target])
    elif change == "status":
        sql("UPDATE images SET status = 'selected' WHERE id = ?", [target])
    elif change == "tag":
        sql("UPDATE images SET tags = '[\"fresh\"]' WHERE id = ?", [target])
    elif change == "moved":
        sql("UPDATE recipe_jobs SET recipe = 'fog', position = 99 WHERE job_key = (SELECT job_key FROM images WHERE id = ?)", [target])
    elif change == "older image changed":
        sql("UPDATE images SET prompt = 'a brass orrery' WHERE id = ?", [image_id("coast", 1)])
    elif change == "older image added":
        add_images(project, store, "fog", 1, start=6, created_at="2025-03-13T00:00:00.000Z")
    elif change == "recipe renamed":
        sql("UPDATE recipes SET title = 'Sea fog' WHERE name = 'fog'")
        add_images(project, store, "fog", 1, start=6, created_at="2025-03-15T00:00:00.000Z")
    assert not build_site(project, store).problems
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


def test_a_file_changed_by_hand_is_made_again_when_images_are_added(small, monkeypatch):
    project, store = small
    block = project.build_dir / "find" / "_library" / "rating-3.js"
    block.write_text(block.read_text().replace("]", ",9]"))
    add_images(project, store, "coast", 1, start=21, created_at="2025-03-15T00:00:00.000Z")
    build_site(project, store)
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


def test_a_record_not_of_the_files_build_is_not_grown_from(small, monkeypatch):
    project, store = small
    # As a build killed after writing its files leaves it: the record of the build before.
    state = sqlite3.connect(project.build_dir / ".kiln-build.db")
    state.execute("UPDATE find_meta SET value = 'older' WHERE key = 'placed'")
    state.commit()
    state.close()
    add_images(project, store, "coast", 1, start=21, created_at="2025-03-15T00:00:00.000Z")
    read_before = find.read_library
    calls = []
    monkeypatch.setattr(find, "read_library", lambda *args: calls.append(1) or read_before(*args))
    build_site(project, store)
    assert calls  # made whole
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


# ---- images curated in place -----------------------------------------------------------------


def curate(project, store, change: str) -> None:
    sql = store.conn.execute
    coast, fog = image_id("coast", 4), image_id("fog", 2)
    if change == "rating":
        sql("UPDATE images SET rating = 4 WHERE id = ?", [coast])
    elif change == "rating taken away":
        sql("UPDATE images SET rating = 0 WHERE id = ?", [image_id("coast", 7)])
    elif change == "pick":
        sql("UPDATE images SET status = 'selected', rating = 5 WHERE id = ?", [coast])
    elif change == "reject":
        sql("UPDATE images SET status = 'rejected' WHERE id = ?", [fog])
    elif change == "tag added":
        sql("UPDATE images SET tags = '[\"fresh\", \"dusk\"]' WHERE id = ?", [coast])
    elif change == "tag removed":
        sql("UPDATE images SET tags = '[]' WHERE id = ?", [image_id("coast", 9)])
    elif change == "note":
        sql("UPDATE images SET notes = 'a keeper' WHERE id = ?", [fog])
    elif change == "several at once":
        sql("UPDATE images SET rating = 3 WHERE id IN (?, ?, ?)", [coast, fog, image_id("coast", 20)])
        sql("UPDATE images SET status = 'rejected' WHERE id = ?", [image_id("coast", 0)])
    elif change == "with one new image":
        sql("UPDATE images SET rating = 2 WHERE id = ?", [coast])
        add_images(project, store, "fog", 1, start=6, created_at="2025-03-15T00:00:00.000Z")


@pytest.mark.parametrize(
    "change",
    ["rating", "rating taken away", "pick", "reject", "tag added", "tag removed", "note", "several at once",
     "with one new image"],
)
def test_curated_images_change_in_place_as_a_build_in_one_go_makes_it(small, monkeypatch, change):
    project, store = small
    # Tags and a rating to take away, then a build that records them.
    store.conn.execute("UPDATE images SET tags = '[\"dusk\"]' WHERE id IN (?, ?)", [image_id("coast", 9), image_id("fog", 1)])
    store.conn.execute("UPDATE images SET rating = 2 WHERE id = ?", [image_id("coast", 7)])
    assert not build_site(project, store).problems
    curate(project, store, change)
    incremental = grown(project, store, monkeypatch)
    assert scratch(project, store) == incremental


def curate_and_add(project, store, change: str) -> None:
    sql = store.conn.execute
    coast, fog = image_id("coast", 4), image_id("fog", 2)
    if change == "a rating and a new image":
        sql("UPDATE images SET rating = 4 WHERE id = ?", [coast])
        add_images(project, store, "coast", 1, start=21, created_at="2025-03-15T00:00:00.000Z")
    elif change == "a tag added and two new images":
        sql("UPDATE images SET tags = '[\"fresh\", \"dusk\"]' WHERE id = ?", [fog])
        add_images(project, store, "coast", 1, start=21, created_at="2025-03-15T00:00:00.000Z")
        add_images(project, store, "fog", 1, start=6, model="third-model", created_at="2025-03-16T00:00:00.000Z")
    elif change == "a retag and a new image of that tag":
        sql("UPDATE images SET tags = '[\"harbour\"]' WHERE id = ?", [image_id("coast", 9)])
        add_images(project, store, "coast", 1, start=21, tags='["harbour"]', created_at="2025-03-15T00:00:00.000Z")
    elif change == "a pick and a new image":
        # Into the picks and top rated collections, out of the tag collection it was in.
        sql("UPDATE images SET status = 'selected', rating = 5, tags = '[]' WHERE id = ?", [image_id("fog", 1)])
        add_images(project, store, "fog", 1, start=6, created_at="2025-03-15T00:00:00.000Z")
    elif change == "the newest image curated and one after it":
        sql("UPDATE images SET rating = 1, notes = 'soft' WHERE id = ?", [image_id("fog", 5)])
        add_images(project, store, "fog", 1, start=6, tags='["dusk"]', created_at="2025-03-15T00:00:00.000Z")
        add_images(project, store, "coast", 2, start=21, tags='["dusk"]', created_at="2025-03-16T00:00:00.000Z")
    elif change == "several curated and several new":
        sql("UPDATE images SET rating = 3 WHERE id IN (?, ?, ?)", [coast, fog, image_id("coast", 20)])
        sql("UPDATE images SET status = 'rejected', tags = '[]' WHERE id = ?", [image_id("coast", 9)])
        add_images(project, store, "coast", 4, start=21, prompt="a solitary zeppelin", created_at="2025-03-15T00:00:00.000Z")
        add_images(project, store, "fog", 1, start=6, status="selected", rating=5, created_at="2025-03-16T00:00:00.000Z")


CURATED_AND_NEW = [
    "a rating and a new image", "a tag added and two new images", "a retag and a new image of that tag",
    "a pick and a new image", "the newest image curated and one after it", "several curated and several new",
]


@pytest.mark.parametrize("change", CURATED_AND_NEW)
def test_curated_and_new_images_together_change_and_grow_as_a_build_in_one_go_makes_it(small, monkeypatch, change):
    project, store = small
    store.conn.execute("UPDATE images SET tags = '[\"dusk\"]' WHERE id IN (?, ?)", [image_id("coast", 9), image_id("fog", 1)])
    store.conn.execute("UPDATE images SET rating = 2 WHERE id = ?", [image_id("coast", 7)])
    assert not build_site(project, store).problems
    curate_and_add(project, store, change)
    incremental = grown(project, store, monkeypatch)
    assert scratch(project, store) == incremental
    # And a build after it, curated and grown again, from files that were.
    store.conn.execute("UPDATE images SET rating = 1 WHERE id = ?", [image_id("coast", 3)])
    add_images(project, store, "coast", 1, start=30, created_at="2025-03-20T00:00:00.000Z")
    incremental = grown(project, store, monkeypatch)
    assert scratch(project, store) == incremental


def test_curated_and_new_images_write_only_the_files_they_are_in(small, monkeypatch):
    project, store = small
    number = column(project.build_dir, "coast/g")[2]
    count = len(column(project.build_dir, "_library/rating"))
    store.conn.execute("UPDATE images SET rating = 4 WHERE id = ?", [image_id("coast", 2)])
    add_images(project, store, "fog", 1, start=6, created_at="2025-03-15T00:00:00.000Z")
    with monkeypatch.context() as patch:
        patch.setattr(find, "read_library", lambda *args: pytest.fail("the whole library was read"))
        report = build_site(project, store)
    written = {name for name in report.written_names if name.startswith("find/_library/")}
    # Blocks of 8 images, chunks of 5: the curated image's, and the last ones, grown.
    assert f"find/_library/rating-{number // 8}.js" in written
    assert f"find/_library/items-{number // 5}.js" in written
    assert f"find/_library/items-{count // 5}.js" in written
    assert f"find/_library/rating-{count // 8}.js" in written
    assert not {f"find/_library/rating-{k}.js" for k in range(count // 8)} - {f"find/_library/rating-{number // 8}.js"} & written
    # The curated image's recipe has no new image: only its block, chunk and meta.
    assert sorted(name for name in report.written_names if name.startswith("find/coast/")) == [
        "find/coast/items-0.js", "find/coast/meta.js", "find/coast/rating-0.js"
    ]
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


@pytest.mark.parametrize("change", ["an image deleted", "an older image"])
def test_curated_images_with_a_deletion_or_an_older_image_make_the_library_whole(small, monkeypatch, change):
    project, store = small
    store.conn.execute("UPDATE images SET rating = 4 WHERE id = ?", [image_id("coast", 2)])
    add_images(project, store, "fog", 1, start=6, created_at="2025-03-15T00:00:00.000Z")
    if change == "an image deleted":
        delete_image(store, image_id("coast", 5))
    else:
        add_images(project, store, "coast", 1, start=21, created_at="2025-03-01T00:00:00.000Z")
    read_before = find.read_library
    calls = []
    monkeypatch.setattr(find, "read_library", lambda *args: calls.append(1) or read_before(*args))
    assert not build_site(project, store).problems
    assert calls  # made whole
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


def test_a_curated_image_rewrites_only_its_block_chunk_and_metas(small, monkeypatch):
    project, store = small
    read_rows: list[int] = []
    original = find.read_facts
    number = column(project.build_dir, "coast/g")[12]
    store.conn.execute("UPDATE images SET rating = 4 WHERE id = ?", [image_id("coast", 12)])
    with monkeypatch.context() as patch:
        patch.setattr(find, "read_facts", lambda s, ids: read_rows.append(len(ids)) or original(s, ids))
        patch.setattr(find, "read_library", lambda *args: pytest.fail("the whole library was read"))
        report = build_site(project, store)
    written = sorted(name for name in report.written_names if name.startswith("find/_library/"))
    # Blocks of 8 images, chunks of 5.
    assert written == [f"find/_library/items-{number // 5}.js", "find/_library/meta.js", f"find/_library/rating-{number // 8}.js"]
    assert not [name for name in report.written_names if name.startswith("find/_search/")]
    # A tag: the shards of its words and the index's meta, with the library's.
    store.conn.execute("UPDATE images SET tags = '[\"zeppelin\"]' WHERE id = ?", [image_id("coast", 12)])
    with monkeypatch.context() as patch:
        patch.setattr(find, "read_library", lambda *args: pytest.fail("the whole library was read"))
        report = build_site(project, store)
    assert sorted(name for name in report.written_names if name.startswith("find/_search/")) == [
        "find/_search/meta.js", "find/_search/ze.js"
    ]
    assert "find/_library/tags.js" in report.written_names
    # Taken away again: its word's shard holds no other word, and goes.
    store.conn.execute("UPDATE images SET tags = '[]' WHERE id = ?", [image_id("coast", 12)])
    with monkeypatch.context() as patch:
        patch.setattr(find, "read_library", lambda *args: pytest.fail("the whole library was read"))
        build_site(project, store)
    assert not (project.build_dir / "find" / "_search" / "ze.js").exists()
    # The curated image's row; then those of the virtual collections it is in (made whole).
    assert read_rows[0] == 1
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental


def test_a_summed_digest_changes_with_one_part_as_summing_again_does():
    from kiln.site.findfiles import resummed, summed

    parts = [("a", 1), ("b", 2), ("c", 3)]
    total, first_two = summed(parts, at=2)
    assert first_two == summed(parts[:2])[0]
    assert summed(parts[2:], start=2, total=first_two)[0] == total
    assert resummed(total, 1, ("b", 2), ("b", 5)) == summed([("a", 1), ("b", 5), ("c", 3)])[0] != total


def test_a_search_meta_changed_by_hand_is_made_again_when_a_tag_changes(small):
    project, store = small
    meta = project.build_dir / "find" / "_search" / "meta.js"
    text = meta.read_text("utf-8")
    meta.write_text(re.sub(r'"from":"[0-9a-f]+"', '"from":"not a digest"', text), "utf-8")
    assert "not a digest" in meta.read_text("utf-8")
    store.conn.execute("UPDATE images SET tags = '[\"zeppelin\"]' WHERE id = ?", [image_id("coast", 3)])
    assert not build_site(project, store).problems
    incremental = finder_bytes(project.build_dir)
    assert scratch(project, store) == incremental
