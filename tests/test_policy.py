"""Engine policies: settings from kiln.toml, the rate limiter, backoff, retry decisions."""

from __future__ import annotations

import threading

import pytest

from http_fakes import most_in_a_window
from kiln.engines import EngineError
from kiln.policy import Payload, Policy, RateLimit, RateLimiter, Retry, split_policy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ClockEvent(threading.Event):
    """An event whose wait() advances the fake clock instead of sleeping."""

    def __init__(self, clock: FakeClock):
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(round(timeout or 0, 3))
        self.clock.now += timeout or 0
        return self.is_set()


def collect(options):
    problems = []
    policy, rest = split_policy(options, lambda key, message: problems.append(f"{key}: {message}"))
    return policy, rest, problems


def test_defaults_follow_common_api_practice():
    policy, rest, problems = collect({"base_url": "http://x"})
    assert policy == Policy()
    assert rest == {"base_url": "http://x"}
    assert problems == []
    assert policy.retryable_errors == (429, 500, 502, 503, 504)
    assert policy.fatal_errors == (400, 401, 413)


def test_settings_are_read_and_removed_from_adapter_options():
    policy, rest, problems = collect({
        "concurrency": 3,
        "rate_limit": {"max_tokens": 25, "window_ms": 2500, "min_delay_ms": 50},
        "retry": {"max_retries": 5, "backoff_ms": 200},
        "fatal_errors": [400, 401, 403],
        "auto_pause_after": 2,
        "compression": {"max_dimension": 1024},
        "payload": {"max_payload_bytes": 1000000},
    })
    assert problems == []
    assert rest == {"concurrency": 3}
    assert policy.rate_limit == RateLimit(25, 2500, 50)
    assert policy.retry == Retry(max_retries=5, backoff_ms=200)
    assert policy.fatal_errors == (400, 401, 403)
    assert policy.auto_pause_after == 2
    assert policy.compression.max_dimension == 1024
    assert policy.payload.max_payload_bytes == 1000000


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate_limit": 5}, "rate_limit: expected a table, got 5"),
        ({"rate_limit": {"max_token": 5}}, "rate_limit.max_token: unknown key; expected one of max_tokens, window_ms, min_delay_ms"),
        ({"retry": {"max_retries": -1}}, "retry.max_retries: expected an integer from 0 to 100, got -1"),
        ({"retry": {"backoff_ms": 1.5}}, "retry.backoff_ms: expected an integer from 0 to 3,600,000, got 1.5"),
        ({"retry": {"backoff_ms": 10**15}}, "retry.backoff_ms: expected an integer from 0 to 3,600,000, got 1000000000000000"),
        ({"retry": {"backoff_multiplier": float("nan")}}, "retry.backoff_multiplier: expected a number from 0 to 10, got nan"),
        ({"rate_limit": {"window_ms": float("inf")}}, "rate_limit.window_ms: expected an integer from 0 to 86,400,000, got inf"),
        ({"compression": {"initial_quality": 870}}, "compression.initial_quality: expected an integer from 0 to 100, got 870"),
        ({"retryable_errors": [429, "503"]}, 'retryable_errors: expected a list of HTTP status codes, got [429, \'503\']'),
        ({"auto_pause_after": True}, "auto_pause_after: expected an integer from 0 (never pause) to 1,000,000, got true"),
    ],
)
def test_bad_settings_name_the_key(options, message):
    assert collect(options)[2] == [message]


def test_bad_policy_in_kiln_toml_names_line_and_key(project_dir):
    from kiln.errors import InputError
    from kiln.project import load_project

    (project_dir / "kiln.toml").write_text('[engines.api]\ntype = "openai"\nretry = { max_retries = "x" }\n')
    with pytest.raises(InputError) as caught:
        load_project(project_dir)
    assert str(caught.value) == 'kiln.toml:3: engines.api.retry.max_retries: expected an integer from 0 to 100, got "x"'


def test_backoff_grows_and_is_capped_and_retry_after_wins():
    retry = Retry(max_retries=5, backoff_ms=1000, backoff_multiplier=2, max_backoff_ms=5000)
    assert [retry.delay_s(n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert retry.delay_s(1, 7.0) == 7.0
    assert retry.delay_s(3, 0.5) == 4.0


def http_error(status: int, retryable: bool) -> EngineError:
    error = EngineError("x", code=f"HTTP_{status}", retryable=retryable)
    return error


@pytest.mark.parametrize(
    ("status", "engine_says", "expected"),
    [(429, False, True), (503, False, True), (401, True, False), (413, True, False), (418, True, True), (418, False, False)],
)
def test_status_lists_override_the_engine(status, engine_says, expected):
    assert Policy().should_retry(http_error(status, engine_says)) is expected


def test_non_http_errors_follow_the_engine():
    assert Policy().should_retry(EngineError("crash", code="ENGINE_CRASHED", retryable=True)) is True
    assert Policy().should_retry(ValueError("bug")) is False


def test_rate_limiter_holds_in_every_sliding_window():
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(max_tokens=2, window_ms=1000, min_delay_ms=100), clock)
    stop = ClockEvent(clock)
    starts = []
    for _ in range(5):
        assert limiter.acquire(stop)
        starts.append(round(clock.now - 100, 3))
    # two starts (100 ms apart), then the next only when the first has left the window
    assert starts == [0.0, 0.1, 1.0, 1.1, 2.0]


@pytest.mark.parametrize("seed", range(20))
def test_rate_limiter_never_exceeds_the_window_at_any_pace(seed):
    import random

    draw = random.Random(seed)
    clock = FakeClock()
    limit = RateLimit(max_tokens=draw.randint(1, 6), window_ms=draw.choice([250, 1000, 2500]))
    limiter = RateLimiter(limit, clock)
    stop = ClockEvent(clock)
    starts, waited = [], []
    for _ in range(60):
        clock.now += draw.choice([0, 0, 0.01, 0.2, 0.7])  # bursts and pauses between callers
        waits = len(stop.waits)
        assert limiter.acquire(stop)
        starts.append(clock.now)
        waited.append(len(stop.waits) > waits)
    window = limit.window_ms / 1000
    assert most_in_a_window(starts, window) <= limit.max_tokens
    # and no slower than it must be: a start that waited came as the oldest left the window
    for i, start in enumerate(starts):
        if waited[i]:
            assert start == pytest.approx(starts[i - limit.max_tokens] + window)


def test_rate_limiter_pause_holds_every_start_back():
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(), clock)
    stop = ClockEvent(clock)
    assert limiter.acquire(stop)
    limiter.pause(3.0)
    limiter.pause(1.0)  # a shorter pause never shortens a longer one
    assert limiter.acquire(stop)
    assert clock.now - 100 == pytest.approx(3.0)
    assert limiter.acquire(stop)
    assert clock.now - 100 == pytest.approx(3.0)


def test_rate_limiter_without_limit_never_waits():
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(), clock)
    stop = ClockEvent(clock)
    for _ in range(100):
        assert limiter.acquire(stop)
    assert stop.waits == []


def test_rate_limiter_gives_up_when_stopped():
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(max_tokens=1, window_ms=60_000), clock)
    stop = ClockEvent(clock)
    assert limiter.acquire(stop)
    stop.set()
    assert limiter.acquire(stop) is None


def test_payload_budget_per_image():
    payload = Payload(max_payload_bytes=4 * 1024 * 1024)
    assert payload.per_image_budget(1) == 819_200  # capped by max_per_image_bytes
    assert payload.per_image_budget(10) == 277_739  # (4 MiB × 90 % − 70 KiB) / 10 × 3/4
    assert payload.per_image_budget(100) == 102_400  # never below min_per_image_bytes
