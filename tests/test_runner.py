"""The runner against real local services: concurrency, rate limits, retries, auto-pause,
slow and fast engines side by side, and two runners sharing one store.

Each test checks what the store and art/ hold afterwards: every job ran exactly once,
nothing was lost, nothing is half-written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from http_fakes import FakeOpenAI, Recorded, Reply, openai_error

from kiln.cli import cli
from projectcli import rows

KEY = "sk-test-0123456789abcdef"


class SlowOpenAI(FakeOpenAI):
    """An sd-server-like service that takes a while per image and counts requests in flight."""

    def __init__(self, seconds: float, key: str | None = KEY):
        super().__init__(key, any_size=True)
        self.seconds = seconds
        self.in_flight = 0
        self.most_in_flight = 0
        self.counter_lock = threading.Lock()

    def handle(self, request: Recorded) -> Reply:
        with self.counter_lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.seconds)
            return super().handle(request)
        finally:
            with self.counter_lock:
                self.in_flight -= 1


def make_project(root: Path, url: str, engine: str = "", recipes: dict[str, str] | None = None) -> Path:
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    (root / "kiln.toml").write_text(textwrap.dedent(f"""
        [engines.api]
        type = "openai"
        base_url = "{url}"
        api_key_env = "KILN_TEST_KEY"
        sizes = []
        {engine}
    """))
    for name, text in (recipes or {"foxes": API_RECIPE}).items():
        (root / "recipes" / f"{name}.toml").write_text(textwrap.dedent(text))
    return root


API_RECIPE = """
    engine = "api"
    model = "sd-turbo"
    prompt = "a {red|blue|green} fox"
    seeds = 3
    size = "64x64"
"""


def run(project: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", "-C", str(project)], catch_exceptions=False)
    return result.exit_code, result.output


def assert_each_job_once(project: Path, expected_images: int) -> None:
    assert rows(project, "SELECT count(*) FROM images")[0][0] == expected_images
    assert rows(project, "SELECT count(*) FROM jobs WHERE status = 'succeeded'")[0][0] == expected_images
    assert rows(project, "SELECT count(*) FROM (SELECT job_key FROM images GROUP BY job_key HAVING count(*) > 1)")[0][0] == 0
    assert rows(project, "SELECT count(*) FROM attempts WHERE outcome = 'succeeded'")[0][0] == expected_images
    assert len(list((project / "art" / "original").glob("*.png"))) == expected_images
    assert not list((project / "art").rglob(".tmp-*"))


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("KILN_TEST_KEY", KEY)


def test_api_jobs_run_concurrently_up_to_the_limit(tmp_path):
    with SlowOpenAI(0.3) as service:
        project = make_project(tmp_path, service.url, "concurrency = 3")
        code, output = run(project)
        assert code == 0, output
        assert "Generated 9, skipped 0 (already made), failed 0 in" in output
        assert service.most_in_flight == 3
    assert_each_job_once(project, 9)
    assert rows(project, "SELECT DISTINCT engine, outcome FROM attempts") == [("api", "succeeded")]
    assert all(r[0].startswith("req_") for r in rows(project, "SELECT response_id FROM images"))


def test_rate_limit_spaces_request_starts(tmp_path):
    with SlowOpenAI(0.0) as service:
        engine = "concurrency = 4\nrate_limit = { max_tokens = 2, window_ms = 1000, min_delay_ms = 100 }"
        project = make_project(tmp_path, service.url, engine)
        assert run(project)[0] == 0
    starts = sorted(datetime.fromisoformat(r[0].replace("Z", "+00:00")).timestamp()
                    for r in rows(project, "SELECT started_at FROM attempts"))
    # 9 starts with two tokens up front and two per second after: at least 3.5 s from first to last
    assert starts[-1] - starts[0] >= 3.4
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.099


def test_429_with_retry_after_is_retried_after_the_wait(tmp_path):
    with SlowOpenAI(0.0) as service:
        service.fail_next(429, openai_error(429, "Rate limit reached for images per minute.", "requests",
                                            "rate_limit_exceeded").body, {"Retry-After": "1"})
        project = make_project(tmp_path, service.url, "concurrency = 1\nretry = { backoff_ms = 10 }")
        code, output = run(project)
    assert code == 0, output
    assert "Generated 9, skipped 0 (already made), failed 0" in output
    assert "  1 engine call retried" in output
    (job, first, second), = [
        (r[0], r[1], r[2]) for r in rows(project, """
            SELECT a.job_key, a.started_at, b.started_at FROM attempts a JOIN attempts b
            ON a.job_key = b.job_key AND b.attempt = 2 WHERE a.attempt = 1""")
    ]
    waited = datetime.fromisoformat(second.replace("Z", "+00:00")) - datetime.fromisoformat(first.replace("Z", "+00:00"))
    assert waited.total_seconds() >= 1.0
    assert rows(project, f"SELECT outcome, error_code FROM attempts WHERE job_key = '{job}' ORDER BY attempt") == [
        ("retried", "rate_limit_exceeded"), ("succeeded", None)
    ]
    assert_each_job_once(project, 9)


def test_a_burst_of_503s_fails_one_job_and_the_rest_go_on(tmp_path):
    with SlowOpenAI(0.0) as service:
        for _ in range(4):
            service.fail_next(503, openai_error(503, "The server is overloaded.", "server_error", None).body)
        project = make_project(tmp_path, service.url, "concurrency = 1\nretry = { max_retries = 2, backoff_ms = 10 }")
        code, output = run(project)
    assert code == 1
    assert "Generated 8, skipped 0 (already made), failed 1" in output
    assert "  1 × HTTP_503: " in output
    assert "  3 engine calls retried" in output
    assert rows(project, "SELECT outcome, count(*) FROM attempts GROUP BY outcome ORDER BY outcome") == [
        ("failed", 1), ("retried", 3), ("succeeded", 8)
    ]
    assert rows(project, "SELECT count(*) FROM jobs WHERE status = 'failed'") == [(1,)]
    assert_each_job_once(project, 8)


def test_a_fatal_401_is_not_retried_and_pauses_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("KILN_TEST_KEY", "sk-wrong-key-999999")
    with SlowOpenAI(0.0) as service:
        project = make_project(tmp_path, service.url, "concurrency = 1\nauto_pause_after = 3")
        code, output = run(project)
        assert len(service.requests) == 3
    assert code == 1
    assert "Generated 0, skipped 0 (already made), failed 3" in output
    assert "Paused: engine 'api' failed 3 jobs in a row (last: invalid_api_key: " in output
    assert "Unstarted jobs stay queued" in output
    assert rows(project, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status") == [
        ("failed", 3), ("queued", 6)
    ]
    assert rows(project, "SELECT count(*) FROM attempts WHERE outcome = 'retried'") == [(0,)]
    status, reason = rows(project, "SELECT status, stop_reason FROM runs")[0]
    assert status == "paused"
    assert "failed 3 jobs in a row" in reason
    store_text = (project / "art" / "kiln.db").read_bytes()
    assert b"sk-wrong-key-999999" not in store_text and b"999999" not in output.encode()


def test_a_slow_local_engine_does_not_hold_up_a_fast_api(tmp_path):
    local = """
        prompt = "a {quiet|stormy} sea at {dawn|dusk}"
        size = "1024x1024"
        steps = 30
        seeds = 2
    """
    with SlowOpenAI(0.0) as service:
        project = make_project(tmp_path, service.url, "concurrency = 2", {"calm-sea": local, "foxes": API_RECIPE})
        code, output = run(project)
    assert code == 0, output
    finished = dict(rows(project, "SELECT engine, max(finished_at) FROM jobs GROUP BY engine"))
    # "calm-sea" comes first in the run, yet the API's nine jobs were all done while the local
    # engine was still working through its eight
    assert finished["api"] < finished["placeholder"]
    assert_each_job_once(project, 17)


def test_two_runners_on_one_store_run_each_job_once(tmp_path):
    recipe = """
        prompt = "a {red|blue|green|white} {fox|owl|cat|hare} at dusk"
        size = "256x256"
        steps = 6
        seeds = [1]
    """
    project = make_project(tmp_path, "http://127.0.0.1:9", "", {"animals": recipe})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "kiln", "run", "-C", str(project)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    outputs = [p.communicate(timeout=120)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    generated = sum(r[0] for r in rows(project, "SELECT generated FROM runs"))
    assert generated == 16
    assert rows(project, "SELECT count(*) FROM runs WHERE status = 'finished'") == [(2,)]
    assert rows(project, "SELECT count(*) FROM attempts") == [(16,)]
    assert_each_job_once(project, 16)


FAKE_ENGINE = Path(__file__).parent / "fake_engines" / "fake_engine.py"
PROTOCOL_RECIPE = """
    engine = "proc"
    model = "klein"
    prompt = "a {red|blue|green} kite"
    seeds = 2
    size = "64x64"
"""


def protocol_project(root: Path, *flags: str, timeout: str = "") -> Path:
    (root / "recipes").mkdir(parents=True)
    command = [sys.executable, str(FAKE_ENGINE), "--log", str(root / "requests.log"), *flags]
    command_toml = "[" + ", ".join(f'"{part}"' for part in command) + "]"
    (root / "kiln.toml").write_text(f'[engines.proc]\ntype = "ndjson"\ncommand = {command_toml}\n{timeout}')
    (root / "recipes" / "kites.toml").write_text(textwrap.dedent(PROTOCOL_RECIPE))
    return root


def test_an_engine_process_killed_mid_job_is_restarted_and_loses_nothing(tmp_path):
    project = protocol_project(tmp_path, "--crash-once", str(tmp_path / "crashed"))
    code, output = run(project)
    assert code == 0, output
    assert (tmp_path / "crashed").exists()  # it really died once
    loads = [line for line in (tmp_path / "requests.log").read_text().splitlines() if '"load"' in line]
    assert len(loads) == 2  # and its model was loaded again in the new process
    assert_each_job_once(project, 6)
    assert "crash" in (project / "art" / "logs" / "run-1-proc.log").read_text().lower()


def test_a_hung_engine_is_killed_and_the_job_retried(tmp_path):
    marker = tmp_path / "hang"
    marker.touch()
    project = protocol_project(tmp_path, "--hang-once", str(marker),
                               timeout="timeout_s = 1\nretry = { backoff_ms = 10 }\n")
    code, output = run(project)
    assert code == 0, output
    assert "Generated 6, skipped 0 (already made), failed 0" in output
    assert "  1 engine call retried" in output
    assert rows(project, "SELECT outcome, error_code FROM attempts WHERE outcome != 'succeeded'") == [
        ("retried", "TIMEOUT")
    ]
    assert_each_job_once(project, 6)
