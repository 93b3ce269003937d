"""End to end: run, reject, delete, run again, redo; a recipe file removed, archived, deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from projectcli import kiln, rows


FOXES = """
title = "Foxes in weather"
prompt = "{a red|an arctic} fox in {a snowstorm|an autumn forest|a summer meadow}, oil painting"
size = { long_edge = 128, aspect = "3:2" }
seeds = 2
steps = 4
"""

HARBOURS = """
title = "Harbours"
prompt = "a {foggy|sunny} harbour"
size = "96x96"
steps = 2
"""


def art_ids(project: Path) -> set[str]:
    return {p.stem for p in (project / "art").glob("*/*") if p.parent.name in ("original", "thumb", "thumb_small", "web")}


def test_reject_delete_run_plan_and_redo(project_dir: Path, write_recipe):
    write_recipe("foxes", FOXES)
    assert kiln(project_dir, "run")[0] == 0
    made = rows(project_dir, "SELECT id, job_key FROM images ORDER BY id")
    assert len(made) == 12
    (a, a_key), (b, b_key) = made[3], made[7]
    with sqlite3.connect(project_dir / "art" / "kiln.db") as conn:
        conn.execute("UPDATE images SET status = 'rejected' WHERE id IN (?, ?)", [a, b])

    code, output = kiln(project_dir, "rm", "--rejected", "--yes")
    assert code == 0 and output.startswith("Deleted 2 images (")
    assert art_ids(project_dir) == {image_id for image_id, _ in made} - {a, b}

    code, output = kiln(project_dir, "run")
    assert code == 0
    assert "Generated 0, skipped 12 (10 already made, 2 deleted), failed 0 in" in output
    assert rows(project_dir, "SELECT count(*) FROM images") == [(10,)]

    code, output = kiln(project_dir, "plan", "foxes")
    assert sorted(line.split()[1] for line in output.splitlines() if line.startswith("deleted")) == sorted([a_key, b_key])
    assert output.splitlines()[-1] == "foxes: 12 jobs, 10 already made, 2 deleted (not made again), 0 to run"

    code, output = kiln(project_dir, "build")
    assert code == 0
    gallery = (project_dir / "build" / "foxes" / "index.html").read_text()
    assert "to generate" not in gallery  # deleted jobs are not waiting to be made
    assert not (project_dir / "build" / "foxes" / f"{a}.html").exists()

    # the placeholder engine is deterministic: the redo makes the same bytes, so the same id
    code, output = kiln(project_dir, "run", "--redo", a[:7])
    assert code == 0, output
    assert "Generated 1, skipped 11 (10 already made, 1 deleted), failed 0 in" in output
    assert rows(project_dir, "SELECT id, status FROM images WHERE job_key = ?", (a_key,)) == [(a, None)]
    assert rows(project_dir, "SELECT status, image_id FROM jobs WHERE key = ?", (b_key,)) == [("deleted", b)]
    assert art_ids(project_dir) == {image_id for image_id, _ in made} - {b}
    # the user's past decision is history, not the new image's state
    code, output = kiln(project_dir, "run")
    assert "Generated 0, skipped 12 (11 already made, 1 deleted), failed 0 in" in output


def test_a_removed_recipe_is_archived_until_deleted(project_dir: Path, write_recipe):
    write_recipe("foxes", FOXES)
    harbours = write_recipe("harbours", HARBOURS)
    assert kiln(project_dir, "run")[0] == 0
    assert kiln(project_dir, "build")[0] == 0
    build = project_dir / "build"
    harbour_ids = [row[0] for row in rows(project_dir, "SELECT id FROM images WHERE recipe = 'harbours' ORDER BY id")]
    assert (build / "harbours" / "index.html").is_file()

    saved = harbours.read_text()
    harbours.unlink()
    code, output = kiln(project_dir, "build")
    assert code == 0
    assert not (build / "harbours").exists()
    index = (build / "index.html").read_text()
    assert 'href="harbours/index.html"' not in index
    assert 'href="_archived/index.html"' in index
    assert "is-archived" in index
    archived = (build / "_archived" / "index.html").read_text()
    assert "These images come from recipes whose files are gone: <code>harbours</code> (2 images)." in archived
    assert "<code>kiln rm --recipe NAME</code>" in archived
    for image_id in harbour_ids:
        assert f'href="../_archived/{image_id}.html"' in archived
        assert (build / "_archived" / f"{image_id}.html").is_file()

    code, output = kiln(project_dir, "status")
    assert output.splitlines()[-1].split()[:3] == ["harbours", "2", "images"]

    # the file comes back: so does the collection
    harbours.write_text(saved)
    kiln(project_dir, "build")
    assert (build / "harbours" / "index.html").is_file() and not (build / "_archived").exists()
    harbours.unlink()
    kiln(project_dir, "build")

    code, output = kiln(project_dir, "rm", "--recipe", "harbours", "--yes")
    assert code == 0
    assert output.splitlines()[0].startswith("Deleted 2 images (")
    assert output.splitlines()[1] == "Forgot the archived recipe harbours"
    kiln(project_dir, "build")
    assert not (build / "_archived").exists()
    assert 'href="_archived/index.html"' not in (build / "index.html").read_text()
    assert not art_ids(project_dir) & set(harbour_ids)
    assert rows(project_dir, "SELECT name FROM recipes") == [("foxes",)]
    code, output = kiln(project_dir, "status")
    assert "archived" not in output


def test_a_recipe_whose_images_were_all_deleted_says_so(project_dir: Path, write_recipe):
    write_recipe("harbours", HARBOURS)
    assert kiln(project_dir, "run")[0] == 0
    code, output = kiln(project_dir, "rm", "--recipe", "harbours", "--yes")
    assert code == 0 and "Forgot" not in output  # its file is there: the recipe stays
    kiln(project_dir, "build")
    index = (project_dir / "build" / "index.html").read_text()
    assert "2 images deleted · <code>kiln requeue --recipe harbours</code>" in index
    gallery = (project_dir / "build" / "harbours" / "index.html").read_text()
    assert "Every image of this recipe was deleted (2 images)." in gallery
    code, output = kiln(project_dir, "requeue", "--recipe", "harbours")
    assert output == "Requeued 2 jobs (2 deleted, 0 failed); 'kiln run' makes them.\n"
    assert "Generated 2, skipped 0 (already made), failed 0 in" in kiln(project_dir, "run")[1]
