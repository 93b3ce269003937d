"""The stats page's figures: what was made, what was kept, what it cost, read from the store.

A few queries whatever the size of the store, grouped (SQLite does the counting) along indexes
made for them (store migration 0014), so none reads a table or sorts: images by recipe, model
and day; jobs by engine, model and state; failed engine calls by kind; derivatives by stage.
SQLite has no median: the timed jobs of each engine and model are counted, and the middle one
or two read at their offset in ``idx_jobs_engine_model`` (reading every time and taking the
median here cost a third of the page at 100,000 jobs; a window-function median in SQL three
times that). bench/stats_page.py times it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date

from kiln.project import Project
from kiln.site.charts import BarChart, ColumnChart, bar_chart, column_chart
from kiln.site.produce import Build, Link
from kiln.store.db import Store

STATS = "stats.html"

# Days shown one by one; a longer span is counted by month so the chart stays readable.
MAX_DAYS = 120

# Grouped as ``idx_images_stats`` is ordered (no sort); no value and an empty one are merged here.
_IMAGES_SQL = """
SELECT recipe, model, substr(created_at, 1, 10) AS day,
       COUNT(*) AS images, SUM(status = 'selected') AS picked, SUM(status = 'rejected') AS rejected,
       SUM(bytes) AS bytes
FROM images GROUP BY recipe, model, substr(created_at, 1, 10)
"""
_JOBS_SQL = """
SELECT engine, model, status, COUNT(*) AS jobs, SUM(attempts) AS calls
FROM jobs GROUP BY engine, model, status
"""
# The timed jobs per engine and model, counted along ``idx_jobs_engine_model`` (``+status``: not
# the status index), then the middle one or two of each read from it at their offset.
_TIMED_SQL = """
SELECT engine, model, COUNT(*) FROM jobs WHERE +status = 'succeeded' AND duration_ms IS NOT NULL GROUP BY engine, model
"""
_MIDDLE_SQL = """
SELECT duration_ms FROM jobs WHERE engine = ? AND model = ? AND status = 'succeeded' AND duration_ms IS NOT NULL
ORDER BY duration_ms LIMIT ? OFFSET ?
"""
_FAILURES_SQL = """
SELECT COALESCE(NULLIF(error_code, ''), 'unknown') AS label,
       SUM(outcome = 'failed') AS failed, SUM(outcome = 'retried') AS retried
FROM attempts WHERE outcome != 'succeeded' GROUP BY label ORDER BY failed + retried DESC, label
"""
_DERIVATIVES_SQL = "SELECT stage, COUNT(*) AS files, COALESCE(SUM(bytes), 0) AS bytes FROM derivatives GROUP BY stage ORDER BY stage"


@dataclass(frozen=True)
class Kept:
    """Images made under one label (a recipe or a model), and how many were picked or rejected."""

    label: str
    images: int
    picked: int
    rejected: int

    @property
    def keep_rate(self) -> float:
        """The share of its images that were picked."""
        return self.picked / self.images if self.images else 0.0


@dataclass(frozen=True)
class Count:
    label: str
    value: int


@dataclass(frozen=True)
class Engine:
    """One engine and model: jobs that ended, engine calls, and the median generation time."""

    engine: str
    model: str
    succeeded: int
    failed: int
    attempts: int
    attempts_succeeded: int
    median_ms: float | None
    timed: int

    @property
    def label(self) -> str:
        return f"{self.engine} · {self.model}" if self.model else self.engine

    @property
    def success_rate(self) -> float | None:
        """Succeeded jobs among those that ended (succeeded or failed), None if none did."""
        ended = self.succeeded + self.failed
        return self.succeeded / ended if ended else None


@dataclass(frozen=True)
class Failure:
    label: str
    failed: int
    retried: int

    @property
    def total(self) -> int:
        return self.failed + self.retried


@dataclass(frozen=True)
class Disk:
    label: str
    files: int
    bytes: int


@dataclass
class Stats:
    recipes: list[Kept] = field(default_factory=list)
    models: list[Kept] = field(default_factory=list)
    days: list[Count] = field(default_factory=list)
    by_month: bool = False
    engines: list[Engine] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    disk: list[Disk] = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(row.images for row in self.recipes)

    @property
    def best_model(self) -> Kept | None:
        """The model with the most picked images (ties: the higher share picked)."""
        picked = [m for m in self.models if m.picked]
        return max(picked, key=lambda m: (m.picked, m.keep_rate)) if picked else None


def read_stats(store: Store) -> Stats:
    """Every figure of the stats page."""
    stats = Stats()
    recipes: dict[str, list[int]] = {}
    models: dict[str, list[int]] = {}
    days: dict[str, int] = {}
    files = size = 0
    for row in store.query(_IMAGES_SQL):
        figures = (row["images"], row["picked"] or 0, row["rejected"] or 0)
        for table, key in ((recipes, row["recipe"] or ""), (models, row["model"] or "")):
            total = table.setdefault(key, [0, 0, 0])
            for i, n in enumerate(figures):
                total[i] += n
        days[row["day"] or ""] = days.get(row["day"] or "", 0) + row["images"]
        files += row["images"]
        size += row["bytes"] or 0
    stats.recipes = _kept(recipes)
    stats.models = _kept(models)
    stats.by_month, stats.days = _by_day(days)

    engines: dict[tuple[str, str], dict[str, float | int | None]] = {}
    for row in store.query(_JOBS_SQL):
        figures = engines.setdefault(
            (row["engine"] or "", row["model"] or ""),
            {"succeeded": 0, "failed": 0, "attempts": 0, "attempts_succeeded": 0, "median_ms": None, "timed": 0},
        )
        figures["attempts"] += row["calls"] or 0  # type: ignore[operator]
        if row["status"] in ("succeeded", "failed"):
            figures[row["status"]] = row["jobs"]
        if row["status"] == "succeeded":
            # A job succeeds by exactly one call (jobs imported or made before calls were counted have none).
            figures["attempts_succeeded"] = min(row["jobs"], row["calls"] or 0)
    for key, (median, timed) in _medians(store).items():
        if key in engines:
            engines[key].update(median_ms=median, timed=timed)
    stats.engines = [Engine(engine, model, **figures) for (engine, model), figures in sorted(engines.items())]  # type: ignore[arg-type]
    stats.failures = [Failure(row["label"], row["failed"] or 0, row["retried"] or 0) for row in store.query(_FAILURES_SQL)]
    stats.disk = [Disk("original", files, size)] if files else []
    stats.disk += [Disk(row["stage"], row["files"], row["bytes"]) for row in store.query(_DERIVATIVES_SQL) if row["files"]]
    return stats


def _medians(store: Store) -> dict[tuple[str, str], tuple[float, int]]:
    """The median generation time of each engine and model's succeeded jobs (both columns are
    NOT NULL), and how many were timed: the middle values read from the index, not every value."""
    medians = {}
    for engine, model, timed in store.conn.execute(_TIMED_SQL).fetchall():
        middle = [row[0] for row in store.conn.execute(_MIDDLE_SQL, [engine, model, 2 - timed % 2, (timed - 1) // 2])]
        medians[(engine, model)] = (statistics.median(middle), timed)
    return medians


def _kept(table: dict[str, list[int]]) -> list[Kept]:
    """Rows by images made, most first."""
    rows = [Kept(label, *figures) for label, figures in table.items()]
    return sorted(rows, key=lambda row: (-row.images, row.label))


def _by_day(days: dict[str, int]) -> tuple[bool, list[Count]]:
    """Counts per day, or per month when the days span more than ``MAX_DAYS``."""
    known = sorted(day for day in days if _date(day))
    by_month = len(known) > 1 and (_date(known[-1]) - _date(known[0])).days > MAX_DAYS  # type: ignore[operator]
    if not by_month:
        return False, [Count(day, n) for day, n in sorted(days.items())]
    months: dict[str, int] = {}
    for day, n in days.items():
        months[day[:7]] = months.get(day[:7], 0) + n
    return True, [Count(month, n) for month, n in sorted(months.items())]


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def stats_charts(stats: Stats) -> dict[str, BarChart | ColumnChart]:
    """The pictures of the stats page, each drawn from the same rows as its table."""

    def kept(rows: list[Kept]) -> list[tuple[str, list[tuple[str, float]], str]]:
        return [
            (row.label, [("picked", row.picked), ("rejected", row.rejected), ("main", row.images - row.picked - row.rejected)], f"{row.images:,}")
            for row in rows
        ]

    timed = [e for e in stats.engines if e.median_ms is not None]
    rated = [e for e in stats.engines if e.success_rate is not None]
    return {
        "days": column_chart("Images per month" if stats.by_month else "Images per day", [(d.label, d.value) for d in stats.days]),
        "recipes": bar_chart("Images per recipe", kept(stats.recipes)),
        "models": bar_chart("Images per model", kept(stats.models)),
        "success": bar_chart(
            "Jobs that succeeded, per engine and model",
            [(e.label, [("main", e.success_rate or 0.0)], f"{e.success_rate:.0%}") for e in rated],
        ),
        "speed": bar_chart(
            "Median generation time, per engine and model",
            [(e.label, [("main", e.median_ms or 0.0)], duration_text(e.median_ms or 0.0)) for e in timed],
        ),
        "failures": bar_chart(
            "Failed engine calls by kind",
            [(f.label, [("rejected", f.failed), ("main", f.retried)], f"{f.total:,}") for f in stats.failures],
        ),
        "disk": bar_chart("Disk per stage", [(d.label, [("main", d.bytes)], size_text(d.bytes)) for d in stats.disk]),
    }


def duration_text(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


class StatsPage:
    """The producer of ``stats.html`` (kiln/site/produce.py), made again whenever the store's
    change sequence or its last engine call moved (the figures are cheap; following each one's
    own inputs is not): a call retried or failed is counted here but moves no sequence."""

    name = "stats"

    def inputs(self, project: Project) -> str:
        return ""

    def links(self, project: Project) -> list[Link]:
        return [Link("Stats", STATS)]

    def produce(self, build: Build) -> None:
        def make() -> bytes:
            stats = read_stats(build.store)
            return build.render("stats.html", STATS, {"stats": stats, "charts": stats_charts(stats), "current": STATS})

        build.file(STATS, f"{build.sequence}:{build.calls}", make)
