"""What a build did, for ``kiln build`` to print."""

from __future__ import annotations

from dataclasses import dataclass, field

from kiln.errors import Problem


@dataclass
class BuildReport:
    """Counts of one build. ``written``/``skipped``/``removed`` count files (pages, media and
    static assets); ``pages`` and ``images`` describe the site; ``problems`` are the things
    that were wrong with single items, which the build worked around instead of stopping.
    ``written_names`` and ``removed_names`` are those files' paths, relative to the target."""

    written: int = 0
    skipped: int = 0
    removed: int = 0
    pages: int = 0
    images: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    target: str = "build"
    written_names: list[str] = field(default_factory=list)
    removed_names: list[str] = field(default_factory=list)

    @property
    def changed_pages(self) -> list[str]:
        """The HTML pages this build wrote or removed, for open pages to know they are stale."""
        return sorted(name for name in (*self.written_names, *self.removed_names) if name.endswith(".html"))

    def __str__(self) -> str:
        line = (
            f"{self.target}/: {self.pages} pages, {self.images} images; {self.written} written, "
            f"{self.skipped} unchanged, {self.removed} removed in {self.seconds:.2f} s"
        )
        if self.problems:
            line += f"; {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        return line
