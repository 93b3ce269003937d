"""kiln rate, pick, reject, clear, tag, note, show, undo and curation export/import: exact output."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from kiln.cli import cli
from kiln.library.curation import image_states
from kiln.store import open_store

from test_curation import A, B, C, STAMP, add


@pytest.fixture
def shop(project_dir, store):
    add(store, "foxes", [A, B])
    add(store, "herons", [C], prompt="a grey heron at dawn")
    return project_dir


def kiln(project, *args, stdin=None):
    return CliRunner().invoke(cli, [*args, "-C", str(project)], input=stdin)


def states(store, *ids):
    return {s["id"][:4]: (s["rating"], s["status"], s["tags"], s["notes"]) for s in image_states(store, list(ids))}


def test_rate_by_prefix(shop, store):
    result = kiln(shop, "rate", "aaaa", "BBBB00", "4")
    assert (result.exit_code, result.output) == (0, "2 images rated 4\n")
    assert kiln(shop, "rate", "aaaa", "bbbb", "cccc", "4").output == "1 image rated 4, 2 images unchanged\n"
    assert kiln(shop, "rate", "aaaa", "0").output == "rating cleared on 1 image\n"
    assert states(store, A, B)["aaaa"][0] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["rate"], "give the images and then the rating: kiln rate ID... N (N from 0 to 5)"),
        (["rate", "aaaa"], "the rating comes last and is a number from 0 to 5 (0 clears it), got 'aaaa'"),
        (["rate", "aaaa", "7"], "the rating comes last and is a number from 0 to 5 (0 clears it), got '7'"),
        (["rate", "4"], "give image IDs (4 or more digits of each), or --recipe, --search or --where"),
        (["rate", "dddd", "4"], "no image matches 'dddd'"),
        (["rate", "aaa", "4"], "'aaa' is too short: give at least 4 digits of an image id"),
        (["pick", "aaaa", "--recipe", "foxes"],
         "give image IDs or a selection (--recipe, --search, --where), not both: aaaa"),
        (["pick", "--recipe", "fox"], "--recipe: no recipe named 'fox'; did you mean 'foxes'?"),
        (["pick", "--search", "otter"], "no image matches --search 'otter'"),
        (["pick", "--where", "rating >"], '--where: near ")": syntax error'),
        (["reject", "--where", "1); DROP TABLE images; --"], "--where: You can only execute one statement at a time."),
        (["tag", "aaaa"], "give the images and then the tags: kiln tag ID... +tag -tag (a word without a sign is added)"),
        (["tag", "aaaa", "+a,b"], "tag 'a,b' contains a comma; give each tag on its own"),
        (["note", "aaaa", "a", "b"], "give one image and the note in quotes: kiln note ID TEXT"),
        (["note", "--recipe", "foxes"], "give one image and the note in quotes: kiln note --recipe NAME TEXT"),
        (["show", "dddd"], "no image matches 'dddd'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(shop, store, args, message):
    result = kiln(shop, *args)
    assert (result.exit_code, result.output) == (1, f"error: {message}\n")
    assert states(store, A, B, C) == {i: (0, "", [], "") for i in ("aaaa", "bbbb", "cccc")}
    assert store.db["history"].count == 0


def test_pick_reject_clear(shop, store):
    assert kiln(shop, "pick", "aaaa", "bbbb").output == "2 images picked\n"
    assert kiln(shop, "reject", "bbbb").output == "1 image rejected\n"
    assert kiln(shop, "clear", "aaaa", "bbbb", "cccc").output == "2 images cleared, 1 image unchanged\n"
    assert kiln(shop, "clear", "cccc").output == "1 image unchanged\n"


def test_selections(shop, store):
    assert kiln(shop, "rate", "--recipe", "foxes", "3").output == "2 images rated 3\n"
    assert kiln(shop, "pick", "--search", "heron dawn").output == "1 image picked\n"
    assert kiln(shop, "reject", "--where", "rating = 3 AND id LIKE 'bbbb%'").output == "1 image rejected\n"
    assert kiln(shop, "rate", "--recipe", "foxes", "--where", "status IS NULL", "5").output == "1 image rated 5\n"
    assert states(store, A, B, C) == {
        "aaaa": (5, "", [], ""), "bbbb": (3, "rejected", [], ""), "cccc": (0, "selected", [], ""),
    }


def test_tags(shop, store):
    assert kiln(shop, "tag", "aaaa", "bbbb", "sky").output == "tags changed on 2 images (+sky)\n"
    assert kiln(shop, "tag", "aaaa", "+draft", "dusk").output == "tags changed on 1 image (+draft +dusk)\n"
    result = kiln(shop, "tag", "aaaa", "bbbb", "-draft", "-sky")
    assert result.output == "tags changed on 2 images (\u2212draft \u2212sky)\n"
    assert kiln(shop, "tag", "--recipe", "herons", "bird", "+grey").output == "tags changed on 1 image (+bird +grey)\n"
    assert states(store, A, B, C) == {
        "aaaa": (0, "", ["dusk"], ""), "bbbb": (0, "", [], ""), "cccc": (0, "", ["bird", "grey"], ""),
    }


def test_notes_are_set_cleared_and_searchable(shop, store):
    assert kiln(shop, "note", "aaaa", "the one for the poster").output == "note set on 1 image\n"
    assert kiln(shop, "rate", "--search", "poster", "5").output == "1 image rated 5\n"
    assert kiln(shop, "note", "aaaa", "").output == "note cleared on 1 image\n"
    assert states(store, A) == {"aaaa": (5, "", [], "")}


def test_undo_repeats_then_says_nothing(shop, store):
    kiln(shop, "rate", "aaaa", "bbbb", "4")
    kiln(shop, "pick", "aaaa")
    first, second, third = (kiln(shop, "undo").output for _ in range(3))
    assert re.fullmatch(r"undid: 1 image picked \(cli, \d{4}-\d\d-\d\d \d\d:\d\d\)\n", first)
    assert re.fullmatch(r"undid: 2 images rated 4 \(cli, \d{4}-\d\d-\d\d \d\d:\d\d\)\n", second)
    assert third == "nothing to undo\n"
    assert states(store, A, B) == {"aaaa": (0, "", [], ""), "bbbb": (0, "", [], "")}


def test_show_tells_everything(shop, store):
    with store.transaction() as db:
        db["derivatives"].insert({"image_id": A, "stage": "thumb", "path": f"thumb/{A}.webp", "width": 8,
                                  "height": 8, "bytes": 2048, "format": "webp", "created_at": STAMP})
        db["image_references"].insert({"image_id": A, "position": 0, "source_path": "references/pose.png",
                                       "sha256": "0" * 64, "thumb_path": f"ref_thumb/{'0' * 16}.webp"})
        db["images"].update(A, {"negative_prompt": "blurry", "model": "m", "engine": "placeholder", "seed": 7,
                                "steps": 20, "guidance": 6.5, "params": '{"procedural": true}'})
        db["recipe_jobs"].update(("foxes", f"job-{A}"), {"axes": '{"seed": 7}'})
    kiln(shop, "rate", "aaaa", "4")
    kiln(shop, "tag", "aaaa", "+sky", "dusk")
    lines = kiln(shop, "show", "aaaa").output.splitlines()
    history = lines[-2:]
    assert lines[:-2] == [
        "image      aaaa000000000001",
        "file       art/original/aaaa000000000001.png  8×8, 10 bytes, png",
        "created    2026-01-01 00:00:00",
        "prompt     a red fox in snow",
        "negative   blurry",
        "model      m (engine placeholder)",
        "settings   seed 7, steps 20, guidance 6.5, sampler default",
        'params     {"procedural": true}',
        "recipe     foxes #1: seed=7",
        "job        job-aaaa000000000001  succeeded",
        "rating     ★★★★☆ 4",
        "status     neither picked nor rejected",
        "tags       dusk, sky",
        "notes      none",
        "thumb      art/thumb/aaaa000000000001.webp  8×8, 2.0 KB, webp",
        "reference  references/pose.png  (kept as art/ref_thumb/0000000000000000.webp)",
    ]
    assert re.fullmatch(r"history    \S+ \S+  tags \[\] → \[dusk, sky\]  \(cli\)", history[0])
    assert re.fullmatch(r"history    \S+ \S+  rating 0 → 4  \(cli\)", history[1])


def test_export_and_import_onto_another_project(shop, store, tmp_path):
    kiln(shop, "rate", "aaaa", "5")
    kiln(shop, "tag", "cccc", "bird")
    exported = kiln(shop, "curation", "export", "-")
    assert exported.output.splitlines() == [
        json.dumps({"id": A, "job_key": f"job-{A}", "recipe": "foxes", "rating": 5, "status": "", "tags": [], "notes": ""}),
        json.dumps({"id": C, "job_key": f"job-{C}", "recipe": "herons", "rating": 0, "status": "", "tags": ["bird"],
                    "notes": ""}),
    ]
    path = tmp_path / "curation.jsonl"
    assert kiln(shop, "curation", "export", str(path)).output == f"2 curated images written to {path}\n"
    assert path.read_text() == exported.output

    other = tmp_path / "other"
    other.mkdir()
    (other / "kiln.toml").write_text('[project]\ntitle = "Rebuilt"\n')
    rebuilt = open_store(other / "art" / "kiln.db")
    add(rebuilt, "foxes", [A, B])
    add(rebuilt, "herons", [C])
    kiln(other, "rate", "cccc", "2")
    refused = kiln(other, "curation", "import", str(path))
    assert (refused.exit_code, refused.output) == (1, (
        "2 matched (0 by job key), 0 already as in the file, 0 not found, 1 conflict\n"
        f"conflict: line 2, image {C}: rating 2 here, 0 in the file; tags [] here, [\"bird\"] in the file\n"
        "nothing changed: --overwrite lets the file win\n"
    ))
    dry = kiln(other, "curation", "import", str(path), "--overwrite", "--dry-run")
    assert dry.output.splitlines()[-1] == (
        "dry run, nothing changed; the import would do: 1 image rated 5, rating cleared on 1 image,"
        " tags changed on 1 image (+bird)"
    )
    assert states(rebuilt, A, C) == {"aaaa": (0, "", [], ""), "cccc": (2, "", [], "")}
    done = kiln(other, "curation", "import", "-", "--overwrite", stdin=path.read_text())
    assert (done.exit_code, done.output.splitlines()[-1]) == (0, (
        "1 image rated 5, rating cleared on 1 image, tags changed on 1 image (+bird) (kiln undo reverts this import)"
    ))
    assert kiln(other, "curation", "export", "-").output == exported.output
    assert kiln(other, "undo").output.startswith("undid: 1 image rated 5, rating cleared on 1 image,")
    assert states(rebuilt, A, C) == {"aaaa": (0, "", [], ""), "cccc": (2, "", [], "")}
    rebuilt.close()


def test_import_names_bad_lines_and_missing_files(shop, store, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": A, "rating": 3}) + "\n\n" + json.dumps({"id": B, "rating": "five"}) + "\n")
    result = kiln(shop, "curation", "import", str(path))
    assert (result.exit_code, result.output) == (1, (
        f'error: {path}:3: rating: expected a whole number from 0 to 5, got "five"\n'
        "1 bad line; nothing was imported.\n"
    ))
    assert store.db["history"].count == 0
    missing = kiln(shop, "curation", "import", str(tmp_path / "nope.jsonl"))
    assert (missing.exit_code, missing.output) == (1, f"error: {tmp_path / 'nope.jsonl'}: No such file or directory\n")
