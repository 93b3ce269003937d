"""Blurhash strings, computed with numpy.

The reference encoder (blurhash-python's C code) converts every pixel from sRGB to linear
light once per component, and takes two cosines per pixel and component: 12 × 1,024 powers
for a 4×3 hash of a 32×32 sample, 0.4 ms, most of a blurhash's cost. Here each pixel is
converted once, through a table, and the cosines are two small matrices, for the same string
(tests/test_blurhashing.py compares them); the site still decodes with blurhash-python.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _srgb_to_linear() -> np.ndarray:
    value = np.arange(256, dtype=np.float64) / 255
    return np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4)


_LINEAR = _srgb_to_linear()


@cache
def _basis(components: int, length: int) -> np.ndarray:
    """cos(π·i·x / length) for each component i (rows) and position x (columns)."""
    return np.cos(np.pi * np.outer(np.arange(components), np.arange(length)) / length)


def _linear_to_srgb(value: float) -> int:
    value = min(1.0, max(0.0, value))
    if value <= 0.0031308:
        return int(value * 12.92 * 255 + 0.5)
    return int((1.055 * value ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _base83(value: int, length: int) -> str:
    return "".join(_DIGITS[value // 83 ** (length - 1 - i) % 83] for i in range(length))


def encode(image: Image.Image, x_components: int, y_components: int) -> str:
    """The blurhash of an RGB picture (a small one: every pixel counts, as in the reference)."""
    if not (1 <= x_components <= 9 and 1 <= y_components <= 9):
        raise ValueError("a blurhash has 1 to 9 components each way")
    pixels = _LINEAR[np.asarray(image.convert("RGB") if image.mode != "RGB" else image)]
    height, width = pixels.shape[:2]
    # factors[j, i, channel]: the picture's weight on the basis function of components (i, j).
    # Sums of products, not matrix products: those would go to OpenBLAS and wake its threads,
    # which then spin on the other core that the next worker needs.
    rows = (_basis(y_components, height)[:, :, None, None] * pixels).sum(axis=1)  # [j, x, channel]
    factors = (_basis(x_components, width)[None, :, :, None] * rows[:, None]).sum(axis=2)  # [j, i, channel]
    factors /= width * height
    factors[1:] *= 2
    factors[0, 1:] *= 2
    flat = factors.reshape(-1, 3)
    dc, ac = flat[0], flat[1:]
    text = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if len(ac):
        quantised_max = int(max(0.0, min(82.0, np.floor(float(np.abs(ac).max()) * 166 - 0.5))))
        maximum = (quantised_max + 1) / 166
    else:
        quantised_max, maximum = 0, 1.0
    text += _base83(quantised_max, 1)
    text += _base83((_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]), 4)
    quantised = np.clip(np.floor(np.sign(ac) * np.sqrt(np.abs(ac / maximum)) * 9 + 9.5), 0, 18).astype(int)
    for r, g, b in quantised.tolist():
        text += _base83(r * 19 * 19 + g * 19 + b, 2)
    return text
