"""The search index of the static gallery: words → images, in shards by their first letters.

An image is known by its number in the library's data set (``filters.library_entries``).
Its words are those of its prompt, negative prompt, tags, notes, model and engine, and the
titles and names of the collections that show it, lower-cased and split at anything that is
not a letter or a digit. A word lives in the shard named by its first two characters
(``ha.js`` holds "harbour", "hazy", ...), so a query fetches one small file per word typed and
matches words by prefix. A word's images are a list of gaps between numbers, or, when many
images have it, a bitmap in base64, whichever is shorter.

Numbers are given oldest image first, so a new image appends a number: a rebuild after new
images reads and rewrites only the shards of their words and the meta, and tokenizes only them;
so does one after images' tags or notes changed (kiln/site/findcurated.py), their old words moved out.
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


def postings(numbers: list[int]) -> list[int] | str:
    """Ascending ``numbers`` as gaps from the previous one, or as a bitmap ("b" and base64,
    bit ``n`` of byte ``n // 8`` from the low end, up to the byte of the last) when that is
    shorter. The form depends on the numbers alone, so a word's entry reads the same whether
    the index was made whole or added to."""
    gaps = [numbers[0], *(b - a for a, b in zip(numbers, numbers[1:]))]
    as_list = sum(len(str(g)) + 1 for g in gaps)
    size = numbers[-1] // 8 + 1
    if as_list <= (size + 2) // 3 * 4:
        return gaps
    bits = bytearray(size)
    for n in numbers:
        bits[n >> 3] |= 1 << (n & 7)
    return "b" + base64.b64encode(bytes(bits)).decode()


def numbers_of(posting: list[int] | str) -> list[int]:
    """The numbers a :func:`postings` entry holds."""
    if isinstance(posting, str):
        bits = base64.b64decode(posting[1:])
        return [i * 8 + k for i, byte in enumerate(bits) if byte for k in range(8) if byte >> k & 1]
    total, out = 0, []
    for gap in posting:
        total += gap
        out.append(total)
    return out


def source(image_id: str, facts: Facts, titles: Iterable[str]) -> tuple:
    """What an image's words come from: equal sources, equal words."""
    f = facts
    return (image_id, f.prompt, f.negative_prompt, f.notes, f.model, f.engine, f.tags, tuple(titles))


def add_to(shard: dict[str, list[int] | str], additions: dict[str, list[int]]) -> dict[str, list[int] | str]:
    """``shard`` with the numbers of ``additions`` (each larger than any it holds) appended."""
    merged = dict(shard)
    for word, numbers in additions.items():
        old = shard.get(word)
        grown = _bits_added(old, numbers) if isinstance(old, str) else None
        merged[word] = grown or postings([*(numbers_of(old) if old is not None else []), *numbers])
    return dict(sorted(merged.items()))


def _bits_added(posting: str, numbers: list[int]) -> str | None:
    """A bitmap posting with ``numbers`` set, when it is sure to stay the shorter form (a
    common word, whose numbers need not all be decoded); None when that needs them all."""
    bits = bytearray(base64.b64decode(posting[1:]))
    size = numbers[-1] // 8 + 1
    if not bits or not bits[-1] or size < len(bits):
        return None
    last = (len(bits) - 1) * 8 + bits[-1].bit_length() - 1
    added = sum(len(str(b - a)) + 1 for a, b in zip([last, *numbers], numbers))
    # The list was longer than the old bitmap's text; it grows by ``added``.
    if (len(bits) + 2) // 3 * 4 + 1 + added <= (size + 2) // 3 * 4:
        return None
    bits.extend(bytes(size - len(bits)))
    for n in numbers:
        bits[n >> 3] |= 1 << (n & 7)
    return "b" + base64.b64encode(bytes(bits)).decode()


def index_words(numbered: Iterable[tuple[int, Facts, Iterable[str]]]) -> dict[str, dict[str, list[int]]]:
    """Shard → word → numbers, for images given as their number, facts and collection titles."""
    index: dict[str, list[int]] = {}
    for number, facts, titles in numbered:
        for word in image_words(facts, titles):
            index.setdefault(word, []).append(number)
    found: dict[str, dict[str, list[int]]] = {}
    for word in sorted(index):
        found.setdefault(shard_of(word), {})[word] = index[word]
    return found


def shards(library: list[str], facts: dict[str, Facts], titles: dict[str, list[str]]) -> dict[str, dict[str, list[int] | str]]:
    """Each shard's words with their images' numbers; ``library`` is the ids in number order
    and ``titles`` the titles and names of the collections each image is in."""
    numbered = ((n, facts[i], titles.get(i, ())) for n, i in enumerate(library))
    return {name: {word: postings(numbers) for word, numbers in entries.items()} for name, entries in index_words(numbered).items()}
