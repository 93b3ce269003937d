"""Styles: named prompt templates from kiln.toml (``[styles.NAME]``) or ``styles.toml``.

A style's ``prompt`` holds a ``{prompt}`` slot where the recipe's template goes, before any
variant is expanded, so a style may hold variants and wildcards of its own. Its ``negative`` is
added to the recipe's negative prompt.
"""

from __future__ import annotations

from kiln.project import Style

SLOT = "{prompt}"


def apply(template: str, style: Style | None) -> str:
    """The template a job is expanded from: ``template`` in the style's slot."""
    return style.prompt.replace(SLOT, template) if style else template


def negative(negative_prompt: str, style: Style | None) -> str:
    """The recipe's negative prompt followed by the style's, joined by ", "."""
    if style is None or not style.negative.strip():
        return negative_prompt
    return f"{negative_prompt}, {style.negative}" if negative_prompt.strip() else style.negative
