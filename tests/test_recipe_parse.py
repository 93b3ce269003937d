"""Recipe validation: good files load, bad ones name the file, line and key."""

from __future__ import annotations

import pytest

from kiln.errors import InputError
from kiln.project import load_project
from kiln.recipe import load_recipe
from kiln.recipe.parse import PLACEHOLDER_MODEL, derive_seed


def load(project_dir, write_recipe, text, name="cats"):
    path = write_recipe(name, text)
    return load_recipe(path, load_project(project_dir))


def errors(project_dir, write_recipe, text, name="cats"):
    with pytest.raises(InputError) as caught:
        load(project_dir, write_recipe, text, name)
    return [str(p) for p in caught.value.problems]


def test_minimal_recipe_gets_defaults(project_dir, write_recipe):
    recipe = load(project_dir, write_recipe, 'prompt = "a cat"\n')
    assert recipe.name == "cats"
    assert recipe.title == "Cats"
    assert recipe.engine == "placeholder"
    assert recipe.models == (PLACEHOLDER_MODEL,)
    assert recipe.prompts == ("a cat",)
    assert recipe.sizes == ((1024, 1024),)
    assert recipe.steps == (20,)
    assert recipe.guidance == (5.0,)
    assert recipe.count == 1
    assert len(recipe.seeds) == 1


def test_full_recipe(project_dir, write_recipe):
    recipe = load(
        project_dir,
        write_recipe,
        """
        title = "Cats"
        description = "Some *cats*"
        model = ["m1", "m2"]
        prompt = ["a cat", "a {black|white} cat"]
        negative_prompt = "dogs"
        size = ["1024x768", { long_edge = 1024, aspect = "2:3" }]
        seeds = [1, 2, 3]
        steps = [10, 20]
        guidance = 3
        count = 2
        [gallery]
        sort = "prompt"
        """,
    )
    assert recipe.models == ("m1", "m2")
    assert recipe.sizes == ((1024, 768), (688, 1024))
    assert recipe.seeds == (1, 2, 3)
    assert recipe.guidance == (3.0,)
    assert recipe.gallery == {"sort": "prompt"}


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ('"640x480"', (640, 480)),
        ('"640 X 480"', (640, 480)),
        ('{ long_edge = 1024, aspect = "1:1" }', (1024, 1024)),
        ('{ long_edge = 1024, aspect = "3:2" }', (1024, 688)),
        ('{ long_edge = 1024, aspect = "16:9" }', (1024, 576)),
        ('{ long_edge = 1024, aspect = "9:16" }', (576, 1024)),
        ('{ long_edge = 768, aspect = "4:5" }', (608, 768)),
    ],
)
def test_sizes(project_dir, write_recipe, size, expected):
    recipe = load(project_dir, write_recipe, f'prompt = "x"\nsize = {size}\n')
    assert recipe.sizes == (expected,)


@pytest.mark.parametrize(
    ("seeds", "expected"),
    [("[5, 9]", (5, 9)), ('"3-6"', (3, 4, 5, 6)), ('"7-7"', (7,))],
)
def test_explicit_seeds(project_dir, write_recipe, seeds, expected):
    recipe = load(project_dir, write_recipe, f'prompt = "x"\nseeds = {seeds}\n')
    assert recipe.seeds == expected


def test_seed_count_is_drawn_from_recipe_seed_and_stable_when_raised(project_dir, write_recipe):
    three = load(project_dir, write_recipe, 'prompt = "x"\nseed = 42\nseeds = 3\n')
    five = load(project_dir, write_recipe, 'prompt = "x"\nseed = 42\nseeds = 5\n')
    assert three.seeds == tuple(derive_seed(42, i) for i in range(3))
    assert five.seeds[:3] == three.seeds
    other = load(project_dir, write_recipe, 'prompt = "x"\nseed = 43\nseeds = 3\n')
    assert other.seeds != three.seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('prompt = "x"\nsteps = "many"\n', 'recipes/cats.toml:2: steps: expected an integer from 1 to 200, got "many"'),
        ('prompt = "x"\nsteps = 0\n', "recipes/cats.toml:2: steps: expected an integer from 1 to 200, got 0"),
        ('prompt = "x"\nsteps = true\n', "recipes/cats.toml:2: steps: expected an integer from 1 to 200, got true"),
        ('prompt = "x"\nguidance = "high"\n', 'recipes/cats.toml:2: guidance: expected a number from 0 to 50, got "high"'),
        ('prompt = "x"\ncount = 1.5\n', "recipes/cats.toml:2: count: expected an integer from 1 to 10000, got 1.5"),
        ('prompt = "x"\nsize = "big"\n', 'recipes/cats.toml:2: size: expected "WIDTHxHEIGHT" such as "1024x768", got "big"'),
        ('prompt = "x"\nsize = "32x32"\n', "recipes/cats.toml:2: size: 32x32: each side must be from 64 to 4096 pixels"),
        (
            'prompt = "x"\nsize = { long_edge = 512, aspect = "5:7" }\n',
            "recipes/cats.toml:2: size.aspect: expected one of 1:1, 3:2, 2:3, 4:3, 3:4, 16:9, 9:16, 4:5, 5:4, 21:9, 9:21, got \"5:7\"",
        ),
        ('prompt = "x"\nseeds = [1, 1]\n', "recipes/cats.toml:2: seeds: lists the same seed twice"),
        ('prompt = "x"\nseeds = "9-2"\n', 'recipes/cats.toml:2: seeds: expected a range such as "1-8", a list of seeds or a count, got "9-2"'),
        ('prompt = "x"\nseeds = []\n', "recipes/cats.toml:2: seeds: expected a list of seeds, a range such as \"1-8\", or a count, got []"),
        ('prompt = "x"\nstesp = 3\n', "recipes/cats.toml:2: stesp: unknown key (did you mean 'steps'?)"),
        ('prompt = ""\n', "recipes/cats.toml:1: prompt: must not be empty"),
        ('prompt = []\n', "recipes/cats.toml:1: prompt: expected a value or a non-empty list, got []"),
        ('title = "x"\n', "recipes/cats.toml: prompt: required: the prompt (a string or a list)"),
        ('prompt = "x"\nengine = "comfy"\n', 'recipes/cats.toml:2: engine: no engine named "comfy" in kiln.toml'),
        ('prompt = "x"\n\n[gallery]\nsort = "size"\n', 'recipes/cats.toml:4: gallery.sort: expected one of recipe, created, prompt, seed, rating, got "size"'),
        ('prompt = "x"\n[gallery]\ncolour = "red"\n', "recipes/cats.toml:3: gallery.colour: unknown key"),
        ('prompt = "x"\nsteps = [10, "x"]\n', 'recipes/cats.toml:2: steps: expected an integer from 1 to 200, got "x"'),
        ('prompt = "x"\nsteps = \n', "recipes/cats.toml:2: invalid TOML: Invalid value"),
    ],
)
def test_errors_name_file_line_and_key(project_dir, write_recipe, text, message):
    assert errors(project_dir, write_recipe, text) == [message]


def test_all_problems_reported_in_line_order(project_dir, write_recipe):
    found = errors(project_dir, write_recipe, 'prompt = "x"\nsteps = -1\nguidance = "g"\nbogus = 1\n')
    assert [line.split(":")[1] for line in found] == ["2", "3", "4"]


def test_file_name_must_be_a_slug(project_dir, write_recipe):
    assert errors(project_dir, write_recipe, 'prompt = "x"\n', name="Big Cats") == [
        "recipes/Big Cats.toml: recipe file names use lowercase letters, digits, '-' and '_' only"
    ]


def test_model_required_for_other_engines(project_dir, write_recipe):
    (project_dir / "kiln.toml").write_text('[engines.remote]\ntype = "placeholder"\n')
    recipe = load(project_dir, write_recipe, 'prompt = "x"\nengine = "remote"\n')
    assert recipe.models == (PLACEHOLDER_MODEL,)
