"""Inputs no one means to write, met with a clear message naming the file, line and key."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
import warnings
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

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
    undone = {"build": "nothing was built", "jobs": "nothing was changed"}.get(command[0], "nothing was run")
    assert result.output == f"error: kiln.toml:2: {message}\n1 problem found; {undone}.\n"
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


def invoke_with_deadline(project: Path, fifo: Path, *args: str):
    """``invoke``, failing (not hanging) if the command blocks on ``fifo``."""
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(invoke(project, *args)), daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():
        with open(fifo, "w"):  # a writer releases the reader, so the thread ends
            pass
        thread.join(20)
        pytest.fail(f"kiln {' '.join(args)} blocked reading {fifo.name}")
    return outcome[0]


@pytest.mark.parametrize(
    ("fifo", "recipe", "message"),
    [
        ("wildcards/pipe.txt", 'prompt = "a __pipe__"',
         "recipes/fifo.toml:1: prompt: wildcards/pipe.txt is a FIFO, not a file; kiln reads only regular files"),
        ("prompts/pipe.txt", 'prompt = { library = "pipe" }',
         "recipes/fifo.toml:1: prompt.library: prompts/pipe.txt is a FIFO, not a file; kiln reads only regular files"),
        ("references/pipe.png", 'prompt = "x"\nreferences = "pipe.png"',
         'recipes/fifo.toml:2: references: "pipe.png": references/pipe.png is a FIFO, not a file;'
         " kiln reads only regular files"),
    ],
)
def test_a_fifo_is_refused_not_read(project_dir, write_recipe, fifo, recipe, message):
    path = project_dir / fifo
    path.parent.mkdir()
    os.mkfifo(path)
    write_recipe("fifo", recipe + "\n")
    result = invoke_with_deadline(project_dir, path, "check")
    assert result.exit_code == 1, result.output
    assert result.output == f"error: {message}\n1 problem found; nothing was run.\n"


def test_a_fifo_in_wildcards_does_not_touch_recipes_without_wildcards(project_dir, write_recipe):
    (project_dir / "wildcards").mkdir()
    os.mkfifo(project_dir / "wildcards" / "pipe.txt")
    write_recipe("plain", 'prompt = "a cat"\n')
    result = invoke_with_deadline(project_dir, project_dir / "wildcards" / "pipe.txt", "check")
    assert result.exit_code == 0, result.output


def test_a_fifo_named_like_a_recipe(project_dir, write_recipe):
    write_recipe("ok", 'prompt = "a cat"\n')
    os.mkfifo(project_dir / "recipes" / "pipe.toml")
    result = invoke_with_deadline(project_dir, project_dir / "recipes" / "pipe.toml", "check")
    assert result.output == (
        "recipes/ok.toml: ok, 1 job\n"
        "error: recipes/pipe.toml: is a FIFO, not a file; kiln reads only regular files\n"
        "1 problem found; nothing was run.\n"
    )


def test_a_socket_in_wildcards(project_dir, write_recipe):
    (project_dir / "wildcards").mkdir()
    # AF_UNIX paths are short (108 bytes): bind from inside the folder.
    here = os.getcwd()
    os.chdir(project_dir / "wildcards")
    try:
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind("sock.txt")
            write_recipe("sock", 'prompt = "a __sock__"\n')
            result = invoke(project_dir, "check")
    finally:
        os.chdir(here)
    assert result.output == (
        "error: recipes/sock.toml:1: prompt: wildcards/sock.txt is a socket, not a file; kiln reads only regular files\n"
        "1 problem found; nothing was run.\n"
    )


ENGINES = """\
[engines.proc]
type = "ndjson"
command = 5

[engines.cloud]
type = "openai"
base_url = "file:///etc/passwd"
concurrency = 100000
timeout_s = inf

[engines.shell]
type = "os:system"

[engines.nameless]
type = ":Engine"

[engines.abstract]
type = "kiln.engines.base:Engine"

[engines.slow]
type = "ndjson"
command = ["engine"]
timeout_s = nan
retry = { backoff_ms = 99999999999999 }
"""


def test_check_reads_every_engine_option_with_its_line(project_dir):
    (project_dir / "kiln.toml").write_text(ENGINES)
    result = invoke(project_dir, "check")
    assert result.exit_code == 1
    assert result.output == (
        "error: kiln.toml:24: engines.slow.retry.backoff_ms: expected an integer from 0 to 3,600,000, got 99999999999999\n"
        "1 problem found; nothing was run.\n"
    )
    (project_dir / "kiln.toml").write_text(ENGINES.replace("retry = { backoff_ms = 99999999999999 }\n", ""))
    result = invoke(project_dir, "check")
    assert result.output == (
        "error: kiln.toml:3: engines.proc.command: expected a list of strings or a string, got 5\n"
        'error: kiln.toml:7: engines.cloud.base_url: expected an http:// or https:// address, got "file:///etc/passwd"\n'
        "error: kiln.toml:8: engines.cloud.concurrency: expected an integer from 1 to 256, got 100000\n"
        "error: kiln.toml:9: engines.cloud.timeout_s: expected a finite number, got inf\n"
        "error: kiln.toml:12: engines.shell.type: 'os:system' is not a kiln Engine subclass\n"
        "error: kiln.toml:15: engines.nameless.type: cannot load ':Engine': ValueError: Empty module name\n"
        "error: kiln.toml:18: engines.abstract.type: 'kiln.engines.base:Engine' is abstract:"
        " it does not implement _load, generate\n"
        "error: kiln.toml:23: engines.slow.timeout_s: expected a number of seconds from 0.001 to 604800, got nan\n"
        "8 problems found; nothing was run.\n"
    )


def test_run_stops_on_the_options_of_the_engines_it_uses_before_the_store(project_dir, write_recipe):
    (project_dir / "kiln.toml").write_text('[engines.proc]\ntype = "ndjson"\ncommand = 5\n\n[engines.other]\ntype = "x:y"\n')
    write_recipe("one", 'engine = "proc"\nmodel = "m"\nprompt = "p"\n')
    result = invoke(project_dir, "run", "one")
    assert result.output == (
        "error: kiln.toml:3: engines.proc.command: expected a list of strings or a string, got 5\n"
        "1 problem found; nothing was run.\n"
    )
    assert not (project_dir / "art").exists()


def test_your_own_engine_class_passes_check(project_dir, write_recipe, monkeypatch):
    (project_dir / "my_engines.py").write_text(
        "from kiln.engines.placeholder import PlaceholderEngine\n\nclass Mine(PlaceholderEngine):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(project_dir))
    (project_dir / "kiln.toml").write_text('[engines.mine]\ntype = "my_engines:Mine"\nanything = 1\n')
    write_recipe("one", 'engine = "mine"\nmodel = "m"\nprompt = "p"\n')
    result = invoke(project_dir, "check")
    assert result.output == "recipes/one.toml: ok, 1 job\n1 recipe checked, no problems.\n"


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares ``width``x``height`` pixels but holds none (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.fixture
def bad_references(project_dir: Path) -> Path:
    folder = project_dir / "references"
    folder.mkdir()
    _png_header_only(folder / "bomb.png", 20_000, 20_000)
    Image.new("RGB", (64, 64), "red").save(folder / "good.png")
    data = (folder / "good.png").read_bytes()
    (folder / "cut.png").write_bytes(data[: len(data) // 2])
    (folder / "text.png").write_text("hello")
    return folder


def test_check_reads_reference_images_and_names_the_bad_ones(project_dir, write_recipe, bad_references):
    write_recipe("refs", 'prompt = "x"\nreferences = "{good.png|bomb.png|cut.png|text.png}"\n')
    result = invoke(project_dir, "check")
    assert result.exit_code == 1
    assert result.output == (
        "error: recipes/refs.toml:2: references: references/bomb.png is too large to decode safely: Image size"
        " (400000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb DOS attack.\n"
        "error: recipes/refs.toml:2: references: references/cut.png is not a readable image: Truncated File Read\n"
        "error: recipes/refs.toml:2: references: references/text.png is not an image kiln can read (PNG, JPEG or WebP)\n"
        "3 problems found; nothing was run.\n"
    )


def test_a_folder_of_references_with_a_bad_image(project_dir, write_recipe, bad_references):
    for name in ("bomb.png", "cut.png"):
        (bad_references / name).unlink()
    write_recipe("refs", 'prompt = "x"\nreferences = "!!.!!"\n')
    result = invoke(project_dir, "check")
    assert result.output.splitlines()[0] == (
        "error: recipes/refs.toml:2: references: references/text.png is not an image kiln can read (PNG, JPEG or WebP)"
    )


def test_an_image_over_the_pixel_limit_below_the_bomb_error(project_dir, write_recipe, monkeypatch):
    (project_dir / "references").mkdir()
    Image.new("RGB", (64, 64), "red").save(project_dir / "references" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4000)
    write_recipe("refs", 'prompt = "x"\nreferences = "big.png"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        result = invoke(project_dir, "check")
    assert result.output.splitlines()[0] == (
        "error: recipes/refs.toml:2: references: references/big.png is 64x64, 0 megapixels;"
        " references may have at most 0 (Pillow's limit against decompression bombs)"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("text.png", "reference references/text.png is not an image kiln can read (PNG, JPEG or WebP)"),
        ("cut.png", "reference references/cut.png is not a readable image: image file is truncated"),
        ("bomb.png", "reference references/bomb.png is too large to decode safely"),
    ],
)
def test_a_bad_reference_at_run_time_is_named(project, bad_references, name, message):
    from kiln.engines import EngineError
    from kiln.reference_images import ReferencePreparer

    data = (bad_references / name).read_bytes()
    reference = {"path": f"references/{name}", "sha256": hashlib.sha256(data).hexdigest()}
    with pytest.raises(EngineError) as caught:
        ReferencePreparer(project).thumbnail(reference)
    assert caught.value.code == "REFERENCE_UNREADABLE"
    assert str(caught.value.args[0]).startswith(message)
    assert "BytesIO" not in str(caught.value)


def test_lines_are_found_past_quotes_inside_strings():
    from kiln.tomlfile import index_lines

    text = (
        "title = \"'''\"\n"
        "a = 1\n"
        'b = """x\ny = 2\n"""\n'
        "c = '''q'''\n"
        'd = """a\\"""b\ne = 5\n"""\n'
        'f = "x" # """\n'
        'g = [\n  """m\nh = 1\n""",\n]\n'
        'i = 2\n'
        'j = """k""""\n'
        '"\\t" = 3\n'
    )
    assert index_lines(text) == {"title": 1, "a": 2, "b": 3, "c": 6, "d": 7, "f": 10, "g": 11, "i": 16, "j": 17, "\t": 18}


def test_a_folder_named_like_a_recipe_is_passed_over(project_dir, write_recipe):
    write_recipe("ok", 'prompt = "a cat"\n')
    (project_dir / "recipes" / "folder.toml").mkdir()
    (project_dir / "recipes" / "_base.toml").mkdir()
    write_recipe("child", 'extends = "_base"\nprompt = "a cat"\n')
    result = invoke(project_dir, "check")
    assert result.output == (
        "recipes/ok.toml: ok, 1 job\n"
        "error: recipes/child.toml:1: extends: no recipe file recipes/_base.toml\n"
        "1 problem found; nothing was run.\n"
    )


def test_a_settings_file_that_cannot_be_read(project_dir):
    from kiln.errors import InputError
    from kiln.tomlfile import load

    (project_dir / "folder.toml").mkdir()
    with pytest.raises(InputError) as caught:
        load(project_dir / "folder.toml", "folder.toml")
    assert str(caught.value) == "folder.toml: cannot be read: Is a directory"


def test_a_path_setting_naming_a_file(project_dir):
    (project_dir / "kiln.toml").write_text('[paths]\nart = "kiln.toml"\n')
    result = invoke(project_dir, "run")
    assert result.output == 'error: kiln.toml:2: paths.art: "kiln.toml" is a file, not a folder\n1 problem found; nothing was run.\n'


def test_engine_paths_no_file_system_takes(project_dir):
    (project_dir / "kiln.toml").write_text(
        '[engines.d]\ntype = "diffusers"\npath = "a\\u0000b"\n\n'
        f'[engines.p]\ntype = "ndjson"\ncommand = ["engine"]\nwork_dir = "{LONG}"\n'
    )
    result = invoke(project_dir, "check")
    assert result.output == (
        'error: kiln.toml:3: engines.d.path: "a\\u0000b" contains a NUL character\n'
        f"error: kiln.toml:8: engines.p.work_dir: {SHOWN} (300 characters) holds a name of 300 bytes;"
        " file and folder names are at most 255 bytes\n"
        "2 problems found; nothing was run.\n"
    )
