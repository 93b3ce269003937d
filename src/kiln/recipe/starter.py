"""``kiln new``: a commented starter recipe."""

from __future__ import annotations

from pathlib import Path

from kiln.errors import KilnError
from kiln.project import Project
from kiln.recipe.source import NAME_PATTERN

STARTER = '''# {name}: one batch of images. `kiln plan {name}` lists its jobs, `kiln run {name}` makes them.
# Every key is described in the README's recipe reference.
title = "{title}"
description = "What this batch is for. *Markdown* works here."

engine = "placeholder"           # an engine named in kiln.toml
# model = "procedural-v1"        # required for engines other than placeholder

# {{a|b}} makes a prompt per variant, __name__ reads wildcards/name.txt,
# {{ library = "name" }} reads prompts/name.txt.
prompt = "a lighthouse {{at dusk|in fog}}, oil painting"
negative_prompt = "blurry, text"
# style = "film"                 # a style from kiln.toml's [styles] or styles.toml

size = {{ long_edge = 768, aspect = "3:2" }}   # or "1024x768"
seeds = 2                        # two seeds drawn from `seed`; or [1, 2, 3], or "1-8"
steps = 20                       # a list, or a range such as "10-30 (+10)", is an axis
guidance = 5.0
count = 1                        # images per combination
# zip = [["steps", "guidance"]]  # walk two axes together instead of multiplying them
# target = 20                    # instead of count: make jobs until 20 images succeed

[gallery]
sort = "prompt"
'''


def write_starter(project: Project, name: str) -> Path:
    """Write ``recipes/NAME.toml``; refuse a bad name or an existing file."""
    if not NAME_PATTERN.match(name):
        raise KilnError(f"{name!r}: recipe names use lowercase letters, digits, '-' and '_', starting with a letter or digit")
    path = project.recipes_dir / f"{name}.toml"
    if path.exists():
        raise KilnError(f"{project.relative(path)} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    title = name.replace("-", " ").replace("_", " ").capitalize()
    path.write_text(STARTER.format(name=name, title=title), encoding="utf-8")
    return path
