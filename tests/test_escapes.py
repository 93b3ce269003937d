"""Control characters and bidi marks in file names and prompts are printed as escapes, so a
name or a prompt cannot recolour the terminal, move its cursor or reorder a line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.cli import cli
from kiln.terminal import printable

RED = "\x1b[31m"
SHOWN_RED = "\\x1b[31m"


def invoke(project: Path, *args: str):
    result = CliRunner().invoke(cli, [*args, "-C", str(project)])
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", result.output), result.output
    return result


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"{RED}red\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("bell\x07 back\x08 cr\r del\x7f csi\x9b", "bell\\x07 back\\x08 cr\\x0d del\\x7f csi\\x9b"),
        ("abc\u202edcba\u2066x\u2069", "abc\\u202edcba\\u2066x\\u2069"),
        ("tab\tnewline\nstay, café ünïcödé too", "tab\tnewline\nstay, café ünïcödé too"),
    ],
)
def test_printable_escapes_what_acts_on_a_terminal(text, shown):
    assert printable(text) == shown


def test_a_file_name_with_escapes_is_printed_escaped(project_dir):
    (project_dir / "recipes" / f"{RED}red.toml").write_text('prompt = "x"\n')
    result = invoke(project_dir, "check")
    assert result.output == (
        f"error: recipes/{SHOWN_RED}red.toml: recipe file names use lowercase letters, digits, '-' and '_' only\n"
        "1 problem found; nothing was run.\n"
    )


def test_a_prompt_with_escapes_is_printed_escaped_by_every_command(project_dir, write_recipe):
    write_recipe("bad", 'prompt = "a \\u001b[31m{red|"\n')
    result = invoke(project_dir, "check")
    assert result.output == (
        f"error: recipes/bad.toml:1: prompt: cannot parse 'a {SHOWN_RED}{{red|': unclosed brace: '{{' at char 7 is never closed\n"
        "1 problem found; nothing was run.\n"
    )
    (project_dir / "recipes" / "bad.toml").unlink()
    write_recipe("fox", 'prompt = "a \\u001b[31mred\\u202e fox"\nsize = "64x64"\nsteps = 1\nseeds = [1]\n')
    shown = f"a {SHOWN_RED}red\\u202e fox"
    result = invoke(project_dir, "plan", "fox")
    assert result.exit_code == 0 and shown in result.output
    assert invoke(project_dir, "plan", "fox", "--json").output.count("\\u001b[31m") == 2  # JSON escapes it itself
    assert invoke(project_dir, "run").exit_code == 0
    result = invoke(project_dir, "plan", "fox")
    assert shown in result.output
    result = invoke(project_dir, "note", "--recipe", "fox", f"seen {RED}here")
    assert result.exit_code == 0
    exported = invoke(project_dir, "curation", "export", "-").output
    assert "\\u001b" in exported  # JSON Lines keep the text, escaped as JSON does
    image = re.search(r'"id": ?"([0-9a-f]+)"', exported).group(1)
    result = invoke(project_dir, "show", image[:8])
    assert result.exit_code == 0
    assert shown in result.output and f"seen {SHOWN_RED}here" in result.output


def test_an_engine_error_with_escapes_is_printed_escaped(project_dir, store):
    with store.transaction() as db:
        db["jobs"].insert({
            "key": "0123456789abcdef", "spec": "{}", "recipe": "fox", "engine": "api", "model": "m", "status": "failed",
            "error_code": "HTTP_400", "error": f"bad prompt {RED}\u202e", "queued_at": "2026-01-01T00:00:00.000Z",
        })
    result = invoke(project_dir, "jobs", "--failed")
    assert result.output == (
        f"0123456789abcdef  failed     fox               attempts 0  HTTP_400: bad prompt {SHOWN_RED}\\u202e\n1 job\n"
    )
