"""Markdown for recipe and site descriptions.

Raw HTML is off: a ``<script>`` in a description comes out as text. markdown-it also refuses
``javascript:`` and similar link targets by default.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False})


def render_markdown(text: str) -> Markup:
    """The whole of ``text`` as HTML."""
    return Markup(_md.render(text or ""))


def render_summary(text: str) -> Markup:
    """Only the first paragraph of ``text`` as HTML, for cards; empty if there is none."""
    env: dict = {}
    tokens = _md.parse(text or "", env)
    start = next((i for i, t in enumerate(tokens) if t.type == "paragraph_open"), None)
    if start is None:
        return Markup("")
    end = next(i for i in range(start, len(tokens)) if tokens[i].type == "paragraph_close")
    return Markup(_md.renderer.render(tokens[start : end + 1], _md.options, env))


def first_heading(text: str) -> str:
    """The plain text of the first heading of ``text``, empty if it has none."""
    tokens = _md.parse(text or "")
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            inline = tokens[i + 1]
            return "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline")).strip()
    return ""
