"""The README documents what the code accepts: every recipe key, setting and command."""

from __future__ import annotations

import re
from pathlib import Path

from kiln.cli import cli
from kiln.project import _PATH_KEYS
from kiln.recipe.parse import KEYS, NESTED_KEYS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, title
    return match.group(1)


def test_every_recipe_key_is_in_the_recipe_reference():
    reference = section("Recipe reference")
    documented = set(re.findall(r"^\| `\[{0,2}([a-z_]+)\]{0,2}` \|", reference, re.M))
    assert documented == set(KEYS)
    nested = set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \|", reference, re.M))
    assert nested == {f"{table}.{key}" for table, keys in NESTED_KEYS.items() for key in keys}


def test_every_project_setting_is_in_the_kiln_toml_example():
    example = section("A project")
    for key in [*_PATH_KEYS, "size_multiple", "[styles.", "[reference_groups]", "negative"]:
        assert key in example, key


def test_every_command_is_in_the_cli_reference():
    reference = section("CLI reference")
    documented = set(re.findall(r"^\| `kiln ([a-z-]+)", reference, re.M))
    assert documented == set(cli.commands)
