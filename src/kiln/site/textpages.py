"""Pages written in Markdown: each ``pages/NAME.md`` of the project becomes ``NAME.html``.

They sit at the top of the build folder, beside ``index.html``, where no collection can take
their name (collections are folders). The title is the text of the first heading. Raw HTML is
off, as everywhere Markdown is rendered. A file that cannot be a page is reported, naming it,
and left out; the rest of the site is built.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from kiln.errors import Problem
from kiln.paths import inside
from kiln.project import Project
from kiln.site.markdown import first_heading, render_markdown
from kiln.site.produce import Build, Link

PAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
RESERVED = {"index", "stats"}  # names the site itself uses at its top
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class TextPage:
    name: str
    title: str
    html: Markup
    source: str  # the file, relative to the project, for messages
    digest: str  # of the file's bytes

    @property
    def path(self) -> str:
        return f"{self.name}.html"


class TextPages:
    """The producer of the Markdown pages (kiln/site/produce.py): each made again when its
    file changed (or anything every page shows, such as the navigation)."""

    name = "pages"

    def inputs(self, project: Project) -> str:
        return sources_digest(project)

    def links(self, project: Project) -> list[Link]:
        pages, _ = read_text_pages(project, sources_digest(project))
        return [Link(page.title, page.path) for page in pages]

    def produce(self, build: Build) -> None:
        pages, problems = read_text_pages(build.project, sources_digest(build.project))
        build.problems.extend(problems)
        for page in pages:
            build.file(
                page.path,
                page.digest,
                lambda page=page: build.render("text.html", page.path, {"page": page, "current": page.path}),
            )


def sources_digest(project: Project) -> str:
    """A digest of the names, sizes and modification times of ``pages/*.md``: a few ``stat``
    calls, for every build to tell whether the pages may have changed."""
    folder = project.pages_dir
    if not folder.is_dir():
        return ""
    digest = hashlib.sha256(str(folder).encode())
    for path in sorted(folder.glob("*.md")):
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"\0{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def read_text_pages(project: Project, sources: str) -> tuple[list[TextPage], tuple[Problem, ...]]:
    """Every usable page of ``pages/``, sorted by file name, and the problems of the others;
    ``sources`` (their digest) keys the cache, so one build reads each file once."""
    return _read_all(project.root, project.pages_dir, sources)


@functools.lru_cache(maxsize=8)
def _read_all(root: Path, folder: Path, sources: str) -> tuple[list[TextPage], tuple[Problem, ...]]:
    problems: list[Problem] = []
    pages = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.md")):
            page = _read(root, path, problems)
            if page is not None:
                pages.append(page)
    return pages, tuple(problems)


def _read(root: Path, path: Path, problems: list[Problem]) -> TextPage | None:
    try:
        where = path.relative_to(root).as_posix()
    except ValueError:
        where = str(path)

    def refuse(message: str) -> None:
        problems.append(Problem(where, None, None, message))

    name = path.stem
    if not PAGE_NAME.match(name):
        refuse("a page's file name must be lower-case letters, digits, - and _ (it becomes NAME.html); skipped")
        return None
    if name in RESERVED:
        refuse(f"{name}.html is one of the site's own pages; rename the file; skipped")
        return None
    if not path.is_file() or not inside(root, path):
        refuse("not a file inside the project; skipped")
        return None
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        refuse(f"larger than {MAX_BYTES:,} bytes; skipped")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(Problem(where, line, None, "not UTF-8 text; skipped"))
        return None
    title = first_heading(text)
    if not title:
        refuse("no heading to take the title from (start the file with '# Title'); titled by its name")
        title = name
    return TextPage(name, title, render_markdown(text), where, hashlib.sha256(data).hexdigest())
