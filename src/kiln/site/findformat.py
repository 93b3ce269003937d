"""What every path of the finder's producer shares: the format's version, the library as a
build knows it, the digest that tells a data set's members unchanged, what the build state's
record keeps of an image, and the last build's files read back."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.site.collections import ARCHIVE, Member
from kiln.site.filters import Facts
from kiln.site.findstate import stamp
from kiln.site.growing import OldFiles, Stale
from kiln.site.search import source

if TYPE_CHECKING:
    from kiln.site.produce import Build


# Part of every file's inputs: a change to what the files hold makes them all again.
FORMAT = "find-4"

@dataclass
class Library:
    """The library as this build knows it: each image's facts, number and home, for the
    images it has read (all of them when made whole; when grown, the new ones and those of
    the collections made whole)."""

    facts: dict[str, Facts] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)
    titles: dict[str, list[str]] = field(default_factory=dict)

    def ids(self) -> list[str]:
        """The images in number order."""
        return sorted(self.numbers, key=self.numbers.__getitem__)

    def members(self) -> list[Member]:
        """The library's data set's members."""
        return [
            Member(i, self.revisions[i], self.homes[i], self.facts[i].created_at, self.facts[i].rating, self.facts[i].status)
            for i in self.ids()
        ]


def item_source(m: Member) -> tuple:
    return (m.image_id, m.revision, m.home, m.job_key, m.axes)


def members_digest(members: list[Member]) -> str:
    """What tells a data set's members unchanged: their ids, revisions, places and axes."""
    return hashed(members).hexdigest()[:20]


def hashed(members: list[Member], hashed: Any = None) -> Any:
    """A hash of ``members`` (continued from ``hashed``), whose digest :func:`members_digest` is."""
    hashed = hashed or hashlib.sha256(FORMAT.encode())
    for m in members:
        hashed.update(repr(item_source(m)).encode())
    return hashed


def record_stamps(image_id: str, facts: Facts, titles: Any) -> tuple[str, str, str]:
    """What the record keeps of an image's facts: a digest of those curation never changes, one
    of its words' source, and its notes."""
    f = facts
    fixed = stamp(f.model, f.engine, f.width, f.height, f.created_at, f.seed, f.prompt, f.negative_prompt)
    return fixed, stamp(source(image_id, facts, titles)), f.notes


def is_sum(text: Any) -> bool:
    """Whether ``text`` is a digest :func:`summed` makes (a meta changed by hand may hold anything)."""
    return isinstance(text, str) and re.fullmatch(r"[0-9a-f]{20}", text) is not None


def images_in(build: Build) -> int:
    return build.store.conn.execute("SELECT count(*) FROM images").fetchone()[0]


def home_of(folders: list[str]) -> str:
    """The collection an image's own page is in: as the builder chooses it."""
    ordered = sorted(folders)
    return next((f for f in ordered if f != ARCHIVE), ordered[0])


def recorded(path: Path) -> dict[str, Any]:
    """The JSON of a data file written by an earlier build; empty if there is none to trust."""
    try:
        text = path.read_text("utf-8")
        start = text.index(",") + 1
        data = json.loads(text[start : text.rindex(");")])
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def old_shard(old: OldFiles, versions: dict[str, str], name: str) -> dict[str, Any] | None:
    """Search shard ``name`` as the last build left it ({} where it had none); None if it is
    not what its meta says."""
    try:
        shard = old.read(name) if name in versions else {}
    except Stale:
        return None
    return shard if isinstance(shard, dict) else None
