"""``kiln import-queue``: a legacy queue file through import, check and plan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from images import image_bytes
from click.testing import CliRunner

from kiln.cli import cli

QUEUE = Path(__file__).parent / "fixtures" / "legacy_queue.json"


def invoke(project: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "-C", str(project)])


@pytest.fixture
def legacy_project(project_dir):
    (project_dir / "kiln.toml").write_text(
        '[project]\ntitle = "Imported"\n\n[styles.film]\nprompt = "{prompt}, 35mm film"\nnegative = "cgi"\n'
    )
    (project_dir / "prompts").mkdir()
    (project_dir / "prompts" / "portrait_v1.txt").write_text("portrait of a {young|old} sailor, {calm|stern} face\n")
    (project_dir / "wildcards").mkdir()
    (project_dir / "wildcards" / "animals.txt").write_text("fox\nowl\n")
    for name in ("faces/ana.png", "poses/p1.png", "poses/p2.png", "foxes/a.png", "foxes/b.png"):
        path = project_dir / "references" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(name))
    return project_dir


IMPORTED = """\
wrote recipes/foxes-weather.toml: foxes-weather
wrote recipes/portraits.toml: portraits-1, portraits-2
wrote recipes/wildcard-mornings.toml: wildcard-mornings
wrote recipes/ungrouped.toml: ungrouped
not carried over:
  group 'Portraits' lists entry 'qe_missing', which the file does not hold
  portraits-1: style 'cinematic' is not defined in kiln.toml or styles.toml; the line is commented out
  portraits-2: extParams.cfgScale 7: guidance is taken from guidanceScale
  wildcard-mornings: wildcard files scenes: copy them into wildcards/ (one prompt per line)
  wildcard-mornings: resolution preset '8k' is larger than 4096 pixels; made 4096
  wildcard-mornings: extParams.steps 9999 is not an integer from 1 to 200
  wildcard-mornings: extParams.regions {"sky": 1} is not a single value
  wildcard-mornings: imagesPerBatch 4: kiln makes one image per job, until the target
  wildcard-mornings: "faces/ben.png": no file references/faces/ben.png (copy the reference images into references/)
  ungrouped: seed 77: images after the first use seeds derived from it
imported 4 groups (5 entries), 4 files written, 0 skipped
"""

PORTRAITS = """\
# Imported from a legacy queue: group "Portraits".

[[batch]]
title = "Portraits 1"
# legacy entry qe_portrait_library
# style = "cinematic"  (define [styles.cinematic] in kiln.toml, then uncomment)
engine = "placeholder"
model = "seedream-v4"
prompt = { library = "portrait_v1" }
size = { long_edge = 2048, aspect = "2:3" }
steps = 30
guidance = 6.5
mode = "random"
max_prompts = 3
seed_policy = "per_prompt"
count = 2
params = { strength = 0.55 }
references = ["faces/ana.png", "!poses"]

[[batch]]
title = "Portraits 2"
# legacy entry qe_portrait_target
enabled = false
engine = "placeholder"
model = "seedream-v4"
prompt = "studio portrait of an old sailor, soft light"
size = "1024x1536"
style = "film"
guidance = 3.5
target = 10
tolerance = 2
params = { safety_checker = false }
"""


def test_import_check_and_plan_round_trip(legacy_project):
    result = invoke(legacy_project, "import-queue", str(QUEUE))
    assert result.exit_code == 0, result.output
    assert result.output == IMPORTED
    assert (legacy_project / "recipes" / "portraits.toml").read_text() == PORTRAITS

    result = invoke(legacy_project, "check")
    assert result.exit_code == 1
    assert result.output == (
        "recipes/foxes-weather.toml: ok, 10 jobs\n"
        "recipes/portraits.toml [1]: ok, 6 jobs\n"
        "recipes/portraits.toml [2]: ok, target 10 (±2), disabled\n"
        "recipes/ungrouped.toml: ok, 2 jobs\n"
        "error: recipes/wildcard-mornings.toml:6: prompt: no wildcard file for __scenes__ in wildcards/\n"
        'error: recipes/wildcard-mornings.toml:14: references: "faces/ben.png": no file references/faces/ben.png\n'
        "2 problems found; nothing was run.\n"
    )

    # What the report asked for: copy the missing files in.
    (legacy_project / "wildcards" / "scenes.txt").write_text("misty dawn\nlow tide\n")
    (legacy_project / "references" / "faces" / "ben.png").write_bytes(image_bytes("faces/ben.png"))
    result = invoke(legacy_project, "check")
    assert result.exit_code == 0
    assert result.output.splitlines()[-2:] == [
        "recipes/wildcard-mornings.toml: ok, target 20 (±3)",
        "5 recipes checked, no problems.",
    ]

    result = invoke(legacy_project, "plan", "ungrouped")
    assert result.output == (
        "ungrouped (recipes/ungrouped.toml): 2 jobs\n"
        "  seed         2 values  77 | 3098569273\n"
        "  image        2 values  0 | 1\n"
        "     key               image  seed        prompt\n"
        "new  d93b55e41ac319b6  0      77          a lighthouse at dusk\n"
        "new  186e1ddd6d372aa7  1      3098569273  a lighthouse at dusk\n"
        "ungrouped: 2 jobs, 0 already made, 2 to run\n"
    )

    result = invoke(legacy_project, "plan", "portraits", "--json")
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == 6 + 10
    assert {r["model"] for r in records} == {"seedream-v4"}
    first = records[0]
    assert (first["width"], first["height"], first["steps"], first["guidance"]) == (1360, 2048, 30, 6.5)
    assert first["params"] == {"strength": 0.55}
    assert first["template"] == "portrait of a {young|old} sailor, {calm|stern} face"
    assert [ref["path"] for ref in first["references"]][0] == "references/faces/ana.png"
    assert records[6]["prompt"] == "studio portrait of an old sailor, soft light, 35mm film"
    assert records[6]["negative_prompt"] == "cgi"

    result = invoke(legacy_project, "plan", "foxes-weather", "--json")
    assert len(result.output.splitlines()) == 10


def test_import_never_overwrites_without_force(legacy_project):
    (legacy_project / "recipes" / "portraits.toml").write_text('prompt = "mine"\n')
    result = invoke(legacy_project, "import-queue", str(QUEUE))
    assert "skipped recipes/portraits.toml: it exists (--force overwrites it)" in result.output.splitlines()
    assert result.output.splitlines()[-1] == "imported 3 groups (3 entries), 3 files written, 1 skipped"
    assert (legacy_project / "recipes" / "portraits.toml").read_text() == 'prompt = "mine"\n'
    result = invoke(legacy_project, "import-queue", str(QUEUE), "--force")
    assert (legacy_project / "recipes" / "portraits.toml").read_text() == PORTRAITS
    assert result.output.splitlines()[-1] == "imported 4 groups (5 entries), 4 files written, 0 skipped"


def test_import_errors(legacy_project, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = invoke(legacy_project, "import-queue", str(bad))
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {bad}: not a JSON queue file (")
    bad.write_text('{"groups": {}}')
    result = invoke(legacy_project, "import-queue", str(bad))
    assert result.output == f'error: {bad}: expected a queue with "groups" and "entries" lists\n'
    result = invoke(legacy_project, "import-queue", str(QUEUE), "--engine", "comfy")
    assert result.output == "error: no engine named 'comfy' in kiln.toml\n"


def test_imported_recipes_use_the_named_engine(legacy_project):
    config = legacy_project / "kiln.toml"
    config.write_text(config.read_text() + '\n[engines.remote]\ntype = "placeholder"\n')
    shutil.copy(QUEUE, legacy_project / "queue.json")
    invoke(legacy_project, "import-queue", str(legacy_project / "queue.json"), "--engine", "remote")
    assert 'engine = "remote"' in (legacy_project / "recipes" / "ungrouped.toml").read_text()
