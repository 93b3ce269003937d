"""The art/ store's atomic writes, and the provenance written into PNGs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from kiln import art
from kiln.pngmeta import infotext, png_info
from kiln.stages import blurhash_of, run_stages

SPEC = {
    "engine": "placeholder", "engine_type": "placeholder", "model": "procedural-v1",
    "prompt": "a red fox, oil", "negative_prompt": "blurry", "width": 640, "height": 480,
    "seed": 42, "steps": 20, "guidance": 4.5, "sampler": None, "references": [],
}


def test_write_atomic_replaces_whole_files(tmp_path):
    target = tmp_path / "original" / "x.png"
    art.write_atomic(target, b"first")
    art.write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["x.png"]


def test_a_stored_file_is_read_only_under_its_name_from_the_start(tmp_path, monkeypatch):
    target = tmp_path / "original" / "x.png"
    renamed = []
    replace = os.replace

    def watched_replace(src, dst):
        renamed.append(os.stat(src).st_mode & 0o777)  # the temporary, before it has the name
        replace(src, dst)

    monkeypatch.setattr(art.os, "replace", watched_replace)
    umask = os.umask(0o000)  # whatever the umask lets through
    try:
        art.store_atomic(target, b"first")
        art.write_atomic(tmp_path / "notes.txt", b"plain")
    finally:
        os.umask(umask)
    assert renamed == [0o444, 0o644]
    assert target.stat().st_mode & 0o777 == 0o444
    art.store_atomic(target, b"first")  # over a read-only file of the same name: a rename
    assert target.read_bytes() == b"first"


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "original" / "x.png"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(art.os, "replace", broken_replace)
    with pytest.raises(OSError):
        art.write_atomic(target, b"data")
    assert list(target.parent.iterdir()) == []


def _owned(pid: int, host: str | None = None) -> str:
    return f"{art.TEMP_PREFIX}{art.host_tag(host)}-{pid}-abc"


def test_a_temporary_names_its_writer(tmp_path, monkeypatch):
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(art.os, "replace", lambda src, dst: (renamed.append(Path(src).name), real_replace(src, dst)))
    art.write_atomic(tmp_path / "original" / "x.png", b"data")
    assert renamed[0].startswith(_owned(os.getpid())[:-3])


def test_sweep_removes_only_temporaries_no_live_writer_owns(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    day = 24 * 3600 * 10**9
    folder = tmp_path / "thumb"
    folder.mkdir()
    files = {
        "live": _owned(os.getpid()),
        "dead": _owned(dead.pid),
        "elsewhere-recent": _owned(1, "another-host"),
        "elsewhere-old": _owned(2, "another-host"),
        "unnamed-recent": ".tmp-abc",
        "unnamed-old": ".tmp-def",
    }
    for name in files.values():
        (folder / name).write_bytes(b"half")
    for kind in ("elsewhere-old", "unnamed-old", "live", "dead"):
        os.utime(folder / files[kind], ns=(time.time_ns() - 2 * day, time.time_ns() - 2 * day))
    (folder / "keep.webp").write_bytes(b"whole")
    assert art.sweep_temporaries(tmp_path) == 3
    left = {path.name for path in folder.iterdir()}
    assert left == {"keep.webp", files["live"], files["elsewhere-recent"], files["unnamed-recent"]}


WRITER = """
import os, sys, time
from pathlib import Path
from kiln import art
held, go = Path(sys.argv[2]), Path(sys.argv[3])
real_replace = os.replace
def slow_replace(src, dst):
    held.touch()
    while not go.exists():
        time.sleep(0.01)
    real_replace(src, dst)
art.os.replace = slow_replace
art.write_atomic(Path(sys.argv[1]), b"an image being written")
"""


def test_a_starting_run_leaves_a_live_writers_temporary_alone(project_dir, write_recipe):
    """A process writes into art/ (another run, kiln doctor --fix) and is between writing its
    temporary and renaming it when `kiln run` starts: the rename still works."""
    write_recipe("one", 'prompt = "a fox"\nsize = "64x64"\nsteps = 1\n')
    target = project_dir / "art" / "thumb" / "0123456789abcdef.webp"
    held, go = project_dir / "held", project_dir / "go"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(held), str(go)], stderr=subprocess.PIPE)
    try:
        while not held.exists():
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
            time.sleep(0.01)
        run = subprocess.run([sys.executable, "-m", "kiln", "run", "-C", str(project_dir)], capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        go.touch()
        _, errors = writer.communicate(timeout=30)
        assert writer.returncode == 0, errors.decode()
        assert target.read_bytes() == b"an image being written"
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_content_id():
    image_id, sha = art.content_id(b"abc")
    assert sha == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert image_id == sha[:16]


def test_infotext_is_a1111_style():
    assert infotext(SPEC, "a {red|blue} fox, oil") == (
        "a red fox, oil\n"
        "Negative prompt: blurry\n"
        'Steps: 20, Sampler: default, CFG scale: 4.5, Seed: 42, Size: 640x480, Model: procedural-v1, '
        'Template: "a {red|blue} fox, oil", Version: kiln 0.1.0, Engine: kiln placeholder (procedural - no AI model)'
    )


def test_png_chunks_round_trip():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG", pnginfo=png_info("key1", "foxes", SPEC, "tmpl", {"x": 1}))
    text = Image.open(io.BytesIO(buffer.getvalue())).text
    assert text["parameters"].startswith("a red fox, oil\nNegative prompt: blurry\nSteps: 20")
    import json

    payload = json.loads(text["kiln"])
    assert payload["job_key"] == "key1"
    assert payload["recipe"] == "foxes"
    assert payload["spec"] == SPEC
    assert payload["x"] == 1


def test_stages_make_thumb_and_web_copies(tmp_path):
    image = Image.linear_gradient("L").convert("RGB").resize((2000, 1000))
    rows = run_stages(image, "abc", tmp_path, "2026-01-01T00:00:00.000Z")
    by_stage = {row["stage"]: row for row in rows}
    assert (by_stage["thumb"]["width"], by_stage["thumb"]["height"]) == (400, 400)
    assert (by_stage["web"]["width"], by_stage["web"]["height"]) == (1600, 800)
    for row in rows:
        path = tmp_path / row["path"]
        assert path.stat().st_size == row["bytes"]
        assert path.stat().st_mode & 0o777 == 0o444
        assert Image.open(path).format == "WEBP"


def test_small_images_are_not_upscaled(tmp_path):
    rows = run_stages(Image.new("RGB", (300, 200), "red"), "abc", tmp_path, "t")
    sizes = {row["stage"]: (row["width"], row["height"]) for row in rows}
    assert sizes == {"thumb": (200, 200), "thumb_small": (200, 200), "web": (300, 200)}


def test_blurhash_is_4x3_and_keeps_the_image_open():
    image = Image.new("RGB", (640, 480), (200, 40, 40))
    value = blurhash_of(image)
    assert len(value) == 28
    assert value[0] == "L"  # the size flag for 4×3 components: (4 - 1) + (3 - 1) * 9 = 21
    image.load()  # the encoder closes what it is given; it must not be the caller's image


def test_written_files_are_readable_by_others(tmp_path):
    target = tmp_path / "web" / "x.webp"
    art.write_atomic(target, b"data")
    assert target.stat().st_mode & 0o777 == 0o644
