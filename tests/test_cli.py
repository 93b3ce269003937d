"""The command line: exact output for check, plan, init and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kiln.cli import cli


def invoke(project: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "-C", str(project)])


def test_check_lists_each_recipe(project_dir, write_recipe):
    write_recipe("a", 'prompt = "{x|y}"\n')
    write_recipe("b", 'prompt = "z"\nseeds = 3\n')
    write_recipe("_defaults", 'not = "a recipe"\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 0
    assert result.output == (
        "recipes/a.toml: ok, 2 jobs\n"
        "recipes/b.toml: ok, 3 jobs\n"
        "2 recipes checked, no problems.\n"
    )


def test_check_reports_every_problem_and_fails(project_dir, write_recipe):
    write_recipe("a", 'prompt = "x"\nsteps = "many"\n')
    write_recipe("b", 'prompt = 3\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 1
    assert result.output == (
        'error: recipes/a.toml:2: steps: expected an integer from 1 to 200, got "many"\n'
        "error: recipes/b.toml:1: prompt: expected a string, got 3\n"
        "2 problems found; nothing was run.\n"
    )


def test_bad_recipe_stops_run_before_anything_is_written(project_dir, write_recipe):
    write_recipe("good", 'prompt = "x"\nsize = "64x64"\nsteps = 1\n')
    write_recipe("bad", 'prompt = "x"\nsize = "tiny"\n')
    result = invoke(project_dir, "run")
    assert result.exit_code == 1
    assert 'recipes/bad.toml:2: size: expected "WIDTHxHEIGHT"' in result.output
    assert not (project_dir / "art").exists()


def test_plan_table_and_json(project_dir, write_recipe):
    write_recipe("foxes", 'prompt = "a {red|blue} fox"\nseeds = [1, 2]\nsize = "512x512"\nsteps = 8\n')
    result = invoke(project_dir, "plan", "foxes")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("new   ")
    assert lines[0].endswith("512x512  seed 1           steps 8    a red fox")
    assert lines[-1] == "foxes: 4 jobs, 0 already made, 4 to run"

    result = invoke(project_dir, "plan", "foxes", "--json")
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["prompt"], r["seed"]) for r in records] == [
        ("a red fox", 1), ("a red fox", 2), ("a blue fox", 1), ("a blue fox", 2)
    ]
    assert records[0]["axes"] == {"prompt": "a red fox", "seed": 1}
    assert records[0]["exists"] is False
    assert records[0]["template"] == "a {red|blue} fox"
    assert set(records[0]) >= {"key", "engine", "model", "width", "height", "steps", "guidance", "negative_prompt"}


def test_plan_marks_existing_jobs(project_dir, write_recipe):
    write_recipe("one", 'prompt = "a fox"\nseeds = [1]\nsize = "64x64"\nsteps = 1\n')
    assert invoke(project_dir, "run").exit_code == 0
    result = invoke(project_dir, "plan", "one")
    assert result.output.splitlines()[0].startswith("done  ")
    assert result.output.splitlines()[-1] == "one: 1 jobs, 1 already made, 0 to run"


def test_plan_unknown_recipe(project_dir):
    result = invoke(project_dir, "plan", "nope")
    assert result.exit_code == 1
    assert result.output == 'error: recipes: no recipe named "nope"\n1 problem found; nothing was run.\n'


def test_outside_a_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 1
    assert "no kiln.toml found in" in result.output
    assert "run 'kiln init' to start a project here" in result.output


def test_project_found_from_a_subfolder(project_dir, write_recipe, monkeypatch):
    write_recipe("a", 'prompt = "x"\n')
    monkeypatch.chdir(project_dir / "recipes")
    result = CliRunner().invoke(cli, ["check"])
    assert result.output.endswith("1 recipe checked, no problems.\n")


def test_bad_kiln_toml(project_dir):
    (project_dir / "kiln.toml").write_text('[site]\npage_size = "ten"\n[paths]\nart = "../elsewhere"\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 1
    assert result.output == (
        'error: kiln.toml:2: site.page_size: expected an integer, got "ten"\n'
        'error: kiln.toml:4: paths.art: "../elsewhere" points outside the project\n'
        "2 problems found; nothing was run.\n"
    )


def test_init_then_check(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "new")])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"created {tmp_path / 'new' / 'kiln.toml'}"
    result = invoke(tmp_path / "new", "check")
    assert result.output == "recipes/first.toml: ok, 4 jobs\n1 recipe checked, no problems.\n"
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "new")])
    assert again.exit_code == 1
    assert "already exists" in again.output
