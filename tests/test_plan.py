"""Plans: target windows and replacements, recording, and the prompt library's store rows."""

from __future__ import annotations

from kiln.plan import make_plan, prompt_library, record_plan
from kiln.recipe import expand_target, load_all


def plan_of(project, store, name="t"):
    (plan,) = make_plan(load_all(project, [name]), project, store)
    return plan


def succeed(store, keys):
    for key in keys:
        store.conn.execute("UPDATE jobs SET status = 'succeeded' WHERE key = ?", [key])


TARGET = 'prompt = "{a|b}"\nseeds = [1, 2]\ntarget = 3\ntolerance = 1\nmax_failures = 2\n'


def test_a_fresh_target_plan_lists_the_first_jobs(project, store, write_recipe):
    write_recipe("t", TARGET)
    plan = plan_of(project, store)
    sequence = expand_target(plan.recipe, project, 0, 10)
    assert plan.jobs == sequence[:3]
    assert (plan.made, plan.remaining, len(plan.todo)) == (0, 3, 3)


def test_more_appends_the_next_jobs_of_the_sequence(project, store, write_recipe):
    write_recipe("t", TARGET)
    plan = plan_of(project, store)
    sequence = expand_target(plan.recipe, project, 0, 10)
    assert plan.more(2) == sequence[3:5]
    assert plan.jobs == sequence[:5]
    assert plan.more(1) == [sequence[5]]


def test_more_passes_over_jobs_already_made(project, store, write_recipe):
    write_recipe("t", TARGET)
    plan = plan_of(project, store)
    sequence = expand_target(plan.recipe, project, 0, 10)
    record_plan(plan, store)
    store.save_recipe(name="other", path="x", title="x", description="", source_sha256="x", gallery={},
                      jobs=[(j.key, j.spec, {}) for j in sequence[3:5]])
    succeed(store, [sequence[3].key])
    assert plan.more(1) == [sequence[4]]
    assert sequence[3].key in plan.done and plan.made == 1


def test_a_later_plan_keeps_earlier_replacements(project, store, write_recipe):
    write_recipe("t", TARGET)
    first = plan_of(project, store)
    sequence = expand_target(first.recipe, project, 0, 10)
    first.more(1)  # job 1 failed and was replaced by job 3
    record_plan(first, store)
    succeed(store, [sequence[0].key, sequence[2].key, sequence[3].key])
    again = plan_of(project, store)
    assert [j.key for j in again.jobs] == [sequence[i].key for i in (0, 2, 3)]
    assert again.remaining == 0 and again.todo == []


def test_a_later_plan_fills_up_to_the_target(project, store, write_recipe):
    write_recipe("t", TARGET)
    first = plan_of(project, store)
    sequence = expand_target(first.recipe, project, 0, 10)
    record_plan(first, store)
    succeed(store, [sequence[1].key])
    again = plan_of(project, store)
    assert [j.key for j in again.jobs] == [sequence[i].key for i in (0, 1, 2)]
    assert [j.key for j in again.more(1)] == [sequence[3].key]


def test_raising_the_target_keeps_made_images(project, store, write_recipe):
    write_recipe("t", TARGET)
    first = plan_of(project, store)
    record_plan(first, store)
    succeed(store, [j.key for j in first.jobs])
    write_recipe("t", TARGET.replace("target = 3", "target = 5"))
    again = plan_of(project, store)
    assert again.made == 3 and again.remaining == 2 and len(again.todo) == 2


def test_recording_counts_library_prompt_uses(project, store, write_recipe):
    folder = project.prompts_dir
    folder.mkdir()
    (folder / "portrait.txt").write_text("portrait of a {young|old} sailor")
    (folder / "plain.md").write_text("a quiet harbour at dawn")
    write_recipe("t", 'prompt = { library = "portrait" }\n')
    plan = plan_of(project, store)
    record_plan(plan, store)
    record_plan(plan, store)
    rows = {row["name"]: row for row in prompt_library(project, store)}
    assert set(rows) == {"plain", "portrait"}
    assert (rows["portrait"]["use_count"], rows["portrait"]["words"], rows["portrait"]["has_wildcards"]) == (2, 5, 1)
    assert rows["portrait"]["last_used_at"]
    assert (rows["plain"]["use_count"], rows["plain"]["has_wildcards"], rows["plain"]["path"]) == (0, 0, "prompts/plain.md")
    succeed(store, [j.key for j in plan.jobs])
    record_plan(plan_of(project, store), store)  # nothing to run: not a use
    assert {row["name"]: row["use_count"] for row in prompt_library(project, store)}["portrait"] == 2


def test_the_library_table_follows_the_files(project, store):
    project.prompts_dir.mkdir()
    (project.prompts_dir / "a.txt").write_text("one two")
    assert [row["name"] for row in prompt_library(project, store)] == ["a"]
    (project.prompts_dir / "a.txt").unlink()
    (project.prompts_dir / "b.txt").write_text("__colours__ fox")
    assert [(row["name"], row["has_wildcards"]) for row in prompt_library(project, store)] == [("b", 1)]


def test_the_documented_runner_loop_reaches_the_target(project, store, write_recipe):
    write_recipe("t", TARGET)
    plan = plan_of(project, store)
    record_plan(plan, store)
    fails = {plan.jobs[1].key}
    queue, failures, tried = list(plan.todo), 0, []
    while plan.remaining and failures < plan.target.max_failures:
        if not queue:
            queue = plan.more(plan.remaining)
        job = queue.pop(0)
        tried.append(job.key)
        if job.key in fails:
            failures += 1
        else:
            plan.done.add(job.key)
    sequence = expand_target(plan.recipe, project, 0, 10)
    assert tried == [j.key for j in sequence[:4]]
    assert plan.made == 3 and failures == 1


def test_the_runner_loop_gives_up_after_max_failures(project, store, write_recipe):
    write_recipe("t", TARGET)
    plan = plan_of(project, store)
    queue, failures = list(plan.todo), 0
    while plan.remaining and failures < plan.target.max_failures:
        if not queue:
            queue = plan.more(plan.remaining)
        queue.pop(0)
        failures += 1
    assert (failures, plan.made, len(plan.jobs)) == (2, 0, 3)
