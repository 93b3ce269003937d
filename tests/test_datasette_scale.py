"""Datasette at library scale: its settings, the plans of every query kiln's pages and canned
queries run, the bounded search of the images table, and migration 0011 on an existing store.

Speed itself is measured by bench/datasette_scale.py; these tests check what makes it: which
indexes SQLite reads (EXPLAIN QUERY PLAN), and which rows a search returns.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from datasette.app import Datasette

from kiln import datasette_app, datasette_search
from kiln.project import Project
from kiln.store import Store, open_store
from kiln.store.schema import migrations

# Tables that grow with the library: none of their queries may read every row.
LARGE = {"images", "jobs", "attempts", "derivatives", "history", "recipe_jobs"}
MODELS = ("flux-dev", "sdxl", "sd15")
IMAGES = 600
FOXES = 90  # images whose prompt holds "fox": every IMAGES / FOXES-th, about


def fill(store: Store, images: int = IMAGES) -> None:
    """Rows like a library's, in the order kiln records them (rowid order is creation order)."""
    conn = store.conn
    with store.transaction():
        conn.execute(
            "INSERT INTO recipes (name, path, title, source_sha256, job_count, updated_at)"
            " VALUES ('animals', 'recipes/animals.toml', 'Animals', '0', ?, '2025-01-01')",
            [images],
        )
        conn.execute("INSERT INTO runs (id, started_at, status) VALUES (1, '2025-01-01', 'finished')")
        for n in range(images):
            key, image_id = f"job{n:013d}", f"{n:016x}"
            stamp = f"2025-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
            failed = n % 50 == 7
            conn.execute(
                "INSERT INTO jobs (key, spec, recipe, engine, model, status, run_id, queued_at, finished_at,"
                " duration_ms, image_id, error_code) VALUES (?, '{}', 'animals', 'placeholder', ?, ?, 1,"
                " '2025-01-01T00:00:00.000Z', ?, ?, ?, ?)",
                [key, MODELS[n % 3], "failed" if failed else "succeeded", stamp, 100.0 + n,
                 None if failed else image_id, "TIMEOUT" if failed else None],
            )
            conn.execute(
                "INSERT INTO recipe_jobs (recipe, job_key, position) VALUES ('animals', ?, ?)", [key, n]
            )
            conn.execute(
                "INSERT INTO attempts (job_key, run_id, engine, attempt, started_at, duration_ms, outcome, error_code)"
                " VALUES (?, 1, 'placeholder', 1, ?, 100, ?, ?)",
                [key, stamp, "failed" if failed else "succeeded", "TIMEOUT" if failed else None],
            )
            if failed:
                continue
            subject = "a red fox" if n % max(1, images // FOXES) == 0 else "a grey heron"
            conn.execute(
                "INSERT INTO images (id, path, width, height, bytes, sha256, format, job_key, recipe, prompt,"
                " model, engine, created_at, rating, status) VALUES (?, ?, 64, 64, 1, '0', 'png', ?, 'animals',"
                " ?, ?, 'placeholder', ?, ?, ?)",
                [image_id, f"original/{image_id}.png", key, f"{subject} number {n}", MODELS[n % 3], stamp,
                 n % 6, "selected" if n % 9 == 0 else "rejected" if n % 9 == 1 else None],
            )
            for stage in ("thumb", "web"):
                conn.execute(
                    "INSERT INTO derivatives (image_id, stage, path, width, height, bytes, format, created_at)"
                    " VALUES (?, ?, ?, 64, 64, 1, 'webp', ?)",
                    [image_id, stage, f"{stage}/{image_id}.webp", stamp],
                )
            if n % 4 == 0:
                conn.execute(
                    "INSERT INTO history (batch, at, image_id, job_key, field, old, new, source)"
                    " VALUES (?, ?, ?, ?, 'rating', '0', '3', 'cli')",
                    [n, stamp, image_id, key],
                )


@pytest.fixture
def library(project: Project, store: Store) -> Project:
    fill(store)
    return project


def traced(project: Project) -> Datasette:
    """kiln's Datasette, in process, that also reports the SQL behind each page (``_trace=1``)."""
    files = datasette_app.prepare(project)
    return Datasette(
        [str(files.db)],
        metadata=datasette_app.metadata(project),
        plugins_dir=str(files.plugins_dir),
        settings={**datasette_app.SETTINGS, "trace_debug": True},
    )


def plan(db: Path, sql: str, params: dict[str, Any] | None = None) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params or {})]
    finally:
        conn.close()


def full_scans(lines: list[str], sql: str = "") -> list[str]:
    """Plan lines that read every row of a large table. A scan of an index's entries is fine,
    and so is a scan in rowid order that stops at a LIMIT (nothing sorted, nothing grouped)."""
    stops = re.search(r"\blimit \d+", sql, re.I) and not re.search(r"group by|count\(", sql, re.I) and not any(
        "TEMP B-TREE" in line for line in lines
    )
    return [
        line for line in lines
        if (m := re.fullmatch(r"SCAN (\w+)", line.strip())) and m.group(1) in LARGE and not stops
    ]


def test_settings_are_in_the_command_and_the_app(project: Project) -> None:
    argv = datasette_app.command(project)
    settings = {argv[i + 1]: argv[i + 2] for i, arg in enumerate(argv) if arg == "--setting"}
    assert settings == {"suggest_facets": "off", "facet_time_limit_ms": "200", "sql_time_limit_ms": "1000"}
    ds = datasette_app.app(project)
    assert ds.setting("suggest_facets") is False
    assert ds.setting("facet_time_limit_ms") == 200 and ds.setting("sql_time_limit_ms") == 1000


def test_no_facet_is_suggested(library: Project) -> None:
    async def run() -> None:
        data = (await datasette_app.app(library).client.get("/kiln/images.json")).json()
        assert data["suggested_facets"] == []
        assert set(data["facet_results"]) == {"model", "recipe", "rating", "status"}

    asyncio.run(run())


# Filtered by one facet value, in the default order: read in order from an index.
IN_ORDER = {"/kiln/images.json?model=sdxl", "/kiln/images.json?recipe=animals", "/kiln/images.json?rating=5",
            "/kiln/images.json?status=selected"}


def page_paths(db: Path, meta: dict[str, Any]) -> list[str]:
    """Every table page with its facets, each facet value of images picked, each sortable
    column of each table sorted both ways, a second page, and searches."""
    tables = meta["databases"]["kiln"]["tables"]
    paths = [f"/kiln/{name}.json" for name, entry in tables.items() if not entry.get("hidden")]
    paths += [*sorted(IN_ORDER), "/kiln/jobs.json?status=failed",
              "/kiln/attempts.json?outcome=failed", "/kiln/derivatives.json?stage=thumb",
              "/kiln/images.json?_search=fox", "/kiln/images.json?_search=heron"]
    for name, entry in tables.items():
        for column in entry.get("sortable_columns", ()):
            paths += [f"/kiln/{name}.json?_sort={column}", f"/kiln/{name}.json?_sort_desc={column}"]
    return paths


def test_every_page_reads_indexes(library: Project) -> None:
    """No query behind a table page (its rows, count, facets), filtered, sorted or searched,
    reads every row of a large table; and pages in their default order, or filtered by one
    facet value, read their rows in that order from an index instead of sorting them all."""
    meta = datasette_app.metadata(library)

    async def run() -> None:
        ds = traced(library)
        for path in page_paths(library.db_path, meta):
            response = await ds.client.get(f"{path}{'&' if '?' in path else '?'}_trace=1")
            assert response.status_code == 200, (path, response.text[:300])
            data = response.json()
            assert not data.get("facets_timed_out"), path
            for trace in data["_trace"]["traces"]:
                sql = trace["sql"].strip()
                if trace["database"] != "kiln" or not sql.lower().startswith("select"):
                    continue
                lines = plan(library.db_path, sql, trace["params"])
                assert not full_scans(lines, sql), (path, sql, lines)
            if data["table"] in LARGE and ("?" not in path or path in IN_ORDER):
                main = plan(library.db_path, data["query"]["sql"], data["query"]["params"])
                assert not any("TEMP B-TREE" in line for line in main), (path, main)

    asyncio.run(run())


def test_sortable_columns_lead_an_index(library: Project) -> None:
    conn = sqlite3.connect(library.db_path)
    leading: dict[str, set[str]] = {}
    for table in LARGE:
        leading[table] = {
            conn.execute(f"PRAGMA index_info('{index[1]}')").fetchone()[2]
            for index in conn.execute(f"PRAGMA index_list('{table}')")
        }
    conn.close()
    tables = datasette_app.metadata(library)["databases"]["kiln"]["tables"]
    for table in LARGE:
        entry = tables[table]
        assert "sortable_columns" in entry, f"{table}: a large table limits sorting to indexed columns"
        for column in entry["sortable_columns"]:
            assert column in leading[table] or column == "id", (table, column)
        if "sort_desc" in entry:
            assert entry["sort_desc"] in entry["sortable_columns"] or entry["sort_desc"] == "id"


def test_canned_queries_read_indexes(library: Project) -> None:
    """Each canned query reads an index, never every row of a large table; those that list
    rows (rather than group them) read them in order instead of sorting them all."""
    for name, query in datasette_app.metadata(library)["databases"]["kiln"]["queries"].items():
        lines = plan(library.db_path, query["sql"], {"q": "fox"})
        assert not full_scans(lines, query["sql"]), (name, lines)
        if name in ("selected_images", "search_prompts", "failed_jobs"):
            assert not any("TEMP B-TREE" in line for line in lines), (name, lines)
        if name in ("images_by_recipe_and_model", "engine_stats"):
            assert any("USING COVERING INDEX" in line for line in lines), (name, lines)


def get_json(ds: Datasette, path: str) -> Any:
    async def run() -> Any:
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        return response.json()

    return asyncio.run(run())


def fox_rowids(db: Path) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT rowid FROM images_fts WHERE images_fts MATCH 'fox' ORDER BY rowid")]
    finally:
        conn.close()


def test_a_large_search_shows_its_newest_matches(library: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    foxes = fox_rowids(library.db_path)
    assert len(foxes) > 60
    monkeypatch.setattr(datasette_search, "SEARCH_LIMIT", 20)
    ds = traced(library)
    data = get_json(ds, "/kiln/images.json?_search=fox&_size=100&_shape=objects")
    conn = sqlite3.connect(library.db_path)
    newest = {row[0] for row in conn.execute(
        "SELECT id FROM images WHERE rowid >= ? AND rowid IN (SELECT rowid FROM images_fts WHERE images_fts MATCH 'fox')",
        [foxes[-20]],
    )}
    conn.close()
    rows = data["rows"]
    assert {row["id"] for row in rows} == newest and len(rows) == 20
    assert [row["created_at"] for row in rows] == sorted((row["created_at"] for row in rows), reverse=True)
    assert data["filtered_table_rows_count"] == 20
    assert f"rowid is among the newest 20 of {len(foxes)} matches" in data["human_description_en"]
    # The short list drives the query: SQLite takes the first of two equal rowid IN terms.
    sql = data["query"]["sql"]
    assert sql.index(":kiln_floor") < sql.index("match :search)")
    # As a page too, with the search term in its box.
    page = asyncio.run(ds.client.get("/kiln/images?_search=fox")).text
    assert 'value="fox"' in page and f"newest 20 of {len(foxes)} matches" in page


def test_the_bounded_search_reads_the_short_list(library: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the two ``rowid in`` terms in the order Datasette writes them, SQLite runs far fewer
    steps than with the full match driving: what keeps a common word's search fast."""
    monkeypatch.setattr(datasette_search, "SEARCH_LIMIT", 5)
    store = open_store(library.db_path)
    try:
        fill_more_herons(store, 3000)
    finally:
        store.close()
    data = get_json(traced(library), "/kiln/images.json?_search=heron&_shape=objects")
    sql, params = data["query"]["sql"], data["query"]["params"]
    ours = re.search(r"rowid in \(select rowid from images_fts where images_fts match :kiln_search and rowid >= :kiln_floor\)", sql)
    theirs = re.search(r"rowid in \(select rowid from \[?images_fts\]? where \[?images_fts\]? match :search\)", sql)
    assert ours and theirs and ours.start() < theirs.start()
    swapped = sql.replace(ours.group(0), "@@").replace(theirs.group(0), ours.group(0)).replace("@@", theirs.group(0))

    def steps(query: str) -> int:
        conn = sqlite3.connect(library.db_path)
        count = [0]

        def tick() -> int:
            count[0] += 1
            return 0

        conn.set_progress_handler(tick, 1)
        conn.execute(query, params).fetchall()
        conn.close()
        return count[0]

    assert steps(sql) * 2 < steps(swapped)


def fill_more_herons(store: Store, count: int) -> None:
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO images (id, path, width, height, bytes, sha256, format, prompt, params, timings,"
            " created_at) VALUES (?, ?, 64, 64, 1, '0', 'png', ?, ?, ?, ?)",
            [(f"ee{n:014x}", f"original/ee{n:014x}.png", f"a grey heron at dusk {n}", json.dumps({"n": n}) * 20,
              "{}", f"2025-02-01T00:00:00.{n % 1000:03d}Z") for n in range(count)],
        )


def test_a_small_search_is_left_as_it_is(library: Project) -> None:
    data = get_json(traced(library), "/kiln/images.json?_search=fox&_size=200&_shape=objects")
    assert len(data["rows"]) == len(fox_rowids(library.db_path)) == data["filtered_table_rows_count"]
    assert ":kiln_floor" not in data["query"]["sql"] and "newest" not in data["human_description_en"]
    # Escaped mode searches the words as typed, FTS5 syntax and all, in both clauses.
    data = get_json(traced(library), "/kiln/images.json?_search=fox%20OR&_searchmode=escaped&_shape=objects")
    assert data["rows"] == []


def test_a_malformed_search_is_reported_by_datasette(library: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasette_search, "SEARCH_LIMIT", 5)

    async def run() -> None:
        response = await datasette_app.app(library).client.get('/kiln/images.json?_search="fox')
        assert response.status_code == 400
        assert response.json()["error"] == "unterminated string"

    asyncio.run(run())


def test_search_queries_order_as_documented(library: Project) -> None:
    ds = datasette_app.app(library)
    foxes = fox_rowids(library.db_path)
    rows = get_json(ds, "/kiln/search_prompts.json?q=fox&_shape=array")
    conn = sqlite3.connect(library.db_path)
    rowid = {image_id: n for n, image_id in conn.execute("SELECT rowid, id FROM images")}
    conn.close()
    assert [rowid[row["id"]] for row in rows] == sorted(foxes, reverse=True)  # newest first
    assert all("fox" in row["prompt"] for row in rows)
    ranked = get_json(ds, "/kiln/search_prompts_ranked.json?q=fox%20OR%20number&_shape=array")
    assert [row["rank"] for row in ranked] == sorted(row["rank"] for row in ranked)  # best (lowest) first
    assert ranked[0]["prompt"].startswith("a red fox")  # two of the words beat one
    assert get_json(ds, "/kiln/search_prompts_ranked.json?q=&_shape=array") == []


def test_the_migration_applies_to_an_existing_store(tmp_path: Path) -> None:
    db_path = tmp_path / "kiln.db"
    store = Store(db_path)
    migrations.apply(store.db, stop_before="0011_datasette_indexes")
    fill(store, 60)
    before = store.conn.execute("SELECT count(*) FROM images").fetchone()[0]
    assert any(index.name == "idx_images_model" for index in store.db["images"].indexes)
    store.close()
    store = open_store(db_path)
    try:
        names = {index.name for table in LARGE for index in store.db[table].indexes}
        assert {"idx_images_model_created", "idx_images_selected", "idx_jobs_queued", "idx_attempts_error_code",
                "idx_derivatives_created", "idx_history_field"} <= names
        assert not {"idx_images_model", "idx_images_rating", "idx_images_status", "idx_jobs_status"} & names
        assert store.conn.execute("SELECT count(*) FROM images").fetchone()[0] == before
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not migrations.pending(store.db)
    finally:
        store.close()
