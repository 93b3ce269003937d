"""Exceptions that reach the user as clear messages.

Every error a user can cause by editing a file carries the file, the line and the key, so
the CLI can print ``recipes/cats.toml:7: steps: expected an integer ≥ 1, got "many"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class KilnError(Exception):
    """Base class for errors that are reported without a traceback."""


@dataclass
class Problem:
    """One thing wrong with an input file."""

    path: Path | str
    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = str(self.path)
        if self.line:
            where += f":{self.line}"
        if self.key is not None:
            key = ".".join(part or '""' for part in self.key.split("."))  # TOML allows a key written ""
            return f"{where}: {key}: {self.message}"
        return f"{where}: {self.message}"


class InputError(KilnError):
    """One or more problems in a user's file (a recipe, kiln.toml, a wildcard file)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ProjectNotFound(KilnError):
    pass
