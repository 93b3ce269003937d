"""The store's schema, as versioned migrations.

Each migration runs once per database, in order, recorded in ``_sqlite_migrations``. Never
edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("kiln")


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE recipes (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            source_sha256 TEXT NOT NULL,
            job_count INTEGER NOT NULL DEFAULT 0,
            gallery TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
            recipes TEXT NOT NULL DEFAULT '[]',
            planned INTEGER NOT NULL DEFAULT 0,
            generated INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            pid INTEGER,
            host TEXT,
            kiln_version TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE jobs (
            key TEXT PRIMARY KEY,
            spec TEXT NOT NULL,
            recipe TEXT NOT NULL,
            engine TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            error_code TEXT,
            run_id INTEGER REFERENCES runs(id),
            claimed_by TEXT,
            queued_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            duration_ms REAL,
            image_id TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE recipe_jobs (
            recipe TEXT NOT NULL REFERENCES recipes(name),
            job_key TEXT NOT NULL REFERENCES jobs(key),
            position INTEGER NOT NULL,
            axes TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (recipe, job_key)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE images (
            id TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            format TEXT NOT NULL,
            job_key TEXT REFERENCES jobs(key),
            recipe TEXT,
            prompt TEXT NOT NULL DEFAULT '',
            negative_prompt TEXT NOT NULL DEFAULT '',
            model TEXT,
            engine TEXT,
            seed INTEGER,
            steps INTEGER,
            guidance REAL,
            sampler TEXT,
            params TEXT NOT NULL DEFAULT '{}',
            response_id TEXT,
            timings TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            rating INTEGER NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
            status TEXT CHECK (status IN ('selected', 'rejected')),
            tags TEXT NOT NULL DEFAULT '[]',
            notes TEXT NOT NULL DEFAULT '',
            blurhash TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE derivatives (
            image_id TEXT NOT NULL REFERENCES images(id),
            stage TEXT NOT NULL,
            path TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            format TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (image_id, stage)
        )
        """
    )
    for sql in (
        "CREATE INDEX idx_jobs_status ON jobs(status)",
        "CREATE INDEX idx_jobs_run ON jobs(run_id)",
        "CREATE INDEX idx_recipe_jobs_job ON recipe_jobs(job_key)",
        "CREATE INDEX idx_recipe_jobs_order ON recipe_jobs(recipe, position)",
        "CREATE UNIQUE INDEX idx_images_job ON images(job_key)",
        "CREATE INDEX idx_images_recipe_created ON images(recipe, created_at)",
        "CREATE INDEX idx_images_created ON images(created_at)",
        "CREATE INDEX idx_images_model ON images(model)",
        "CREATE INDEX idx_images_rating ON images(rating)",
        "CREATE INDEX idx_images_status ON images(status)",
        "CREATE INDEX idx_derivatives_stage ON derivatives(stage)",
    ):
        db.execute(sql)
    db["images"].enable_fts(["prompt", "notes"], fts_version="FTS5", create_triggers=True)


@migrations(name="0002_prompt_library")
def prompt_library(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE prompts (
            name TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            words INTEGER NOT NULL,
            has_wildcards INTEGER NOT NULL DEFAULT 0 CHECK (has_wildcards IN (0, 1)),
            sha256 TEXT NOT NULL,
            use_count INTEGER NOT NULL DEFAULT 0,
            last_used_at TEXT,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_prompts_use_count ON prompts(use_count DESC)")


@migrations(name="0003_runner_attempts")
def runner_attempts(db: Database) -> None:
    """Every engine call recorded; runs may end paused; references kept with their images."""
    db.execute(
        """
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            job_key TEXT NOT NULL REFERENCES jobs(key),
            run_id INTEGER REFERENCES runs(id),
            engine TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            duration_ms REAL NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'retried')),
            error_code TEXT,
            error TEXT,
            response_id TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_attempts_job ON attempts(job_key)")
    db.execute("CREATE INDEX idx_attempts_run ON attempts(run_id)")
    # SQLite cannot alter a CHECK constraint, so the runs table is rebuilt to allow 'paused'.
    db.execute(
        """
        CREATE TABLE runs_new (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'finished', 'interrupted', 'paused', 'failed')),
            recipes TEXT NOT NULL DEFAULT '[]',
            planned INTEGER NOT NULL DEFAULT 0,
            generated INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            pid INTEGER,
            host TEXT,
            kiln_version TEXT,
            stop_reason TEXT
        )
        """
    )
    db.execute(
        "INSERT INTO runs_new (id, started_at, finished_at, status, recipes, planned, generated, skipped,"
        " failed, pid, host, kiln_version) SELECT id, started_at, finished_at, status, recipes, planned,"
        " generated, skipped, failed, pid, host, kiln_version FROM runs"
    )
    db.execute("DROP TABLE runs")
    db.execute("ALTER TABLE runs_new RENAME TO runs")
    db.execute(
        """
        CREATE TABLE image_references (
            image_id TEXT NOT NULL REFERENCES images(id),
            position INTEGER NOT NULL,
            source_path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            thumb_path TEXT NOT NULL,
            PRIMARY KEY (image_id, position)
        )
        """
    )



@migrations(name="0004_curation")
def curation(db: Database) -> None:
    """Curation history, and jobs whose image the user deleted (never made again unasked)."""
    db.execute(
        """
        CREATE TABLE history (
            id INTEGER PRIMARY KEY,
            batch INTEGER NOT NULL,
            at TEXT NOT NULL,
            image_id TEXT NOT NULL,
            job_key TEXT,
            field TEXT NOT NULL CHECK (field IN ('rating', 'status', 'tags', 'notes')),
            old TEXT,
            new TEXT,
            source TEXT NOT NULL,
            undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1))
        )
        """
    )
    db.execute("CREATE INDEX idx_history_batch ON history(batch)")
    db.execute("CREATE INDEX idx_history_image ON history(image_id)")
    # SQLite cannot alter a CHECK constraint, so the jobs table is rebuilt to allow 'deleted'.
    columns = (
        "key, spec, recipe, engine, model, status, attempts, error, error_code, run_id, claimed_by,"
        " queued_at, started_at, finished_at, duration_ms, image_id"
    )
    db.execute(
        """
        CREATE TABLE jobs_new (
            key TEXT PRIMARY KEY,
            spec TEXT NOT NULL,
            recipe TEXT NOT NULL,
            engine TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'deleted')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            error_code TEXT,
            run_id INTEGER REFERENCES runs(id),
            claimed_by TEXT,
            queued_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            duration_ms REAL,
            image_id TEXT
        )
        """
    )
    db.execute(f"INSERT INTO jobs_new ({columns}) SELECT {columns} FROM jobs")
    db.execute("DROP TABLE jobs")
    db.execute("ALTER TABLE jobs_new RENAME TO jobs")
    db.execute("CREATE INDEX idx_jobs_status ON jobs(status)")
    db.execute("CREATE INDEX idx_jobs_run ON jobs(run_id)")


@migrations(name="0005_curation_fts_trigger")
def curation_fts_trigger(db: Database) -> None:
    """Re-index an image's text only when its prompt or notes change, not on every rating or pick
    (rating 10,000 images takes half the time, and the index does not grow with each key press)."""
    db.execute("DROP TRIGGER images_au")
    db.execute(
        """
        CREATE TRIGGER images_au AFTER UPDATE OF prompt, notes ON images BEGIN
          INSERT INTO images_fts (images_fts, rowid, prompt, notes) VALUES ('delete', old.rowid, old.prompt, old.notes);
          INSERT INTO images_fts (rowid, prompt, notes) VALUES (new.rowid, new.prompt, new.notes);
        END
        """
    )
@migrations(name="0007_doctor")
def doctor(db: Database) -> None:
    """What ``kiln doctor`` needs: the image a requeued job is expected to make again, and the
    modification time at which each original was last known to match its id."""
    db.execute("ALTER TABLE jobs ADD COLUMN expected_image_id TEXT")
    db.execute("ALTER TABLE images ADD COLUMN file_mtime_ns INTEGER")


@migrations(name="0008_fts_stemming")
def fts_stemming(db: Database) -> None:
    """Search finds a word's other forms (``kites`` finds "a kite"): the full-text index of
    prompts and notes is made again with the Porter stemmer over unicode61, and refilled. The
    triggers are made again as they were, the update one firing only on prompt and notes."""
    for trigger in ("images_ai", "images_ad", "images_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("DROP TABLE images_fts")
    db.execute(
        """
        CREATE VIRTUAL TABLE images_fts USING FTS5 (
            prompt, notes, content="images", tokenize="porter unicode61"
        )
        """
    )
    db.execute(
        """
        CREATE TRIGGER images_ai AFTER INSERT ON images BEGIN
          INSERT INTO images_fts (rowid, prompt, notes) VALUES (new.rowid, new.prompt, new.notes);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER images_ad AFTER DELETE ON images BEGIN
          INSERT INTO images_fts (images_fts, rowid, prompt, notes) VALUES ('delete', old.rowid, old.prompt, old.notes);
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER images_au AFTER UPDATE OF prompt, notes ON images BEGIN
          INSERT INTO images_fts (images_fts, rowid, prompt, notes) VALUES ('delete', old.rowid, old.prompt, old.notes);
          INSERT INTO images_fts (rowid, prompt, notes) VALUES (new.rowid, new.prompt, new.notes);
        END
        """
    )
    db.execute("INSERT INTO images_fts (images_fts) VALUES ('rebuild')")


@migrations(name="0009_leases")
def leases(db: Database) -> None:
    """A live run renews its lease on its claims, so a store shared between machines never
    hands a job that is still running to a second runner."""
    db.execute("ALTER TABLE runs ADD COLUMN heartbeat_at TEXT")


# Tables whose rows the gallery shows, and the column naming the image a row is about (None:
# the row is about no single image, or about several).
_SHOWN = {
    "images": "id",
    "derivatives": "image_id",
    "image_references": "image_id",
    "jobs": "image_id",
    "recipe_jobs": None,
    "recipes": None,
}


@migrations(name="0010_change_sequence")
def change_sequence(db: Database) -> None:
    """What lets ``kiln build`` do only what changed: one sequence number moved by every change
    to a table the gallery shows (so a build with nothing new is one comparison), and on each
    image the sequence number of the last change to what its pages show (``revision``), so a
    build finds the pages to render again from ids and revisions, without reading whole rows."""
    db.execute("CREATE TABLE change_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL)")
    db.execute("INSERT INTO change_sequence (id, seq) VALUES (1, 0)")
    db.execute("ALTER TABLE images ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX idx_images_revision ON images(revision)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_jobs_image ON jobs(image_id)")
    bump = "UPDATE change_sequence SET seq = seq + 1 WHERE id = 1;"
    for table, column in _SHOWN.items():
        for event, row in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old")):
            body = bump
            when = ""
            if table == "images" and event == "UPDATE":
                # The trigger's own write of ``revision`` must not count as a change.
                when = " WHEN new.revision IS old.revision"
                body += " UPDATE images SET revision = (SELECT seq FROM change_sequence) WHERE id = new.id;"
            elif table == "images" and event == "INSERT":
                body += " UPDATE images SET revision = (SELECT seq FROM change_sequence) WHERE id = new.id;"
            elif column is not None and table != "images":
                body += f" UPDATE images SET revision = (SELECT seq FROM change_sequence) WHERE id = {row}.{column};"
                if table == "jobs" and event == "UPDATE":
                    body += " UPDATE images SET revision = (SELECT seq FROM change_sequence) WHERE id = old.image_id;"
            # A claim or a retry moves a job often; only what the gallery counts or shows matters.
            what = "UPDATE OF status, model, image_id" if (table, event) == ("jobs", "UPDATE") else event
            db.execute(f"CREATE TRIGGER {table}_changes_{event.lower()} AFTER {what} ON {table}{when} BEGIN {body} END")


@migrations(name="0011_datasette_indexes")
def datasette_indexes(db: Database) -> None:
    """Indexes that keep every Datasette page and canned query within a second at a million
    images. Each column a large table is faceted by leads an index, so a facet counts along it
    instead of reading every row; on images the facet columns' indexes go on with the creation
    time, so a table page filtered by a facet value reads its newest rows in order instead of
    sorting them all (they replace the single-column ones); each default sort has an index,
    with the primary key where many rows share a value (jobs queued together); and the canned
    queries that group images by recipe and model, and jobs by engine and model, read one
    index each. The jobs' status index gains the finish time, which failed jobs sort by."""
    for sql in (
        "DROP INDEX idx_images_model",
        "DROP INDEX idx_images_rating",
        "DROP INDEX idx_images_status",
        "CREATE INDEX idx_images_model_created ON images(model, created_at)",
        "CREATE INDEX idx_images_rating_created ON images(rating, created_at)",
        "CREATE INDEX idx_images_status_created ON images(status, created_at)",
        "CREATE INDEX idx_images_recipe_model ON images(recipe, model, rating, status)",
        # Selected images, best rated first: a few percent of all, so a partial index.
        "CREATE INDEX idx_images_selected ON images(rating, created_at) WHERE status = 'selected'",
        "DROP INDEX idx_jobs_status",
        "CREATE INDEX idx_jobs_status_finished ON jobs(status, finished_at)",
        "CREATE INDEX idx_jobs_queued ON jobs(queued_at, key)",
        "CREATE INDEX idx_jobs_recipe ON jobs(recipe)",
        "CREATE INDEX idx_jobs_engine_model ON jobs(engine, model, status, duration_ms)",
        "CREATE INDEX idx_attempts_outcome ON attempts(outcome)",
        "CREATE INDEX idx_attempts_engine ON attempts(engine)",
        # Most attempts succeed without an error code: only the others are indexed.
        "CREATE INDEX idx_attempts_error_code ON attempts(error_code) WHERE error_code IS NOT NULL",
        "CREATE INDEX idx_history_field ON history(field)",
        "CREATE INDEX idx_history_source ON history(source)",
        "CREATE INDEX idx_derivatives_created ON derivatives(created_at)",
        "CREATE INDEX idx_derivatives_format ON derivatives(format)",
    ):
        db.execute(sql)


@migrations(name="0012_imports")
def imports(db: Database) -> None:
    """Imported images: a collection is a ``recipes`` row of kind ``import`` (never archived, as
    no file describes it); each image keeps the metadata it came with, whole; and each source
    file imported is remembered by path, size and mtime, so importing it again reads nothing."""
    db.execute("ALTER TABLE recipes ADD COLUMN kind TEXT NOT NULL DEFAULT 'recipe' CHECK (kind IN ('recipe', 'import'))")
    db.execute("ALTER TABLE images ADD COLUMN source_metadata TEXT")
    db.execute(
        """
        CREATE TABLE import_sources (
            path TEXT PRIMARY KEY,
            bytes INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            image_id TEXT NOT NULL,
            collection TEXT NOT NULL,
            imported_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_import_sources_image ON import_sources(image_id)")


@migrations(name="0014_build_changes")
def build_changes(db: Database) -> None:
    """What a build after a few changes reads instead of whole tables.

    Indexes that let the stats page count without reading the tables: images by recipe, model
    and day with the columns it sums; derivatives by stage with their sizes; jobs by engine,
    model and state with their engine calls. The last two replace indexes that lacked the
    summed column (what used those still can). Each count is then one pass over an index in
    its order, with no sort and no row read. And a revision per recipe (below)."""
    db.execute("CREATE INDEX idx_images_stats ON images(recipe, model, substr(created_at, 1, 10), status, bytes)")
    db.execute("DROP INDEX idx_derivatives_stage")
    db.execute("CREATE INDEX idx_derivatives_stage_bytes ON derivatives(stage, bytes)")
    db.execute("DROP INDEX idx_jobs_engine_model")
    db.execute("CREATE INDEX idx_jobs_engine_model ON jobs(engine, model, status, duration_ms, attempts)")
    # What lets a build read the summaries of just the recipes that changed: each recipe's
    # ``revision`` moves past the change sequence when its jobs, their places or its images'
    # existence change (an image's other changes move the image's own revision, which the
    # build follows to its recipes). ``+ 1``: whichever of this and the sequence's own trigger
    # fires first, the stamp is above every sequence a build recorded before the change.
    db.execute("ALTER TABLE recipes ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
    stamp = "UPDATE recipes SET revision = (SELECT seq FROM change_sequence) + 1 WHERE name IN ({names}); "
    of_job = "SELECT recipe FROM recipe_jobs WHERE job_key = {row}.key"
    for name, event, names in (
        ("recipe_jobs_recipe_insert", "AFTER INSERT ON recipe_jobs", "new.recipe"),
        ("recipe_jobs_recipe_delete", "AFTER DELETE ON recipe_jobs", "old.recipe"),
        ("recipe_jobs_recipe_update", "AFTER UPDATE ON recipe_jobs", "new.recipe, old.recipe"),
        ("jobs_recipe_insert", "AFTER INSERT ON jobs", of_job.format(row="new")),
        ("jobs_recipe_update", "AFTER UPDATE OF status, model, image_id ON jobs", of_job.format(row="new")),
        ("jobs_recipe_delete", "AFTER DELETE ON jobs", of_job.format(row="old")),
        ("images_recipe_delete", "AFTER DELETE ON images",
         "SELECT rj.recipe FROM jobs j JOIN recipe_jobs rj ON rj.job_key = j.key WHERE j.image_id = old.id"),
    ):
        db.execute(f"CREATE TRIGGER {name} {event} BEGIN {stamp.format(names=names)}END")
