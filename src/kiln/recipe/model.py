"""The validated form of a recipe."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import Problem
from kiln.project import Style


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt template; ``library`` names the ``prompts/`` file it was read from, if any."""

    text: str
    library: str | None = None


@dataclass(frozen=True)
class Target:
    """Target mode: make jobs until ``images`` have succeeded.

    ``tolerance`` is how many images past the target a runner that works on several jobs at once
    may finish; ``max_failures`` is how many failed jobs end the attempt.
    """

    images: int
    tolerance: int
    max_failures: int


@dataclass(frozen=True)
class ReferencePattern:
    """One entry of ``references`` (a group's entries are inlined), and where it was written."""

    text: str
    kind: str  # file, random, random_recursive, all, random_global, one_of
    path: str = ""
    count: int = 1
    alternatives: tuple[ReferencePattern, ...] = ()
    where: tuple[str, int | None, str] = ("", None, "references")  # file, line, key


@dataclass(frozen=True)
class Recipe:
    """One recipe, every key checked and normalised.

    The tuple-valued parameters are axes: expansion takes their cartesian product (``zip``
    groups walk together), so a single value is a tuple of one.
    """

    name: str
    path: Path
    display: str
    source_sha256: str
    title: str
    description: str
    engine: str
    models: tuple[str, ...]
    prompts: tuple[PromptTemplate, ...]
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
    mode: str = "combinatorial"
    max_prompts: int | None = None
    styles: tuple[Style | None, ...] = (None,)
    seed_policy: str = "per_image"
    seeds_per_prompt: int = 1
    params: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    references: tuple[ReferencePattern, ...] = ()
    zips: tuple[tuple[str, ...], ...] = ()
    repeat: int = 1
    target: Target | None = None
    enabled: bool = True
    batch: str | None = None
    origins: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()

    def problem(self, key: str, message: str) -> Problem:
        """A problem with ``key`` (dotted), at the file and line it was written on."""
        parts = key.split(".")
        while parts:
            where = self.origins.get(".".join(parts))
            if where:
                return Problem(where[0], where[1], key, message)
            parts.pop()
        return Problem(self.display, self.origins.get("", (self.display, None))[1], key, message)

    @property
    def libraries(self) -> list[str]:
        """The prompt library entries this recipe reads."""
        return sorted({p.library for p in self.prompts if p.library})
