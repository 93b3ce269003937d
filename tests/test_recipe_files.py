"""Recipe files: ``extends`` bases, ``[[batch]]`` tables, names, and where problems are reported."""

from __future__ import annotations

import pytest

from kiln.errors import InputError
from kiln.project import load_project
from kiln.recipe import expand, load_all, load_file
from kiln.tomlfile import index_lines


def load(project_dir, write_recipe, text, name="r"):
    return load_file(write_recipe(name, text), load_project(project_dir))


def problems(project_dir, write_recipe, text, name="r"):
    with pytest.raises(InputError) as caught:
        load(project_dir, write_recipe, text, name)
    return [str(p) for p in caught.value.problems]


def test_array_tables_are_indexed_by_position():
    lines = index_lines('a = 1\n[[batch]]\nname = "x"\n[batch.gallery]\nsort = "seed"\n[[batch]]\nsteps = 3\n')
    assert lines["batch.0"] == 2 and lines["batch.0.name"] == 3 and lines["batch.0.gallery.sort"] == 5
    assert lines["batch.1"] == 6 and lines["batch.1.steps"] == 7


def test_extends_reads_the_base_first(project_dir, write_recipe):
    write_recipe("_base", 'prompt = "a fox"\nsteps = 8\nseed = 3\n[gallery]\nsort = "seed"\npage_size = 10\n')
    (recipe,) = load(project_dir, write_recipe, 'extends = "_base"\nsteps = 12\n[gallery]\npage_size = 20\n')
    assert recipe.prompts[0].text == "a fox"
    assert recipe.steps == (12,)
    assert recipe.seed == 3
    assert recipe.gallery == {"sort": "seed", "page_size": 20}


def test_extends_chains_and_names_the_file_of_each_problem(project_dir, write_recipe):
    write_recipe("_root", 'prompt = "x"\nsteps = "many"\n')
    write_recipe("_mid", 'extends = "_root"\nguidance = "high"\n')
    assert problems(project_dir, write_recipe, 'extends = "_mid.toml"\nbogus = 1\n') == [
        "recipes/r.toml:2: bogus: unknown key",
        'recipes/_mid.toml:2: guidance: expected a number from 0 to 50, got "high"',
        'recipes/_root.toml:2: steps: expected an integer from 1 to 200, got "many"',
    ]


@pytest.mark.parametrize(
    ("files", "text", "message"),
    [
        ({}, 'extends = "nope"\nprompt = "x"\n', "recipes/r.toml:1: extends: no recipe file recipes/nope.toml"),
        ({}, 'extends = 3\nprompt = "x"\n', "recipes/r.toml:1: extends: expected the name of a recipe file, got 3"),
        ({}, 'extends = "../kiln"\nprompt = "x"\n', 'recipes/r.toml:1: extends: "../kiln" points outside recipes/'),
        ({}, 'extends = "r"\nprompt = "x"\n', "recipes/r.toml:1: extends: extends itself: recipes/r.toml → recipes/r.toml"),
        (
            {"_a": 'extends = "_b"\n', "_b": 'extends = "r"\n'},
            'extends = "_a"\nprompt = "x"\n',
            "recipes/_b.toml:1: extends: extends itself: recipes/r.toml → recipes/_a.toml → recipes/_b.toml → recipes/r.toml",
        ),
        ({"_a": 'prompt = "x"\n[[batch]]\nsteps = 2\n'}, 'extends = "_a"\n', "recipes/_a.toml:2: batch: recipes/_a.toml is extended by recipes/r.toml, so it cannot hold [[batch]] tables"),
        ({"_a": "prompt = \n"}, 'extends = "_a"\n', "recipes/_a.toml:1: invalid TOML: Invalid value"),
    ],
)
def test_extends_errors(project_dir, write_recipe, files, text, message):
    for name, body in files.items():
        write_recipe(name, body)
    assert problems(project_dir, write_recipe, text) == [message]


def test_batches_share_the_top_level_keys(project_dir, write_recipe):
    recipes = load(
        project_dir, write_recipe,
        """
        steps = 4
        size = "512x512"
        [gallery]
        sort = "seed"

        [[batch]]
        name = "night"
        prompt = "night city"
        [batch.gallery]
        page_size = 12

        [[batch]]
        prompt = "day city"
        steps = [4, 8]
        """,
        name="cities",
    )
    assert [(r.name, r.batch, r.title) for r in recipes] == [("cities-night", "night", "Cities night"), ("cities-2", "2", "Cities 2")]
    assert [r.steps for r in recipes] == [(4,), (4, 8)]
    assert recipes[0].gallery == {"sort": "seed", "page_size": 12}
    assert recipes[0].seed != recipes[1].seed  # each batch draws from its own name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('prompt = "x"\n[[batch]]\nsteps = "x"\n[[batch]]\nsteps = 0\n', "recipes/r.toml:5: steps: expected an integer from 1 to 200, got 0"),
        ('[[batch]]\nname = "a"\nprompt = "x"\n[[batch]]\nname = "a"\n', 'recipes/r.toml:5: name: batch "a" is named twice'),
        ('[[batch]]\nname = "Big One"\nprompt = "x"\n', "recipes/r.toml:2: name: batch names use lowercase letters, digits, '-' and '_' only, got \"Big One\""),
        ('[[batch]]\nsteps = 2\n', 'recipes/r.toml:1: prompt: missing: add prompt = "..." (a string, { library = "name" }, or a list)'),
        ('prompt = "x"\n[[batch]]\nextends = "a"\n', "recipes/r.toml:3: extends: belongs at the top of the file, not in a [[batch]]"),
        ('batch = 3\n', "recipes/r.toml:1: batch: expected one or more [[batch]] tables"),
    ],
)
def test_batch_errors(project_dir, write_recipe, text, message):
    found = problems(project_dir, write_recipe, text)
    assert message in found


def test_batch_problems_name_each_batch_line(project_dir, write_recipe):
    assert problems(project_dir, write_recipe, 'prompt = "x"\n[[batch]]\nsteps = "x"\n[[batch]]\nsteps = 0\n') == [
        'recipes/r.toml:3: steps: expected an integer from 1 to 200, got "x"',
        "recipes/r.toml:5: steps: expected an integer from 1 to 200, got 0",
    ]


def test_load_all_names_batches_and_files(project_dir, write_recipe):
    write_recipe("cities", 'prompt = "x"\n[[batch]]\nname = "night"\n[[batch]]\nname = "day"\n')
    write_recipe("foxes", 'prompt = "fox"\n')
    project = load_project(project_dir)
    assert [r.name for r in load_all(project)] == ["cities-night", "cities-day", "foxes"]
    assert [r.name for r in load_all(project, ["cities"])] == ["cities-night", "cities-day"]
    assert [r.name for r in load_all(project, ["cities-day", "foxes"])] == ["cities-day", "foxes"]
    with pytest.raises(InputError) as caught:
        load_all(project, ["cities-dusk"])
    assert str(caught.value) == 'recipes/cities.toml: no batch makes a recipe named "cities-dusk" (did you mean \'cities-day\'?)'


def test_recipe_names_must_be_unique_across_files(project_dir, write_recipe):
    write_recipe("cities", 'prompt = "x"\n[[batch]]\nname = "night"\n')
    write_recipe("cities-night", 'prompt = "y"\n')
    with pytest.raises(InputError) as caught:
        load_all(load_project(project_dir))
    assert str(caught.value) == 'recipes/cities.toml:2: recipe name "cities-night" is also made by recipes/cities-night.toml'


def test_disabled_recipes_run_only_when_named(project_dir, write_recipe):
    write_recipe("off", 'prompt = "x"\nenabled = false\n')
    write_recipe("on", 'prompt = "y"\n')
    project = load_project(project_dir)
    assert [r.name for r in load_all(project)] == ["on"]
    assert [r.name for r in load_all(project, ["off"])] == ["off"]


def test_a_recipe_file_linking_outside_the_recipes_folder_is_refused(project_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "evil.toml"
    outside.write_text('prompt = "x"\n')
    (project_dir / "recipes" / "evil.toml").symlink_to(outside)
    with pytest.raises(InputError) as caught:
        load_all(load_project(project_dir))
    assert str(caught.value) == "recipes/evil.toml: is a link to a file outside recipes/"


def test_extended_keys_make_the_same_jobs_as_written_ones(project_dir, write_recipe):
    write_recipe("_base", 'prompt = "a {red|blue} fox"\nseeds = [1, 2]\n')
    project = load_project(project_dir)
    (extended,) = load(project_dir, write_recipe, 'extends = "_base"\n', name="same")
    (written,) = load(project_dir, write_recipe, 'prompt = "a {red|blue} fox"\nseeds = [1, 2]\n', name="same")
    assert [j.key for j in expand(extended, project)] == [j.key for j in expand(written, project)]
    assert extended.source_sha256 != written.source_sha256
