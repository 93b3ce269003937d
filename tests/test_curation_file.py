"""Curation files: export as JSON Lines, import onto the same or a rebuilt store."""

from __future__ import annotations

import json

import pytest

from kiln.errors import InputError
from kiln.library.curation import Change, apply_change, image_states, undo
from kiln.library.curation_file import export_lines, import_curation, write_export
from kiln.store import open_store

from test_curation import A, B, C, add


@pytest.fixture
def curated(store):
    add(store, "foxes", [A, B, C])
    apply_change(store, [C], Change(rating=5, status="selected"), "cli")
    apply_change(store, [A], Change(add_tags=("sky", "dusk"), note="très bien"), "cli")
    return store


@pytest.fixture
def fresh(tmp_path):
    store = open_store(tmp_path / "rebuilt" / "kiln.db")
    yield store
    store.close()


def states(store, ids=(A, B, C)):
    return image_states(store, list(ids))


def test_export_is_sorted_stable_and_skips_uncurated_images(curated):
    assert list(export_lines(curated)) == [
        '{"id": "aaaa000000000001", "job_key": "job-aaaa000000000001", "recipe": "foxes", "rating": 0,'
        ' "status": "", "tags": ["dusk", "sky"], "notes": "très bien"}',
        '{"id": "cccc000000000003", "job_key": "job-cccc000000000003", "recipe": "foxes", "rating": 5,'
        ' "status": "selected", "tags": [], "notes": ""}',
    ]


def test_round_trip_onto_a_rebuilt_store(curated, fresh, tmp_path):
    path = tmp_path / "curation.jsonl"
    assert write_export(curated, path) == 2
    add(fresh, "foxes", [A, B, C])
    report = import_curation(fresh, path.read_text(), "curation.jsonl")
    assert report.lines() == [
        "2 matched (0 by job key), 0 already as in the file, 0 not found, 0 conflicts",
        "1 image rated 5, 1 image picked, tags changed on 1 image (+dusk +sky), note set on 1 image"
        " (kiln undo reverts this import)",
    ]
    assert states(fresh) == states(curated)
    again = import_curation(fresh, path.read_text(), "curation.jsonl")
    assert again.lines() == [
        "2 matched (0 by job key), 2 already as in the file, 0 not found, 0 conflicts",
        "nothing to change",
    ]
    assert undo(fresh).message.startswith("undid: 1 image rated 5, 1 image picked, tags changed on 1 image")
    assert all(s["rating"] == 0 and not s["tags"] for s in states(fresh))


def test_images_made_again_with_other_bytes_match_by_job_key(curated, fresh, tmp_path):
    text = "".join(f"{line}\n" for line in export_lines(curated))
    # The same jobs, but an engine that made other bytes: new ids, the same job keys.
    add(fresh, "foxes", ["ffff000000000001", "ffff000000000003"], keys=[f"job-{A}", f"job-{C}"])
    report = import_curation(fresh, text, "c.jsonl")
    assert report.lines()[0] == "2 matched (2 by job key), 0 already as in the file, 0 not found, 0 conflicts"
    assert states(fresh, ["ffff000000000003"])[0]["rating"] == 5


def test_unmatched_lines_are_reported(fresh):
    add(fresh, "foxes", [A])
    text = json.dumps({"id": "dddd000000000009", "job_key": "job-x", "rating": 2}) + "\n" + json.dumps({"id": A, "rating": 1})
    report = import_curation(fresh, text, "c.jsonl")
    assert report.lines() == [
        "1 matched (0 by job key), 0 already as in the file, 1 not found, 0 conflicts",
        "not found: line 1 (id dddd000000000009, job key job-x)",
        "1 image rated 1 (kiln undo reverts this import)",
    ]


def test_conflicts_change_nothing_unless_overwrite(curated, tmp_path):
    text = "\n".join([
        json.dumps({"id": A, "tags": ["draft"]}),   # A has its own tags: a conflict
        json.dumps({"id": B, "rating": 3}),         # B is not curated: taken
        json.dumps({"id": C, "rating": 5, "status": "selected"}),  # as it is
    ])
    before = states(curated)
    refused = import_curation(curated, text, "c.jsonl")
    assert refused.lines() == [
        "3 matched (0 by job key), 1 already as in the file, 0 not found, 1 conflict",
        'conflict: line 1, image aaaa000000000001: tags ["dusk", "sky"] here, ["draft"] in the file',
        "nothing changed: --overwrite lets the file win",
    ]
    assert states(curated) == before
    dry = import_curation(curated, text, "c.jsonl", overwrite=True, dry_run=True)
    assert dry.lines()[-1] == (
        "dry run, nothing changed; the import would do: 1 image rated 3, tags changed on 1 image (+draft \u2212dusk \u2212sky)"
    )
    assert states(curated) == before
    import_curation(curated, text, "c.jsonl", overwrite=True)
    after = {s["id"]: s for s in states(curated)}
    assert (after[A]["tags"], after[A]["notes"], after[B]["rating"]) == (["draft"], "très bien", 3)


def test_bad_lines_are_all_named_and_nothing_changes(curated):
    text = "\n".join([
        json.dumps({"id": B, "rating": 4}),
        "{not json",
        json.dumps({"id": A, "rating": 7, "status": "kept"}),
        "[1, 2]",
        json.dumps({"rating": 1}),
        json.dumps({"id": B, "tags": ["a,b"], "stars": 2}),
    ])
    with pytest.raises(InputError) as caught:
        import_curation(curated, text, "curation.jsonl")
    assert [str(p) for p in caught.value.problems] == [
        "curation.jsonl:2: not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        "curation.jsonl:3: rating: expected a whole number from 0 to 5, got 7",
        'curation.jsonl:3: status: expected "selected", "rejected" or "", got "kept"',
        "curation.jsonl:4: expected a JSON object, one image per line",
        "curation.jsonl:5: names no image: give an id or a job_key",
        "curation.jsonl:6: stars: unknown key (expected id, job_key, recipe, rating, status, tags, notes)",
        "curation.jsonl:6: tags: tag 'a,b' contains a comma; give each tag on its own",
        "curation.jsonl:6: id: bbbb000000000002 is also on line 1",
    ]
    assert states(curated, [B])[0]["rating"] == 0


def test_two_lines_for_one_image_are_refused(curated):
    text = json.dumps({"id": A, "rating": 1}) + "\n" + json.dumps({"id": "eeee000000000000", "job_key": f"job-{A}"})
    with pytest.raises(InputError) as caught:
        import_curation(curated, text, "c.jsonl")
    assert str(caught.value) == f"c.jsonl:2: image {A} is also on line 1"
