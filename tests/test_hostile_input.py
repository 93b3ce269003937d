"""Inputs no one means to write, met with a clear message naming the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.cli import cli

LONG = "a" * 300


def invoke(project: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "-C", str(project)])


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("site = 5", 'site: expected a [site] table, got 5'),
        ('project = "x"', 'project: expected a [project] table, got "x"'),
        ("paths = 5", "paths: expected a [paths] table, got 5"),
        ("engines = 5", "engines: expected a [engines] table, got 5"),
        ("styles = 5", "styles: expected a [styles] table, got 5"),
        ("reference_groups = 5", "reference_groups: expected a [reference_groups] table, got 5"),
    ],
)
@pytest.mark.parametrize("command", [("check",), ("plan", "cats"), ("run",), ("build",), ("jobs",)])
def test_a_section_that_is_not_a_table_is_an_error_of_every_command(project_dir, write_recipe, written, message, command):
    write_recipe("cats", 'prompt = "a cat"\n')
    (project_dir / "kiln.toml").write_text(f'# settings\n{written}\n')
    result = invoke(project_dir, *command)
    assert result.exit_code == 1, result.output
    assert result.output == f"error: kiln.toml:2: {message}\n1 problem found; nothing was run.\n"
    assert not (project_dir / "art").exists()


def test_every_section_problem_is_listed(project_dir):
    (project_dir / "kiln.toml").write_text('site = 5\nproject = 3\n[engines]\nx = 5\n')
    result = invoke(project_dir, "check")
    assert result.output.splitlines()[:3] == [
        "error: kiln.toml:2: project: expected a [project] table, got 3",
        "error: kiln.toml:1: site: expected a [site] table, got 5",
        "error: kiln.toml:4: engines.x: expected a table",
    ]


SHOWN = f'"{"a" * 80}…"'


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        (f'extends = "{LONG}"\nprompt = "x"\n',
         f"recipes/long.toml:1: extends: {SHOWN} (300 characters) holds a name of 300 bytes;"
         " file and folder names are at most 255 bytes"),
        (f'prompt = {{ library = "{LONG}" }}\n',
         f"recipes/long.toml:1: prompt.library: {SHOWN} (300 characters) holds a name of 304 bytes;"
         " file and folder names are at most 255 bytes"),
        (f'prompt = "x"\nreferences = "{LONG}.png"\n',
         f"recipes/long.toml:2: references: {SHOWN} (304 characters) holds a name of 304 bytes;"
         " file and folder names are at most 255 bytes"),
        (f'prompt = "x"\nreferences = "!!{LONG}!!"\n',
         f'recipes/long.toml:2: references: "!!{"a" * 78}…" (304 characters) holds a name of 300 bytes;'
         " file and folder names are at most 255 bytes"),
        ('prompt = "x"\nreferences = "a\\u0000.png"\n',
         'recipes/long.toml:2: references: "a\\u0000.png" contains a NUL character'),
    ],
)
def test_names_no_file_system_takes_are_errors_with_their_line(project_dir, write_recipe, recipe, message):
    (project_dir / "references").mkdir()
    write_recipe("long", recipe)
    result = invoke(project_dir, "check")
    assert result.exit_code == 1, result.output
    assert result.output == f"error: {message}\n1 problem found; nothing was run.\n"


def test_a_folder_name_too_long_in_kiln_toml(project_dir):
    (project_dir / "kiln.toml").write_text(f'[paths]\nart = "{LONG}"\n')
    result = invoke(project_dir, "check")
    assert result.output == (
        f"error: kiln.toml:2: paths.art: {SHOWN} (300 characters) holds a name of 300 bytes;"
        " file and folder names are at most 255 bytes\n1 problem found; nothing was run.\n"
    )
