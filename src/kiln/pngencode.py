"""Encoding decoded pixels as a PNG, quickly and losslessly.

Pillow's PNG encoder tries four filters on every row and keeps the one whose bytes sum
smallest, then deflates with zlib: at level 1, 67 ms for a 1024×1024 RGB picture on this
project's benchmark machine, most of it the filter trials. Here every row gets the ``Up``
filter (its difference from the row above, one numpy subtraction for the whole picture) and
libdeflate compresses it at level 1: 16 ms, and the files came out 3–16 % *smaller* than
Pillow's on the benchmark's pictures (bench/finishing.py). The file is an ordinary PNG (one
filter type of the five every reader knows, a standard zlib stream), with the same text
chunks :func:`kiln.pngmeta.splice_png` writes.

Pictures in a mode this does not write (palette, 16-bit, 1-bit) or with an ICC profile are
left to Pillow.
"""

from __future__ import annotations

import io
import struct

import deflate
import numpy as np
from PIL import Image

from kiln.pngmeta import PNG_SIGNATURE, chunk, texts_chunks, texts_info

# Pillow mode -> PNG colour type, for 8 bits per sample.
COLOUR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}
UP = 2  # the PNG filter type of a row stored as its difference from the row above
LEVEL = 1  # libdeflate's: level 2 saved 3 % more bytes for twice the time
IDAT_SIZE = 1 << 20  # image data split into chunks of this size, as streaming readers like


def encode_png(image: Image.Image, texts: dict[str, str]) -> bytes:
    """``image`` as a PNG file with ``texts`` (:func:`kiln.pngmeta.provenance_texts`) as text
    chunks; the pixels decode exactly as they were."""
    kind = COLOUR_TYPES.get(image.mode)
    if kind is None or "icc_profile" in image.info:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", pnginfo=texts_info(texts), compress_level=1)
        return buffer.getvalue()
    width, height = image.size
    rows = np.asarray(image).reshape(height, -1)
    filtered = np.empty((height, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = UP
    filtered[0, 1:] = rows[0]  # the row above the first is taken as zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    data = memoryview(deflate.zlib_compress(filtered.data, LEVEL))
    header = struct.pack(">IIBBBBB", width, height, 8, kind, 0, 0, 0)
    parts = [PNG_SIGNATURE, chunk(b"IHDR", header), texts_chunks(texts)]
    parts += [chunk(b"IDAT", data[start : start + IDAT_SIZE]) for start in range(0, len(data), IDAT_SIZE)]
    parts.append(chunk(b"IEND", b""))
    return b"".join(parts)
