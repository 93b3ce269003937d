"""Expansion: pure, deterministic, and stable under edits that only add work."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from click.testing import CliRunner

from kiln.cli import cli
from kiln.errors import InputError
from kiln.project import load_project
from kiln.recipe import expand, load_recipe
from kiln.recipe.expand import job_key


def jobs_of(project_dir, write_recipe, text, name="r"):
    project = load_project(project_dir)
    return expand(load_recipe(write_recipe(name, text), project), project)


def test_variants_expand_in_order(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "a {red|blue} {cat|dog}"\nseeds = [1]\n')
    assert [j.spec["prompt"] for j in jobs] == ["a red cat", "a red dog", "a blue cat", "a blue dog"]
    assert [j.axes for j in jobs] == [{"prompt": p} for p in ["a red cat", "a red dog", "a blue cat", "a blue dog"]]
    assert all(j.template == "a {red|blue} {cat|dog}" for j in jobs)


def test_product_of_axes(project_dir, write_recipe):
    jobs = jobs_of(
        project_dir, write_recipe,
        'prompt = ["a", "b"]\nsteps = [4, 8]\nguidance = [1, 2, 3]\nseeds = [1, 2]\ncount = 2\n',
    )
    assert len(jobs) == 2 * 2 * 3 * 2 * 2
    assert set(jobs[0].axes) == {"prompt", "steps", "guidance", "seed", "image"}
    assert len({j.key for j in jobs}) == len(jobs)


def test_spec_is_complete(project_dir, write_recipe):
    (job,) = jobs_of(project_dir, write_recipe, 'prompt = "x"\nnegative_prompt = "y"\nsize = "640x480"\nseeds = [9]\n')
    assert job.spec == {
        "engine": "placeholder", "engine_type": "placeholder", "model": "procedural-v1", "prompt": "x",
        "negative_prompt": "y", "width": 640, "height": 480, "seed": 9, "steps": 20, "guidance": 5.0,
        "sampler": None, "references": [],
    }
    assert job.key == job_key(job.spec)
    assert len(job.key) == 16


def test_same_recipe_same_jobs(project_dir, write_recipe):
    text = 'prompt = "a {red|blue} fox"\nseeds = 3\ncount = 2\n'
    assert jobs_of(project_dir, write_recipe, text) == jobs_of(project_dir, write_recipe, text)


def test_adding_a_variant_keeps_existing_keys(project_dir, write_recipe):
    before = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "a {red|blue} fox"\nseeds = 2\n')}
    after = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "a {red|blue|green} fox"\nseeds = 2\n')}
    assert before < after
    assert len(after - before) == 2


def test_raising_count_keeps_existing_keys(project_dir, write_recipe):
    before = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "fox"\ncount = 2\n')}
    after = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "fox"\ncount = 5\n')}
    assert before < after
    assert len(after) == 5


def test_recipe_title_and_gallery_do_not_change_keys(project_dir, write_recipe):
    a = jobs_of(project_dir, write_recipe, 'title = "A"\nprompt = "fox"\nseed = 1\n')
    b = jobs_of(project_dir, write_recipe, 'title = "B"\ndescription = "d"\nprompt = "fox"\nseed = 1\n[gallery]\nsort = "seed"\n')
    assert [j.key for j in a] == [j.key for j in b]


def test_two_recipes_share_identical_jobs(project_dir, write_recipe):
    a = jobs_of(project_dir, write_recipe, 'prompt = "fox"\nseeds = [5]\n', name="a")
    b = jobs_of(project_dir, write_recipe, 'prompt = "fox"\nseeds = [5]\ntitle = "other"\n', name="b")
    assert a[0].key == b[0].key


def test_duplicate_variants_collapse(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = ["fox", "fox"]\nseeds = [1]\n')
    assert len(jobs) == 1


def test_job_cap_is_checked_before_running(project_dir, write_recipe):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, 'prompt = "{a|b|c}"\nseeds = 4\nmax_jobs = 10\n')
    assert str(caught.value) == (
        "recipes/r.toml:3: max_jobs: the recipe expands to 12 jobs, more than the limit of 10"
        " (raise max_jobs or shrink an axis)"
    )


def test_bad_prompt_syntax_names_the_line(project_dir, write_recipe):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, 'title = "t"\nprompt = "a {red|blue fox"\n')
    assert str(caught.value).startswith("recipes/r.toml:2: prompt: cannot parse 'a {red|blue fox'")


def test_missing_wildcard_names_the_file(project_dir, write_recipe):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, 'prompt = "a __colours__ fox"\n')
    assert str(caught.value) == "recipes/r.toml:1: prompt: no wildcard file for __colours__ in wildcards/"


def test_wildcard_file(project_dir, write_recipe):
    (project_dir / "wildcards").mkdir()
    (project_dir / "wildcards" / "colours.txt").write_text("red\nblue\n")
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "a __colours__ fox"\nseeds = [1]\n')
    # dynamicprompts sorts a wildcard file's values, so the order is independent of the file's.
    assert [j.spec["prompt"] for j in jobs] == ["a blue fox", "a red fox"]


SPEC = {
    "engine": "placeholder", "engine_type": "placeholder", "model": "m", "prompt": "p", "negative_prompt": "",
    "width": 512, "height": 512, "seed": 1, "steps": 20, "guidance": 5.0, "sampler": None, "references": [],
}
VALUES = {
    "model": st.text(min_size=1, max_size=20),
    "prompt": st.text(min_size=1, max_size=80),
    "negative_prompt": st.text(max_size=40),
    "width": st.integers(64, 4096),
    "height": st.integers(64, 4096),
    "seed": st.integers(0, 2**63 - 1),
    "steps": st.integers(1, 200),
    "guidance": st.floats(0, 50, allow_nan=False),
}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(field=st.sampled_from(sorted(VALUES)), data=st.data())
def test_key_changes_exactly_when_an_input_changes(field, data):
    value = data.draw(VALUES[field])
    changed = {**SPEC, field: value}
    assert (job_key(changed) == job_key(SPEC)) == (value == SPEC[field])
    assert job_key(dict(reversed(list(changed.items())))) == job_key(changed)


# --- the recipe language ----------------------------------------------------------------

from kiln.recipe import Expansion, expand_target  # noqa: E402
from kiln.recipe.seeds import derive_seed, prompt_seed  # noqa: E402


def expansion_of(project_dir, write_recipe, text, name="r"):
    project = load_project(project_dir)
    return Expansion(load_recipe(write_recipe(name, text), project), project)


def errors_of(project_dir, write_recipe, text):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, text)
    return [str(p) for p in caught.value.problems]


@pytest.fixture
def styled(project_dir):
    (project_dir / "kiln.toml").write_text(
        '[styles.film]\nprompt = "{prompt}, 35mm film, {grain|dust}"\nnegative = "cgi"\n'
        '[styles.plain]\nprompt = "{prompt}"\n'
    )
    return project_dir


def test_style_wraps_the_template_before_expansion(styled, write_recipe):
    jobs = jobs_of(styled, write_recipe, 'prompt = "a {red|blue} fox"\nnegative_prompt = "blurry"\nstyle = "film"\nseeds = [1]\n')
    assert [j.spec["prompt"] for j in jobs] == [
        "a red fox, 35mm film, grain", "a red fox, 35mm film, dust", "a blue fox, 35mm film, grain", "a blue fox, 35mm film, dust",
    ]
    assert {j.spec["negative_prompt"] for j in jobs} == {"blurry, cgi"}
    assert {j.template for j in jobs} == {"a {red|blue} fox, 35mm film, {grain|dust}"}


def test_style_axis(styled, write_recipe):
    jobs = jobs_of(styled, write_recipe, 'prompt = "a fox"\nstyle = ["plain", "film"]\nseeds = [1]\n')
    assert [(j.axes["style"], j.spec["prompt"], j.spec["negative_prompt"]) for j in jobs] == [
        ("plain", "a fox", ""), ("film", "a fox, 35mm film, grain", "cgi"), ("film", "a fox, 35mm film, dust", "cgi"),
    ]


def test_library_prompt(project_dir, write_recipe, styled):
    (project_dir / "prompts" / "faces").mkdir(parents=True)
    (project_dir / "prompts" / "portrait_v1.txt").write_text("\nportrait of a {young|old} sailor\n")
    (project_dir / "prompts" / "faces" / "calm.md").write_text("a calm face")
    jobs = jobs_of(project_dir, write_recipe,
                   'prompt = [{ library = "portrait_v1" }, { library = "faces/calm" }]\nstyle = "plain"\nseeds = [1]\n')
    assert [(j.spec["prompt"], j.template) for j in jobs] == [
        ("portrait of a young sailor", "portrait of a {young|old} sailor"),
        ("portrait of a old sailor", "portrait of a {young|old} sailor"),
        ("a calm face", "a calm face"),
    ]


def test_library_prompt_problems_name_the_library(project_dir, write_recipe):
    (project_dir / "prompts").mkdir()
    (project_dir / "prompts" / "bad.txt").write_text("a __nowhere__ fox")
    assert errors_of(project_dir, write_recipe, 'prompt = { library = "bad" }\n') == [
        "recipes/r.toml:1: prompt.library: library prompt bad: no wildcard file for __nowhere__ in wildcards/"
    ]


def test_random_mode_is_seeded_and_keeps_earlier_draws(project_dir, write_recipe):
    text = 'mode = "random"\nprompt = "{a|b|c|d|e|f} {1|2|3|4|5|6}"\nseed = 9\nseed_policy = "per_prompt"\n'
    five = [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, text + "max_prompts = 5\n")]
    eight = [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, text + "max_prompts = 8\n")]
    assert len(five) == 5 and eight[:5] == five
    assert five == [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, text + "max_prompts = 5\n")]
    other = [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, text.replace("seed = 9", "seed = 10") + "max_prompts = 5\n")]
    assert other != five


def test_random_repeats_get_their_own_seeds_per_prompt(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'mode = "random"\nmax_prompts = 4\nprompt = "fox"\nseed_policy = "per_prompt"\nseed = 3\n')
    assert [j.spec["seed"] for j in jobs] == [prompt_seed(3, "fox", n, 0) for n in range(4)]
    expansion = expansion_of(project_dir, write_recipe, 'mode = "random"\nmax_prompts = 4\nprompt = "fox"\nseed = 3\n')
    assert len(expansion.jobs()) == 1
    assert [str(w) for w in expansion.warnings] == [
        'recipes/r.toml:3: prompt: the template has 1 variant, fewer than max_prompts = 4: it makes 1 prompt'
        ' (with seed_policy "per_prompt" each further draw would get seeds of its own)'
    ]


@pytest.mark.parametrize("seed", range(8))
def test_random_mode_draws_distinct_prompts_while_the_template_has_enough(project_dir, write_recipe, seed):
    text = f'mode = "random"\nprompt = "{{a|b|c|d|e|f}} {{1|2|3|4|5|6|7|8}}"\nseed = {seed}\n'
    twelve = [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, text + "max_prompts = 12\n")]
    assert len(twelve) == len(set(twelve)) == 12
    assert twelve == [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, text + "max_prompts = 12\n")]
    every = [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, text + "max_prompts = 48\n")]
    assert every[:12] == twelve and len(set(every)) == 48


def test_random_mode_on_a_template_with_fewer_variants_says_so(project_dir, write_recipe):
    text = 'mode = "random"\nprompt = "{a|b|c}"\nmax_prompts = 5\nseed = 2\n'
    expansion = expansion_of(project_dir, write_recipe, text)
    assert sorted(j.spec["prompt"] for j in expansion.jobs()) == ["a", "b", "c"]
    assert [str(w) for w in expansion.warnings] == [
        'recipes/r.toml:2: prompt: the template has 3 variants, fewer than max_prompts = 5: it makes 3 prompts'
        ' (with seed_policy "per_prompt" each further draw would get seeds of its own)'
    ]
    expansion = expansion_of(project_dir, write_recipe, text + 'seed_policy = "per_prompt"\n')
    drawn = [j.spec["prompt"] for j in expansion.jobs()]
    assert drawn == drawn[:3] + drawn[:2] and sorted(drawn[:3]) == ["a", "b", "c"]
    assert [str(w) for w in expansion.warnings] == [
        "recipes/r.toml:2: prompt: the template has 3 variants, fewer than max_prompts = 5: each is drawn,"
        " then drawn again with seeds of its own"
    ]


def test_random_mode_reaches_variants_that_weights_make_rare(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'mode = "random"\nprompt = "{0.999::a|0.0001::b|0::c}"\nmax_prompts = 3\n')
    assert sorted(j.spec["prompt"] for j in jobs) == ["a", "b", "c"]


def test_combinatorial_max_prompts_keeps_the_first_and_warns(project_dir, write_recipe):
    expansion = expansion_of(project_dir, write_recipe, 'prompt = "{a|b|c} {x|y}"\nmax_prompts = 4\nseeds = [1]\n')
    assert [j.spec["prompt"] for j in expansion.jobs()] == ["a x", "a y", "b x", "b y"]
    assert [str(w) for w in expansion.warnings] == [
        "recipes/r.toml:1: prompt: the template has more than 4 variants; max_prompts keeps the first 4"
    ]


def test_forced_random_nodes_are_deterministic_in_combinatorial_mode(project_dir, write_recipe):
    text = 'prompt = "{~a|b|c|d} {x|y}"\nseeds = [1]\n'
    assert jobs_of(project_dir, write_recipe, text) == jobs_of(project_dir, write_recipe, text)


def test_per_prompt_seeds_hash_the_prompt_text(project_dir, write_recipe):
    two = jobs_of(project_dir, write_recipe, 'prompt = "{a|b}"\nseed_policy = "per_prompt"\nseeds = 2\nseed = 4\n')
    assert [(j.spec["prompt"], j.spec["seed"]) for j in two] == [
        (p, prompt_seed(4, p, 0, i)) for p in ("a", "b") for i in range(2)
    ]
    three = jobs_of(project_dir, write_recipe, 'prompt = "{c|a|b}"\nseed_policy = "per_prompt"\nseeds = 2\nseed = 4\n')
    assert {j.key for j in two} < {j.key for j in three}


def test_fixed_seed_policy_uses_one_seed(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "{a|b}"\nsteps = [4, 8]\nseed_policy = "fixed"\nseed = 6\n')
    assert {j.spec["seed"] for j in jobs} == {derive_seed(6, 0)}
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "{a|b}"\nseed_policy = "fixed"\nseeds = [42]\n')
    assert {j.spec["seed"] for j in jobs} == {42}


def test_wildcard_globs_and_nested_wildcards(project_dir, write_recipe):
    folder = project_dir / "wildcards" / "animals"
    folder.mkdir(parents=True)
    (folder / "pets.txt").write_text("cat\ndog\n")
    (folder / "wild.txt").write_text("fox\n__colours__ wolf\n")
    (project_dir / "wildcards" / "colours.txt").write_text("red\n")
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "a __animals/*__"\nseeds = [1]\n')
    assert [j.spec["prompt"] for j in jobs] == ["a red wolf", "a cat", "a dog", "a fox"]


@pytest.mark.parametrize(
    ("files", "prompt", "message"),
    [
        ({}, "a __birds/*__", "recipes/r.toml:1: prompt: no wildcard file for __birds/*__ in wildcards/"),
        ({"animals.txt": "__missing__ fox\n"}, "a __animals__",
         "recipes/r.toml:1: prompt: no wildcard file for __missing__ in wildcards/ (used by 'a __animals__')"),
        ({"colours.txt": "red\n"}, "${c=__colours__}__${c}__",
         "recipes/r.toml:1: prompt: no wildcard file for __red__ in wildcards/ (used by '${c=__colours__}__${c}__')"),
        ({"empty.txt": ""}, "a __empty__", "recipes/r.toml:1: prompt: no wildcard file for __empty__ in wildcards/"),
        ({}, "${x} fox", "recipes/r.toml:1: prompt: cannot parse '${x} fox': 'Variable x is not defined in this context'"),
        ({}, "{a|}", "recipes/r.toml:1: prompt: '{a|}' gives an empty prompt"),
    ],
)
def test_wildcard_errors(project_dir, write_recipe, files, prompt, message):
    (project_dir / "wildcards").mkdir()
    for name, text in files.items():
        (project_dir / "wildcards" / name).write_text(text)
    assert errors_of(project_dir, write_recipe, f"prompt = {json.dumps(prompt)}\n") == [message]


def test_escaped_braces_warn(project_dir, write_recipe):
    expansion = expansion_of(project_dir, write_recipe, 'prompt = "a \\\\{b\\\\} c"\n')
    assert [str(w) for w in expansion.warnings] == [
        "recipes/r.toml:1: prompt: a backslash does not escape { or } in prompts: the braces still make a variant"
    ]


def test_params_enter_the_spec_only_when_given(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "x"\nseeds = [1]\nparams = { strength = [0.3, 0.6], tiled = true }\n')
    assert [j.spec["params"] for j in jobs] == [{"strength": 0.3, "tiled": True}, {"strength": 0.6, "tiled": True}]
    assert [j.axes for j in jobs] == [{"strength": 0.3}, {"strength": 0.6}]
    (plain,) = jobs_of(project_dir, write_recipe, 'prompt = "x"\nseeds = [1]\n')
    assert "params" not in plain.spec


def test_grid_axes_must_vary(project_dir, write_recipe):
    assert jobs_of(project_dir, write_recipe, 'prompt = "x"\nsteps = [1, 2]\nseeds = 2\n[gallery]\ngrid = { x = "steps", y = "seeds" }\n')
    assert errors_of(project_dir, write_recipe, 'prompt = "x"\nsteps = [1, 2]\n[gallery]\ngrid = { x = "guidance" }\n') == [
        'recipes/r.toml:4: gallery.grid.x: "guidance" is not an axis of this recipe; its axes: steps'
    ]


TARGET = 'prompt = "{a|b}"\nseeds = [1, 2]\ntarget = 6\ntolerance = 1\nmax_failures = 2\n'


def test_target_sequence_cycles_through_the_combinations(project_dir, write_recipe):
    project = load_project(project_dir)
    recipe = load_recipe(write_recipe("r", TARGET), project)
    first = expand(recipe, project)
    assert len(first) == 6
    assert [(j.spec["prompt"], j.axes["image"]) for j in first] == [
        ("a", 0), ("a", 0), ("b", 0), ("b", 0), ("a", 1), ("a", 1),
    ]
    assert [j.spec["seed"] for j in first[4:]] == [derive_seed(1, 1), derive_seed(2, 1)]
    later = expand_target(recipe, project, 4, 6)
    assert later[:2] == first[4:]
    assert len({j.key for j in first + later}) == 10


def test_target_jobs_are_the_jobs_count_would_make(project_dir, write_recipe):
    counted = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "{a|b}"\nseeds = [1, 2]\ncount = 3\n')}
    project = load_project(project_dir)
    recipe = load_recipe(write_recipe("r", TARGET), project)
    assert {j.key for j in expand_target(recipe, project, 0, 12)} == counted


def test_target_cycle_is_capped(project_dir, write_recipe):
    assert errors_of(project_dir, write_recipe, 'prompt = "{a|b|c}"\nseeds = 4\ntarget = 2\nmax_jobs = 10\n') == [
        "recipes/r.toml:4: max_jobs: the recipe's axes make 12 combinations, more than the limit of 10 (raise max_jobs or shrink an axis)"
    ]


# --- properties ---------------------------------------------------------------------------

RECIPE_PARTS = {
    "prompt": st.sampled_from(['"a {red|blue} fox"', '["owl", "a {1|2|3} cat"]', '"x {2$$a|b|c}"', '"{~p|q} r"']),
    "mode": st.sampled_from(['"combinatorial"', '"random"']),
    "steps": st.sampled_from(["4", "[4, 8]", '"2-6 (+2)"']),
    "guidance": st.sampled_from(["5.0", '"1-3 [3]"']),
    "seeds": st.sampled_from(["2", "[1, 9]", '"3-5"']),
    "seed": st.integers(0, 2**32),
    "count": st.integers(1, 3),
    "repeat": st.integers(1, 2),
    "size": st.sampled_from(['"512x512"', '{ long_edge = 768, aspect = "3:2" }']),
}


def recipe_text(values):
    lines = [f"{key} = {value}" for key, value in values.items()]
    return "\n".join([*lines, "max_prompts = 3"]) + "\n"


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None)
@given(values=st.fixed_dictionaries(RECIPE_PARTS))
def test_expansion_is_deterministic(project_dir, write_recipe, values):
    text = recipe_text(values)
    first = jobs_of(project_dir, write_recipe, text)
    again = jobs_of(project_dir, write_recipe, text)
    assert first == again
    assert len({j.key for j in first}) == len(first)


TEXT = st.characters(exclude_categories=("Cs", "Cc"))
SETTINGS_THAT_MATTER = {
    "negative_prompt": st.text(TEXT, max_size=10),
    "steps": st.integers(1, 200),
    "guidance": st.floats(0, 50, allow_nan=False).map(lambda g: round(g, 3)),
    "sampler": st.sampled_from(["euler", "dpm"]),
    "model": st.sampled_from(["m1", "m2"]),
}
SETTINGS_THAT_DO_NOT = {
    "title": st.text(TEXT, min_size=1, max_size=10),
    "description": st.text(TEXT, max_size=10),
    "enabled": st.booleans(),
    "max_jobs": st.integers(100, 1000),
}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None)
@given(key=st.sampled_from(sorted({**SETTINGS_THAT_MATTER, **SETTINGS_THAT_DO_NOT})), data=st.data())
def test_keys_change_exactly_when_a_setting_that_matters_changes(project_dir, write_recipe, key, data):
    base = {"prompt": "a fox", "seeds": [3], "negative_prompt": "", "steps": 20, "guidance": 5.0, "sampler": "euler",
            "model": "m1", "title": "T", "description": "", "enabled": True, "max_jobs": 500}
    value = data.draw({**SETTINGS_THAT_MATTER, **SETTINGS_THAT_DO_NOT}[key])
    changed = {**base, key: value}

    def toml(values):
        return "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in values.items())

    (before,) = jobs_of(project_dir, write_recipe, toml(base))
    (after,) = jobs_of(project_dir, write_recipe, toml(changed))
    assert (before.key == after.key) == (key in SETTINGS_THAT_DO_NOT or value == base[key])


def test_wildcard_links_leading_outside_are_refused(project_dir, write_recipe, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secrets.txt"
    outside.write_text("hunter2\n")
    (project_dir / "wildcards").mkdir()
    (project_dir / "wildcards" / "colours.txt").symlink_to(outside)
    assert errors_of(project_dir, write_recipe, 'prompt = "a __colours__ fox"\n') == [
        "recipes/r.toml:1: prompt: wildcards/colours.txt is a link to outside wildcards/; kiln never reads outside it"
    ]


def test_a_link_out_of_wildcards_fails_only_the_prompts_that_use_it(project_dir, write_recipe, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("hunter2\n")
    (outside / "animals.yaml").write_text("animals:\n  - leaked\n")
    wildcards = project_dir / "wildcards"
    (wildcards / "birds").mkdir(parents=True)
    (wildcards / "birds" / "owl.txt").write_text("barn owl\n")
    (wildcards / "birds" / "far").symlink_to(outside)
    (wildcards / "colours.txt").write_text("red\n")
    (wildcards / "animals.yaml").symlink_to(outside / "animals.yaml")
    assert [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, 'prompt = "a fox"\n')] == ["a fox"]
    assert [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, 'prompt = "a __colours__ fox"\n')] == ["a red fox"]
    assert [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, 'prompt = "a __birds/*__"\n')] == ["a barn owl"]
    assert errors_of(project_dir, write_recipe, 'prompt = "__birds/far/secret__ and __animals__"\n') == [
        "recipes/r.toml:1: prompt: wildcards/birds/far is a link to outside wildcards/; kiln never reads outside it",
        "recipes/r.toml:1: prompt: wildcards/animals.yaml is a link to outside wildcards/; kiln never reads outside it",
    ]
    write_recipe("r", 'prompt = "a fox"\n')
    result = CliRunner().invoke(cli, ["check", "-C", str(project_dir)])
    assert result.exit_code == 0
    assert result.output == (
        "recipes/r.toml: ok, 1 job\n"
        "warning: wildcards/animals.yaml: is a link to outside wildcards/; kiln does not read it, and a prompt that uses it fails\n"
        "warning: wildcards/birds/far: is a link to outside wildcards/; kiln does not read it, and a prompt that uses it fails\n"
        "1 recipe checked, no problems, 2 warnings.\n"
    )




def test_wildcard_links_inside_the_folder_work_and_a_loop_does_not_hang(project_dir, write_recipe):
    birds = project_dir / "wildcards" / "birds"
    birds.mkdir(parents=True)
    (birds / "owl.txt").write_text("barn owl\n")
    (project_dir / "wildcards" / "alias").symlink_to(birds)
    (birds / "up").symlink_to(project_dir / "wildcards")
    (project_dir / "wildcards" / "gone.txt").symlink_to(project_dir / "wildcards" / "nowhere.txt")
    assert [j.spec["prompt"] for j in jobs_of(project_dir, write_recipe, 'prompt = "a __alias/owl__, a __birds/owl__"\n')] == [
        "a barn owl, a barn owl"
    ]
    assert errors_of(project_dir, write_recipe, 'prompt = "__gone__"\n') == [
        "recipes/r.toml:1: prompt: wildcards/gone.txt cannot be read: No such file or directory"
    ]
    os.mkfifo(project_dir / "wildcards" / "pipe.txt")
    assert errors_of(project_dir, write_recipe, 'prompt = "__pipe__"\n') == [
        "recipes/r.toml:1: prompt: wildcards/pipe.txt is a FIFO, not a file; kiln reads only regular files"
    ]
