"""The stats page's figures: what was made, what was kept, what it cost, read from the store.

Aggregates only: each figure is one grouped query (SQLite does the counting), so the page
costs the same few hundred milliseconds at 100,000 images as a full scan of a few columns,
and never loads rows into Python one by one. Medians are taken in SQL with window functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kiln.site.charts import BarChart, ColumnChart, bar_chart, column_chart
from kiln.store.db import Store

# Days shown one by one; a longer span is counted by month so the chart stays readable.
MAX_DAYS = 120

_PER_RECIPE_SQL = """
SELECT COALESCE(recipe, '') AS label, COUNT(*) AS images,
       SUM(status = 'selected') AS picked, SUM(status = 'rejected') AS rejected
FROM images GROUP BY label ORDER BY images DESC, label
"""
_PER_MODEL_SQL = """
SELECT COALESCE(model, '') AS label, COUNT(*) AS images,
       SUM(status = 'selected') AS picked, SUM(status = 'rejected') AS rejected
FROM images GROUP BY label ORDER BY images DESC, label
"""
_PER_DAY_SQL = "SELECT substr(created_at, 1, {width}) AS label, COUNT(*) AS images FROM images GROUP BY label ORDER BY label"
_SPAN_SQL = "SELECT substr(MIN(created_at), 1, 10) AS first, substr(MAX(created_at), 1, 10) AS last FROM images"
_JOBS_SQL = """
SELECT engine, model, SUM(status = 'succeeded') AS succeeded, SUM(status = 'failed') AS failed
FROM jobs GROUP BY engine, model
"""
_ATTEMPTS_SQL = """
SELECT a.engine AS engine, j.model AS model, COUNT(*) AS attempts, SUM(a.outcome = 'succeeded') AS succeeded
FROM attempts a JOIN jobs j ON j.key = a.job_key GROUP BY a.engine, j.model
"""
_MEDIAN_SQL = """
WITH timed AS (
    SELECT COALESCE(engine, '') AS engine, COALESCE(model, '') AS model,
           CAST(json_extract(timings, '$.generate_ms') AS REAL) AS ms
    FROM images WHERE json_valid(timings) AND json_type(timings, '$.generate_ms') IN ('integer', 'real')
), ranked AS (
    SELECT engine, model, ms,
           ROW_NUMBER() OVER (PARTITION BY engine, model ORDER BY ms) AS n,
           COUNT(*) OVER (PARTITION BY engine, model) AS total
    FROM timed
)
SELECT engine, model, AVG(ms) AS median_ms, MAX(total) AS timed
FROM ranked WHERE n IN ((total + 1) / 2, (total + 2) / 2) GROUP BY engine, model
"""
_FAILURES_SQL = """
SELECT COALESCE(NULLIF(error_code, ''), 'unknown') AS label,
       SUM(outcome = 'failed') AS failed, SUM(outcome = 'retried') AS retried
FROM attempts WHERE outcome != 'succeeded' GROUP BY label ORDER BY failed + retried DESC, label
"""
_DISK_SQL = """
SELECT 'original' AS label, COUNT(*) AS files, COALESCE(SUM(bytes), 0) AS bytes FROM images
UNION ALL
SELECT stage, COUNT(*), COALESCE(SUM(bytes), 0) FROM derivatives GROUP BY stage
"""


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
    """Every figure of the stats page, in a handful of grouped queries."""
    stats = Stats()
    stats.recipes = [_kept(row) for row in store.query(_PER_RECIPE_SQL)]
    stats.models = [_kept(row) for row in store.query(_PER_MODEL_SQL)]
    span = next(iter(store.query(_SPAN_SQL)), None)
    stats.by_month = bool(span and span["first"] and _days_between(span["first"], span["last"]) > MAX_DAYS)
    width = 7 if stats.by_month else 10
    stats.days = [Count(row["label"] or "", row["images"]) for row in store.query(_PER_DAY_SQL.format(width=width))]

    engines: dict[tuple[str, str], dict[str, float | int | None]] = {}

    def slot(engine: str | None, model: str | None) -> dict[str, float | int | None]:
        return engines.setdefault(
            (engine or "", model or ""),
            {"succeeded": 0, "failed": 0, "attempts": 0, "attempts_succeeded": 0, "median_ms": None, "timed": 0},
        )

    for row in store.query(_JOBS_SQL):
        slot(row["engine"], row["model"]).update(succeeded=row["succeeded"] or 0, failed=row["failed"] or 0)
    for row in store.query(_ATTEMPTS_SQL):
        slot(row["engine"], row["model"]).update(attempts=row["attempts"], attempts_succeeded=row["succeeded"] or 0)
    for row in store.query(_MEDIAN_SQL):
        slot(row["engine"], row["model"]).update(median_ms=row["median_ms"], timed=row["timed"])
    stats.engines = [Engine(engine, model, **figures) for (engine, model), figures in sorted(engines.items())]  # type: ignore[arg-type]
    stats.failures = [Failure(row["label"], row["failed"] or 0, row["retried"] or 0) for row in store.query(_FAILURES_SQL)]
    stats.disk = [Disk(row["label"], row["files"], row["bytes"]) for row in store.query(_DISK_SQL) if row["files"]]
    return stats


def _kept(row: dict) -> Kept:
    return Kept(row["label"], row["images"], row["picked"] or 0, row["rejected"] or 0)


def _days_between(first: str, last: str) -> int:
    try:
        return (date.fromisoformat(last) - date.fromisoformat(first)).days
    except ValueError:
        return 0


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
