"""Full-text search finds a word's other forms (kites finds kite), in kiln's curating commands
and in Datasette, on new stores and on stores made before the index stemmed."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner
from sqlite_utils import Database

from kiln import datasette_app
from kiln.cli import cli
from kiln.library.curation import select_ids
from kiln.store import open_store
from kiln.store.schema import migrations
from test_store import image_row, save_one

KITE, KITES, FOX = "aaaa000000000001", "aaaa000000000002", "aaaa000000000003"


def add_images(store) -> None:
    for key, image_id, prompt in (("k1", KITE, "a red kite over hills"), ("k2", KITES, "two kites flying"),
                                  ("k3", FOX, "a fox running")):
        save_one(store, name=f"r{key}", key=key)
        store.record_image(key, {**image_row(image_id, key=key, prompt=prompt), "recipe": "r"}, [], 1.0)


def test_search_finds_other_forms_of_a_word(store):
    add_images(store)
    assert sorted(select_ids(store, search="kites")) == [KITE, KITES]
    assert sorted(select_ids(store, search="kite")) == [KITE, KITES]
    assert select_ids(store, search="runs") == [FOX]
    assert select_ids(store, search='"red kites"') == [KITE]


def test_notes_are_stemmed_and_curation_does_not_touch_the_index(project, store):
    add_images(store)
    result = CliRunner().invoke(cli, ["note", "-C", str(project.root), FOX, "needs more owls"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["rate", "-C", str(project.root), "--search", "kites", "4"])
    assert (result.exit_code, result.output) == (0, "2 images rated 4\n")
    result = CliRunner().invoke(cli, ["pick", "-C", str(project.root), "--search", "owl"])
    assert (result.exit_code, result.output) == (0, "1 image picked\n")
    assert select_ids(store, search="owls") == [FOX]
    triggers = {row["name"]: row["sql"] for row in store.query("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")}
    assert "UPDATE OF prompt, notes ON images" in triggers["images_au"]


def test_a_store_made_before_stemming_is_reindexed(project):
    project.db_path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(project.db_path)
    migrations.apply(db, stop_before="0008_fts_stemming")
    db["images"].insert_all([
        {**image_row(KITE, key="k1", prompt="a red kite over hills"), "notes": "kites"},
        {**image_row(KITES, key="k2", prompt="two kites flying"), "notes": ""},
    ])
    assert db.execute("SELECT count(*) FROM images_fts WHERE images_fts MATCH 'kite'").fetchone()[0] == 1
    db.close()
    store = open_store(project.db_path)  # applies 0008 onto what an older kiln made
    try:
        assert "0008_fts_stemming" in [m.name for m in migrations.applied(store.db)]
        assert sorted(select_ids(store, search="kite")) == [KITE, KITES]
        assert sorted(select_ids(store, search="kites")) == [KITE, KITES]
        assert store.query("SELECT count(*) AS n FROM images_fts_docsize")[0]["n"] == 2
        store.conn.execute("INSERT INTO images_fts(images_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        store.close()


def test_datasette_search_is_stemmed(project, store):
    add_images(store)

    async def search(words: str) -> list[str]:
        ds = datasette_app.app(project)
        response = await ds.client.get(f"/kiln/images.json?_search={words}&_shape=array")
        assert response.status_code == 200
        return sorted(row["id"] for row in response.json())

    assert asyncio.run(search("kites")) == [KITE, KITES]
    assert asyncio.run(search("running")) == [FOX]
