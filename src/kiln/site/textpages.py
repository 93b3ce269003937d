"""Pages written in Markdown: each ``pages/NAME.md`` of the project becomes ``NAME.html``.

They sit at the top of the build folder, beside ``index.html``, where no collection can take
their name (collections are folders). The title is the text of the first heading. Raw HTML is
off, as everywhere Markdown is rendered. A file that cannot be a page is reported, naming it,
and left out; the rest of the site is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from kiln.errors import Problem
from kiln.project import Project, inside
from kiln.site.markdown import first_heading, render_markdown

PAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
RESERVED = {"index", "stats"}  # names the site itself uses at its top
MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class TextPage:
    name: str
    title: str
    html: Markup
    source: str  # the file, relative to the project, for messages

    @property
    def path(self) -> str:
        return f"{self.name}.html"


def read_text_pages(project: Project, problems: list[Problem]) -> list[TextPage]:
    """Every usable page of ``pages/``, sorted by file name."""
    folder = project.pages_dir
    if not folder.is_dir():
        return []
    pages = []
    for path in sorted(folder.glob("*.md")):
        page = _read(project, path, problems)
        if page is not None:
            pages.append(page)
    return pages


def _read(project: Project, path: Path, problems: list[Problem]) -> TextPage | None:
    where = project.relative(path)

    def refuse(message: str) -> None:
        problems.append(Problem(where, None, None, message))

    name = path.stem
    if not PAGE_NAME.match(name):
        refuse("a page's file name must be lower-case letters, digits, - and _ (it becomes NAME.html); skipped")
        return None
    if name in RESERVED:
        refuse(f"{name}.html is one of the site's own pages; rename the file; skipped")
        return None
    if not path.is_file() or not inside(project.root, path):
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
    return TextPage(name, title, render_markdown(text), where)
