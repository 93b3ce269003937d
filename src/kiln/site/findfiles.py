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
