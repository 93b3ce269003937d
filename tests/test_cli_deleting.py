"""kiln rm, requeue, status, jobs --deleted and run --redo: exact output, the question, --dry-run, --yes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln import cli as cli_module
from kiln.cli import cli
from kiln.library.deletion import human_size
from projectcli import rows

RECIPE = 'prompt = "a {red|blue|green} kite"\nsize = "64x64"\nsteps = 1\nseeds = [1]\n'


def invoke(project: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, [*args, "-C", str(project)], input=input)


def size_of(project: Path, *ids: str) -> int:
    return sum(p.stat().st_size for image_id in ids for p in (project / "art").rglob(f"{image_id}.*"))


def snapshot(project: Path) -> tuple:
    files = sorted(str(p.relative_to(project)) for p in (project / "art").rglob("*") if p.is_file() and "kiln.db" not in p.name)
    return files, rows(project, "SELECT id, status FROM images ORDER BY id"), rows(project, "SELECT key, status FROM jobs ORDER BY key")


@pytest.fixture
def kites(project_dir, write_recipe) -> list[str]:
    """Three images of ``kites``; the first two rejected. Returns their ids, rejected first."""
    write_recipe("kites", RECIPE)
    assert invoke(project_dir, "run").exit_code == 0
    ids = [row[0] for row in rows(project_dir, "SELECT id FROM images ORDER BY id")]
    with sqlite3.connect(project_dir / "art" / "kiln.db") as conn:
        conn.execute("UPDATE images SET status = 'rejected' WHERE id IN (?, ?)", ids[:2])
    return ids


@pytest.fixture
def interactive(monkeypatch):
    monkeypatch.setattr(cli_module, "_stdin_is_interactive", lambda: True)


def test_dry_run_lists_and_changes_nothing(project_dir, kites):
    before = snapshot(project_dir)
    result = invoke(project_dir, "rm", "--rejected", "--dry-run")
    assert result.exit_code == 0
    a, b = kites[:2]
    total = human_size(size_of(project_dir, a, b))
    assert result.output == (
        f"  {a}  {human_size(size_of(project_dir, a)):>10}  kites\n"
        f"  {b}  {human_size(size_of(project_dir, b)):>10}  kites\n"
        f"Would delete 2 images ({total}); nothing was deleted (--dry-run).\n"
    )
    assert snapshot(project_dir) == before


def test_the_question_answered_no_deletes_nothing(project_dir, kites, interactive):
    before = snapshot(project_dir)
    result = invoke(project_dir, "rm", "--rejected", input="n\n")
    total = human_size(size_of(project_dir, *kites[:2]))
    assert result.exit_code == 0
    assert result.output == f"Delete 2 images ({total})? [y/N] n\nNothing deleted.\n"
    assert snapshot(project_dir) == before


def test_the_question_answered_yes_deletes(project_dir, kites, interactive):
    total = human_size(size_of(project_dir, *kites[:2]))
    result = invoke(project_dir, "rm", "--rejected", input="y\n")
    assert result.exit_code == 0
    assert result.output == f"Delete 2 images ({total})? [y/N] y\nDeleted 2 images ({total})\n"
    assert rows(project_dir, "SELECT id FROM images") == [(kites[2],)]


def test_without_a_terminal_it_refuses_unless_told_yes(project_dir, kites):
    before = snapshot(project_dir)
    total = human_size(size_of(project_dir, kites[2]))
    result = invoke(project_dir, "rm", kites[2][:5])
    assert result.exit_code == 1
    assert result.output == (
        f"error: not asking to delete 1 image ({total}): the input is not a terminal;"
        " pass --yes to delete or --dry-run to list them\n"
    )
    assert snapshot(project_dir) == before
    result = invoke(project_dir, "rm", kites[2][:5], "--yes")
    assert result.output == f"Deleted 1 image ({total})\n"


def test_a_shared_image_is_named_before_the_question(project_dir, kites, write_recipe):
    write_recipe("red", RECIPE.replace("{red|blue|green}", "red"))
    assert invoke(project_dir, "run", "red").exit_code == 0
    ((shared,),) = rows(project_dir, "SELECT image_id FROM jobs JOIN recipe_jobs ON job_key = key WHERE recipe_jobs.recipe = 'red'")
    size = human_size(size_of(project_dir, shared))
    result = invoke(project_dir, "rm", "--recipe", "red", "--yes")
    assert result.output == f"note: {shared} is in 2 recipes (kites, red); it goes from each\nDeleted 1 image ({size})\n"


def test_bad_selections(project_dir, kites):
    assert invoke(project_dir, "rm").output == "error: name the images to delete: IDS, --rejected or --recipe NAME\n"
    assert invoke(project_dir, "rm", "abc", "--rejected").output == (
        "error: give image ids or a selection (--rejected, --recipe), not both\n"
    )
    assert invoke(project_dir, "rm", "--recipe", "nope").output == (
        "error: no recipe named 'nope' in the store; the store knows kites\n"
    )
    assert invoke(project_dir, "rm", "zz").output == "error: 'zz' is not an image id (ids are hex digits, such as 3f9a2c1d)\n"
    invoke(project_dir, "rm", "--rejected", "--yes")
    assert invoke(project_dir, "rm", "--rejected", "--yes").output == "Nothing to delete.\n"


def test_jobs_deleted_and_plan_show_what_was_deleted(project_dir, kites):
    keys = {image_id: key for key, image_id in rows(project_dir, "SELECT key, image_id FROM jobs")}
    invoke(project_dir, "rm", kites[0], "--yes")
    result = invoke(project_dir, "jobs", "--deleted")
    assert result.output == f"{keys[kites[0]]}  deleted    kites             attempts 1  was image {kites[0]}\n1 job\n"
    result = invoke(project_dir, "plan", "kites")
    assert f"deleted  {keys[kites[0]]}" in result.output
    assert result.output.splitlines()[-1] == "kites: 3 jobs, 2 already made, 1 deleted (not made again), 0 to run"


def test_requeue_and_redo(project_dir, kites):
    keys = {image_id: key for key, image_id in rows(project_dir, "SELECT key, image_id FROM jobs")}
    invoke(project_dir, "rm", "--rejected", "--yes")
    result = invoke(project_dir, "requeue", kites[0][:6], kites[2])
    assert result.output == (
        f"note: job {keys[kites[2]]} is succeeded, not deleted or failed; left as it is\n"
        "Requeued 1 job (1 deleted, 0 failed); 'kiln run' makes them.\n"
    )
    assert invoke(project_dir, "requeue").output == "error: name the jobs to requeue: KEYS or --recipe NAME\n"
    result = invoke(project_dir, "run", "--redo", kites[1][:6])
    assert result.exit_code == 0
    assert "Generated 1, skipped 1 (already made), failed 0 in" in result.output  # not the requeued one
    assert rows(project_dir, "SELECT status FROM jobs WHERE key = ?", (keys[kites[0]],)) == [("queued",)]
    assert invoke(project_dir, "run", "--redo", "x", "kites").output == (
        "error: give recipe names or --redo, not both: a redo makes only the jobs it names\n"
    )
    result = invoke(project_dir, "requeue", "--recipe", "kites")
    assert result.output == "Requeued 0 jobs (0 deleted, 0 failed); 'kiln run' makes them.\n"


def test_status_summarises_the_store_and_lists_archived_recipes(project_dir, kites, write_recipe):
    with sqlite3.connect(project_dir / "art" / "kiln.db") as conn:
        conn.execute("UPDATE images SET status = 'selected', rating = 4 WHERE id = ?", [kites[2]])
    write_recipe("broken", 'prompt = "_fail_ now"\nsize = "64x64"\nsteps = 1\n')
    invoke(project_dir, "run")
    invoke(project_dir, "rm", kites[0], "--yes")
    files = 4 * 2
    art = size_of(project_dir, *kites[1:])
    result = invoke(project_dir, "status")
    assert result.exit_code == 0
    assert result.output == (
        "images    2: 1 picked, 1 rejected, 1 rated, 1 unrated\n"
        "jobs      4: 2 succeeded, 1 failed, 1 deleted\n"
        f"art/      {human_size(art)} in {files} files besides the database\n"
    )
    (project_dir / "recipes" / "kites.toml").unlink()
    recorded = rows(project_dir, "SELECT (SELECT sum(bytes) FROM images) + (SELECT sum(bytes) FROM derivatives)")[0][0]
    result = invoke(project_dir, "status")
    assert result.output.splitlines()[3:] == [
        "archived  1 recipe whose file is gone ('kiln rm --recipe NAME' deletes its images):",
        f"  kites    2 images  {human_size(recorded):>10}  recipes/kites.toml",
    ]


def test_status_of_an_empty_store(project_dir):
    assert invoke(project_dir, "status").output == (
        "images    0: 0 picked, 0 rejected, 0 rated, 0 unrated\n"
        "jobs      0\n"
        "art/      0 bytes in 0 files besides the database\n"
    )
