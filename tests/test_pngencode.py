"""kiln's own PNG encoder: exact pixels, a file any reader takes, kiln's two texts."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from kiln import pngencode
from kiln.pngencode import encode_png
from kiln.pngmeta import provenance_texts, texts_info

SPEC = {
    "prompt": "a heron, ink: ünïcode ✓", "negative_prompt": "", "model": "m", "engine": "e", "engine_type": "remote",
    "seed": 3, "steps": 20, "guidance": 5.0, "sampler": None, "width": 70, "height": 45, "references": [],
}
TEXTS = provenance_texts("key", "herons", SPEC, "a heron, ink", {})


def noise(mode: str, size: tuple[int, int] = (70, 45)) -> Image.Image:
    bands = [Image.effect_noise(size, 30 + 10 * i) for i in range(len(mode))]
    return Image.merge(mode, bands) if len(bands) > 1 else bands[0]


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Each chunk's type and data, its CRC checked: a reader of the file format, not of Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    found, position = [], 8
    while position < len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8 : position + 8 + length]
        assert struct.unpack_from(">I", data, position + 8 + length)[0] == zlib.crc32(kind + body)
        found.append((kind, body))
        position += 12 + length
    return found


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_the_pixels_decode_exactly_as_they_were(mode):
    image = noise(mode)
    decoded = Image.open(io.BytesIO(encode_png(image, TEXTS)))
    assert decoded.mode == mode and decoded.size == image.size
    assert decoded.tobytes() == image.tobytes()


def test_the_file_is_a_plain_png_of_up_filtered_rows():
    """Decoded by hand, without Pillow: header, one zlib stream over the IDAT chunks, every row
    filtered ``Up``."""
    image = noise("RGB")
    found = chunks(encode_png(image, TEXTS))
    kinds = [kind for kind, _ in found]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and kinds.index(b"iTXt") < kinds.index(b"IDAT")
    assert struct.unpack(">IIBBBBB", found[0][1]) == (70, 45, 8, 2, 0, 0, 0)
    raw = np.frombuffer(zlib.decompress(b"".join(body for kind, body in found if kind == b"IDAT")), np.uint8)
    rows = raw.reshape(45, 1 + 70 * 3)
    assert set(rows[:, 0]) == {2}
    pixels = np.cumsum(rows[:, 1:], axis=0, dtype=np.uint8)  # undo Up: each row plus the one above
    assert pixels.tobytes() == image.tobytes()


def test_large_image_data_is_split_into_several_chunks(monkeypatch):
    monkeypatch.setattr(pngencode, "IDAT_SIZE", 1000)
    image = noise("RGB")
    data = encode_png(image, TEXTS)
    assert sum(kind == b"IDAT" for kind, _ in chunks(data)) > 3
    assert Image.open(io.BytesIO(data)).tobytes() == image.tobytes()


def test_both_texts_are_there_for_pillow_and_as_pillow_writes_them():
    latin = provenance_texts("key", "herons", {**SPEC, "prompt": "a heron"}, "a heron", {})
    opened = Image.open(io.BytesIO(encode_png(noise("RGB"), latin)))
    assert opened.text == latin
    assert json.loads(opened.info["kiln"])["job_key"] == "key"
    reference = io.BytesIO()
    noise("RGB").save(reference, "PNG", pnginfo=texts_info(latin))
    texts = [(kind, body) for kind, body in chunks(encode_png(noise("RGB"), latin)) if kind in (b"tEXt", b"iTXt")]
    assert texts == [(kind, body) for kind, body in chunks(reference.getvalue()) if kind in (b"tEXt", b"iTXt")]


@pytest.mark.parametrize("make", [
    lambda: noise("L").convert("P"),
    lambda: Image.new("I;16", (20, 10), 40000),
    lambda: noise("L").convert("1"),
])
def test_other_modes_are_left_to_pillow(make):
    image = make()
    decoded = Image.open(io.BytesIO(encode_png(image, TEXTS)))
    assert decoded.mode == image.mode and decoded.tobytes() == image.tobytes()
    assert decoded.text == TEXTS


def test_an_icc_profile_is_kept():
    image = noise("RGB")
    image.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    decoded = Image.open(io.BytesIO(encode_png(image, TEXTS)))
    assert decoded.info["icc_profile"] == image.info["icc_profile"]
    assert decoded.tobytes() == image.tobytes() and decoded.text == TEXTS
