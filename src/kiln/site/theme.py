"""Where a theme's files come from.

A project overrides the default theme one file at a time: a template or a ``static/`` file in
the project's ``site_templates/`` wins over the packaged file of the same name, so a user
changes one page without copying the whole theme.
"""

from __future__ import annotations

from pathlib import Path

import kiln
from kiln.project import Project

PACKAGED_THEME = Path(kiln.__file__).parent / "theme"
STATIC_FOLDER = "static"


def theme_dirs(project: Project) -> list[Path]:
    """The folders templates are looked up in, first match wins."""
    return [project.templates_dir, PACKAGED_THEME]


def static_sources(project: Project) -> dict[str, Path]:
    """Every static file by its name under ``static/`` (posix), the project's copy winning."""
    sources: dict[str, Path] = {}
    for folder in reversed(theme_dirs(project)):
        base = folder / STATIC_FOLDER
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            name = path.relative_to(base).as_posix()
            if path.is_file() and not any(part.startswith(".") for part in name.split("/")):
                sources[name] = path
    return sources
