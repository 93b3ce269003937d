"""No traceback on any input: recipes and kiln.toml files built from the documented keys with
hostile values, and hostile files beside them, through `kiln check` and `kiln plan`.

Every example must end with exit 0 or 1 and no exception; every error line must name a file
(and its line, when the key it names was written in that file); and nothing may be written:
no ``art/``. The suite runs a bounded, derandomised number of examples; ``pytest -m fuzz``
runs many more, freshly drawn.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from images import image_bytes
from kiln.cli import cli
from kiln.engines import BUILTIN_TYPES
from kiln.policy import POLICY_KEYS
from kiln.project import _PATH_KEYS, _PROJECT_KEYS, _SECTIONS, _SITE_KEYS
from kiln.recipe.parse import KEYS, NESTED_KEYS

SUITE_EXAMPLES = 100
FUZZ_EXAMPLES = 3000

# --- values ------------------------------------------------------------------------------------

LONG_NAME = "n" * 300
PATHS = ["..", "../kiln.toml", "kiln.toml", "recipes/fuzz.toml", "../../etc/passwd", "/etc/passwd", "C:\\x", "a/../../b", "~", ".", "",
         LONG_NAME, f"a/{LONG_NAME}", "x" * 5000, "a\x00b", "pipe", "out", "bomb.png", "text.png",
         "good.png", "fifo.png", "link.png", "_base", "weather", "portrait", "dir", "dir.png", "_dir"]
NUMBERS = [0, -1, 1, 2**63 - 1, -(2**63), 10**18, 64, 4096, 4097, 1.5, -0.0, math.nan, math.inf, -math.inf, 1e308]

hostile_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=8),  # control characters
    st.sampled_from(PATHS),
    st.sampled_from(["\x1b[31mred", "é", "🦊", "\u202e", "{", "}", "{a|b", "__", "__x", "$${", "@", "!#0", "!!", "|"]),
)
hostile_scalar = st.one_of(
    hostile_text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from(NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
hostile = st.recursive(
    hostile_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(sorted(KEYS)), st.text(max_size=6)), inner, max_size=3),
    ),
    max_leaves=8,
)

# Values a recipe key may sensibly hold, so examples get past parsing into expansion.
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "prompt": st.sampled_from([
        "a cat", "a {red|blue} fox", "__weather__ sky", "{2$$a|b|c}", "__missing__", "{a|b", "a __pipe__",
        "a __out__", "__../kiln__", "{", "${x=a} ${x}", {"library": "portrait"}, {"library": "pipe"},
        {"library": LONG_NAME}, {"library": "../kiln"}, ["a", {"library": "portrait"}], {"library": "dir"}, "__dir__",
    ]),
    "size": st.sampled_from(["64x64", "1x1", "99999x99999", "64x", {"long_edge": 256, "aspect": "3:2"},
                             {"long_edge": -1, "aspect": "0:0"}, ["64x64", "128x64"]]),
    "seeds": st.sampled_from([[1, 2], "1-4", 3, "5-1", "1-10 (+0)", [2**64], -3, "1-99999999999"]),
    "steps": st.sampled_from([4, "4-8 (+2)", [1, 200], 0, 201, "1-10 [0]"]),
    "guidance": st.sampled_from([4.5, [0, 50], "2-5 [4]", math.nan, -1]),
    "references": st.sampled_from(["good.png", "!!.!!", "!.", "!#1", "!#2", "bomb.png", "text.png", "fifo.png",
                                   "link.png", "../kiln.toml", "/etc/passwd", "@faces", "@nope",
                                   "{good.png|text.png}", ["good.png", "!!.!!"], f"{LONG_NAME}.png", "dir.png", "!dir.png"]),
    "extends": st.sampled_from(["_base", "fuzz", "../kiln", "/etc/passwd", LONG_NAME, "_pipe", "_missing", "_dir"]),
    "engine": st.sampled_from(["placeholder", "cloud", "proc", "own", "nope"]),
    "mode": st.sampled_from(["combinatorial", "random"]),
    "style": st.sampled_from(["ink", ["ink", "ink"], "nope"]),
    "zip": st.sampled_from([[["steps", "guidance"]], [["seed"]], [["nope", "steps"]]]),
    "gallery": st.sampled_from([{"grid": {"x": "steps", "y": "seed"}}, {"sort": "rating"}, {"page_size": 0},
                                {"grid": {"x": "nope"}}, {"cover": "x"}]),
    "max_jobs": st.sampled_from([1, 5, 0, -1]),
    "target": st.sampled_from([1, 3, 0, 10**9]),
    "max_prompts": st.sampled_from([1, 3, 0, 10**12]),
    "seed": st.sampled_from([0, 7, -1, 2**64]),
    "seed_policy": st.sampled_from(["per_image", "per_prompt", "fixed", "nope"]),
    "count": st.sampled_from([1, 2, 0]),
    "repeat": st.sampled_from([1, 2, 0]),
    "tolerance": st.sampled_from([0, 2, -1]),
    "max_failures": st.sampled_from([1, 5, 0]),
    "params": st.sampled_from([{"strength": [0.4, 0.7]}, {"width": 1}, {"Bad-Name": 1}, {"x": {"y": 1}}]),
    "model": st.sampled_from(["m", ["m1", "m2"], ""]),
    "sampler": st.sampled_from(["euler", ["a", "b"], ""]),
    "negative_prompt": st.sampled_from(["blurry", "{a|b}", ""]),
    "enabled": st.sampled_from([True, False]),
    "title": st.sampled_from(["Foxes", "\x1b[2J", ""]),
}


def recipe_value(key: str) -> st.SearchStrategy[Any]:
    plausible = PLAUSIBLE.get(key)
    return st.one_of(plausible, hostile) if plausible is not None else hostile


recipe_keys = st.lists(st.one_of(st.sampled_from([k for k in KEYS if k != "batch"]), st.text(max_size=8)),
                       max_size=7, unique=True)


@st.composite
def recipes(draw: st.DrawFn) -> dict[str, Any]:
    recipe: dict[str, Any] = {}
    if draw(st.booleans()):
        recipe["prompt"] = draw(PLAUSIBLE["prompt"])
    if draw(st.booleans()):  # a plausible recipe, to reach expansion and planning
        for key in draw(st.lists(st.sampled_from(sorted(PLAUSIBLE)), max_size=5, unique=True)):
            recipe[key] = draw(PLAUSIBLE[key])
        recipe.setdefault("prompt", "a {red|blue} fox")
        recipe.setdefault("max_jobs", 20)
        return recipe
    for key in draw(recipe_keys):
        recipe[key] = draw(recipe_value(key))
    for table, keys in NESTED_KEYS.items():
        if draw(st.integers(0, 9)) == 0 and "." not in table and table != "batch":
            recipe[table] = {key: draw(hostile) for key in draw(st.lists(st.sampled_from(keys), max_size=2))}
    # A small cap by default: a hostile recipe may ask for millions of jobs, which is refused
    # quickly only when the cap is small; the cap's own hostile values are drawn above.
    recipe.setdefault("max_jobs", 20)
    if draw(st.integers(0, 5)) == 0:
        recipe["batch"] = draw(st.lists(st.fixed_dictionaries({}, optional={
            "name": st.one_of(st.sampled_from(["a", "b", "B!", ""]), hostile),
            "steps": recipe_value("steps"), "prompt": recipe_value("prompt"), "extends": recipe_value("extends"),
        }), max_size=3))
    return recipe


ENGINE_OPTIONS = ["command", "base_url", "api_key_env", "timeout_s", "concurrency", "models", "env", "load",
                  "generate", "workflow", "extra", "path", "size_multiple", "load_timeout_s", *POLICY_KEYS]


@st.composite
def settings_files(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {"engines": {
        "cloud": {"type": "openai", "base_url": "http://127.0.0.1:9"},
        "proc": {"type": "ndjson", "command": ["engine"]},
        "own": {"type": "kiln.engines.placeholder:PlaceholderEngine"},
    }, "styles": {"ink": {"prompt": "{prompt}, ink"}}, "reference_groups": {"faces": ["good.png"]}}
    if draw(st.booleans()):  # the recipe's turn to be hostile
        return config
    for section in draw(st.lists(st.sampled_from(_SECTIONS), max_size=3, unique=True)):
        keys = {"project": list(_PROJECT_KEYS), "site": list(_SITE_KEYS), "paths": list(_PATH_KEYS),
                "engines": ["cloud", "proc", "own", "new"], "styles": ["ink", "new"],
                "reference_groups": ["faces", "new"], "import": ["picked", "rejected", "thumbs", "new"]}[section]
        if draw(st.integers(0, 4)) == 0:
            config[section] = draw(hostile)  # the section itself, wrong
            continue
        table = config.setdefault(section, {})
        for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=2)):
            if section == "engines":
                engine = dict(table.get(key, {}))
                if draw(st.booleans()):
                    engine["type"] = draw(st.one_of(st.sampled_from([*BUILTIN_TYPES, "os:system", ":x", "a:b:c",
                                                                     "kiln.engines.base:Engine"]), hostile))
                for option in draw(st.lists(st.sampled_from(ENGINE_OPTIONS), max_size=3)):
                    engine[option] = draw(hostile)
                table[key] = engine
            elif section == "paths":
                table[key] = draw(st.one_of(st.sampled_from(PATHS), hostile))
            else:
                table[key] = draw(hostile)
    if draw(st.integers(0, 5)) == 0:
        config[draw(st.text(min_size=1, max_size=6))] = draw(hostile)
    return config


# --- TOML -------------------------------------------------------------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML wants DEL escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_document(data: dict[str, Any], sections: bool) -> str:
    """``data`` as TOML: tables as ``[name]`` sections (and lists of tables as ``[[name]]``)
    when ``sections``, else inline; either way one key per line."""
    lines, later = [], []
    for key, value in data.items():
        if sections and isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
            later.append(f"[{toml_key(key)}]")
            later.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        elif sections and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for table in value:
                later.append(f"[[{toml_key(key)}]]")
                later.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())
        else:
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    return "\n".join([*lines, *later]) + "\n"


# --- the project ------------------------------------------------------------------------------


def make_files(root: Path, hostile_files: set[str]) -> None:
    """The files recipes may name: good ones, and the hostile ones drawn."""
    for folder in ("recipes", "wildcards", "prompts", "references"):
        (root / folder).mkdir()
    (root / "wildcards" / "weather.txt").write_text("rain\nsnow\n")
    (root / "prompts" / "portrait.txt").write_text("a {young|old} sailor\n")
    (root / "references" / "good.png").write_bytes(image_bytes("good"))
    (root / "references" / "text.png").write_text("not an image")
    (root / "recipes" / "_base.toml").write_text('steps = 4\nsize = "64x64"\n')
    if "fifo" in hostile_files:
        for path in ("wildcards/pipe.txt", "prompts/pipe.txt", "references/fifo.png", "recipes/_pipe.toml"):
            os.mkfifo(root / path)
    if "links" in hostile_files:
        outside = root.parent / "outside.png"
        Image.new("RGB", (4, 4)).save(outside)
        (root / "references" / "link.png").symlink_to(outside)
        (root / "wildcards" / "out.txt").symlink_to(outside)
    if "folders" in hostile_files:  # folders named like the files recipes name
        for path in ("recipes/folder.toml", "recipes/_dir.toml", "prompts/dir.txt", "references/dir.png",
                     "wildcards/dir.txt"):
            (root / path).mkdir()
    if "bomb" in hostile_files:
        Image.new("1", (4, 4)).save(root / "references" / "bomb.png")
        data = bytearray((root / "references" / "bomb.png").read_bytes())
        data[16:24] = (40_000).to_bytes(4, "big") * 2  # IHDR's width and height: 1.6 gigapixels
        (root / "references" / "bomb.png").write_bytes(bytes(data))


ERROR = re.compile(r"^error: (?P<file>[^:]+?)(?::(?P<line>\d+))?: (?P<rest>.*)$")


def written_keys(text: str) -> set[str]:
    """The top-level keys and table names a TOML text writes, as the fuzz test writes them."""
    keys, in_table = set(), False
    for line in text.splitlines():
        header = re.match(r'^\[{1,2}("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)', line)
        key = re.match(r'^("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+) =', line)
        token = header.group(1) if header else key.group(1) if key and not in_table else None
        in_table = in_table or bool(header)
        if token:
            keys.add(json.loads(token) if token.startswith('"') else token)
    return keys


def check_output(result: Any, root: Path, files: dict[str, str], folders: set[str]) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    for line in result.output.splitlines():
        if not line.startswith("error: "):
            continue
        match = ERROR.match(line)
        assert match, f"an error that names no file: {line!r}"
        name = match["file"]
        assert (root / name).exists() or name in files or name in folders, f"not a file of the project: {line!r}"
        if name in files and not match["line"]:
            first = re.split(r"[.:]", match["rest"], maxsplit=1)[0]
            assert first not in written_keys(files[name]) or not match["rest"].startswith(f"{first}"), (
                f"an error about a key written in {name} gives no line: {line!r}\n--- {name}\n{files[name]}"
            )
    assert not (root / "art").exists(), "check or plan wrote art/"


def run_example(projects: dict[frozenset[str], Path], config: dict[str, Any], recipe: dict[str, Any],
                styles: dict[str, Any] | None, noise: bytes, hostile_files: set[str], sections: bool) -> None:
    root = projects.get(frozenset(hostile_files))
    if root is None:  # one project per set of hostile files, made once: examples rewrite its two files
        root = projects[frozenset(hostile_files)] = Path(tempfile.mkdtemp()) / "project"
        root.mkdir()
        make_files(root, hostile_files)
    files = {"kiln.toml": toml_document(config, sections), "recipes/fuzz.toml": toml_document(recipe, sections)}
    if styles is not None:
        files["styles.toml"] = toml_document(styles, sections)
    (root / "styles.toml").unlink(missing_ok=True)
    for name, text in files.items():
        (root / name).write_bytes(text.encode() + (noise if name == "recipes/fuzz.toml" else b""))
    runner = CliRunner()
    for args in (["check"], ["plan", "fuzz"]):
        result = runner.invoke(cli, [*args, "-C", str(root)])
        # An error may name a folder [paths] gives, which need not exist ("pipe: no recipe named …").
        paths = config.get("paths")
        folders = {"recipes", *(v for v in paths.values() if isinstance(v, str))} if isinstance(paths, dict) else {"recipes"}
        check_output(result, root, files, folders)
        event(f"kiln {args[0]}: exit {result.exit_code}")  # --hypothesis-show-statistics: how deep examples got


@pytest.fixture(scope="module")
def projects() -> Iterator[dict[frozenset[str], Path]]:
    made: dict[frozenset[str], Path] = {}
    yield made
    for root in made.values():
        shutil.rmtree(root.parent)


example = given(
    config=settings_files(), recipe=recipes(),
    styles=st.one_of(st.none(), st.dictionaries(st.one_of(st.just("film"), st.text(max_size=4)), hostile, max_size=2)),
    noise=st.sampled_from([b"", b"", b"\xff", b"\n\xc3", b"\r\n\x00"]),
    hostile_files=st.sets(st.sampled_from(["fifo", "links", "bomb", "folders"])), sections=st.booleans(),
)
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


@settings(max_examples=SUITE_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=HEALTH)
@example
def test_no_traceback_on_hostile_input(projects, config, recipe, styles, noise, hostile_files, sections):
    run_example(projects, config, recipe, styles, noise, hostile_files, sections)


@pytest.mark.fuzz
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=HEALTH)
@example
def test_no_traceback_on_hostile_input_at_length(projects, config, recipe, styles, noise, hostile_files, sections):
    run_example(projects, config, recipe, styles, noise, hostile_files, sections)
