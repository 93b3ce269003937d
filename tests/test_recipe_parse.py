"""Recipe validation: good files load, bad ones name the file, line and key."""

from __future__ import annotations

import pytest

from kiln.errors import InputError
from kiln.project import load_project
from kiln.recipe import load_recipe
from kiln.recipe.model import PromptTemplate
from kiln.recipe.parse import PLACEHOLDER_MODEL
from kiln.recipe.seeds import derive_seed


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
    assert recipe.prompts == (PromptTemplate("a cat"),)
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
        (
            'prompt = "x"\nseeds = "9-2"\n',
            'recipes/cats.toml:2: seeds: expected a list of seeds, a count, or a range such as "1-5", "1-10 (+2)",'
            ' "10-1 (-3)" or "1-10 [5]"; "9-2": a range from 9 down to 2 needs a negative step such as (-1)',
        ),
        (
            'prompt = "x"\nseeds = []\n',
            'recipes/cats.toml:2: seeds: expected a list of seeds, a count, or a range such as "1-5", "1-10 (+2)",'
            ' "10-1 (-3)" or "1-10 [5]", got []',
        ),
        ('prompt = "x"\nstesp = 3\n', "recipes/cats.toml:2: stesp: unknown key (did you mean 'steps'?)"),
        ('prompt = ""\n', "recipes/cats.toml:1: prompt: must not be empty"),
        ('prompt = []\n', "recipes/cats.toml:1: prompt: expected a value or a non-empty list, got []"),
        ('title = "x"\n', 'recipes/cats.toml: prompt: missing: add prompt = "..." (a string, { library = "name" }, or a list)'),
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('prompt = "x"\nmode = "shuffle"\n', 'recipes/cats.toml:2: mode: expected one of combinatorial, random, got "shuffle"'),
        (
            'prompt = "x"\nmode = "random"\n',
            'recipes/cats.toml: max_prompts: missing: mode = "random" needs it: how many prompts to draw from each template',
        ),
        ('prompt = "x"\nmax_prompts = 0\n', "recipes/cats.toml:2: max_prompts: expected an integer from 1 to 10000, got 0"),
        (
            'prompt = "x"\nseed_policy = "each"\n',
            'recipes/cats.toml:2: seed_policy: expected one of per_image, per_prompt, fixed, got "each"',
        ),
        (
            'prompt = "x"\nseed_policy = "per_prompt"\nseeds = [1, 2]\n',
            'recipes/cats.toml:3: seeds: with seed_policy = "per_prompt" each prompt draws its own seeds: give a count such as 2',
        ),
        (
            'prompt = "x"\nseed_policy = "fixed"\nseeds = 3\n',
            'recipes/cats.toml:3: seeds: seed_policy = "fixed" uses one seed for every image, got 3',
        ),
        ('prompt = "x"\nsteps = "8-4"\n', 'recipes/cats.toml:2: steps: "8-4": a range from 8 down to 4 needs a negative step such as (-1)'),
        ('prompt = "x"\nsteps = "0-4"\n', "recipes/cats.toml:2: steps: expected an integer from 1 to 200, got 0"),
        ('prompt = "x"\nguidance = "40-60 [3]"\n', "recipes/cats.toml:2: guidance: expected a number from 0 to 50, got 60.0"),
        ('prompt = "x"\nstyle = "flim"\n', 'recipes/cats.toml:2: style: no style named "flim" in kiln.toml or styles.toml'),
        ('prompt = "x"\nparams = { steps = 4 }\n', "recipes/cats.toml:2: params.steps: steps is not an extra parameter: set it at the top level of the recipe"),
        ('prompt = "x"\nparams = { Strength = 1 }\n', "recipes/cats.toml:2: params.Strength: parameter names use lowercase letters, digits and _"),
        ('prompt = "x"\nparams = { mask = { a = 1 } }\n', "recipes/cats.toml:2: params.mask: expected a string, number or true/false, got a table"),
        ('prompt = "x"\nparams = 3\n', "recipes/cats.toml:2: params: expected a table such as { strength = 0.6 }, got 3"),
        ('prompt = "x"\nreferences = ["@faces"]\n', 'recipes/cats.toml:2: references: no reference group "faces" in kiln.toml'),
        ('prompt = "x"\nreferences = [1]\n', "recipes/cats.toml:2: references: expected a pattern or a list of patterns, got [1]"),
        ('prompt = "x"\nreferences = "!#0"\n', 'recipes/cats.toml:2: references: "!#0": expected !#N with N from 1 to 100'),
        ('prompt = "x"\nreferences = "/etc/a.png"\n', 'recipes/cats.toml:2: references: "/etc/a.png": paths are relative to the references folder'),
        ('prompt = "x"\nreferences = "{a.png}"\n', 'recipes/cats.toml:2: references: "{a.png}": expected two or more alternatives such as {a.png|b.png}'),
        ('prompt = "x"\nreferences = "{a.png|{b|c}}"\n', 'recipes/cats.toml:2: references: "{b": expected a path, !folder, !!folder, !!folder!!, !#N or {a|b}'),
        ('prompt = "x"\ncount = 2\ntarget = 5\n', "recipes/cats.toml:2: count: does not apply with target: the target says how many images to make"),
        ('prompt = "x"\ntolerance = 2\n', "recipes/cats.toml:2: tolerance: applies only with target"),
        ('prompt = "x"\ntarget = 0\n', "recipes/cats.toml:2: target: expected an integer from 1 to 10000, got 0"),
        (
            'prompt = "x"\ntarget = 20\nmax_failures = 5\nmax_jobs = 10\n',
            "recipes/cats.toml:2: target: target 20 plus max_failures 5 is more than max_jobs, 10",
        ),
        ('prompt = "x"\nenabled = "no"\n', 'recipes/cats.toml:2: enabled: expected true or false, got "no"'),
        ('prompt = "x"\nname = "a"\n', "recipes/cats.toml:2: name: only a [[batch]] has a name; a recipe is named after its file"),
        ('prompt = { library = "nope" }\n', 'recipes/cats.toml:1: prompt.library: no library prompt "nope": expected prompts/nope.txt or prompts/nope.md'),
        ('prompt = { library = "../kiln" }\n', 'recipes/cats.toml:1: prompt.library: library names are file names without a suffix, such as "portrait_v1", got "../kiln"'),
        ('prompt = "x"\n[gallery]\ngrid = "steps"\n', 'recipes/cats.toml:3: gallery.grid: expected a table such as { x = "steps", y = "seed" }, got "steps"'),
        ('prompt = "x"\n[gallery]\ngrid = { y = "seed" }\n', "recipes/cats.toml:3: gallery.grid: expected x (and optionally y): the axes to lay out as columns and rows"),
        ('prompt = "x"\n[gallery]\ngrid = { x = "seed", y = "seeds" }\n', "recipes/cats.toml:3: gallery.grid: x and y must be different axes"),
        ('prompt = "x"\n[gallery]\ngrid = { x = "seed", z = "steps" }\n', "recipes/cats.toml:3: gallery.grid.z: unknown key; a grid has x and y"),
        ('prompt = "x"\nsteps = [4, 4]\nsteps = 3\n', "recipes/cats.toml:3: invalid TOML: Cannot overwrite a value"),
    ],
)
def test_new_key_errors(project_dir, write_recipe, text, message):
    assert errors(project_dir, write_recipe, text) == [message]


@pytest.mark.parametrize(
    ("text", "attribute", "expected"),
    [
        ('prompt = "x"\nsteps = "4-8 (+2)"\n', "steps", (4, 6, 8)),
        ('prompt = "x"\nguidance = "1-2 [3]"\n', "guidance", (1.0, 1.5, 2.0)),
        ('prompt = "x"\nseeds = "10-1 (-3)"\n', "seeds", (10, 7, 4, 1)),
        ('prompt = "x"\nmode = "random"\nmax_prompts = 3\n', "max_prompts", 3),
        ('prompt = "x"\nseed_policy = "per_prompt"\nseeds = 3\n', "seeds_per_prompt", 3),
        ('prompt = "x"\nseed_policy = "fixed"\nseeds = [42]\n', "seeds", (42,)),
        ('prompt = "x"\nparams = { strength = [0.2, 0.4], tiled = true }\n', "params", (("strength", (0.2, 0.4)), ("tiled", (True,)))),
        ('prompt = "x"\nrepeat = 3\n', "repeat", 3),
        ('prompt = "x"\nenabled = false\n', "enabled", False),
        ('prompt = "x"\nzip = [["seeds", "steps"]]\nseeds = [1, 2]\nsteps = [3, 4]\n', "zips", (("seed", "steps"),)),
        ('prompt = "x"\n[gallery]\ngrid = { x = "steps", y = "seeds" }\n', "gallery", {"grid": {"x": "steps", "y": "seed"}}),
    ],
)
def test_new_keys(project_dir, write_recipe, text, attribute, expected):
    assert getattr(load(project_dir, write_recipe, text), attribute) == expected


def test_target_defaults(project_dir, write_recipe):
    recipe = load(project_dir, write_recipe, 'prompt = "x"\ntarget = 12\n')
    assert (recipe.target.images, recipe.target.tolerance, recipe.target.max_failures) == (12, 3, 5)


def test_size_multiple_comes_from_the_engine(project_dir, write_recipe):
    (project_dir / "kiln.toml").write_text('[engines.big]\ntype = "placeholder"\nsize_multiple = 64\n')
    recipe = load(project_dir, write_recipe, 'prompt = "x"\nengine = "big"\nsize = { long_edge = 1000, aspect = "3:2" }\n')
    assert recipe.sizes == ((1024, 640),)
    recipe = load(project_dir, write_recipe, 'prompt = "x"\nengine = "big"\nsize = "1000x700"\n')
    assert [str(w) for w in recipe.warnings] == [
        "recipes/cats.toml:3: size: 1000x700 is not a multiple of 64, the engine's size_multiple; the engine may round it"
    ]


def test_duplicate_axis_values_warn(project_dir, write_recipe):
    recipe = load(project_dir, write_recipe, 'prompt = "x"\nsteps = "1-3 [5]"\n')
    assert recipe.steps == (1, 2, 2, 3, 3)
    assert [str(w) for w in recipe.warnings] == ["recipes/cats.toml:2: steps: lists 2, 3 more than once; each job is made once"]


def test_styles_from_kiln_toml_and_styles_toml(project_dir, write_recipe):
    (project_dir / "kiln.toml").write_text('[styles.film]\nprompt = "{prompt}, film"\nnegative = "cgi"\n')
    (project_dir / "styles.toml").write_text('[ink]\nprompt = "ink drawing of {prompt}"\n')
    recipe = load(project_dir, write_recipe, 'prompt = "x"\nstyle = ["film", "ink"]\n')
    assert [(s.name, s.prompt, s.negative) for s in recipe.styles] == [
        ("film", "{prompt}, film", "cgi"), ("ink", "ink drawing of {prompt}", ""),
    ]


@pytest.mark.parametrize(
    ("config", "styles", "message"),
    [
        ('[styles.film]\nprompt = "film"\n', None, "kiln.toml:2: styles.film.prompt: must contain {prompt}, where the recipe's prompt goes"),
        ('[styles.film]\nprompt = "{prompt}"\ncolour = 1\n', None, "kiln.toml:3: styles.film.colour: unknown key; expected prompt and negative"),
        ('[styles]\nfilm = "x"\n', None, 'kiln.toml:2: styles.film: expected a table such as { prompt = "{prompt}, 35mm film", negative = "cgi" }'),
        ('[styles.film]\nprompt = "{prompt}"\n', '[film]\nprompt = "{prompt}"\n', 'styles.toml:1: film: style "film" is also defined at kiln.toml:1'),
        ('[reference_groups]\nfoxes = []\n', None, "kiln.toml:2: reference_groups.foxes: expected a non-empty list of reference patterns, got []"),
        ('[engines.x]\ntype = "placeholder"\nsize_multiple = 0\n', None, "kiln.toml:3: engines.x.size_multiple: expected an integer from 1 to 256, got 0"),
        ('[paths]\nreferences = "../refs"\n', None, 'kiln.toml:2: paths.references: "../refs" points outside the project'),
    ],
)
def test_project_setting_errors(project_dir, config, styles, message):
    (project_dir / "kiln.toml").write_text(config)
    if styles:
        (project_dir / "styles.toml").write_text(styles)
    with pytest.raises(InputError) as caught:
        load_project(project_dir)
    assert [str(p) for p in caught.value.problems] == [message]


def test_prompt_table_errors(project_dir, write_recipe):
    assert errors(project_dir, write_recipe, 'prompt = { file = "a" }\n') == [
        "recipes/cats.toml:1: prompt.file: unknown key; a prompt table holds library",
        "recipes/cats.toml:1: prompt.library: missing: the name of a file in prompts/",
    ]
