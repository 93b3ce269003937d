"""Jobs whose image was deleted: plans list them and never run them; requeue and redo do, on purpose."""

from __future__ import annotations

import pytest

from kiln.errors import KilnError
from kiln.library.requeue import plan_redo, recipe_jobs, requeue, resolve_jobs
from kiln.plan import make_plan, record_plan, table
from kiln.recipe import expand_target, load_all
from projectcli import kiln, rows


def plan_of(project, store, name="t"):
    (plan,) = make_plan(load_all(project, [name]), project, store)
    return plan


def mark(store, keys, status):
    for key in keys:
        store.conn.execute("UPDATE jobs SET status = ? WHERE key = ?", [status, key])


TARGET = 'prompt = "{a|b}"\nseeds = [1, 2]\ntarget = 3\ntolerance = 1\nmax_failures = 2\n'


def test_a_plan_lists_deleted_jobs_and_does_not_run_them(project, store, write_recipe):
    write_recipe("t", 'prompt = "{a|b|c}"\nseeds = [1]\n')
    first = plan_of(project, store)
    record_plan(first, store)
    keys = [job.key for job in first.jobs]
    mark(store, keys[:2], "succeeded")
    mark(store, keys[1:2], "deleted")
    plan = plan_of(project, store)
    assert (plan.done, plan.deleted, [job.key for job in plan.todo]) == ({keys[0]}, {keys[1]}, [keys[2]])
    lines = table(plan)
    assert [line.split()[0] for line in lines[-4:-1]] == ["done", "deleted", "new"]
    assert lines[-1] == "t: 3 jobs, 1 already made, 1 deleted (not made again), 1 to run"


def test_target_mode_passes_over_deleted_jobs_and_meets_the_target_with_new_ones(project, store, write_recipe):
    write_recipe("t", TARGET)
    first = plan_of(project, store)
    record_plan(first, store)
    sequence = expand_target(first.recipe, project, 0, 12)
    mark(store, [job.key for job in sequence[:3]], "succeeded")
    mark(store, [sequence[1].key], "deleted")
    plan = plan_of(project, store)
    assert [job.key for job in plan.jobs] == [sequence[i].key for i in (0, 1, 2, 3)]
    assert plan.deleted == {sequence[1].key}
    assert (plan.made, plan.remaining, [job.key for job in plan.todo]) == (2, 1, [sequence[3].key])
    # replacements for failures pass over a deleted job further along the sequence too
    record_plan(plan, store)
    store.add_jobs("t", [(sequence[9].key, sequence[9].spec, sequence[9].axes)], 4)
    mark(store, [sequence[9].key], "deleted")
    again = plan_of(project, store)
    assert again.deleted == {sequence[1].key}  # the window (6 jobs, one more for the deleted one) ends before it
    assert again.more(6) == [sequence[i] for i in (4, 5, 6, 7, 8, 10)]
    assert again.deleted == {sequence[1].key, sequence[9].key}
    assert sequence[9] in again.jobs and sequence[9] not in again.todo


def test_deleted_jobs_take_no_place_in_the_window_a_target_plan_looks_at(project, store, write_recipe):
    write_recipe("t", TARGET)
    record_plan(plan_of(project, store), store)
    sequence = expand_target(plan_of(project, store).recipe, project, 0, 20)
    # earlier runs made 12 jobs and the user deleted the first 9: the window (3 + 1 + 2 = 6
    # jobs) grows past them to find the 3 images still there
    store.add_jobs("t", [(job.key, job.spec, job.axes) for job in sequence[:12]], 0)
    mark(store, [job.key for job in sequence[:12]], "succeeded")
    mark(store, [job.key for job in sequence[:9]], "deleted")
    plan = plan_of(project, store)
    assert plan.made == 3 and plan.remaining == 0 and plan.todo == []
    assert plan.done == {job.key for job in sequence[9:12]}


def test_jobs_are_named_by_key_or_by_the_id_their_image_had(project_dir, write_recipe, project, store):
    write_recipe("t", 'prompt = "{a|b}"\nsize = "64x64"\nsteps = 1\nseeds = [1]\n')
    kiln(project_dir, "run")
    (key, image_id), other = rows(project_dir, "SELECT key, image_id FROM jobs ORDER BY key")
    kiln(project_dir, "rm", "--yes", image_id)
    refs = resolve_jobs(store, [image_id[:8], key[:8], other[0]])
    assert [(ref.key, ref.status, ref.image_id) for ref in refs] == [(key, "deleted", image_id), (other[0], "succeeded", other[1])]
    with pytest.raises(KilnError, match="no job key or image id starts with 'zz'"):
        resolve_jobs(store, ["zz"])
    clash = image_id[:4] + "0" * 12
    store.conn.execute(
        "INSERT INTO jobs (key, spec, recipe, engine, model, queued_at) VALUES (?, '{}', 't', 'placeholder', 'm', 'now')", [clash]
    )
    with pytest.raises(KilnError) as error:
        resolve_jobs(store, [image_id[:4]])
    assert str(error.value) == f"'{image_id[:4]}' starts more than one job key or image id (job {clash}, image {image_id}); give more of it"


def test_requeue_puts_deleted_and_failed_jobs_back_and_leaves_the_rest(project_dir, write_recipe, store):
    write_recipe("t", 'prompt = ["a {x|y|z}", "_fail_ w"]\nsize = "64x64"\nsteps = 1\nseeds = [1]\n')
    kiln(project_dir, "run")
    made = rows(project_dir, "SELECT image_id FROM jobs WHERE status = 'succeeded' ORDER BY key")
    kiln(project_dir, "rm", "--yes", made[0][0])
    keys = recipe_jobs(store, "t")
    assert len(keys) == 2
    result = requeue(store, [*keys, rows(project_dir, "SELECT key FROM jobs WHERE image_id = ?", made[1])[0][0]])
    assert (len(result.deleted), len(result.failed), [ref.status for ref in result.left]) == (1, 1, ["succeeded"])
    assert result.describe() == "Requeued 2 jobs (1 deleted, 1 failed)"
    assert rows(project_dir, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status") == [("queued", 2), ("succeeded", 2)]
    with pytest.raises(KilnError, match="no recipe named 'nope' in the store"):
        recipe_jobs(store, "nope")


def test_a_redo_is_refused_for_an_image_that_exists_and_a_recipe_that_is_gone(project_dir, write_recipe, project, store):
    write_recipe("t", 'prompt = "a {x|y}"\nsize = "64x64"\nsteps = 1\nseeds = [1]\n')
    kiln(project_dir, "run")
    (key, image_id), (other_key, other_id) = rows(project_dir, "SELECT key, image_id FROM jobs ORDER BY key")
    with pytest.raises(KilnError) as error:
        plan_redo(project, store, [image_id])
    assert str(error.value) == f"job {key} still has its image {image_id}; 'kiln rm {image_id}' first to make it again"
    kiln(project_dir, "rm", "--yes", other_id)
    (project_dir / "recipes" / "t.toml").unlink()
    with pytest.raises(KilnError) as error:
        plan_redo(project, store, [other_key])
    assert str(error.value) == f"job {other_key} is in no recipe whose file exists (archived: t); it cannot be made again"


def test_a_redo_is_refused_for_a_job_the_recipe_no_longer_holds(project_dir, write_recipe, project, store):
    write_recipe("t", 'prompt = "a {x|y}"\nsize = "64x64"\nsteps = 1\nseeds = [1]\n')
    kiln(project_dir, "run")
    (key, image_id), _ = rows(project_dir, "SELECT key, image_id FROM jobs ORDER BY key")
    kiln(project_dir, "rm", "--yes", image_id)
    write_recipe("t", 'prompt = "a {x|y}"\nsize = "64x64"\nsteps = 2\nseeds = [1]\n')
    with pytest.raises(KilnError) as error:
        plan_redo(project, store, [key])
    assert str(error.value) == f"job {key} is no longer in t as the recipe reads now"
    assert rows(project_dir, "SELECT status FROM jobs WHERE key = ?", (key,)) == [("deleted",)]


def test_target_mode_after_a_deletion_makes_new_images_until_the_target_is_met(project_dir, write_recipe):
    write_recipe("lakes", 'prompt = "a calm {lake|bay}"\nsize = "64x64"\nsteps = 1\ntarget = 4\ntolerance = 0\n')
    assert kiln(project_dir, "run")[0] == 0
    before = rows(project_dir, "SELECT key, image_id FROM jobs ORDER BY key")
    assert len(before) == 4
    kiln(project_dir, "rm", "--yes", before[0][1], before[1][1])
    code, output = kiln(project_dir, "run")
    assert code == 0
    assert "Generated 2, skipped 4 (2 already made, 2 deleted), failed 0 in" in output
    assert rows(project_dir, "SELECT count(*) FROM images") == [(4,)]
    assert rows(project_dir, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status") == [("deleted", 2), ("succeeded", 4)]
    code, output = kiln(project_dir, "run")
    assert "Generated 0, skipped 6 (4 already made, 2 deleted), failed 0 in" in output
