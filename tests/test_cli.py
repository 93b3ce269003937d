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
        'error: recipes/b.toml:1: prompt: expected a string or { library = "name" }, got 3\n'
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
    assert result.output == (
        "foxes (recipes/foxes.toml): 4 jobs\n"
        "  prompt       2 values  a red fox | a blue fox\n"
        "  seed         2 values  1 | 2\n"
        "     key               seed  prompt\n"
        "new  8603941cb848ab1b  1     a red fox\n"
        "new  1efb67313267155d  2     a red fox\n"
        "new  f5120170786aa0e3  1     a blue fox\n"
        "new  4f5dac8ea29d227e  2     a blue fox\n"
        "foxes: 4 jobs, 0 already made, 4 to run\n"
    )

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
    assert result.output.splitlines()[-2].startswith("done  9fae47bd07a97dcb  1     a fox")
    assert result.output.splitlines()[-1] == "one: 1 job, 1 already made, 0 to run"


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


def test_check_prints_warnings_and_passes(project_dir, write_recipe):
    write_recipe("a", 'prompt = "{x|y|z}"\nmax_prompts = 2\nsize = "1000x1000"\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 0
    assert result.output == (
        "recipes/a.toml: ok, 2 jobs\n"
        "warning: recipes/a.toml:1: prompt: the template has more than 2 variants; max_prompts keeps the first 2\n"
        "warning: recipes/a.toml:3: size: 1000x1000 is not a multiple of 16, the engine's size_multiple; the engine may round it\n"
        "1 recipe checked, no problems, 2 warnings.\n"
    )


def test_check_reports_expansion_problems_of_every_recipe(project_dir, write_recipe):
    write_recipe("a", 'prompt = "a __nowhere__ fox"\n')
    write_recipe("b", 'prompt = "{a|b|c}"\nseeds = 4\nmax_jobs = 10\n')
    write_recipe("c", 'prompt = "fine"\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 1
    assert result.output == (
        "recipes/c.toml: ok, 1 job\n"
        "error: recipes/a.toml:1: prompt: no wildcard file for __nowhere__ in wildcards/\n"
        "error: recipes/b.toml:3: max_jobs: the recipe expands to 12 jobs, more than the limit of 10 (raise max_jobs or shrink an axis)\n"
        "2 problems found; nothing was run.\n"
    )


def test_check_shows_batches_and_targets(project_dir, write_recipe):
    write_recipe("city", 'steps = 4\n[[batch]]\nname = "night"\nprompt = "x"\n[[batch]]\nprompt = "y"\ntarget = 30\n')
    result = invoke(project_dir, "check")
    assert result.output == (
        "recipes/city.toml [night]: ok, 1 job\n"
        "recipes/city.toml [2]: ok, target 30 (±3)\n"
        "2 recipes checked, no problems.\n"
    )


def test_plan_of_a_target_recipe(project_dir, write_recipe):
    write_recipe("t", 'prompt = "{a|b}"\nseeds = [1]\ntarget = 3\ntolerance = 1\n')
    result = invoke(project_dir, "plan", "t")
    lines = result.output.splitlines()
    assert lines[0] == "t (recipes/t.toml): target 3 (±1), 3 jobs planned"
    assert lines[-1] == "t: target 3 (±1), 3 jobs planned, 0 already made, 3 to run"


def test_new_writes_a_starter_that_passes_check(project_dir):
    result = invoke(project_dir, "new", "harbour")
    assert result.exit_code == 0
    assert result.output == f"created {project_dir / 'recipes' / 'harbour.toml'}; 'kiln plan harbour' shows its jobs\n"
    assert invoke(project_dir, "check").output == "recipes/harbour.toml: ok, 4 jobs\n1 recipe checked, no problems.\n"
    again = invoke(project_dir, "new", "harbour")
    assert again.exit_code == 1
    assert again.output == "error: recipes/harbour.toml already exists\n"
    bad = invoke(project_dir, "new", "Big Harbour")
    assert bad.output == "error: 'Big Harbour': recipe names use lowercase letters, digits, '-' and '_', starting with a letter or digit\n"


def test_prompts_lists_the_library(project_dir, write_recipe):
    (project_dir / "prompts").mkdir()
    (project_dir / "prompts" / "portrait_v1.txt").write_text("portrait of a {young|old} sailor\n")
    (project_dir / "prompts" / "harbour.md").write_text("a quiet harbour at dawn, fog\n")
    write_recipe("p", 'prompt = { library = "portrait_v1" }\nsize = "64x64"\nsteps = 1\n')
    assert invoke(project_dir, "run").exit_code == 0
    result = invoke(project_dir, "prompts")
    lines = result.output.splitlines()
    assert lines[0] == "name         words  wildcards  uses  last used"
    assert lines[1] == "harbour          6  no            0  never"
    assert lines[2].startswith("portrait_v1      5  yes           1  20")
    assert lines[3] == "2 library prompts in prompts/"


def test_engine_list_and_test_through_the_protocol(project_dir):
    import sys

    (project_dir / "kiln.toml").write_text(
        f'[engines.srv]\ntype = "ndjson"\ncommand = [{json.dumps(sys.executable)}, "-m", "kiln", "engine", "serve"]\n'
        '[engines.api]\ntype = "openai"\nbase_url = "http://127.0.0.1:9"\nconcurrency = 3\n'
    )
    listed = invoke(project_dir, "engine", "list")
    assert listed.output.splitlines() == [
        "api              openai       remote, up to 3 at once",
        "placeholder      placeholder  local, one job at a time",
        "srv              ndjson       local, one job at a time",
    ]
    tested = invoke(project_dir, "engine", "test", "srv", "--size", "96x64")
    assert tested.exit_code == 0, tested.output
    assert [line.split()[0] for line in tested.output.splitlines()] == ["create", "ping", "load", "generate", "close"]
    assert "96x64 image, seed 1" in tested.output
    assert (project_dir / "art" / "logs" / "engine-test-srv.log").is_file()


def test_runs_lists_outcomes(project_dir, write_recipe):
    write_recipe("one", 'prompt = ["a fox", "_fail_ x"]\nsize = "64x64"\nsteps = 1\nseeds = [1]\n')
    invoke(project_dir, "run")
    invoke(project_dir, "run")
    lines = invoke(project_dir, "runs").output.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("#2   ")
    assert lines[0].endswith("finished     0 generated, 1 skipped, 1 failed, 0 retried")
    assert lines[1].endswith("finished     1 generated, 0 skipped, 1 failed, 0 retried")
    assert lines[2] == "2 runs"


def test_unknown_engine_type_is_caught_with_its_line(project_dir):
    (project_dir / "kiln.toml").write_text('[project]\ntitle = "t"\n\n[engines.x]\ntype = "comfy"\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        'error: kiln.toml:5: engines.x.type: unknown engine type "comfy"; expected one of a1111, comfyui,'
        ' diffusers, gemini, ndjson, openai, placeholder or "module:Class"'
    )


def test_an_engine_that_cannot_be_loaded_stops_the_run_before_the_store(project_dir, write_recipe):
    (project_dir / "kiln.toml").write_text('[engines.x]\ntype = "no_such_module:Engine"\n')
    write_recipe("one", 'engine = "x"\nmodel = "m"\nprompt = "p"\nsize = "64x64"\n')
    result = invoke(project_dir, "run")
    assert result.exit_code == 1
    assert result.output == (
        "error: kiln.toml:2: engines.x.type: cannot load 'no_such_module:Engine':"
        " ModuleNotFoundError: No module named 'no_such_module'\n1 problem found; nothing was run.\n"
    )
    assert not (project_dir / "art").exists()
