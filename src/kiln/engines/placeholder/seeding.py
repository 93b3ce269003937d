"""Every random draw, seeded from a SHA-256 of the request (never ``hash()``): one stream per
purpose, so adding detail to one part of the picture never reshuffles another.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _digest(*parts: object) -> bytes:
    # repr() of str/int/float is stable across runs, unlike hash() under PYTHONHASHSEED.
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\x1f")
    return h.digest()


def unit_float(*parts: object) -> float:
    return int.from_bytes(_digest(*parts)[:8], "little") / 2.0**64


class Streams:
    """Independent random streams, one per purpose, all derived from one key."""

    def __init__(self, *key: object):
        self._key = _digest(*key)

    def __call__(self, *label: object) -> np.random.Generator:
        seed = int.from_bytes(_digest(self._key, *label)[:16], "little")
        return np.random.Generator(np.random.PCG64(seed))
