"""The derivatives' pictures: what the stages make of a decoded original."""

from __future__ import annotations

import io

import blurhash
import numpy as np
from PIL import Image

from kiln.stages import blurhash_of, encode_webp, small_thumbnail, thumbnail


def _grainy(side: int) -> Image.Image:
    base = Image.linear_gradient("L").resize((side, side)).rotate(37)
    grain = Image.effect_noise((side, side), 40)
    return Image.merge("RGB", (base, Image.blend(base, grain, 0.5), grain))


def _psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255 * 255 / max(np.mean(diff * diff), 1e-9)))


def test_thumbnails_differ_from_lanczos_less_than_webp_loses():
    # Bicubic in place of Lanczos for the last step: the difference must stay well under what
    # the WebP encoding every thumbnail gets loses anyway (a bilinear step would not: 6-8 dB).
    for side in (512, 1024, 700):
        picture = _grainy(side)
        for make, size in ((thumbnail, 400), (small_thumbnail, 256)):
            made = make(picture)
            lanczos = picture.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=1.0)
            encoded = Image.open(io.BytesIO(encode_webp(lanczos, 80))).convert("RGB")
            assert made.size == (size, size)
            assert _psnr(made, lanczos) > _psnr(encoded, lanczos) + 10, (side, size)


def test_blurhash_of_rgb_and_other_modes_agree_and_leave_the_image_whole():
    picture = _grainy(300)
    value = blurhash_of(picture)
    sample = picture.resize((32, 32), Image.Resampling.BOX, reducing_gap=1.0)
    assert value == blurhash.encode(sample, 4, 3)
    assert blurhash_of(picture.convert("RGBA")) == value
    assert picture.getpixel((10, 10)) is not None  # the caller's picture is neither closed nor changed
