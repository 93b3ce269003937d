"""The curation library: changes, their history, undo, and choosing images by prefix or selection."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.errors import KilnError
from kiln.library import curation
from kiln.library.curation import Change, apply_change, image_states, resolve_ids, select_ids, undo

STAMP = "2026-01-01T00:00:00.000Z"


def add(store, recipe, ids, prompt="a red fox in snow", keys=None):
    """Image rows (no files) made by jobs of ``recipe`` (keyed ``job-ID`` unless ``keys``), with
    default curation."""
    with store.transaction() as db:
        if not db["recipes"].count_where("name = ?", [recipe]):
            db["recipes"].insert({"name": recipe, "path": f"recipes/{recipe}.toml", "title": recipe,
                                  "source_sha256": "0", "updated_at": STAMP})
        for n, image_id in enumerate(ids):
            key = keys[n] if keys else f"job-{image_id}"
            db["jobs"].insert({"key": key, "spec": "{}", "recipe": recipe, "engine": "placeholder", "model": "m",
                               "status": "succeeded", "queued_at": STAMP, "image_id": image_id})
            db["recipe_jobs"].insert({"recipe": recipe, "job_key": key, "position": n, "axes": "{}"})
            db["images"].insert({"id": image_id, "path": f"original/{image_id}.png", "width": 8, "height": 8,
                                 "bytes": 10, "sha256": "0" * 64, "format": "png", "job_key": key,
                                 "recipe": recipe, "prompt": prompt, "created_at": STAMP})


A, B, C = "aaaa000000000001", "bbbb000000000002", "cccc000000000003"


@pytest.fixture
def three(store):
    add(store, "foxes", [A, B, C])
    return store


def history(store):
    return store.query("SELECT batch, image_id, job_key, field, old, new, source, undone FROM history ORDER BY id")


def snapshot(store):
    return store.query("SELECT id, rating, status, tags, notes FROM images ORDER BY id")


# Change -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rating": 6}, "rating must be a whole number from 0 to 5 (0 clears it), got 6"),
        ({"rating": -1}, "rating must be a whole number from 0 to 5 (0 clears it), got -1"),
        ({"rating": True}, "rating must be a whole number from 0 to 5 (0 clears it), got true"),
        ({"rating": "3"}, 'rating must be a whole number from 0 to 5 (0 clears it), got "3"'),
        ({"status": "picked"}, 'status must be "selected", "rejected" or "" (clear), got "picked"'),
        ({"add_tags": ("a,b",)}, "tag 'a,b' contains a comma; give each tag on its own"),
        ({"add_tags": ("  ",)}, "a tag cannot be empty"),
        ({"add_tags": ("sky",), "remove_tags": (" sky",)}, "tag 'sky' is both added and removed"),
        ({"note": 3}, "a note must be text, got 3"),
    ],
)
def test_change_rejects_bad_values(kwargs, message):
    with pytest.raises(KilnError) as caught:
        Change(**kwargs)
    assert str(caught.value) == message


def test_change_trims_and_dedupes_tags():
    assert Change(add_tags=(" sky ", "sky", "dusk")).add_tags == ("sky", "dusk")


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"rating": 3}, Change(rating=3)),
        ({"status": ""}, Change(status="")),
        ({"tags": ["+a", "-b", "c"]}, Change(add_tags=("a", "c"), remove_tags=("b",))),
        ({"note": ""}, Change(note="")),
        ({"rating": 5, "status": "selected"}, Change(rating=5, status="selected")),
    ],
)
def test_change_from_json(data, expected):
    assert Change.from_json(data) == expected


@pytest.mark.parametrize(
    "data, message",
    [
        ([], 'a change must be a JSON object such as {"rating": 3}'),
        ({}, "the change is empty: give rating, status, tags or note"),
        ({"stars": 3}, "unknown key 'stars' in change (expected rating, status, tags or note)"),
        ({"tags": "sky"}, 'tags must be a list such as ["+sky", "-draft"], got "sky"'),
        ({"tags": [1]}, "a tag must be text, got 1"),
        ({"rating": 9}, "rating must be a whole number from 0 to 5 (0 clears it), got 9"),
    ],
)
def test_change_from_json_errors(data, message):
    with pytest.raises(KilnError) as caught:
        Change.from_json(data)
    assert str(caught.value) == message


# apply_change -----------------------------------------------------------------------------


def test_rating_is_applied_and_recorded(three):
    result = apply_change(three, [A, B, C], Change(rating=4), "cli")
    assert result.describe() == "3 images rated 4"
    assert (result.changed, result.batch) == (3, 1)
    assert result.images == [{"id": i, "rating": 4, "status": "", "tags": [], "notes": ""} for i in (A, B, C)]
    assert history(three) == [
        {"batch": 1, "image_id": i, "job_key": f"job-{i}", "field": "rating", "old": "0", "new": "4",
         "source": "cli", "undone": 0}
        for i in (A, B, C)
    ]


def test_only_what_changed_is_recorded_and_each_call_is_a_batch(three):
    apply_change(three, [A], Change(rating=4), "cli")
    result = apply_change(three, [A, B], Change(rating=4), "server")
    assert result.describe() == "1 image rated 4, 1 image unchanged"
    assert [(r["batch"], r["image_id"], r["source"]) for r in history(three)] == [(1, A, "cli"), (2, B, "server")]


def test_nothing_changed_records_nothing(three):
    apply_change(three, [A, B], Change(status="selected"), "cli")
    result = apply_change(three, [A, B], Change(status="selected"), "cli")
    assert (result.describe(), result.changed, result.batch) == ("2 images unchanged", 0, None)
    assert len(history(three)) == 2


@pytest.mark.parametrize(
    "change, message",
    [
        (Change(status="selected"), "1 image picked"),
        (Change(status="rejected"), "1 image rejected"),
        (Change(note="keeper"), "note set on 1 image"),
        (Change(add_tags=("sky",)), "tags changed on 1 image (+sky)"),
        (Change(rating=5, status="selected"), "1 image rated 5, 1 image picked"),
    ],
)
def test_describe(three, change, message):
    assert apply_change(three, [A], change, "cli").describe() == message


def test_clearing(three):
    apply_change(three, [A, B], Change(rating=3, status="rejected", note="meh"), "cli")
    assert apply_change(three, [A, B, C], Change(rating=0), "cli").describe() == "rating cleared on 2 images, 1 image unchanged"
    assert apply_change(three, [A], Change(status=""), "cli").describe() == "1 image cleared"
    assert apply_change(three, [A, B], Change(note=""), "cli").describe() == "note cleared on 2 images"
    assert three.query("SELECT status FROM images WHERE id = ?", [A]) == [{"status": None}]


def test_tags_are_a_sorted_unique_list(three):
    apply_change(three, [A, B], Change(add_tags=("sky", "draft", "Dusk")), "cli")
    result = apply_change(three, [A, B, C], Change(add_tags=("sky",), remove_tags=("draft",)), "cli")
    assert result.describe() == "tags changed on 3 images (+sky \u2212draft)"
    rows = three.query("SELECT id, tags FROM images ORDER BY id")
    assert [json.loads(r["tags"]) for r in rows] == [["Dusk", "sky"], ["Dusk", "sky"], ["sky"]]
    assert [(r["old"], r["new"]) for r in history(three)[-3:]] == [
        ('["Dusk", "draft", "sky"]', '["Dusk", "sky"]'), ('["Dusk", "draft", "sky"]', '["Dusk", "sky"]'), ("[]", '["sky"]')
    ]


def test_a_note_is_searchable(three):
    apply_change(three, [B], Change(note="the lighthouse one"), "cli")
    assert select_ids(three, search="lighthouse") == [B]
    apply_change(three, [B], Change(note=""), "cli")
    assert select_ids(three, search="lighthouse") == []


def test_ratings_leave_the_search_index_alone_and_notes_keep_it_in_step(three):
    index = "SELECT * FROM images_fts_data ORDER BY id"
    before = three.query(index)
    apply_change(three, [A, B], Change(rating=3, status="selected", add_tags=("sky",)), "cli")
    assert three.query(index) == before
    apply_change(three, [A], Change(note="harbour"), "cli")
    three.conn.execute("UPDATE images SET prompt = 'a grey heron' WHERE id = ?", [C])
    three.conn.execute("INSERT INTO images_fts (images_fts) VALUES ('integrity-check')")
    assert (select_ids(three, search="harbour"), select_ids(three, search="heron")) == ([A], [C])


def test_unknown_ids_change_nothing(three):
    with pytest.raises(KilnError, match="no image with id dddd000000000004"):
        apply_change(three, [A, "dddd000000000004"], Change(rating=2), "cli")
    assert image_states(three, [A])[0]["rating"] == 0
    assert history(three) == []


def test_an_empty_change_is_refused(three):
    with pytest.raises(KilnError, match="nothing to change"):
        apply_change(three, [A], Change(), "cli")


def test_image_states_in_order_without_unknown_ids(three):
    apply_change(three, [C], Change(rating=1), "cli")
    states = image_states(three, [C, "nope", A])
    assert [(s["id"], s["rating"]) for s in states] == [(C, 1), (A, 0)]


# undo -------------------------------------------------------------------------------------


def test_undo_walks_back_one_batch_at_a_time(three):
    apply_change(three, [A, B, C], Change(rating=4), "cli")
    apply_change(three, [A], Change(status="selected"), "server")
    first = undo(three)
    assert first.message.startswith("undid: 1 image picked (server, ")
    assert re.fullmatch(r"undid: 1 image picked \(server, \d{4}-\d\d-\d\d \d\d:\d\d\)", first.message)
    assert first.images == [{"id": A, "rating": 4, "status": "", "tags": [], "notes": ""}]
    second = undo(three)
    assert second.message.startswith("undid: 3 images rated 4 (cli, ")
    assert [s["rating"] for s in image_states(three, [A, B, C])] == [0, 0, 0]
    assert undo(three).message == "nothing to undo"
    rows = history(three)
    assert [(r["batch"], r["source"], r["undone"]) for r in rows] == [
        (1, "cli", 1), (1, "cli", 1), (1, "cli", 1), (2, "server", 1), (3, "undo", 0),
        (4, "undo", 0), (4, "undo", 0), (4, "undo", 0),
    ]


def test_undo_restores_old_values_even_after_later_changes(three):
    apply_change(three, [A], Change(rating=2), "cli")
    apply_change(three, [A], Change(add_tags=("sky",)), "cli")
    three.conn.execute("UPDATE images SET rating = 5 WHERE id = ?", [A])  # changed outside kiln
    undo(three)
    undo(three)
    assert image_states(three, [A]) == [{"id": A, "rating": 0, "status": "", "tags": [], "notes": ""}]


def test_undo_of_an_image_deleted_since(three):
    apply_change(three, [A, B], Change(rating=3), "cli")
    three.conn.execute("DELETE FROM images WHERE id = ?", [B])
    result = undo(three)
    assert result.message.endswith("; 1 image no longer in the store")
    assert [s["id"] for s in result.images] == [A]


changes = st.one_of(
    st.builds(Change, rating=st.integers(0, 5)),
    st.builds(Change, status=st.sampled_from(["selected", "rejected", ""])),
    st.builds(Change, add_tags=st.lists(st.sampled_from(["a", "b", "c"]), max_size=2).map(tuple)),
    st.builds(Change, remove_tags=st.lists(st.sampled_from(["a", "b"]), max_size=2).map(tuple)),
    st.builds(Change, note=st.text(max_size=5)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.lists(st.sampled_from([A, B, C]), min_size=1), changes), max_size=6))
def test_undoing_everything_restores_the_start(three, steps):
    start = snapshot(three)
    made = 0
    for ids, change in steps:
        if not change.is_empty:
            made += apply_change(three, ids, change, "cli").batch is not None
    for _ in range(made):
        assert undo(three).message.startswith("undid: ")
    assert undo(three).message == "nothing to undo"
    assert snapshot(three) == start
    three.conn.execute("DELETE FROM history")


# resolve_ids ------------------------------------------------------------------------------


def test_prefixes_resolve_to_full_ids(three):
    add(three, "more", ["aaab000000000009"])
    assert resolve_ids(three, ["bbbb", "CCCC0000", A, "bbbb0"]) == [B, C, A]


@pytest.mark.parametrize(
    "prefix, message",
    [
        ("abc", "'abc' is too short: give at least 4 digits of an image id"),
        ("fox!", "'fox!' is not an image id (ids are hex digits, such as 3f9a2c1d)"),
        ("dddd", "no image matches 'dddd'"),
        ("aaaa", "'aaaa' matches 4 images (aaaa000000000001, aaaa000000000005, aaaa000000000006, …): give more digits"),
    ],
)
def test_bad_prefixes_are_named(three, prefix, message):
    add(three, "more", ["aaaa000000000005", "aaaa000000000006", "aaaa000000000007"])
    with pytest.raises(KilnError) as caught:
        resolve_ids(three, [prefix])
    assert str(caught.value) == message


def test_every_bad_prefix_is_reported_at_once(three):
    with pytest.raises(KilnError) as caught:
        resolve_ids(three, ["dddd", "aaaa", "eeee"])
    assert str(caught.value) == "no image matches 'dddd'; no image matches 'eeee'"


# select_ids -------------------------------------------------------------------------------


def test_select_by_recipe_search_and_where(three):
    add(three, "lighthouses", ["dddd000000000004", "eeee000000000005"], prompt="a lighthouse at dusk")
    apply_change(three, [A, "dddd000000000004"], Change(rating=5), "cli")
    assert select_ids(three, recipe="lighthouses") == ["dddd000000000004", "eeee000000000005"]
    assert select_ids(three, search="lighthouse dusk") == ["dddd000000000004", "eeee000000000005"]
    assert select_ids(three, search='"dusk lighthouse"') == []
    assert select_ids(three, where="rating = 5") == [A, "dddd000000000004"]
    assert select_ids(three, recipe="lighthouses", where="rating = 5") == ["dddd000000000004"]
    assert select_ids(three, recipe="foxes", search="lighthouse") == []


def test_unknown_recipe_suggests_a_name(three):
    with pytest.raises(KilnError) as caught:
        select_ids(three, recipe="foxs")
    assert str(caught.value) == "--recipe: no recipe named 'foxs'; did you mean 'foxes'?"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "no selection: give --recipe, --search or --where"),
        ({"search": ' "" '}, "--search: give at least one word"),
        ({"where": "  "}, "--where: the clause is empty"),
        ({"where": "rating >"}, '--where: near ")": syntax error'),
        ({"where": "stars = 5"}, "--where: no such column: stars"),
    ],
)
def test_selection_errors(three, kwargs, message):
    with pytest.raises(KilnError) as caught:
        select_ids(three, **kwargs)
    assert str(caught.value) == message


ATTACKS = [
    "1); DROP TABLE images; --",
    "1); UPDATE images SET rating = 5; --",
    "1); DELETE FROM history; --",
    "1) OR (SELECT 1 FROM pragma_writable_schema)",
    "1); PRAGMA query_only = 0; UPDATE images SET rating = 5; --",
    "1); ATTACH DATABASE 'evil.db' AS evil; --",
    "1) UNION SELECT 'x'; CREATE TABLE evil (x); --",
    "id IN (WITH t AS (DELETE FROM images RETURNING id) SELECT id FROM t)",
    "1); VACUUM; --",
]


@pytest.mark.parametrize("clause", ATTACKS)
def test_where_never_writes(three, clause, tmp_path):
    apply_change(three, [A], Change(rating=2), "cli")
    before = (snapshot(three), history(three), three.db.table_names())
    try:
        select_ids(three, where=clause)
    except KilnError as error:
        assert str(error).startswith("--where: ")
    assert (snapshot(three), history(three), three.db.table_names()) == before
    assert not (tmp_path / "evil.db").exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(clause=st.lists(st.sampled_from(
    ["1", ")", "(", ";", "--", "DROP TABLE images", "UPDATE images SET rating = 5", "DELETE FROM images",
     "INSERT INTO history (batch) VALUES (1)", "OR", "rating", "=", "'", "SELECT", "PRAGMA query_only = 0"]
), min_size=1, max_size=8).map(" ".join))
def test_no_where_clause_changes_anything(three, clause):
    before = (snapshot(three), three.db.table_names())
    try:
        ids = select_ids(three, where=clause)
    except KilnError as error:
        assert str(error).startswith("--where: ")
    else:
        assert set(ids) <= {A, B, C}
    assert (snapshot(three), three.db.table_names()) == before


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.text(alphabet=st.sampled_from('ab "*-:^()+.,\'NEAROTAND\x00é'), max_size=12))
def test_any_search_finds_or_says_why(three, words):
    try:
        assert set(select_ids(three, search=words)) <= {A, B, C}
    except KilnError as error:
        assert str(error).startswith("--search: ")


def test_an_endless_where_is_stopped(three, monkeypatch):
    monkeypatch.setattr(curation, "WHERE_TIME_LIMIT_S", 0.2)
    endless = "id IN (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n WHERE x < 0)"
    with pytest.raises(KilnError, match=r"--where: stopped after 0 s; make the clause cheaper"):
        select_ids(three, where=endless)


def test_the_where_connection_cannot_write_even_one_statement(three):
    conn = curation._read_only(three)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("UPDATE images SET rating = 5")
        # Lifting query_only is not enough: the file itself is open read-only.
        conn.execute("PRAGMA query_only = 0")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM history")
    finally:
        conn.close()
    assert [s["rating"] for s in image_states(three, [A, B, C])] == [0, 0, 0]
