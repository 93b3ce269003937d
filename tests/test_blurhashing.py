"""kiln's blurhash encoder gives the reference encoder's strings."""

from __future__ import annotations

import blurhash
import numpy as np
import pytest
from PIL import Image

from kiln.blurhashing import encode


def _pictures() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    noise = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in ((32, 32), (32, 20), (17, 32))]
    smooth = [Image.linear_gradient("L").resize((32, 32)).rotate(angle).convert("RGB") for angle in (0, 45, 200)]
    flat = [Image.new("RGB", (32, 32), colour) for colour in ("black", "white", (200, 40, 40))]
    return noise + smooth + flat


@pytest.mark.parametrize("components", [(4, 3), (1, 1), (9, 9), (3, 7)])
def test_strings_are_the_reference_encoders(components):
    for picture in _pictures():
        assert encode(picture, *components) == blurhash.encode(picture.copy(), *components)


def test_other_modes_are_read_as_rgb_and_bad_components_refused():
    picture = _pictures()[0]
    assert encode(picture.convert("RGBA"), 4, 3) == encode(picture, 4, 3)
    with pytest.raises(ValueError):
        encode(picture, 0, 3)
    with pytest.raises(ValueError):
        encode(picture, 4, 10)
