"""Which engine processes ``kiln run`` starts, and when; and that a run with nothing to do
starts no finishing worker either.

An engine with no job in the run is never started: a run with nothing to do starts none, and
a run with work starts only the engines that have jobs. Each of those starts as soon as
planning finds a recipe with work for it, so its process boots while kiln plans the rest and
gets the run ready. The engines here are real processes; each start is recorded as kiln
makes it, so a process killed at once is counted too.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import processes
import pytest
from projectcli import kiln, rows

import kiln.plan as planning
from kiln import lifeline
import kiln.runner as running

FAKE_ENGINE = Path(__file__).parent / "fake_engines" / "fake_engine.py"
FAKE = [sys.executable, str(FAKE_ENGINE)]
# The placeholder behind the protocol: it fails the jobs whose prompt says _fail_.
SERVE = [sys.executable, "-m", "kiln", "engine", "serve"]


def recipe(engine: str, prompt: str, *extra: str) -> str:
    return "\n".join([f'engine = "{engine}"', 'model = "klein"', f'prompt = "{prompt}"', 'size = "64x64"', *extra]) + "\n"


KITES = 'a {red|blue|green} kite'  # three jobs a seed


def write_project(root: Path, engines: dict[str, list[str]], recipes: dict[str, str]) -> Path:
    """A project with ``ndjson`` engines, each named in its process's environment."""
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    (root / "kiln.toml").write_text("\n".join(
        f'[engines.{name}]\ntype = "ndjson"\ncommand = {json.dumps(command)}\nenv = {{ KILN_TEST_ENGINE = "{name}" }}\n'
        for name, command in engines.items()
    ))
    for name, text in recipes.items():
        (root / "recipes" / f"{name}.toml").write_text(text)
    return root


@dataclass
class Starts:
    """The engine processes kiln started (or tried to: a command may not be there), in order,
    by engine name, and the ids of those that started."""

    names: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    def __call__(self, engine: str) -> int:
        """How many processes of ``engine`` were started so far."""
        return self.names.count(engine)


@pytest.fixture
def starts(monkeypatch) -> Starts:
    found = Starts()
    popen = lifeline.popen

    def recording(argv, **options):
        found.names.append(options["env"]["KILN_TEST_ENGINE"])
        process = popen(argv, **options)
        found.pids.append(process.pid)
        return process

    monkeypatch.setattr(lifeline, "popen", recording)
    return found


def timeless(output: str) -> str:
    return re.sub(r" in \d+\.\d s\.", " in 0.0 s.", output)


def test_a_run_with_nothing_to_do_starts_no_engine_process(tmp_path: Path, starts: Starts):
    project = write_project(tmp_path, {"proc": FAKE}, {"kites": recipe("proc", KITES, "seeds = 2")})
    code, output = kiln(project, "run")
    assert code == 0, output
    assert starts("proc") == 1

    code, output = kiln(project, "run")
    assert code == 0
    assert timeless(output) == (
        "kites: 6 jobs, 6 existing, 0 generated, 0 failed\n"
        "Generated 0, skipped 6 (already made), failed 0 in 0.0 s.\n"
    )
    assert starts("proc") == 1
    assert sorted(path.name for path in (project / "art" / "logs").iterdir()) == ["run-1-proc.log"]


def test_only_the_engines_with_jobs_are_started(tmp_path: Path, starts: Starts):
    kites = recipe("done", KITES)
    project = write_project(tmp_path, {"done": FAKE, "busy": FAKE}, {"kites": kites})
    assert kiln(project, "run")[0] == 0
    (project / "recipes" / "moths.toml").write_text(recipe("busy", "a {grey|white} moth"))

    code, output = kiln(project, "run")
    assert code == 0, output
    assert timeless(output) == (
        "kites: 3 jobs, 3 existing, 0 generated, 0 failed\n"
        "moths: 2 jobs, 0 existing, 2 generated, 0 failed\n"
        "Generated 2, skipped 3 (already made), failed 0 in 0.0 s.\n"
    )
    assert (starts("done"), starts("busy")) == (1, 1)
    assert rows(project, "SELECT engine, count(*) FROM jobs GROUP BY engine ORDER BY engine") == [
        ("busy", 2), ("done", 3)
    ]


def test_an_engine_that_cannot_start_is_not_reported_when_it_has_no_jobs(tmp_path: Path, starts: Starts):
    project = write_project(tmp_path, {"done": FAKE, "busy": FAKE}, {"kites": recipe("done", KITES)})
    assert kiln(project, "run")[0] == 0
    # The same engine name, now a program that is not there: its jobs keep their keys.
    write_project(tmp_path, {"done": [str(tmp_path / "no-such-engine")], "busy": FAKE}, {
        "moths": recipe("busy", "a {grey|white} moth"),
    })

    code, output = kiln(project, "run")
    assert code == 0, output
    assert timeless(output) == (
        "kites: 3 jobs, 3 existing, 0 generated, 0 failed\n"
        "moths: 2 jobs, 0 existing, 2 generated, 0 failed\n"
        "Generated 2, skipped 3 (already made), failed 0 in 0.0 s.\n"
    )
    assert (starts("done"), starts("busy")) == (1, 1)
    assert sorted(path.name for path in (project / "art" / "logs").iterdir()) == ["run-1-done.log", "run-2-busy.log"]


def test_recipes_sharing_an_engine_start_one_process(tmp_path: Path, starts: Starts):
    project = write_project(tmp_path, {"proc": FAKE}, {
        "kites": recipe("proc", KITES), "moths": recipe("proc", "a {grey|white} moth"),
    })
    assert kiln(project, "run")[0] == 0
    assert starts("proc") == 1
    (project / "recipes" / "owls.toml").write_text(recipe("proc", "an owl at {dusk|dawn}"))

    code, output = kiln(project, "run")
    assert code == 0, output
    assert "Generated 2, skipped 5 (already made), failed 0" in output
    assert starts("proc") == 2


def test_a_target_recipe_starts_its_engine_only_while_short_of_its_target(tmp_path: Path, starts: Starts):
    target = recipe("serve", "x", "target = 5", "tolerance = 0", "max_failures = 5").replace(
        'prompt = "x"', 'prompt = ["a calm {lake|bay}", "_fail_ a broken {lake|bay}"]'
    )
    project = write_project(tmp_path, {"serve": SERVE}, {"lakes": target})
    code, output = kiln(project, "run")
    # Each broken job fails and is replaced by the next of the sequence, all in one process.
    assert "Generated 5, skipped 0 (already made), failed 4" in output, output
    assert starts("serve") == 1

    code, output = kiln(project, "run")
    assert code == 0
    assert timeless(output) == (
        "lakes: 5 jobs, 5 existing, 0 generated, 0 failed\n"
        "Generated 0, skipped 5 (already made), failed 0 in 0.0 s.\n"
    )
    assert starts("serve") == 1


def test_a_redo_starts_only_the_engine_of_the_job_it_makes_again(tmp_path: Path, starts: Starts, monkeypatch):
    project = write_project(tmp_path, {"one": FAKE, "two": FAKE}, {
        "kites": recipe("one", KITES), "moths": recipe("two", "a {grey|white} moth"),
    })
    assert kiln(project, "run")[0] == 0
    (image,) = rows(project, "SELECT id FROM images WHERE recipe = 'moths' ORDER BY id LIMIT 1")[0]
    assert kiln(project, "rm", image, "--yes")[0] == 0
    recorded: list[tuple[str, int]] = []
    record_plan = running.record_plan

    def recording(plan, store):
        recorded.append((plan.recipe.name, starts("two")))
        return record_plan(plan, store)

    monkeypatch.setattr(running, "record_plan", recording)
    code, output = kiln(project, "run", "--redo", image)
    assert code == 0, output
    assert "Generated 1," in output
    assert (starts("one"), starts("two")) == (1, 2)
    assert recorded == [("moths", 2)]  # started before the run recorded its plan


def test_an_engine_boots_once_planning_finds_work_for_it_while_the_rest_is_planned(tmp_path: Path, starts: Starts, monkeypatch):
    project = write_project(tmp_path, {"one": FAKE, "two": FAKE}, {
        "kites": recipe("one", KITES), "moths": recipe("two", "a {grey|white} moth"),
    })
    seen: list[tuple[str, int, int]] = []
    expansion, record_plan = planning.Expansion, running.record_plan

    def expanding(recipe, project):
        seen.append((f"planning {recipe.name}", starts("one"), starts("two")))
        return expansion(recipe, project)

    def recording(plan, store):
        seen.append((f"recording {plan.recipe.name}", starts("one"), starts("two")))
        return record_plan(plan, store)

    monkeypatch.setattr(planning, "Expansion", expanding)
    monkeypatch.setattr(running, "record_plan", recording)
    code, output = kiln(project, "run")
    assert code == 0, output
    # Each engine was started as soon as its recipe was planned, before the run got ready.
    assert seen == [
        ("planning kites", 0, 0), ("planning moths", 1, 0), ("recording kites", 1, 1), ("recording moths", 1, 1)
    ]
    log = (project / "art" / "logs" / "run-1-one.log").read_text()
    assert log.index("started pid") < log.index("fake-engine 1.0 (test) started") < log.index("fake: quit")


def test_bad_input_found_while_planning_starts_no_engine(tmp_path: Path, starts: Starts):
    project = write_project(tmp_path, {"proc": FAKE}, {"kites": recipe("proc", KITES, "seeds = 2", "max_jobs = 4")})
    code, output = kiln(project, "run")
    assert code == 1
    assert output == (
        "error: recipes/kites.toml:6: max_jobs: the recipe expands to 6 jobs, more than the limit of 4"
        " (raise max_jobs or shrink an axis)\n"
        "1 problem found; nothing was run.\n"
    )
    assert starts("proc") == 0
    assert not (project / "art" / "logs").exists()


def test_an_engine_booting_when_a_later_recipe_is_found_bad_is_stopped(tmp_path: Path, starts: Starts):
    project = write_project(tmp_path, {"proc": FAKE}, {
        "kites": recipe("proc", KITES), "moths": recipe("proc", "a {grey|white} moth", "max_jobs = 1"),
    })
    code, output = kiln(project, "run")
    assert code == 1
    assert output == (
        "error: recipes/moths.toml:5: max_jobs: the recipe expands to 2 jobs, more than the limit of 1"
        " (raise max_jobs or shrink an axis)\n"
        "1 problem found; nothing was run.\n"
    )
    assert starts("proc") == 1  # kites had work, so its engine had been started
    assert not processes.survivors(set(starts.pids))
    assert not (project / "art" / "logs").exists()  # and it left no log of a run that never was


def test_a_run_with_nothing_to_do_starts_no_finishing_worker(tmp_path: Path, monkeypatch):
    project = write_project(tmp_path, {}, {"kites": recipe("placeholder", KITES).replace('model = "klein"\n', "")})
    pools: list[int] = []
    worker_pool = running.worker_pool

    def counting(workers):
        pools.append(workers)
        return worker_pool(workers)

    monkeypatch.setattr(running, "worker_pool", counting)
    assert kiln(project, "run")[0] == 0
    assert len(pools) == 1

    code, output = kiln(project, "run")
    assert code == 0
    assert timeless(output) == (
        "kites: 3 jobs, 3 existing, 0 generated, 0 failed\n"
        "Generated 0, skipped 3 (already made), failed 0 in 0.0 s.\n"
    )
    assert len(pools) == 1
