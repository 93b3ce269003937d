"""Seeds: drawn from the recipe seed by hashing, so every draw is stable and machine-independent.

A drawn value depends only on what it is drawn for (the recipe seed and a position, a prompt's
text, a repeat), never on how many values were drawn before it: raising a count or adding a
variant keeps every existing seed, and with it every existing image.
"""

from __future__ import annotations

import hashlib
import random

MAX_SEED = 2**63 - 1
SEED_POLICIES = ("per_image", "per_prompt", "fixed")


def derive_seed(recipe_seed: int, index: int) -> int:
    """The ``index``-th seed drawn from a recipe seed (or the ``index``-th image of a seed)."""
    return derive(recipe_seed, index)


def derive(*parts: object) -> int:
    """A 32-bit seed hashed from ``parts``; put free text last so parts cannot run together."""
    digest = hashlib.sha256(("kiln-seed:" + ":".join(str(p) for p in parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def prompt_seed(recipe_seed: int, prompt: str, occurrence: int, index: int) -> int:
    """Seed ``index`` of a prompt under ``seed_policy = "per_prompt"``.

    ``occurrence`` counts earlier draws of the same text (random mode may draw a prompt twice),
    so each draw gets seeds of its own.
    """
    return derive(recipe_seed, "prompt", occurrence, index, prompt)


def image_seed(seed: int, image: int, repeat: int = 0) -> int:
    """The seed of image ``image`` (``count``, or a target round) of repeat ``repeat`` of a cell.

    Image 0 of repeat 0 is the cell's own seed; images after it use ``derive_seed`` as kiln always
    has; repeats hash in their number, so they never coincide with a higher ``count``.
    """
    if repeat:
        return derive(seed, "repeat", repeat, image)
    return seed if image == 0 else derive_seed(seed, image)


def generator(*parts: object) -> random.Random:
    """A random generator seeded from ``parts`` (for random prompts and reference picks)."""
    return random.Random(derive(*parts))
