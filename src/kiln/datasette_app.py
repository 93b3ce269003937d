"""The Datasette view of the store: metadata, the command line that serves it, and a runner.

kiln's Datasette command opens ``art/kiln.db`` in Datasette 0.65 for ad-hoc questions. The store is
opened read-only and live (never ``--immutable``): the runner may be writing while you browse,
and new rows and columns appear on the next request.

Datasette is started as ``python -m datasette serve`` from kiln's own environment, pointed at
files kiln writes into ``art/.datasette/``: the metadata as JSON and a one-line plugin module
that loads :mod:`kiln.datasette_plugin` (thumbnails in the ``path`` column). Keeping them as
plain files means the printed command can be rerun, or edited, by hand.

Metadata follows the 0.65 format, where facets, full-text search and canned queries live next
to titles and descriptions. Datasette 1.0 moves those to a separate ``datasette.yaml``; the
``datasette-upgrade`` plugin converts this file mechanically.
"""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasette.app import Datasette

from kiln import lifeline
from kiln.art import write_atomic
from kiln.datasette_plugin import THUMB_MOUNT
from kiln.datasette_search import SEARCH_LIMIT
from kiln.errors import KilnError
from kiln.project import Project
from kiln.server import is_loopback
from kiln.store import open_store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
CONFIG_DIR = ".datasette"
# Seconds Datasette has to exit once told to stop, before it is killed.
QUIT_GRACE_S = 5.0
PLUGIN_SHIM = (
    "from kiln.datasette_plugin import asgi_wrapper, extra_css_urls, register_routes, render_cell  # noqa: F401\n"
    "from kiln.datasette_search import filters_from_request  # noqa: F401\n"
)
# Datasette's defaults would try every column of a table page for a suggested facet, which
# took 2.85 s of a 3.1 s images page at a million images: kiln's metadata names the facets
# worth having (indexed, so each counts along an index), and the column menus offer the rest.
# A requested facet that still takes too long (a search or filter matching a large share of
# a million rows) is listed as timed out instead of holding the page; no query may hold a
# page for more than a second.
SETTINGS: dict[str, Any] = {
    "suggest_facets": False,
    "facet_time_limit_ms": 200,
    "sql_time_limit_ms": 1000,
}

# The FTS5 shadow tables behind ``images_fts`` and the migrations log: plumbing, not data.
_HIDDEN = (
    "images_fts",
    "images_fts_config",
    "images_fts_data",
    "images_fts_docsize",
    "images_fts_idx",
    "_sqlite_migrations",
)

# Tables that grow with the library sort only by columns an index leads with: a sort by any
# other column reads and sorts every row.
_TABLES: dict[str, dict[str, Any]] = {
    "recipes": {
        "description": "One row per recipe file in recipes/, as last recorded by kiln run.",
        "label_column": "title",
        "columns": {
            "name": "Recipe name: the file's stem (recipes/<name>.toml).",
            "path": "The recipe file, relative to the project folder.",
            "title": "Title from the recipe; by default its name with - and _ as spaces, capitalised.",
            "description": "Markdown description from the recipe, shown on its gallery page.",
            "source_sha256": "SHA-256 of the recipe file's bytes when it was last recorded; "
            "it changes whenever the file is edited.",
            "job_count": "How many jobs (distinct generations) the recipe expands to.",
            "gallery": "The recipe's [gallery] options as a JSON object (title, sort, cover, page_size).",
            "updated_at": "When the recipe was last recorded (ISO 8601, UTC).",
            "kind": "recipe (a file in recipes/) or import (a collection kiln import made; never archived).",
            "revision": "Above the change sequence number when its jobs, their places or its images last "
            "came or went; kiln build sums again only the recipes whose revision (or an image's) moved.",
        },
    },
    "runs": {
        "description": "One row per kiln run invocation, with its outcome and counts.",
        "label_column": "started_at",
        "sort_desc": "id",
        "facets": ["status", "host"],
        "columns": {
            "id": "Run number, increasing.",
            "started_at": "When the run started (ISO 8601, UTC).",
            "finished_at": "When the run ended (ISO 8601, UTC); empty while it runs.",
            "status": "running; finished; interrupted (stopped, or its process found dead by a later run); "
            "paused (stopped after too many failures in a row, see stop_reason); or failed.",
            "recipes": "JSON array of the recipe names the run was asked to build.",
            "planned": "Jobs in the recipes the run was given, made already or not.",
            "generated": "Jobs that produced an image in this run.",
            "skipped": "Jobs the run skipped rather than generated: made already, or deleted on purpose.",
            "failed": "Jobs that failed in this run.",
            "pid": "Process id of the kiln run process; on its own host, a dead process releases its claims at once.",
            "host": "Host name of the machine that ran it.",
            "kiln_version": "kiln version that ran it.",
            "stop_reason": "Why a paused run stopped early, e.g. an engine failing jobs in a row.",
            "heartbeat_at": "When the live run last renewed its lease on its claims (ISO 8601, UTC; every 5 s). "
            "A claim whose run has not renewed it for 60 s goes back to the queue, whichever host made it.",
        },
    },
    "attempts": {
        "description": "One row per engine call: every try of every job, retries included.",
        "sort_desc": "id",
        "facets": ["outcome", "engine", "error_code"],
        "sortable_columns": ["id"],
        "columns": {
            "id": "Attempt number, increasing.",
            "job_key": "The job tried (jobs.key).",
            "run_id": "The run that tried it (runs.id).",
            "engine": "Engine name from kiln.toml.",
            "attempt": "1 for a job's first call in a run, 2 for its first retry, and so on.",
            "started_at": "When the call started (ISO 8601, UTC).",
            "duration_ms": "How long the call took, in milliseconds.",
            "outcome": "succeeded; retried (failed with a retryable error, tried again); or failed.",
            "error_code": "The engine's error code, e.g. HTTP_429, TIMEOUT, GENERATION_FAILED.",
            "error": "The engine's error message (API keys never appear here).",
            "response_id": "The service's id for the response, where it gives one.",
        },
    },
    "history": {
        "description": "Every curation change (rating, pick or reject, tags, note), oldest first: what "
        "kiln undo reverts and nothing else ever deletes.",
        "sort_desc": "id",
        "facets": ["field", "source"],
        "sortable_columns": ["id"],
        "columns": {
            "id": "Change number, increasing.",
            "batch": "The command or request the change belongs to; kiln undo reverts a whole batch.",
            "at": "When the change was made (ISO 8601, UTC).",
            "image_id": "The image changed (images.id).",
            "job_key": "The job that made the image (jobs.key), so a rebuilt store can match it.",
            "field": "rating, status, tags or notes.",
            "old": "The value before, as JSON.",
            "new": "The value after, as JSON.",
            "source": "Where the change came from: cli, server, import or undo.",
            "undone": "1 once kiln undo has reverted the change.",
        },
    },
    "image_references": {
        "description": "The reference images each image was made from, kept as thumbnails so they "
        "outlive their source files.",
        "columns": {
            "image_id": "The generated image (images.id).",
            "position": "Order of the reference in the job, from 0.",
            "source_path": "The reference file, relative to the project folder, when it was used.",
            "sha256": "SHA-256 of the reference file's bytes.",
            "thumb_path": "Its 400 px thumbnail, relative to the art folder (ref_thumb/<hash>.webp).",
        },
    },
    "jobs": {
        "description": "One row per job: a single concrete generation (engine, model, prompt, size, seed, "
        "...). Its key is the hash of its spec, so recipes that describe the same image share one job.",
        "facets": ["status", "engine", "recipe"],
        "sort_desc": "queued_at",
        "sortable_columns": ["key", "queued_at"],
        "columns": {
            "key": "Job key: hash of the canonical JSON spec. Same spec, same key, so re-runs skip "
            "finished work.",
            "spec": "The full job spec as canonical JSON (engine, model, prompt, negative prompt, width, "
            "height, seed, steps, guidance, sampler, references, extra params).",
            "recipe": "The recipe that first queued this job (recipe_jobs lists every recipe using it).",
            "engine": "Engine name from kiln.toml that generates it (e.g. placeholder).",
            "model": "Model identifier passed to the engine.",
            "status": "queued, running (claimed by a process), succeeded (has an image), failed, or "
            "deleted (its image was deleted on purpose; kiln run does not make it again unasked).",
            "attempts": "How many times a run has claimed the job, retries and re-runs included.",
            "error": "Message of the last failure; cleared when the job succeeds.",
            "error_code": "Machine-readable code of the last failure (the engine's own code where it "
            "has one); cleared on success.",
            "run_id": "The run that last claimed the job.",
            "claimed_by": "host:pid of the process working on the job while it runs; empty otherwise.",
            "queued_at": "When the job was first queued (ISO 8601, UTC).",
            "started_at": "When the last attempt started (ISO 8601, UTC).",
            "finished_at": "When the last attempt ended, in success or failure (ISO 8601, UTC).",
            "duration_ms": "Wall time of the last attempt, in milliseconds.",
            "image_id": "The image this job produced (images.id), once it succeeded; for a deleted job, "
            "the id its image had (kiln run --redo finds it by that id).",
            "expected_image_id": "Set by kiln doctor --fix when it queues the job to remake a lost or corrupt "
            "original: the image id the rerun should give again (its curation moves over if it does not).",
        },
    },
    "recipe_jobs": {
        "description": "Which jobs each recipe expands to, in order: the recipe's gallery. A job shared "
        "by two recipes has a row for each.",
        "facets": ["recipe"],
        "sortable_columns": ["recipe"],
        "columns": {
            "recipe": "The recipe (recipes.name).",
            "job_key": "The job (jobs.key).",
            "position": "Position of the job in the recipe's expansion, from 0; the gallery order.",
            "axes": "JSON object of the axis values (axis name to value) that made this cell of the "
            "recipe's grid.",
        },
    },
    "images": {
        "description": "One row per generated image: its file, full provenance, and culling state. "
        'Search matches prompts and notes with SQLite FTS5 syntax: fox OR cat, "red fox", fox*, '
        "prompt:fox NOT cat.",
        "label_column": "prompt",
        "facets": ["model", "recipe", "rating", "status"],
        "sort_desc": "created_at",
        "sortable_columns": ["id", "created_at"],
        "fts_table": "images_fts",
        "fts_pk": "rowid",
        "searchmode": "raw",
        "columns": {
            "id": "Content id: the first 16 hex digits of the SHA-256 of the original file. Its files "
            "are named after it in every art/<stage>/ folder.",
            "path": "The original image file, relative to the art folder (original/<id>.<format>).",
            "width": "Width of the original in pixels.",
            "height": "Height of the original in pixels.",
            "bytes": "Size of the original file in bytes.",
            "sha256": "Full SHA-256 of the original file's bytes (hex).",
            "format": "File format of the original (e.g. png).",
            "job_key": "The job that generated it (jobs.key); empty for images from outside a job.",
            "recipe": "The recipe whose job generated it.",
            "prompt": "The fully expanded prompt sent to the engine (searchable).",
            "negative_prompt": "The negative prompt sent to the engine; empty if none.",
            "model": "Model identifier the engine used.",
            "engine": "Engine name from kiln.toml that generated it.",
            "seed": "Random seed the engine actually used.",
            "steps": "Sampling steps.",
            "guidance": "Guidance (CFG) scale.",
            "sampler": "Sampler name, where the engine takes one.",
            "params": "Extra engine parameters from the job spec, as a JSON object.",
            "response_id": "The engine's own id for the generation (e.g. an API request id), if any.",
            "timings": "How long each phase of the generation took, as a JSON object of milliseconds.",
            "created_at": "When the image was recorded (ISO 8601, UTC).",
            "rating": "Culling rating from 1 to 5 stars; 0 means not rated yet.",
            "status": "Culling decision: selected, rejected, or empty for undecided.",
            "tags": "Tags as a JSON array of strings.",
            "notes": "Free-text notes (searchable).",
            "blurhash": "4x3-component blurhash of the image: its placeholder in the static gallery.",
            "file_mtime_ns": "Modification time (ns) of the original when its content was last known to match "
            "its id; kiln doctor hashes the file again only when this changes.",
            "revision": "The change sequence number of the last change to what the gallery shows of this "
            "image (its row, files, references, job); kiln build renders again the pages of images whose "
            "revision moved.",
            "source_metadata": "An imported image's metadata as its file had it (chunk or field name to text), "
            "as a JSON object; empty for generated images.",
        },
    },
    "import_sources": {
        "description": "Each file kiln import took in, with the image it gave: an unchanged file is not read "
        "again, so importing again changes nothing.",
        "facets": ["collection"],
        "sort_desc": "imported_at",
        "columns": {
            "path": "The source file's absolute path when it was imported.",
            "bytes": "Its size then.",
            "mtime_ns": "Its modification time then (ns).",
            "image_id": "The image it gave, or that it repeats or gave its status to (images.id).",
            "collection": "The collection it was imported into (recipes.name).",
            "imported_at": "When (ISO 8601, UTC).",
        },
    },
    "change_sequence": {
        "description": "One row: a number every change to a table the gallery shows moves (kept by "
        "triggers). kiln build compares it with the last build's to know there is nothing to do.",
        "columns": {"id": "Always 1.", "seq": "The number of changes so far."},
    },
    "derivatives": {
        "description": "Files made from each image by a stage (thumb: 400 px square thumbnail, web: "
        "long edge at most 1600 px), one row per image and stage.",
        "facets": ["stage", "format"],
        "sort_desc": "created_at",
        "sortable_columns": ["image_id", "created_at"],
        "columns": {
            "image_id": "The image it was made from (images.id).",
            "stage": "The stage that made it; also its folder under art/ (thumb, web, ...).",
            "path": "The derivative file, relative to the art folder (<stage>/<id>.<format>).",
            "width": "Width in pixels.",
            "height": "Height in pixels.",
            "bytes": "File size in bytes.",
            "format": "File format (e.g. webp).",
            "created_at": "When it was made (ISO 8601, UTC).",
        },
    },
    "prompts": {
        "description": "The prompt library: one row per file in prompts/, refreshed by kiln prompts "
        "and by runs of recipes that read it, with how often it was used.",
        "sort_desc": "use_count",
        "columns": {
            "name": "The library name recipes use: the file's path in prompts/ without its suffix.",
            "path": "The file, relative to the project folder.",
            "bytes": "File size in bytes.",
            "words": "Number of words in the file.",
            "has_wildcards": "1 if the text holds {a|b} variants, __wildcards__ or ${variables}.",
            "sha256": "SHA-256 of the file's bytes when the row was refreshed.",
            "use_count": "How many kiln runs had new jobs from a recipe reading this prompt.",
            "last_used_at": "When such a run last started (ISO 8601, UTC).",
            "updated_at": "When the row was last refreshed from the file (ISO 8601, UTC).",
        },
    },
}

# Canned queries for questions people actually ask. Average ratings ignore 0 (unrated). The
# search guards against an empty box: Datasette runs the query before anything is typed, and
# FTS5 rejects an empty query as a syntax error. Each reads an index of migration 0011 rather
# than every row, so it answers within a second at a million images: grouping queries count
# along a covering index first and sum the few groups after.
_QUERIES: dict[str, dict[str, Any]] = {
    "images_by_recipe_and_model": {
        "title": "Images per recipe and model",
        "description": "How many images each recipe made with each model, their average rating "
        "(rated images only) and how many were selected or rejected.",
        "sql": """
with counts as (
  select recipe, model, rating, status, count(*) as n
  from images
  group by recipe, model, rating, status
)
select
  recipe,
  model,
  sum(n) as images,
  sum(case when rating > 0 then n else 0 end) as rated,
  round(1.0 * sum(rating * n) / nullif(sum(case when rating > 0 then n else 0 end), 0), 2) as avg_rating,
  sum(case when status = 'selected' then n else 0 end) as selected,
  sum(case when status = 'rejected' then n else 0 end) as rejected
from counts
group by recipe, model
order by recipe, images desc
""".strip(),
    },
    "selected_images": {
        "title": "Selected images",
        "description": "Images culled as selected, best rated first.",
        # Without statistics SQLite would pick the status index and sort every selected image;
        # the partial index holds them in this order already.
        "sql": """
select id, path, recipe, model, rating, tags, prompt, notes, created_at
from images indexed by idx_images_selected
where status = 'selected'
order by rating desc, created_at desc
""".strip(),
    },
    "search_prompts": {
        "title": "Search prompts and notes",
        "description": 'Full-text search with SQLite FTS5 syntax: fox OR cat, "red fox", fox*, '
        "notes:keeper. Newest first; the first 1,000 matches are shown.",
        "sql": """
select images.id, images.path, images.prompt, images.model, images.recipe,
  images.rating, images.status, images.created_at
from images_fts join images on images.rowid = images_fts.rowid
where trim(:q) != '' and images_fts match :q
order by images_fts.rowid desc
""".strip(),
    },
    "search_prompts_ranked": {
        "title": "Search prompts and notes, best matches first",
        "description": "Full-text search as above, best matches first (FTS5 rank), among the "
        f"newest {SEARCH_LIMIT:,} matches: ranking every match of a common word takes seconds.",
        "sql": f"""
select images.id, images.path, images.prompt, images.model, images.recipe,
  images.rating, images.status, images.created_at, round(best.rank, 3) as rank
from (
  select rowid, rank from images_fts
  where trim(:q) != '' and images_fts match :q and rowid >= coalesce(
    (select rowid from images_fts where images_fts match :q order by rowid desc limit 1 offset {SEARCH_LIMIT - 1}),
    0
  )
  order by rank
  limit 1000
) as best join images on images.rowid = best.rowid
order by best.rank
""".strip(),
    },
    "failed_jobs": {
        "title": "Failed jobs",
        "description": "Jobs whose last attempt failed, newest first, with their errors; "
        "the next kiln run retries them.",
        "sql": """
select key, recipe, engine, model, attempts, error_code, error, finished_at, run_id
from jobs
where status = 'failed'
order by finished_at desc
""".strip(),
    },
    "recent_runs": {
        "title": "Recent runs",
        "description": "The last 50 runs with their counts and how long they took.",
        "sql": """
select
  id,
  started_at,
  status,
  round((julianday(finished_at) - julianday(started_at)) * 86400, 1) as seconds,
  planned,
  generated,
  skipped,
  failed,
  recipes,
  host,
  kiln_version
from runs
order by id desc
limit 50
""".strip(),
    },
    "engine_stats": {
        "title": "Success rate and speed per engine and model",
        "description": "Finished jobs per engine and model: success rate, and the average and "
        "slowest duration of successful generations.",
        "sql": """
with counts as (
  select engine, model, status, count(*) as n, count(duration_ms) as timed,
    sum(duration_ms) as total_ms, max(duration_ms) as max_ms
  from jobs
  group by engine, model, status
)
select
  engine,
  model,
  sum(case when status = 'succeeded' then n else 0 end) as succeeded,
  sum(case when status = 'failed' then n else 0 end) as failed,
  round(100.0 * sum(case when status = 'succeeded' then n else 0 end)
    / sum(case when status in ('succeeded', 'failed') then n else 0 end), 1) as success_pct,
  round(sum(case when status = 'succeeded' then total_ms end)
    / sum(case when status = 'succeeded' then timed end) / 1000, 2) as avg_seconds,
  round(max(case when status = 'succeeded' then max_ms end) / 1000, 2) as max_seconds
from counts
group by engine, model
having sum(case when status in ('succeeded', 'failed') then n else 0 end) > 0
order by succeeded desc
""".strip(),
    },
}


def metadata(project: Project) -> dict[str, Any]:
    """Datasette 0.65 metadata for the project's store, usable as ``metadata=`` or ``-m`` JSON."""
    tables = copy.deepcopy(_TABLES)
    tables.update({name: {"hidden": True} for name in _HIDDEN})
    return {
        "title": project.title,
        "description": project.description
        or "The kiln store: recipes, the jobs they expand to, runs, and the images they produced.",
        "databases": {
            project.db_path.stem: {
                "description": f"{project.relative(project.db_path)}, read live: rows a running "
                "kiln run writes appear on the next page load.",
                "tables": tables,
                "queries": copy.deepcopy(_QUERIES),
            }
        },
    }


@dataclass(frozen=True)
class Files:
    """What Datasette is pointed at: the store, the metadata, the plugins folder, the thumbnails."""

    db: Path
    metadata: Path
    plugins_dir: Path
    thumb_dir: Path


def prepare(project: Project) -> Files:
    """Migrate the store (creating it if missing) and write the files Datasette is given.

    Files are rewritten only when their content changes, so watchers of ``art/`` stay quiet.
    """
    open_store(project.db_path).close()
    config = project.art_dir / CONFIG_DIR
    files = Files(
        db=project.db_path,
        metadata=config / "metadata.json",
        plugins_dir=config / "plugins",
        thumb_dir=project.art_dir / THUMB_MOUNT,
    )
    # Datasette refuses a --static directory that does not exist; stages fill it later.
    files.thumb_dir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(files.metadata, json.dumps(metadata(project), indent=2) + "\n")
    _write_if_changed(files.plugins_dir / "kiln_thumbnails.py", PLUGIN_SHIM)
    return files


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    write_atomic(path, text.encode("utf-8"))


def command(project: Project, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """The argv that serves the store with Datasette (after :func:`prepare`-ing its files)."""
    files = prepare(project)
    return [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        str(files.db),
        "--metadata",
        str(files.metadata),
        "--plugins-dir",
        str(files.plugins_dir),
        "--static",
        f"{THUMB_MOUNT}:{files.thumb_dir}",
        *_setting_options(),
        "--host",
        host,
        "--port",
        str(port),
    ]


def _setting_options() -> list[str]:
    options = []
    for name, value in SETTINGS.items():
        options += ["--setting", name, ("on" if value else "off") if isinstance(value, bool) else str(value)]
    return options


def app(project: Project) -> Datasette:
    """The same Datasette, in process: for tests and for embedding (``await ds.client.get``)."""
    files = prepare(project)
    return Datasette(
        [str(files.db)],
        metadata=metadata(project),
        plugins_dir=str(files.plugins_dir),
        static_mounts=[(THUMB_MOUNT, str(files.thumb_dir))],
        settings=SETTINGS,
    )


def serve(
    project: Project, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, open_browser: bool = False
) -> None:
    """Run Datasette on the store until it is stopped (Ctrl-C, TERM or HUP); it never
    outlives kiln.

    Raises :class:`KilnError` if Datasette fails (it prints why, e.g. the port is taken).
    """
    if not is_loopback(host):
        # Datasette has no login: anyone who can reach the address can read every row.
        print(
            f"warning: serving on {host}, not a loopback address: anyone who can reach it "
            "can read the whole store",
            file=sys.stderr,
        )
    argv = command(project, host, port)
    if open_browser:
        argv.append("--open")
    # Datasette goes with kiln: told to stop when kiln is (TERM, HUP), and by the parent-death
    # signal if kiln is killed outright.
    process = lifeline.popen(argv, death_signal=signal.SIGTERM)
    stopped: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopped.append(signum)
        process.terminate()

    handled = (signal.SIGTERM, signal.SIGHUP) if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.signal(signum, stop) for signum in handled}
    try:
        try:
            returncode = process.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached Datasette too (same process group): let it finish shutting down.
            process.wait()
            return
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(QUIT_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if stopped:
        return
    if returncode != 0:
        raise KilnError(f"datasette exited with status {returncode}")
