"""Limits that hold: the rate limit in every sliding window (retries included), a Retry-After
that pauses a whole lane, every engine restart recorded, the progress watchdog.

The fake services record when each request arrived, so the tests check what a real API
would count.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from http_fakes import Recorded, Reply, most_in_a_window, openai_error
from projectcli import kiln, rows
from test_runner import SlowOpenAI, api_key, assert_each_job_once, make_project, protocol_project, run

__all__ = ["api_key"]  # the autouse fixture that sets the fake service's key

MANY = """
    engine = "api"
    model = "sd-turbo"
    prompt = "a {red|blue|green|white} {fox|owl|cat} at dusk"
    seeds = 1
    size = "64x64"
"""


class ScriptedOpenAI(SlowOpenAI):
    """Answers request number ``n`` (1-based) with ``replies[n]`` when given; notes when it did."""

    def __init__(self, seconds: float, replies: dict[int, Reply]):
        super().__init__(seconds)
        self.replies = replies
        self.count = 0
        self.answered_at: dict[int, float] = {}
        self.count_lock = threading.Lock()

    def handle(self, request: Recorded) -> Reply:
        with self.count_lock:
            self.count += 1
            number = self.count
        if number in self.replies:
            self.answered_at[number] = time.monotonic()
            return self.replies[number]
        return super().handle(request)


def moment(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def busy() -> Reply:
    return openai_error(503, "The server is overloaded.", "server_error", None)


def rate_limited_run(tmp_path) -> tuple[list[float], list[float]]:
    """12 jobs and 3 retries through 4 workers at 3 starts per 500 ms: the starts recorded in
    ``attempts`` (epoch seconds) and the arrivals at the server (monotonic)."""
    with ScriptedOpenAI(0.0, {2: busy(), 5: busy(), 6: busy()}) as service:
        engine = "concurrency = 4\nrate_limit = { max_tokens = 3, window_ms = 500 }\nretry = { backoff_ms = 1 }"
        project = make_project(tmp_path, service.url, engine, {"animals": MANY})
        code, output = run(project)
        arrivals = [r.received_at for r in service.requests]
    assert code == 0, output
    assert rows(project, "SELECT count(*) FROM attempts WHERE outcome = 'retried'") == [(3,)]
    assert_each_job_once(project, 12)
    return [moment(row[0]) for row in rows(project, "SELECT started_at FROM attempts")], arrivals


def test_rate_limit_holds_in_every_sliding_window_retries_included(tmp_path):
    starts, arrivals = rate_limited_run(tmp_path)
    assert len(starts) == len(arrivals) == 15
    # each call is recorded as starting at its slot, to the millisecond (hence 2 ms short)
    assert most_in_a_window(starts, 0.498) <= 3


def test_retry_after_pauses_every_worker_of_the_lane(tmp_path):
    too_many = openai_error(429, "Rate limit reached for images per minute.", "requests", "rate_limit_exceeded",
                            headers={"Retry-After": "1"})
    # Each call takes 0.2 s: long beside the time kiln takes to act on the 429, even on a busy
    # machine, so a worker that was not told in time can have sent at most one request more.
    with ScriptedOpenAI(0.2, {5: too_many}) as service:
        project = make_project(tmp_path, service.url, "concurrency = 4\nretry = { backoff_ms = 1 }", {"animals": MANY})
        code, output = run(project)
        answered = service.answered_at[5]
        starts = [r.received_at for r in service.requests]
    assert code == 0, output
    # Only requests the three other workers had already sent when the 429 left the server may
    # arrive in the second it asks for; without the pause, the eight jobs left would all go in it.
    late = [round(t - answered, 3) for t in starts if answered < t < answered + 1.0]
    assert len(late) <= 3, late
    assert len([t for t in starts if t >= answered + 1.0]) >= 1
    assert_each_job_once(project, 12)


def test_an_engine_restart_is_recorded_and_counted_as_retried(tmp_path):
    project = protocol_project(tmp_path, "--crash-once", str(tmp_path / "crashed"))
    code, output = run(project)
    assert code == 0, output
    assert (tmp_path / "crashed").exists()
    failed = rows(project, "SELECT outcome, error_code, error FROM attempts WHERE outcome != 'succeeded'")
    assert [(outcome, code) for outcome, code, _ in failed] == [("retried", "ENGINE_CRASHED")]
    assert "was killed by SIGKILL" in failed[0][2]
    # the restarted call is the job's second attempt
    assert rows(project, "SELECT max(attempt) FROM attempts") == [(2,)]
    assert "  1 engine call retried" in output
    assert "1 retried" in kiln(project, "runs")[1]
    assert_each_job_once(project, 6)


def test_an_engine_that_stops_reporting_progress_is_restarted_at_once(tmp_path):
    marker = tmp_path / "hang"
    marker.touch()
    # timeout_s stays long: the watchdog, not the silence timeout, must catch the hang
    project = protocol_project(tmp_path, "--hang-once", str(marker), timeout="timeout_s = 60\nprogress_timeout_s = 0.5\n")
    started = time.monotonic()
    code, output = run(project)
    elapsed = time.monotonic() - started
    assert code == 0, output
    assert not marker.exists()  # it really hung once
    assert elapsed < 20
    assert rows(project, "SELECT outcome, error_code FROM attempts WHERE outcome != 'succeeded'") == [
        ("retried", "ENGINE_STALLED")
    ]
    assert "no progress for 0.5 s" in (project / "art" / "logs" / "run-1-proc.log").read_text()
    assert_each_job_once(project, 6)


# --- Many trials (pytest -m stress) ---------------------------------------------------------

TRIALS = 20


@pytest.mark.stress
@pytest.mark.parametrize("trial", range(TRIALS))
def test_rate_limit_trials(tmp_path, trial):
    starts, arrivals = rate_limited_run(tmp_path)
    assert most_in_a_window(starts, 0.498) <= 3
    # Arrivals lag their slots: a request on a new connection waits for the fake server to
    # accept it and start a thread, in this same process, on a machine that may be busy
    # (lags up to 140 ms were seen at a load average of 11): checked 200 ms short of the window.
    assert most_in_a_window(arrivals, 0.3) <= 3


@pytest.mark.stress
@pytest.mark.parametrize("trial", range(TRIALS))
def test_retry_after_trials(tmp_path, trial):
    test_retry_after_pauses_every_worker_of_the_lane(tmp_path)


@pytest.mark.stress
@pytest.mark.parametrize("trial", range(TRIALS))
def test_watchdog_trials(tmp_path, trial):
    test_an_engine_that_stops_reporting_progress_is_restarted_at_once(tmp_path)


@pytest.mark.stress
@pytest.mark.parametrize("trial", range(TRIALS))
def test_restart_trials(tmp_path, trial):
    test_an_engine_restart_is_recorded_and_counted_as_retried(tmp_path)
