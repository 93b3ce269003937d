"""The data files the gallery's finder fetches: their format and names.

Each file is a small script, ``kiln.found("<name>", <JSON>);``, loaded with a ``<script>``
element rather than ``fetch``: browsers refuse ``fetch`` between ``file://`` pages, and the
gallery must work opened from disk. Files are deterministic (sorted keys, no timestamps), so a
rebuild rewrites only those whose data changed; each data set's ``meta`` names its other files
with a version (a digest of what each is made from), which the page adds to their URLs so no
stale copy is served from a cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

FIND = "find"  # the folder under build/
DIGEST_CHARS = 10


def script(name: str, data: Any) -> bytes:
    """The bytes of data file ``name`` (its path under ``find/``, without ``.js``)."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # U+2028 and U+2029 are fine in JSON but end a line in older JavaScript parsers.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"kiln.found({json.dumps(name)},{text});\n".encode()


def digest(*parts: Any) -> str:
    """A short digest of ``parts`` (bytes as they are, anything else by its ``repr``)."""
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part if isinstance(part, bytes) else repr(part).encode())
        hashed.update(b"\0")
    return hashed.hexdigest()[:DIGEST_CHARS]


def chain(parts: Iterable[Any], link: str = "", at: int = -1) -> tuple[str, str | None]:
    """The last link of a chain of digests over ``parts`` from ``link`` (each the digest of the
    one before and one part: a list appended to extends its chain from the last link alone),
    and the link after the first ``at`` parts (None if there are fewer)."""
    found = link if at == 0 else None
    for n, part in enumerate(parts, start=1):
        link = hashlib.sha256(f"{link}\0{part!r}".encode()).hexdigest()[: DIGEST_CHARS * 2]
        if n == at:
            found = link
    return link, found


def summed(parts: Iterable[Any], start: int = 0, total: str = "", at: int = -1) -> tuple[str, str | None]:
    """A digest of numbered ``parts`` (numbers from ``start``, added to ``total``) that one
    part's change updates alone (:func:`resummed`): the sum of each part's digest with its
    number; and the sum of the first ``at`` parts (None if there are fewer)."""
    value = int(total, 16) if total else 0
    found = f"{value:0{DIGEST_CHARS * 2}x}" if at == start else None
    for n, part in enumerate(parts, start=start):
        value = (value + _term(n, part)) % _MODULUS
        if n + 1 == at:
            found = f"{value:0{DIGEST_CHARS * 2}x}"
    return f"{value:0{DIGEST_CHARS * 2}x}", found


def resummed(total: str, number: int, before: Any, after: Any) -> str:
    """:func:`summed`'s digest with part ``number`` changed from ``before`` to ``after``."""
    value = (int(total, 16) - _term(number, before) + _term(number, after)) % _MODULUS
    return f"{value:0{DIGEST_CHARS * 2}x}"


_MODULUS = 1 << (DIGEST_CHARS * 8)


def _term(number: int, part: Any) -> int:
    return int(hashlib.sha256(f"{number}\0{part!r}".encode()).hexdigest()[: DIGEST_CHARS * 2], 16)
