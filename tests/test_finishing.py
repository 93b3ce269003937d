"""Finishing an engine's file: provenance spliced into its own bytes, the pixels kept exactly,
and the workers sized to the cores the engines leave free."""

from __future__ import annotations

import io
import json
import re
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from kiln.art import content_id
from kiln.cli import cli
from kiln.engines.base import Engine, GenerateResult
from kiln.engines.placeholder import PlaceholderEngine
from kiln.exifmeta import EXIF_IFD, MAKER_NOTE, USER_COMMENT
from kiln.importing.embedded import user_comment
from kiln.finishing import finishing_workers, original_file, write_image_files
from kiln.pngmeta import provenance_texts, splice_png

SPEC = {
    "prompt": "a red fox, oil: ünïcode ✓", "negative_prompt": "blurry", "model": "sdxl", "engine": "remote",
    "engine_type": "a1111", "seed": 42, "steps": 20, "guidance": 4.5, "sampler": "Euler a", "width": 96,
    "height": 64, "references": [],
}
TEXTS = provenance_texts("key1", "foxes", SPEC, "a {red|blue} fox, oil", {"axes": {"colour": "red"}})
# A1111's infotext parser (infotext_utils.parse_generation_parameters): its key/value pattern,
# and its rule that the last line holds the parameters only when it has three or more of them.
A1111_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def a1111_parse(text: str) -> dict[str, str]:
    *lines, last = text.strip().split("\n")
    pairs = A1111_PAIR.findall(last)
    assert len(pairs) >= 3
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    fields = {key: json.loads(value) if value.startswith('"') else value for key, value in pairs}
    return {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative), **fields}


def engine_png(mode: str = "RGB", **info: str) -> bytes:
    """A PNG as an engine writes it: its own compression level, chunks and text."""
    image = Image.effect_noise((96, 64), 60).convert(mode) if mode != "RGB" else Image.merge(
        "RGB", [Image.effect_noise((96, 64), sigma) for sigma in (20, 40, 60)])
    from PIL.PngImagePlugin import PngInfo

    pnginfo = PngInfo()
    for key, value in info.items():
        pnginfo.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6, pnginfo=pnginfo)
    return buffer.getvalue()


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    found, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        found.append((data[position + 4:position + 8], data[position + 8:position + 8 + length]))
        position += 12 + length
    return found


def test_a_spliced_png_keeps_the_engine_image_data_byte_for_byte():
    engine = engine_png(prompt='{"3": {}}', parameters="the engine's own infotext")
    spliced = splice_png(engine, TEXTS)
    assert [body for kind, body in chunks(spliced) if kind == b"IDAT"] == [
        body for kind, body in chunks(engine) if kind == b"IDAT"
    ]
    assert Image.open(io.BytesIO(spliced)).tobytes() == Image.open(io.BytesIO(engine)).tobytes()
    kinds = [kind for kind, _ in chunks(spliced)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    # Both chunks come before the image data, where Image.open finds them without decoding.
    first_idat = kinds.index(b"IDAT")
    assert b"iTXt" in kinds[:first_idat]
    for kind, body in chunks(spliced):
        assert zlib.crc32(kind + body) == int.from_bytes(spliced[spliced.index(kind + body) + 4 + len(body):][:4], "big")


def test_a_spliced_png_carries_both_texts_for_pillow_and_for_a1111_readers():
    spliced = splice_png(engine_png(prompt='{"3": {}}', parameters="the engine's own infotext"), TEXTS)
    opened = Image.open(io.BytesIO(spliced))
    # The engine's own texts stay, but its `parameters` gives way to kiln's.
    assert opened.info["prompt"] == '{"3": {}}'
    assert opened.info["parameters"] == TEXTS["parameters"]
    assert json.loads(opened.info["kiln"])["job_key"] == "key1"
    assert opened.text == {"prompt": '{"3": {}}', "parameters": TEXTS["parameters"], "kiln": TEXTS["kiln"]}
    parsed = a1111_parse(opened.info["parameters"])
    assert parsed["Prompt"] == SPEC["prompt"]
    assert parsed["Negative prompt"] == "blurry"
    assert (parsed["Steps"], parsed["Sampler"], parsed["CFG scale"], parsed["Seed"], parsed["Size"]) == (
        "20", "Euler a", "4.5", "42", "96x64")
    assert parsed["Template"] == "a {red|blue} fox, oil"


def test_spliced_chunks_are_the_ones_pillow_writes():
    """Latin-1 infotext is a tEXt chunk, other text an iTXt one, as PngInfo.add_text chooses."""
    latin = provenance_texts("k", "r", {**SPEC, "prompt": "a fox"}, "a fox", {})
    types = {body.split(b"\0")[0]: kind for kind, body in chunks(splice_png(engine_png(), latin))
             if kind in (b"tEXt", b"iTXt")}
    assert types == {b"parameters": b"tEXt", b"kiln": b"iTXt"}
    types = {body.split(b"\0")[0]: kind for kind, body in chunks(splice_png(engine_png(), TEXTS))
             if kind in (b"tEXt", b"iTXt")}
    assert types == {b"parameters": b"iTXt", b"kiln": b"iTXt"}


def test_the_content_id_is_stable_and_is_the_stored_file_hash(tmp_path):
    engine = engine_png()
    first, _ = write_image_files(engine, tmp_path / "a", "t", "key1", "foxes", SPEC, "tmpl", {"x": 1})
    again, _ = write_image_files(engine, tmp_path / "b", "t", "key1", "foxes", SPEC, "tmpl", {"x": 1})
    assert first["id"] == again["id"]
    stored = (tmp_path / "a" / first["path"]).read_bytes()
    assert content_id(stored) == (first["id"], first["sha256"])
    assert (first["format"], first["path"]) == ("png", f"original/{first['id']}.png")
    other, _ = write_image_files(engine, tmp_path / "c", "t", "key1", "foxes", SPEC, "tmpl", {"x": 2})
    assert other["id"] != first["id"]  # the provenance is part of the file


def test_grey_pngs_keep_their_mode_and_still_get_derivatives(tmp_path):
    engine = engine_png("L")
    row, derivatives = write_image_files(engine, tmp_path, "t", "key1", "foxes", SPEC, "tmpl", {})
    stored = Image.open(tmp_path / row["path"])
    assert stored.mode == "L" and stored.tobytes() == Image.open(io.BytesIO(engine)).tobytes()
    assert {d["stage"] for d in derivatives} == {"thumb", "thumb_small", "web"}


def test_decoded_pixels_and_broken_files_are_encoded_as_png():
    image = Image.new("RGB", (32, 32), "teal")
    data, kind, extension, _ = original_file(image, TEXTS)
    assert (kind, extension) == ("png", "png")
    assert Image.open(io.BytesIO(data)).info["parameters"] == TEXTS["parameters"]
    # A PNG cut short after its header is not a whole file: its pixels cannot be kept as they are.
    with pytest.raises(ValueError):
        splice_png(engine_png()[:60], TEXTS)


def engine_file(fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.radial_gradient("L").convert("RGB").resize((96, 64)).save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_jpeg_and_webp_keep_their_bytes_with_the_infotext_in_the_exif_user_comment(tmp_path, fmt):
    exif = Image.Exif()
    exif[0x0112] = 1  # the engine's own tag (orientation) stays
    engine = engine_file(fmt, quality=90, exif=exif.tobytes())
    row, derivatives = write_image_files(engine, tmp_path, "t", "key1", "foxes", SPEC, "tmpl", {})
    stored = (tmp_path / row["path"]).read_bytes()
    assert row["format"] == fmt.lower() and row["path"].endswith(".jpg" if fmt == "JPEG" else ".webp")
    assert content_id(stored)[0] == row["id"]
    opened = Image.open(io.BytesIO(stored))
    assert opened.format == fmt and opened.size == (96, 64)
    # The compressed picture is the engine's: it decodes to the very same pixels.
    assert opened.tobytes() == Image.open(io.BytesIO(engine)).tobytes()
    tags = opened.getexif()
    assert tags[0x0112] == 1
    ifd = tags.get_ifd(EXIF_IFD)
    assert ifd[USER_COMMENT].startswith(b"UNICODE\0")  # as piexif's UserComment.dump(..., "unicode")
    assert user_comment(ifd[USER_COMMENT]) == provenance_texts("key1", "foxes", SPEC, "tmpl", {})["parameters"]
    assert a1111_parse(user_comment(ifd[USER_COMMENT]))["Seed"] == "42"
    assert json.loads(ifd[MAKER_NOTE].decode())["recipe"] == "foxes"
    # The engine's file is small enough to be shown as it is: it is its own web copy.
    formats = {d["stage"]: (d["format"], d["width"], d["height"]) for d in derivatives}
    assert formats == {"thumb": ("webp", 64, 64), "thumb_small": ("webp", 64, 64), "web": (fmt.lower(), 96, 64)}
    web = next(d for d in derivatives if d["stage"] == "web")
    assert (tmp_path / web["path"]).samefile(tmp_path / row["path"]) and web["bytes"] == len(stored)


def test_a_png_original_gets_a_webp_web_copy(tmp_path):
    row, derivatives = write_image_files(engine_png(), tmp_path, "t", "key1", "foxes", SPEC, "tmpl", {})
    web = next(d for d in derivatives if d["stage"] == "web")
    assert (web["format"], web["path"]) == ("webp", f"web/{row['id']}.webp")
    assert Image.open(tmp_path / web["path"]).format == "WEBP"


def test_a_jpeg_with_a_jfif_header_keeps_it_first():
    engine = engine_file("JPEG")
    assert engine[6:11] == b"JFIF\0"
    data, *_ = original_file(engine, TEXTS)
    assert data[6:11] == b"JFIF\0"
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(EXIF_IFD)[USER_COMMENT]


def test_a_result_from_a_file_reads_the_header_and_keeps_the_bytes():
    engine = engine_png()
    result = GenerateResult.from_file(engine, seed=7)
    assert result.image.size == (96, 64) and result.encoded == engine and result.seed == 7
    with pytest.raises(SyntaxError):  # Pillow's word for a PNG whose checksums fail
        broken = bytearray(engine)
        broken[-20] ^= 0xFF
        GenerateResult.from_file(bytes(broken), seed=7)


class _Remote(Engine):
    local = False

    def _load(self, model, progress):
        return 0.0

    def generate(self, request, progress=None):
        raise NotImplementedError


def test_finishing_workers_get_the_cores_the_engines_leave():
    assert _Remote.cores_taken({}) == 0
    assert PlaceholderEngine.cores_taken({}) == 1
    assert finishing_workers([_Remote.cores_taken({})], jobs=100, cores=8) == 8
    assert finishing_workers([PlaceholderEngine.cores_taken({})], jobs=100, cores=2) == 1
    assert finishing_workers([1, 0], jobs=100, cores=4) == 3
    assert finishing_workers([1], jobs=100, cores=1) == 1  # always one
    assert finishing_workers([0], jobs=2, cores=16) == 2  # no more than there are jobs


def test_a_diffusers_engine_on_the_cpu_takes_every_core():
    from kiln.engines.diffusers import DiffusersEngine

    assert DiffusersEngine.cores_taken({"device": "cpu"}) >= 1
    assert DiffusersEngine.cores_taken({"device": "cuda"}) == 0


FAKE_ENGINE = Path(__file__).parent / "fake_engines" / "fake_engine.py"


def test_a_run_keeps_the_png_a_protocol_engine_wrote(tmp_path):
    """End to end: the engine process writes a PNG at its own compression level; the stored
    original is that file's image data with kiln's chunks, not a PNG kiln encoded again."""
    (tmp_path / "recipes").mkdir()
    command = ", ".join(f'"{part}"' for part in (sys.executable, str(FAKE_ENGINE)))
    (tmp_path / "kiln.toml").write_text(f'[engines.proc]\ntype = "ndjson"\ncommand = [{command}]\n')
    (tmp_path / "recipes" / "kites.toml").write_text(
        'engine = "proc"\nmodel = "klein"\nprompt = "a kite"\nseeds = [7]\nsize = "96x64"\n')
    result = CliRunner().invoke(cli, ["run", "-C", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (original,) = (tmp_path / "art" / "original").iterdir()
    data = original.read_bytes()
    # What the engine wrote: Pillow's default level, the seed's colour.
    engine = io.BytesIO()
    Image.new("RGB", (96, 64), (7, 0, 128)).save(engine, "PNG")
    assert [body for kind, body in chunks(data) if kind == b"IDAT"] == [
        body for kind, body in chunks(engine.getvalue()) if kind == b"IDAT"
    ]
    opened = Image.open(original)
    assert a1111_parse(opened.info["parameters"])["Seed"] == "7"
    assert json.loads(opened.info["kiln"])["recipe"] == "kites"
    assert original.name == f"{content_id(data)[0]}.png"
