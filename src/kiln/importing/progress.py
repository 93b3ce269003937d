"""What ``kiln import`` shows while it works: a rich bar with files per second and the time
left on a terminal, one line every so many files elsewhere (logs stay readable)."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

LINE_EVERY = 1000  # files between two lines when the output is not a terminal


class ImportBar:
    """A rich progress bar; use as a context manager around the import."""

    def __init__(self, console: Console | None = None):
        self.progress = Progress(
            TextColumn("[bold]import"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self.task: TaskID | None = None

    def __enter__(self) -> ImportBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def started(self, total: int) -> None:
        self.task = self.progress.add_task("", total=total, rate="")

    def advanced(self, kind: str) -> None:
        assert self.task is not None
        self.progress.advance(self.task)
        speed = self.progress.tasks[0].speed
        self.progress.update(self.task, rate=f"{speed:,.0f} files/s" if speed else "")


class ImportLines:
    """A line every :data:`LINE_EVERY` files, with the rate and the time left."""

    def __init__(self, every: int = LINE_EVERY):
        self.every = every
        self.total = 0
        self.done = 0
        self.start = time.monotonic()

    def started(self, total: int) -> None:
        self.total = total
        self.start = time.monotonic()

    def advanced(self, kind: str) -> None:
        self.done += 1
        if self.done % self.every and self.done != self.total:
            return
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate else 0
        click.echo(f"import: {self.done:,}/{self.total:,} files, {rate:,.0f} files/s, {left:,.0f} s left", err=True)
