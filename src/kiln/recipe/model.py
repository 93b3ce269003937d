"""The validated form of a recipe file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """One recipe, every key checked and normalised.

    The list-valued fields are axes: expansion takes their cartesian product, so a single
    value is a list of one.
    """

    name: str
    path: Path
    display: str
    source_sha256: str
    title: str
    description: str
    engine: str
    models: tuple[str, ...]
    prompts: tuple[str, ...]
    negative_prompt: str
    sizes: tuple[tuple[int, int], ...]
    seeds: tuple[int, ...]
    steps: tuple[int, ...]
    guidance: tuple[float, ...]
    samplers: tuple[str | None, ...]
    count: int
    seed: int
    max_jobs: int
    gallery: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
