"""The search index of the static gallery: words → images, in shards by their first letters.

An image is known by its number in the library's data set (``filters.library_entries``).
Its words are those of its prompt, negative prompt, tags, notes, model and engine, and the
titles and names of the collections that show it, lower-cased and split at anything that is
not a letter or a digit. A word lives in the shard named by its first two characters
(``ha.js`` holds "harbour", "hazy", ...), so a query fetches one small file per word typed and
matches words by prefix. A word's images are a list of gaps between numbers, or, when many
images have it, a bitmap in base64, whichever is shorter.

Numbers are given oldest image first, so a new image appends a number: a rebuild after it
rewrites only the shards of its own words and the meta.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from kiln.site.filters import Facts

SEARCH = "_search"
PREFIX = 2
WORD = re.compile(r"[^\W_]+")
PLAIN = re.compile(r"[a-z0-9]")


def words(text: str) -> Iterable[str]:
    return WORD.findall(text.lower())


def shard_of(word: str) -> str:
    """The shard's file name: plain letters and digits as they are, others as ``~`` and their
    code point in hex (the page computes the same)."""
    return "".join(c if PLAIN.match(c) else f"~{ord(c):x}" for c in word[:PREFIX])


def image_words(facts: Facts, titles: Iterable[str]) -> set[str]:
    texts = [facts.prompt, facts.negative_prompt, facts.notes, facts.model, facts.engine, *facts.tags, *titles]
    return {w for text in texts for w in words(text)}


def postings(numbers: list[int], count: int) -> list[int] | str:
    """Ascending ``numbers`` as gaps from the previous one, or as a bitmap ("b" and base64,
    bit ``n`` of byte ``n // 8`` from the low end) when that is shorter."""
    gaps = [numbers[0], *(b - a for a, b in zip(numbers, numbers[1:]))]
    as_list = sum(len(str(g)) + 1 for g in gaps)
    if as_list * 3 <= count // 2:  # the bitmap costs count/8 bytes, 4/3 of that in base64
        return gaps
    bits = bytearray((count + 7) // 8)
    for n in numbers:
        bits[n >> 3] |= 1 << (n & 7)
    return "b" + base64.b64encode(bytes(bits)).decode()


def shards(library: list[str], facts: dict[str, Facts], titles: dict[str, list[str]]) -> dict[str, dict[str, list[int] | str]]:
    """Each shard's words with their images' numbers; ``library`` is the ids in number order
    and ``titles`` the titles and names of the collections each image is in."""
    index: dict[str, list[int]] = {}
    for number, image_id in enumerate(library):
        for word in image_words(facts[image_id], titles.get(image_id, ())):
            index.setdefault(word, []).append(number)
    found: dict[str, dict[str, list[int] | str]] = {}
    for word in sorted(index):
        found.setdefault(shard_of(word), {})[word] = postings(index[word], len(library))
    return found
