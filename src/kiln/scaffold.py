"""``kiln init``: the files a new project starts with."""

from __future__ import annotations

import json
from pathlib import Path

from kiln.errors import KilnError
from kiln.project import CONFIG_NAME

_CONFIG = '''# Project settings. kiln commands find this file by walking up from the current folder.

[project]
title = {title}

[site]
page_size = 48
# Collections besides the recipes': all, picks, top (rated 4+), recent, tags (one per tag).
collections = ["all", "picks", "top"]

[engines.placeholder]
type = "placeholder"
'''

_RECIPE = '''# A recipe: one batch of images. `kiln plan first` shows its jobs, `kiln run` makes them.
title = "First light"
description = "A first recipe: two subjects, two seeds each."
engine = "placeholder"
prompt = "a lighthouse {at dusk|in a storm}, oil painting"
size = { long_edge = 768, aspect = "3:2" }
seeds = 2
steps = 20
'''

_TEMPLATES_README = """Templates placed here override kiln's default theme, one file at a time: copy a
template of the same name from kiln's theme, edit it, and run `kiln build`.
"""


def create_project(folder: Path, title: str) -> list[Path]:
    """Write a new project's files into ``folder``; refuse if it already holds one."""
    config = folder / CONFIG_NAME
    if config.exists():
        raise KilnError(f"{config} already exists; this folder is a project already")
    files = {
        config: _CONFIG.format(title=json.dumps(title)),
        folder / "recipes" / "first.toml": _RECIPE,
        folder / "site_templates" / "README.txt": _TEMPLATES_README,
        folder / ".gitignore": "/art/\n/build/\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    return list(files)
