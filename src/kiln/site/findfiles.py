"""The data files the gallery's finder fetches: their format, names, and publishing them.

Each file is a small script, ``kiln.found("<name>", <JSON>);``, loaded with a ``<script>``
element rather than ``fetch``: browsers refuse ``fetch`` between ``file://`` pages, and the
gallery must work opened from disk. Files are deterministic (sorted keys, no timestamps), so a
rebuild rewrites only those whose data changed; each data set's ``meta`` names its other files
with a digest of their bytes, which the page adds to their URLs so no stale copy is served from
a cache.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kiln.site.output import Output

FIND = "find"  # the folder under build/
DIGEST_CHARS = 10


def script(name: str, data: Any) -> bytes:
    """The bytes of data file ``name`` (its path under ``find/``, without ``.js``)."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # U+2028 and U+2029 are fine in JSON but end a line in older JavaScript parsers.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"kiln.found({json.dumps(name)},{text});\n".encode()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


class DataSet:
    """The files of one folder under ``find/``: ``meta`` is written last, naming the others."""

    def __init__(self, folder: str):
        self.folder = folder
        self.files: dict[str, bytes] = {}

    def add(self, name: str, data: Any) -> None:
        self.files[name] = script(f"{self.folder}/{name}", data)

    def finish(self, meta: dict[str, Any]) -> None:
        meta = {**meta, "files": {name: digest(data) for name, data in sorted(self.files.items())}}
        self.files["meta"] = script(f"{self.folder}/meta", meta)

    def write(self, output: Output) -> None:
        for name, data in self.files.items():
            output.write(f"{FIND}/{self.folder}/{name}.js", data)
