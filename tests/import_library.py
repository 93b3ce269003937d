"""A library of images as other tools leave them, for the import tests: each file written the
way its tool writes it (text chunks, iTXt, EXIF UserComment), plus the files an import must
survive (corrupt, truncated, not an image, a decompression bomb, a duplicate)."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from kiln.pngmeta import png_info

# 2024-03-01 12:00:00 UTC: the mtime of every file, so created_at is known.
MTIME = 1709294400
A1111_PARAMETERS = (
    "a lighthouse at dusk, oil painting\n"
    "Negative prompt: blurry, text\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567, Size: 96x64,"
    ' Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Template: "a {lighthouse|harbour}, oil"'
)
KILN_SPEC = {
    "engine": "placeholder", "engine_type": "placeholder", "model": "procedural-v1",
    "prompt": "a red fox, oil", "negative_prompt": "blurry", "width": 64, "height": 64,
    "seed": 42, "steps": 20, "guidance": 4.5, "sampler": None, "references": [],
}
KILN_KEY = "0123456789abcdef"
COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 99, "steps": 12, "cfg": 5.0, "sampler_name": "euler",
                                               "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a koi pond, ink"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark"}},
}
COMFY_WORKFLOW = {"last_node_id": 7, "nodes": [{"id": 3, "type": "KSampler"}]}


def _png(size: tuple[int, int], colour: tuple[int, int, int], info: PngInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def a1111_png(colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    info = PngInfo()
    info.add_text("parameters", A1111_PARAMETERS)
    return _png((96, 64), colour, info)


def a1111_itxt_png() -> bytes:
    """A1111 writes iTXt when the text is not Latin-1."""
    info = PngInfo()
    info.add_itxt("parameters", A1111_PARAMETERS.replace("a lighthouse", "灯台 a lighthouse"))
    return _png((96, 64), (10, 20, 30), info)


def comfy_png() -> bytes:
    info = PngInfo()
    info.add_text("prompt", json.dumps(COMFY_PROMPT))
    info.add_text("workflow", json.dumps(COMFY_WORKFLOW))
    return _png((64, 96), (30, 160, 90), info)


def kiln_png() -> bytes:
    info = png_info(KILN_KEY, "foxes", KILN_SPEC, "a {red|blue} fox, oil", {"engine_version": "1"})
    return _png((64, 64), (220, 40, 40), info)


def _user_comment(text: str) -> bytes:
    exif = Image.Exif()
    # EXIF UserComment: an 8-byte character code, then the text (A1111 and Forge write UNICODE).
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf-16-be")
    return exif.tobytes()


def exif_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 80), (90, 90, 200)).save(buffer, "JPEG", exif=_user_comment(A1111_PARAMETERS), quality=90)
    return buffer.getvalue()


def exif_webp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 48), (250, 250, 0)).save(buffer, "WEBP", exif=_user_comment(A1111_PARAMETERS))
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png() -> bytes:
    """A PNG that says it is 30,000 × 30,000 pixels: Pillow refuses it before decoding."""
    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")


def corrupt_png() -> bytes:
    """A PNG whose image data was overwritten in the middle (its checksum no longer matches)."""
    data = bytearray(_png((64, 64), (1, 2, 3)))
    start = data.index(b"IDAT") + 8
    data[start : start + 16] = b"\xff" * 16
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (MTIME, MTIME))
    return path


def library(root: Path) -> Path:
    """The mixed library: ``root/lib`` with images, a yes/no tree and the bad files."""
    lib = root / "lib"
    write(lib / "img" / "a1111.png", a1111_png())
    write(lib / "img" / "a1111-itxt.png", a1111_itxt_png())
    write(lib / "img" / "comfy.png", comfy_png())
    write(lib / "img" / "kiln.png", kiln_png())
    write(lib / "img" / "photo.jpg", exif_jpeg())
    write(lib / "img" / "still.webp", exif_webp())
    write(lib / "img" / "夜の海.png", a1111_png((5, 5, 60)))
    write(lib / "img" / "copy-of-a1111.png", a1111_png())
    write(lib / "img" / "broken.png", corrupt_png())
    write(lib / "img" / "cut.png", a1111_png((1, 1, 1))[:300])
    write(lib / "img" / "bomb.png", bomb_png())
    write(lib / "img" / "readme.txt", b"not an image\n")
    # Picked by name, rejected by content under another name, and one pick found only in yes/.
    write(lib / "yes" / "comfy.png", comfy_png())
    write(lib / "no" / "renamed.jpg", exif_jpeg())
    write(lib / "yes" / "only-here.png", a1111_png((0, 255, 0)))
    return lib
