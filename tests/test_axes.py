"""Axes: A1111 range shorthands, zip and repeat, in parsing and in expansion."""

from __future__ import annotations

import pytest
from images import image_bytes

from kiln.errors import InputError
from kiln.project import load_project
from kiln.recipe import expand, load_recipe
from kiln.recipe.axes import parse_range
from kiln.recipe.seeds import derive, derive_seed


@pytest.mark.parametrize(
    ("text", "integer", "values"),
    [
        ("1-5", True, [1, 2, 3, 4, 5]),
        ("1-10 (+2)", True, [1, 3, 5, 7, 9]),
        ("1-9 (+2)", True, [1, 3, 5, 7, 9]),
        ("10-1 (-3)", True, [10, 7, 4, 1]),
        ("1-10 [5]", True, [1, 3, 6, 8, 10]),
        ("4-8 [1]", True, [4]),
        (" 4 - 8 ( + 2 ) ", True, [4, 6, 8]),
        ("7-7", True, [7]),
        ("2.5-4.5 [3]", False, [2.5, 3.5, 4.5]),
        ("2-4", False, [2.0, 3.0, 4.0]),
        ("1-2 (+0.25)", False, [1.0, 1.25, 1.5, 1.75, 2.0]),
        ("0.1-0.3 (+0.1)", False, [0.1, 0.2, 0.3]),
        ("5-1 (-1.5)", False, [5.0, 3.5, 2.0]),
    ],
)
def test_ranges(text, integer, values):
    assert parse_range(text, integer=integer) == values


@pytest.mark.parametrize(
    ("text", "integer", "message"),
    [
        ("9-2", True, "a range from 9 down to 2 needs a negative step such as (-1)"),
        ("2-9 (-1)", True, "a range from 2 up to 9 needs a positive step such as (+1)"),
        ("1-5 (+0)", True, "the step must not be 0"),
        ("1-5 (+0.5)", True, "the step must be a whole number"),
        ("1.5-5", True, "expected whole numbers"),
        ("1-5 [0]", True, "the count in [0] must be from 1 to 10,000"),
        ("0-100000", True, "the range gives more than 10,000 values"),
        ("one-five", True, 'expected a range such as "1-5", "1-10 (+2)", "10-1 (-3)" or "1-10 [5]"'),
        ("1-5 {2}", True, 'expected a range such as "1-5", "1-10 (+2)", "10-1 (-3)" or "1-10 [5]"'),
    ],
)
def test_range_errors(text, integer, message):
    assert parse_range(text, integer=integer) == message


def jobs_of(project_dir, write_recipe, text, name="r"):
    project = load_project(project_dir)
    return expand(load_recipe(write_recipe(name, text), project), project)


def errors_of(project_dir, write_recipe, text):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, text)
    return [str(p) for p in caught.value.problems]


def test_range_shorthands_are_axes(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "x"\nsteps = "4-8 (+2)"\nguidance = "2-3 [3]"\nseeds = "1-10 [2]"\n')
    assert [(j.spec["steps"], j.spec["guidance"], j.spec["seed"]) for j in jobs] == [
        (s, g, seed) for s in (4, 6, 8) for g in (2.0, 2.5, 3.0) for seed in (1, 10)
    ]
    assert set(jobs[0].axes) == {"steps", "guidance", "seed"}


def test_a_range_is_the_same_jobs_as_its_list(project_dir, write_recipe):
    ranged = jobs_of(project_dir, write_recipe, 'prompt = "x"\nsteps = "10-1 (-3)"\nseed = 5\n')
    listed = jobs_of(project_dir, write_recipe, 'prompt = "x"\nsteps = [10, 7, 4, 1]\nseed = 5\n')
    assert ranged == listed


def test_zip_pairs_axes_instead_of_multiplying(project_dir, write_recipe):
    jobs = jobs_of(
        project_dir, write_recipe,
        'prompt = "{a|b}"\nsteps = [4, 8, 12]\nguidance = [2.5, 3.5, 4.5]\nseeds = [1]\nzip = [["steps", "guidance"]]\n',
    )
    assert [(j.spec["prompt"], j.spec["steps"], j.spec["guidance"]) for j in jobs] == [
        ("a", 4, 2.5), ("a", 8, 3.5), ("a", 12, 4.5), ("b", 4, 2.5), ("b", 8, 3.5), ("b", 12, 4.5),
    ]


def test_zip_with_prompt_templates_and_seeds(project_dir, write_recipe):
    jobs = jobs_of(
        project_dir, write_recipe,
        'prompt = ["a {1|2}", "b"]\nseeds = [7, 9]\nsteps = [5, 6]\nzip = [["prompts", "seeds"]]\n',
    )
    assert [(j.spec["prompt"], j.spec["seed"], j.spec["steps"]) for j in jobs] == [
        ("a 1", 7, 5), ("a 1", 7, 6), ("a 2", 7, 5), ("a 2", 7, 6), ("b", 9, 5), ("b", 9, 6),
    ]


def test_zip_of_params_and_references(project_dir, write_recipe):
    folder = project_dir / "references" / "set"
    folder.mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(image_bytes(name))
    jobs = jobs_of(
        project_dir, write_recipe,
        'prompt = "x"\nseeds = [1]\nreferences = "!!set!!"\nparams = { strength = [0.3, 0.6] }\n'
        'zip = [["references", "strength"]]\n',
    )
    assert [(j.spec["references"][0]["path"], j.spec["params"]) for j in jobs] == [
        ("references/set/a.png", {"strength": 0.3}), ("references/set/b.png", {"strength": 0.6}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'prompt = "x"\nsteps = [1, 2, 3]\nguidance = [1, 2]\nzip = [["steps", "guidance"]]\n',
            "recipes/r.toml:4: zip: steps has 3 but guidance has 2 values; zipped axes need equal lengths",
        ),
        ('prompt = "x"\nzip = [["steps"]]\n', 'recipes/r.toml:2: zip: a zip group pairs two or more axes, got ["steps"]'),
        (
            'prompt = "x"\nzip = [["steps", "stesp"]]\n',
            "recipes/r.toml:2: zip: \"stesp\" is not an axis (did you mean 'steps'?); axes: prompt, style, model, size,"
            " steps, guidance, sampler, references, seed",
        ),
        ('prompt = "x"\nzip = [["steps", "seed"], ["seed", "size"]]\n', 'recipes/r.toml:2: zip: "seed" is in more than one zip group'),
        ('prompt = "x"\nzip = ["steps", "seed"]\n', 'recipes/r.toml:2: zip: expected a list of axis groups such as [["steps", "guidance"]], got ["steps", "seed"]'),
        (
            'prompt = "x"\nseed_policy = "per_prompt"\nseeds = 2\nzip = [["seed", "steps"]]\n',
            'recipes/r.toml:4: zip: seeds cannot be zipped with seed_policy = "per_prompt": each prompt draws its own',
        ),
        ('prompt = "x"\nrepeat = 0\n', "recipes/r.toml:2: repeat: expected an integer from 1 to 10000, got 0"),
    ],
)
def test_axis_errors(project_dir, write_recipe, text, message):
    assert errors_of(project_dir, write_recipe, text) == [message]


def test_zip_with_references_checks_lengths_after_listing_files(project_dir, write_recipe):
    folder = project_dir / "references" / "set"
    folder.mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png"):
        (folder / name).write_bytes(image_bytes(name))
    assert errors_of(
        project_dir, write_recipe, 'prompt = "x"\nreferences = "!!set!!"\nsteps = [1, 2]\nzip = [["references", "steps"]]\n',
    ) == ["recipes/r.toml:4: zip: references has 3 but steps has 2 values; zipped axes need equal lengths"]


def test_repeat_runs_the_product_again_with_new_seeds(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "{a|b}"\nseeds = [5]\nrepeat = 2\ncount = 2\n')
    assert [(j.axes["repeat"], j.spec["prompt"], j.axes["image"], j.spec["seed"]) for j in jobs] == [
        (0, "a", 0, 5), (0, "a", 1, derive_seed(5, 1)), (0, "b", 0, 5), (0, "b", 1, derive_seed(5, 1)),
        (1, "a", 0, derive(5, "repeat", 1, 0)), (1, "a", 1, derive(5, "repeat", 1, 1)),
        (1, "b", 0, derive(5, "repeat", 1, 0)), (1, "b", 1, derive(5, "repeat", 1, 1)),
    ]
    assert len({j.key for j in jobs}) == 8


def test_raising_repeat_keeps_existing_jobs(project_dir, write_recipe):
    once = jobs_of(project_dir, write_recipe, 'prompt = "{a|b}"\nseeds = 2\n')
    twice = jobs_of(project_dir, write_recipe, 'prompt = "{a|b}"\nseeds = 2\nrepeat = 2\n')
    assert [j.key for j in twice[:4]] == [j.key for j in once]
    assert len(twice) == 8


def test_repeats_never_coincide_with_a_higher_count(project_dir, write_recipe):
    repeated = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "x"\nseeds = [3]\nrepeat = 3\n')}
    counted = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "x"\nseeds = [3]\ncount = 3\n')}
    assert len(repeated & counted) == 1  # only image 0 of repeat 0 is shared
