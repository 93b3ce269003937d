"""`kiln run` on a store it cannot write (read-only, full): one line, exit 1, no job held.

Running as root, as CI does, a chmod does not stop writes, so SQLite itself is made to fail:
the connection opened read-only (``mode=ro``, SQLite's own "attempt to write a readonly
database"), or the file capped with ``max_page_count`` once the run has started (SQLITE_FULL,
"database or disk is full", as on a full disk).
"""

from __future__ import annotations

import errno
import sqlite3

from click.testing import CliRunner

import kiln.store.db as store_db
from kiln.cli import cli

RECIPE = 'prompt = "a {red|blue|green|grey|black} cat"\nsize = "64x64"\nseeds = [1, 2, 3, 4]\n'
ADVICE = "Images finished before are kept, and unfinished jobs stay queued for the next 'kiln run'."


def invoke(project, *args):
    return CliRunner().invoke(cli, [*args, "-C", str(project)])


def states(project) -> dict[str, int]:
    with sqlite3.connect(project / "art" / "kiln.db") as conn:
        return dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())


def runs(project) -> list[tuple[str, int]]:
    with sqlite3.connect(project / "art" / "kiln.db") as conn:
        return conn.execute("SELECT status, generated FROM runs ORDER BY id").fetchall()


def test_a_read_only_store(project_dir, write_recipe, monkeypatch):
    write_recipe("cats", 'prompt = "a cat"\nsize = "64x64"\n')
    assert invoke(project_dir, "run").exit_code == 0
    write_recipe("cats", RECIPE)
    connect = sqlite3.connect

    def read_only(path, *args, **kwargs):
        return connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(store_db.sqlite3, "connect", read_only)
    result = invoke(project_dir, "run")
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.output == f"error: cannot write art/kiln.db: it is read-only. {ADVICE}\n"
    assert states(project_dir) == {"succeeded": 1}
    assert runs(project_dir) == [("finished", 1)]


def test_a_full_store_mid_run(project_dir, write_recipe, monkeypatch):
    write_recipe("cats", RECIPE)
    start_run = store_db.Store.start_run

    def start_then_fill(self, recipes):
        run_id = start_run(self, recipes)
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {pages}")
        return run_id

    monkeypatch.setattr(store_db.Store, "start_run", start_then_fill)
    result = invoke(project_dir, "run")
    assert result.exit_code == 1
    assert result.output.endswith(
        f"error: cannot write art/kiln.db: it has no space left (database or disk is full). {ADVICE}\n"
    )
    assert "Traceback" not in result.output
    found = states(project_dir)
    assert "running" not in found
    assert found.get("succeeded", 0) < 20 and found["queued"] == 20 - found.get("succeeded", 0)
    ((status, generated),) = runs(project_dir)
    assert status == "failed" and generated == found.get("succeeded", 0)
    # With room again, the next run makes the rest.
    monkeypatch.undo()
    assert invoke(project_dir, "run").exit_code == 0
    assert states(project_dir) == {"succeeded": 20}


def test_a_full_disk_while_writing_images_stops_the_run(project_dir, write_recipe, monkeypatch):
    write_recipe("cats", RECIPE)
    import kiln.runner as runner

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(project_dir / "art" / "original" / ".tmp-x"))

    monkeypatch.setattr(runner.Runner, "_save", no_space)
    result = invoke(project_dir, "run")
    assert result.exit_code == 1
    assert result.output.endswith(
        "error: cannot write art/original/.tmp-x: it has no space left (no space left on device). "
        f"{ADVICE}\n"
    )
    assert states(project_dir) == {"queued": 20}
    assert runs(project_dir) == [("failed", 0)]


def test_curating_on_a_read_only_store_is_one_line(project_dir, write_recipe, monkeypatch):
    write_recipe("cats", 'prompt = "a cat"\nsize = "64x64"\n')
    assert invoke(project_dir, "run").exit_code == 0
    with sqlite3.connect(project_dir / "art" / "kiln.db") as conn:
        (image_id,) = conn.execute("SELECT id FROM images").fetchone()
    connect = sqlite3.connect

    def read_only(path, *args, **kwargs):
        return connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(store_db.sqlite3, "connect", read_only)
    result = invoke(project_dir, "rate", image_id, "4")
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.output == "error: cannot write the store: it is read-only; nothing was changed\n"
    with sqlite3.connect(project_dir / "art" / "kiln.db") as conn:
        assert conn.execute("SELECT rating FROM images").fetchone() == (0,)
