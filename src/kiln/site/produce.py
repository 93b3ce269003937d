"""The builder's extension point: producers of extra files (a stats page, feeds, Markdown pages,
data files per collection, a search index).

A producer is an object with a ``name``, ``inputs``, ``links`` and ``produce`` (the
:class:`Producer` protocol), listed in :data:`PRODUCERS`. Each build that is not a no-op calls
``produce`` once with a :class:`Build`, after the gallery's own pages are written. The producer
declares every file it makes with :meth:`Build.file`, every build, with a digest of what the
file is made from: a file whose digest and bytes on disk are as the last build left them is
kept without calling its maker, and a file an earlier build declared and this one did not is
removed. So a producer skips work by choosing digests, never by remembering files itself.

A build is a no-op (nothing at all runs, producers included) when the store's change sequence
and its last engine call, the theme, kiln.toml's site settings and every producer's ``inputs``
are as they were: a producer that reads anything besides the store and the theme
(``pages/*.md``, a setting) says so through ``inputs``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from kiln.errors import Problem
from kiln.project import Project
from kiln.store.db import Store

if TYPE_CHECKING:
    from kiln.site.collect import Image
    from kiln.site.collections import Collection, Member
    from kiln.site.state import BuildState


@dataclass(frozen=True)
class Link:
    """A link in every page's header: ``path`` is relative to the build folder."""

    label: str
    path: str


class Producer(Protocol):
    """Something that adds files to the build."""

    # Owns the files it declares; lowercase letters, digits and hyphens.
    name: str

    def inputs(self, project: Project) -> str:
        """A digest of what it reads besides the store and the theme ("" for nothing)."""
        ...

    def links(self, project: Project) -> list[Link]:
        """Links it adds to every page's navigation (changing them re-renders every page)."""
        ...

    def produce(self, build: Build) -> None:
        """Declare (and make, where needed) every file it produces."""
        ...


class Build:
    """What a producer is given: the project, the store, the collections and what changed.

    ``full`` is true when there is no usable record of an earlier build (the first build, a
    cleaned folder, a new theme or kiln version): every maker then runs. Otherwise
    ``previous_sequence`` is the store's change sequence at the last build and
    :meth:`changed_images` the images changed since (added or changed: a removed image shows
    as a collection whose ``changed`` is true). ``calls`` is the id of the last engine call
    the store recorded, which moves when a call is retried or fails while the change sequence
    may not (kiln/site/builder.py's ``last_call``). ``state`` is the build state (committed with
    the build), for a producer's own record of what its files were made from.
    """

    def __init__(
        self,
        project: Project,
        store: Store,
        collections: list[Collection],
        *,
        full: bool,
        sequence: int,
        previous_sequence: int | None,
        calls: int = 0,
        files: Callable[[str, str, str, Callable[[], bytes]], None],
        render: Callable[[str, str, dict], bytes],
        images: Callable[[Iterable[str]], dict[str, Image]],
        owner: str,
        problems: list[Problem],
        state: BuildState | None = None,
    ):
        self.project = project
        self.store = store
        self.collections = collections
        self.full = full
        self.sequence = sequence
        self.previous_sequence = previous_sequence
        self.calls = calls
        self.problems = problems
        # The build state, where a producer may keep a table of its own (none: nothing kept).
        self.state = state
        self._files = files
        self._render = render
        self._images = images
        self._owner = owner

    def file(self, name: str, inputs: str, make: Callable[[], bytes]) -> None:
        """Declare the file ``name`` (posix, relative to build/), made from ``inputs``.

        ``make`` runs only when ``inputs`` differ from the last build's for this name, or the
        file is not as that build left it; its bytes are written only where they differ.
        """
        self._files(self._owner, name, inputs, make)

    def render(self, template: str, name: str, context: dict) -> bytes:
        """``template`` of the theme rendered for the page at ``name`` with what every page
        has (``site``, ``assets``, ``links``, ``root``) and ``context``."""
        return self._render(template, name, context)

    def images(self, ids: Iterable[str]) -> dict[str, Image]:
        """The full view of each image (rows, files, references), read in batches."""
        return self._images(ids)

    def members(self, collection: Collection) -> Iterator[Member]:
        """A collection's images in gallery order, thin (id, revision, page), streamed."""
        return collection.members(self.store)

    def changed_images(self) -> Iterator[str]:
        """Ids of the images whose shown rows changed since the last build (all on a full one)."""
        since = -1 if self.full or self.previous_sequence is None else self.previous_sequence
        # Sorted here: ORDER BY id would have SQLite walk every image in id order instead of the revision index.
        yield from sorted(row[0] for row in self.store.conn.execute("SELECT id FROM images WHERE revision > ?", [since]))


def _producers() -> list[Producer]:
    # Imported here: the producers' modules import this one for Build and Link.
    from kiln.site.feeds import Feeds
    from kiln.site.find import Finder
    from kiln.site.stats import StatsPage
    from kiln.site.textpages import TextPages

    return [StatsPage(), TextPages(), Feeds(), Finder()]


# The producers every build runs, in order.
PRODUCERS: list[Producer] = _producers()
