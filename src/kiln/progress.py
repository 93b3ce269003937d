"""Progress display for ``kiln run``: a bar per recipe with the current job's step.

On a terminal this draws rich progress bars; elsewhere (CI logs, pipes) it prints one line
per recipe when it finishes, so logs stay readable.
"""

from __future__ import annotations

import threading
from collections import Counter

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from kiln.engines import Progress as EngineProgress
from kiln.plan import RecipePlan
from kiln.recipe import Job
from kiln.runner import RunReport
from kiln.terminal import printable


class BarObserver:
    """Rich progress bars; use as a context manager around the run."""

    def __init__(self, console: Console | None = None):
        self.progress = Progress(
            TextColumn("[bold]{task.fields[recipe]:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[step]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> BarObserver:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def recipe_started(self, plan: RecipePlan) -> None:
        self.tasks[plan.recipe.name] = self.progress.add_task(
            "", total=len(plan.jobs) - len(plan.deleted), completed=len(plan.done), recipe=plan.recipe.name, step=""
        )

    def job_progress(self, plan: RecipePlan, job: Job, progress: EngineProgress) -> None:
        step = f"step {progress.step}/{progress.total}" if progress.total else escape(printable(progress.phase))
        self.progress.update(self.tasks[plan.recipe.name], step=step)

    def job_finished(self, plan: RecipePlan, job: Job, error: str | None) -> None:
        self.progress.advance(self.tasks[plan.recipe.name])

    def recipe_finished(self, plan: RecipePlan) -> None:
        self.progress.update(self.tasks[plan.recipe.name], step="done")


class LineObserver:
    """One line per recipe when it is done, for output that is not a terminal."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, Counter[str]] = {}

    def recipe_started(self, plan: RecipePlan) -> None:
        with self.lock:
            self.counts[plan.recipe.name] = Counter(existing=len(plan.done))

    def job_progress(self, plan: RecipePlan, job: Job, progress: EngineProgress) -> None: ...

    def job_finished(self, plan: RecipePlan, job: Job, error: str | None) -> None:
        with self.lock:
            self.counts[plan.recipe.name]["failed" if error else "generated"] += 1

    def recipe_finished(self, plan: RecipePlan) -> None:
        with self.lock:
            counts = self.counts[plan.recipe.name]
        click.echo(
            f"{plan.recipe.name}: {len(plan.jobs)} jobs, {counts['existing']} existing,"
            f" {counts['generated']} generated, {counts['failed']} failed",
            err=True,
        )


def summary(report: RunReport) -> list[str]:
    """The lines that end a run: counts, the first error of each kind, retries."""
    skipped = f"skipped {report.skipped} (already made)"
    if report.deleted:
        skipped = f"skipped {report.skipped + report.deleted} ({report.skipped} already made, {report.deleted} deleted)"
    lines = [f"Generated {report.generated}, {skipped}, failed {report.failed} in {report.seconds:.1f} s."]
    lines += [f"  {count} × {code}: {report.first_errors[code]}" for code, count in report.error_counts.most_common()]
    if report.retries:
        lines.append(f"  {report.retries} engine call{'s' if report.retries != 1 else ''} retried")
    if report.failed:
        lines.append("Failed jobs are retried by the next 'kiln run'; 'kiln jobs --failed' lists them.")
    return lines
