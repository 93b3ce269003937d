"""Deleting images: plans, what goes and what stays, crashes, and archived recipes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.cli import cli
from kiln.errors import KilnError
from kiln.library import deletion
from kiln.library.archive import archived_recipes
from kiln.library.deletion import delete, human_size, leftovers, plan_ids, plan_recipe, plan_rejected
from kiln.project import load_project
from kiln.store import open_store
from projectcli import rows

SMALL = 'prompt = "a {red|blue|green} kite"\nsize = "64x64"\nsteps = 1\nseeds = [1]\n'


def kiln(project: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "-C", str(project)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def ids(project: Path) -> list[str]:
    return [row[0] for row in rows(project, "SELECT id FROM images ORDER BY id")]


def files_of(project: Path, image_id: str) -> list[Path]:
    return sorted(p for p in (project / "art").rglob(f"{image_id}.*") if p.is_file())


@pytest.fixture
def made(project_dir, write_recipe):
    """Three images of the recipe ``kites``, made by the placeholder engine."""
    write_recipe("kites", SMALL)
    kiln(project_dir, "run")
    project = load_project(project_dir)
    store = open_store(project.db_path)
    yield project, store
    store.close()


def test_a_plan_counts_the_images_and_the_bytes_of_all_their_files(made):
    project, store = made
    first = ids(project.root)[0]
    plan = plan_ids(project, store, [first[:6]])
    (image,) = plan.images
    art = project.art_dir
    assert image.files == (art / "original" / f"{first}.png", art / "thumb" / f"{first}.webp",
                           art / "thumb_small" / f"{first}.webp", art / "web" / f"{first}.webp")
    assert image.bytes == sum(path.stat().st_size for path in image.files)
    assert image.recipes == ("kites",)
    assert plan.describe() == f"1 image ({human_size(image.bytes)})"
    assert plan.notes() == []
    assert files_of(project.root, first)  # planning changes nothing


def test_deleting_removes_files_and_rows_marks_jobs_and_keeps_the_history(made):
    project, store = made
    gone, *kept = ids(project.root)
    key = rows(project.root, "SELECT job_key FROM images WHERE id = ?", (gone,))[0][0]
    store.conn.execute(
        "INSERT INTO history (batch, at, image_id, job_key, field, old, new, source) VALUES (1, 'now', ?, ?, 'status', 'null', '\"rejected\"', 'cli')",
        [gone, key],
    )
    plan = plan_ids(project, store, [gone])
    result = delete(project, store, plan)
    assert (result.images, result.bytes, result.problems) == (1, plan.bytes, [])
    assert result.describe() == plan.describe()
    assert files_of(project.root, gone) == []
    assert ids(project.root) == kept
    for table, column in (("derivatives", "image_id"), ("image_references", "image_id"), ("images", "id")):
        assert rows(project.root, f"SELECT count(*) FROM {table} WHERE {column} = ?", (gone,)) == [(0,)]
    # the job is kept, marked, with the id its image had
    assert rows(project.root, "SELECT status, image_id FROM jobs WHERE key = ?", (key,)) == [("deleted", gone)]
    assert rows(project.root, "SELECT count(*) FROM history WHERE image_id = ?", (gone,)) == [(1,)]
    # the full-text index follows the table
    assert rows(project.root, "SELECT count(*) FROM images_fts") == [(2,)]
    for image_id in kept:
        assert len(files_of(project.root, image_id)) == 4


def test_a_reference_thumbnail_stays_with_the_images_made_from_it(made, write_recipe):
    project, store = made
    source = ids(project.root)[0]
    (project.root / "references").mkdir()
    shutil.copy(project.art_dir / "original" / f"{source}.png", project.root / "references" / "kite.png")
    write_recipe("traced", 'prompt = "a traced kite"\nsize = "64x64"\nsteps = 1\nreferences = ["kite.png"]\n')
    kiln(project.root, "run", "traced")
    # the reference's thumbnail is named by its content, which is the source image's id
    thumb = project.art_dir / "ref_thumb" / f"{source}.webp"
    assert thumb.is_file()
    delete(project, store, plan_ids(project, store, [source]))
    assert thumb.is_file()
    assert rows(project.root, "SELECT thumb_path FROM image_references") == [(f"ref_thumb/{source}.webp",)]


def test_ids_are_unique_prefixes(made):
    project, store = made
    store.conn.execute("UPDATE images SET id = 'abcd' || substr(id, 5)")
    with pytest.raises(KilnError) as error:
        plan_ids(project, store, ["abcd", "ffff0000"])
    every = ids(project.root)
    listed = ", ".join(every[:3]) + (", …" if len(every) > 3 else "")
    assert str(error.value) == (
        f"'abcd' matches {len(every)} images ({listed}): give more digits; no image matches 'ffff0000'"
    )
    first = ids(project.root)[0]
    assert [image.id for image in plan_ids(project, store, [first.upper(), first]).images] == [first]


def test_a_reject_undone_before_the_deletion_is_kept(made):
    project, store = made
    store.conn.execute("UPDATE images SET status = 'rejected'")
    plan = plan_rejected(project, store)
    assert len(plan.images) == 3
    undone = ids(project.root)[1]
    store.conn.execute("UPDATE images SET status = NULL WHERE id = ?", [undone])
    assert delete(project, store, plan).images == 2
    assert ids(project.root) == [undone]


def test_rejects_of_one_recipe(made, write_recipe):
    project, store = made
    write_recipe("other", 'prompt = "a plain kite"\nsize = "64x64"\nsteps = 1\n')
    kiln(project.root, "run", "other")
    store.conn.execute("UPDATE images SET status = 'rejected'")
    assert [image.recipes for image in plan_rejected(project, store, "other").images] == [("other",)]
    assert len(plan_rejected(project, store).images) == 4
    with pytest.raises(KilnError, match="no recipe named 'nope' in the store; the store knows kites, other"):
        plan_rejected(project, store, "nope")


def test_an_image_two_recipes_share_is_named(made, write_recipe):
    project, store = made
    write_recipe("copy", SMALL.replace("{red|blue|green}", "red"))  # the same spec: the same job
    kiln(project.root, "run", "copy")
    plan = plan_recipe(project, store, "copy")
    (image,) = plan.images
    assert image.recipes == ("copy", "kites")
    assert plan.notes() == [f"note: {image.id} is in 2 recipes (copy, kites); it goes from each"]
    assert plan.forget == ()


def test_a_crash_after_the_commit_leaves_files_the_next_deletion_removes(made, monkeypatch):
    project, store = made
    first, second, third = ids(project.root)

    def crash(path, project, problems):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(deletion, "_remove", crash)
        with pytest.raises(KeyboardInterrupt):
            delete(project, store, plan_ids(project, store, [first]))
    # no row points at a missing file: the rows are gone, the files still there
    assert rows(project.root, "SELECT count(*) FROM images WHERE id = ?", (first,)) == [(0,)]
    assert leftovers(project, store) == files_of(project.root, first)
    result = delete(project, store, plan_ids(project, store, [second]))
    assert (result.images, result.leftovers) == (1, 4)
    assert files_of(project.root, first) == files_of(project.root, second) == []
    assert leftovers(project, store) == []
    assert len(files_of(project.root, third)) == 4


def test_a_file_that_cannot_be_removed_is_reported_and_the_rest_goes(made, monkeypatch):
    project, store = made
    first = ids(project.root)[0]
    original = project.art_dir / "original" / f"{first}.png"
    real_unlink = Path.unlink

    def refuse(path, missing_ok=False):
        if path == original:
            raise PermissionError(13, "Permission denied")
        real_unlink(path, missing_ok)

    monkeypatch.setattr(Path, "unlink", refuse)
    result = delete(project, store, plan_ids(project, store, [first]))
    assert result.problems == [f"art/original/{first}.png: could not remove it: Permission denied"]
    assert files_of(project.root, first) == [original]
    assert result.images == 1


def test_an_archived_recipe_is_listed_and_forgotten_with_its_images(made):
    project, store = made
    assert archived_recipes(project, store) == []
    (project.root / "recipes" / "kites.toml").unlink()
    (archived,) = archived_recipes(project, store)
    expected = rows(project.root, "SELECT (SELECT sum(bytes) FROM images) + (SELECT sum(bytes) FROM derivatives)")[0][0]
    assert (archived.name, archived.path, archived.images, archived.bytes) == ("kites", "recipes/kites.toml", 3, expected)
    plan = plan_recipe(project, store, "kites")
    assert plan.forget == ("kites",)
    assert plan.describe() == f"3 images ({human_size(plan.bytes)}) and forget the archived recipe kites"
    result = delete(project, store, plan)
    assert result.forgotten == ("kites",)
    assert rows(project.root, "SELECT count(*) FROM recipes") == [(0,)]
    assert rows(project.root, "SELECT count(*) FROM recipe_jobs") == [(0,)]
    assert rows(project.root, "SELECT DISTINCT status FROM jobs") == [("deleted",)]
    assert archived_recipes(project, store) == []


def test_a_live_recipe_keeps_its_row_and_lists_its_deleted_jobs(made):
    project, store = made
    delete(project, store, plan_recipe(project, store, "kites"))
    assert rows(project.root, "SELECT name FROM recipes") == [("kites",)]
    assert rows(project.root, "SELECT count(*) FROM recipe_jobs") == [(3,)]
    assert json.loads(kiln(project.root, "plan", "kites", "--json").splitlines()[0])["deleted"] is True


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1.0 KB"), (999_999, "1.0 MB"), (34_500_000, "34.5 MB"),
     (2_345_000_000, "2.3 GB"),
     (5 * 10**12, "5000.0 GB")],
)
def test_sizes_read_as_people_write_them(size, text):
    assert human_size(size) == text
