"""What a user reads when something is wrong: exact messages, with the file, the line and the key,
and every problem of a project at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln import tomlfile
from kiln.cli import cli
from kiln.errors import InputError


def invoke(project: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "-C", str(project)])


@pytest.fixture
def elsewhere(tmp_path_factory, monkeypatch) -> Path:
    """A working folder with no kiln.toml above it, so only -C can find the project."""
    folder = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("option", ["-C", "--project"])
def test_project_option_goes_before_the_command_as_in_git(project_dir, write_recipe, elsewhere, option):
    write_recipe("a", 'prompt = "x"\n')
    result = CliRunner().invoke(cli, [option, str(project_dir), "check"])
    assert (result.exit_code, result.output) == (0, "recipes/a.toml: ok, 1 job\n1 recipe checked, no problems.\n")
    result = CliRunner().invoke(cli, [option, str(project_dir), "engine", "list"])
    assert result.exit_code == 0
    assert result.output.startswith("placeholder")


def test_project_option_after_the_command_still_works_and_wins(project_dir, write_recipe, elsewhere, tmp_path_factory):
    write_recipe("a", 'prompt = "x"\n')
    other = tmp_path_factory.mktemp("other")
    (other / "kiln.toml").write_text('[project]\ntitle = "Other"\n')
    result = CliRunner().invoke(cli, ["-C", str(other), "check", "-C", str(project_dir)])
    assert (result.exit_code, result.output) == (0, "recipes/a.toml: ok, 1 job\n1 recipe checked, no problems.\n")


def test_project_option_before_the_command_must_be_a_folder(elsewhere):
    result = CliRunner().invoke(cli, ["-C", "nowhere", "check"])
    assert result.exit_code == 2
    assert "Directory 'nowhere' does not exist." in result.output


def check_errors(project_dir: Path) -> list[str]:
    result = invoke(project_dir, "check")
    assert result.exit_code == 1, result.output
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('prompt = "{a|b"\n', "recipes/r.toml:1: prompt: cannot parse '{a|b': unclosed brace: '{' at char 0 is never closed"),
        ('prompt = "a {b|c} and {d|{e}"\n',
         "recipes/r.toml:1: prompt: cannot parse 'a {b|c} and {d|{e}': unclosed brace: '{' at char 12 is never closed"),
        ('title = "x"\nprompt = "a fox\nsteps = 4\n',
         'recipes/r.toml:2: invalid TOML: the string is not closed: its closing " is missing'),
        ("prompt = 'a fox\n", "recipes/r.toml:1: invalid TOML: the string is not closed: its closing ' is missing"),
        ('title = "x"\nprompt = """a fox\nsteps = 4\n',
         'recipes/r.toml:2: invalid TOML: the string is not closed: its closing """ is missing'),
        ('prompt = "a fox', 'recipes/r.toml:1: invalid TOML: the string is not closed: its closing " is missing'),
        ('prompt = "x"\nseed = -1\n', "recipes/r.toml:2: seed: expected a whole number ≥ 0, got -1"),
        ('prompt = "x"\nseed = 9223372036854775808\n',
         "recipes/r.toml:2: seed: expected a whole number ≥ 0, at most 9,223,372,036,854,775,807, got 9223372036854775808"),
        ('steps = 4\n', 'recipes/r.toml: prompt: missing: add prompt = "..." (a string, { library = "name" }, or a list)'),
        ('prompt = "x"\nmode = "random"\n',
         'recipes/r.toml: max_prompts: missing: mode = "random" needs it: how many prompts to draw from each template'),
        ('prompt = "x"\n[x.y]\nz = 1\n', "recipes/r.toml:2: x: unknown key"),
        ('prompt = "x"\n"" = 1\n', 'recipes/r.toml:2: "": unknown key'),
    ],
)
def test_messages_say_what_is_wrong_in_words(project_dir, write_recipe, text, message):
    write_recipe("r", text)
    assert check_errors(project_dir) == [f"error: {message}"]


def test_a_file_that_is_not_utf8_names_the_line_of_the_first_bad_byte(project_dir):
    (project_dir / "recipes" / "r.toml").write_bytes('prompt = "x"\n\n# café \xe9\n'.encode("latin-1"))
    assert check_errors(project_dir) == [
        "error: recipes/r.toml:3: not UTF-8 text: byte 0xe9 at column 6 is not valid UTF-8 (save the file as UTF-8)"
    ]


def test_a_required_key_absent_from_a_batch_names_its_table(project_dir, write_recipe):
    write_recipe("r", 'engine = "placeholder"\n[[batch]]\nname = "a"\nprompt = "x"\n[[batch]]\nname = "b"\n')
    assert check_errors(project_dir) == [
        'error: recipes/r.toml:5: prompt: missing: add prompt = "..." (a string, { library = "name" }, or a list)'
    ]


def test_unknown_recipe_suggests_the_closest_name(project_dir, write_recipe):
    write_recipe("foxes", 'prompt = "x"\n')
    write_recipe("owls", 'prompt = "x"\n[[batch]]\nname = "night"\n')
    for command in ("run", "plan"):
        result = invoke(project_dir, command, "foxe")
        assert result.exit_code == 1
        assert result.output.splitlines()[0] == "error: recipes: no recipe named \"foxe\" (did you mean 'foxes'?)"
    result = invoke(project_dir, "plan", "owls-nigth")
    assert result.output.splitlines()[0] == "error: recipes/owls.toml: no batch makes a recipe named \"owls-nigth\" (did you mean 'owls-night'?)"


def test_check_lists_every_problem_of_every_batch(project_dir, write_recipe):
    write_recipe(
        "m",
        """
        prompt = "a __missing1__ fox in __missing2__"

        [[batch]]
        name = "one"
        steps = 0

        [[batch]]
        name = "two"
        references = ["nope.png", "!!nothing!!"]

        [[batch]]
        name = "three"
        prompt = "{a|b"

        [[batch]]
        name = "four"
        prompt = "fine"
        """,
    )
    write_recipe("z", 'prompt = "__missing3__"\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 1
    assert result.output == (
        "recipes/m.toml [four]: ok, 1 job\n"
        "error: recipes/m.toml:5: steps: expected an integer from 1 to 200, got 0\n"
        "error: recipes/m.toml:1: prompt: no wildcard file for __missing1__ in wildcards/\n"
        "error: recipes/m.toml:1: prompt: no wildcard file for __missing2__ in wildcards/\n"
        'error: recipes/m.toml:9: references: "nope.png": there is no references folder references/\n'
        'error: recipes/m.toml:9: references: "!!nothing!!": there is no references folder references/\n'
        "error: recipes/m.toml:13: prompt: cannot parse '{a|b': unclosed brace: '{' at char 0 is never closed\n"
        "error: recipes/z.toml:1: prompt: no wildcard file for __missing3__ in wildcards/\n"
        "7 problems found; nothing was run.\n"
    )


def test_wildcard_and_library_files_that_are_not_utf8_name_their_line(project_dir, write_recipe):
    (project_dir / "wildcards").mkdir()
    (project_dir / "wildcards" / "places.txt").write_bytes("forest\ncafé\n".encode("latin-1"))
    (project_dir / "prompts").mkdir()
    (project_dir / "prompts" / "old.txt").write_bytes("a fox in a café".encode("latin-1"))
    write_recipe("a", 'prompt = "a fox in the __places__"\n')
    write_recipe("b", 'prompt = { library = "old" }\n')
    assert check_errors(project_dir) == [
        "error: recipes/a.toml:1: prompt: wildcards/places.txt:2: not UTF-8 text: byte 0xe9 at column 4 is not valid UTF-8"
        " (save the file as UTF-8)",
        "error: recipes/b.toml:1: prompt.library: prompts/old.txt:1: not UTF-8 text: byte 0xe9 at column 15 is not valid UTF-8"
        " (save the file as UTF-8)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[project]\ntitle = "t"\n"" = 1\n', 'kiln.toml:3: project."": unknown key; expected one of description, title'),
        ('"" = 1\n', 'kiln.toml:1: "": unknown section; expected one of engines, import, paths, project, reference_groups, site, styles'),
        ('[project]\ntitle = "t"\n[x.y]\nz = 1\n',
         "kiln.toml:3: x: unknown section; expected one of engines, import, paths, project, reference_groups, site, styles"),
        ('[project]\ntitle = "t\n', 'kiln.toml:2: invalid TOML: the string is not closed: its closing " is missing'),
    ],
)
def test_kiln_toml_problems_have_lines(project_dir, text, message):
    (project_dir / "kiln.toml").write_text(text)
    assert check_errors(project_dir) == [f"error: {message}"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(st.sampled_from([*'ab =#"\'\\\n[].{},1', '"""', "\'\'\'", "\r\n", "é", "\x01"]), max_size=40).map("".join))
def test_any_toml_text_loads_or_says_where_it_is_wrong(tmp_path, text):
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    try:
        tomlfile.load(path, "r.toml")
    except InputError as error:
        (problem,) = error.problems
        assert problem.line is not None and 1 <= problem.line <= text.count("\n") + 1, (text, str(problem))
        if "not closed" in problem.message:
            assert problem.message.endswith(("closing \" is missing", "closing ' is missing",
                                             'closing """ is missing', "closing ''' is missing"))


def test_import_settings_problems_have_lines(tmp_path):
    (tmp_path / "kiln.toml").write_text('[import]\npicked = "yes"\nthumb = ["t"]\n')
    result = CliRunner().invoke(cli, ["import", str(tmp_path), "-C", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        'error: kiln.toml:2: import.picked: expected a list of folder names, got "yes"',
        "error: kiln.toml:3: import.thumb: unknown key; expected one of picked, rejected, thumbs",
    ]
