"""How the runner treats an engine: rate limit, retries, auto-pause, reference budgets.

Settings live in the engine's ``[engines.NAME]`` table next to the adapter's own options;
:func:`split_policy` takes them out (so adapters never see them) and checks them, naming
the kiln.toml line and key of anything wrong. Defaults follow the common practice of image
APIs: retry 429 and 5xx with exponential backoff, never 400, 401 or 413.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from kiln.tomlfile import show

PolicyProblem = Callable[[str, str], None]


@dataclass(frozen=True)
class RateLimit:
    """At most ``max_tokens`` request starts in any ``window_ms``, at least ``min_delay_ms`` apart."""

    max_tokens: int = 0  # 0: no limit
    window_ms: int = 1000
    min_delay_ms: int = 0


@dataclass(frozen=True)
class Retry:
    max_retries: int = 3
    backoff_ms: int = 1000
    backoff_multiplier: float = 2.0
    max_backoff_ms: int = 30_000

    def delay_s(self, retry: int, retry_after_s: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); a server's word wins if longer."""
        delay = min(self.max_backoff_ms, self.backoff_ms * self.backoff_multiplier ** (retry - 1)) / 1000
        return max(delay, retry_after_s or 0.0)


@dataclass(frozen=True)
class Compression:
    """How reference images are squeezed into an API's payload (JPEG, stepping quality down)."""

    max_dimension: int = 1440
    initial_quality: int = 87
    min_quality: int = 50
    quality_step: int = 10
    emergency_dimension_factor: float = 0.8
    max_attempts: int = 5
    heavy_compression_threshold: int = 60


@dataclass(frozen=True)
class Payload:
    max_payload_bytes: int = 4 * 1024 * 1024
    max_reference_images: int = 10
    prompt_reserve_bytes: int = 51_200
    metadata_reserve_bytes: int = 20_480
    safety_margin_percent: int = 10
    min_per_image_bytes: int = 102_400
    max_per_image_bytes: int = 819_200

    def per_image_budget(self, count: int) -> int:
        """Bytes each of ``count`` references may take, base64 overhead included."""
        usable = self.max_payload_bytes * (100 - self.safety_margin_percent) / 100
        usable -= self.prompt_reserve_bytes + self.metadata_reserve_bytes
        share = int(usable / max(1, count) * 3 / 4)  # base64 makes 3 bytes into 4
        return max(self.min_per_image_bytes, min(self.max_per_image_bytes, share))


@dataclass(frozen=True)
class Policy:
    rate_limit: RateLimit = field(default_factory=RateLimit)
    retry: Retry = field(default_factory=Retry)
    retryable_errors: tuple[int, ...] = (429, 500, 502, 503, 504)
    fatal_errors: tuple[int, ...] = (400, 401, 413)
    auto_pause_after: int = 5
    compression: Compression = field(default_factory=Compression)
    payload: Payload = field(default_factory=Payload)

    def should_retry(self, error: Exception) -> bool:
        """Whether trying ``error``'s job again may help: the status lists first, then the engine's word."""
        status = http_status(error)
        if status is not None:
            if status in self.fatal_errors:
                return False
            if status in self.retryable_errors:
                return True
        return bool(getattr(error, "retryable", False))


def http_status(error: Exception) -> int | None:
    status = getattr(error, "status", None)
    if isinstance(status, int):
        return status
    match = re.fullmatch(r"HTTP_(\d{3})", str(getattr(error, "code", "")))
    return int(match.group(1)) if match else None


# Upper bounds of the policy numbers: beyond them a value is a slip (a day of backoff, a
# quality of 870, an infinity), which would otherwise show only as a run that never ends.
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
MAX_SETTING = 2**40  # bytes and counts: far above any real payload, within every integer column
_MAXIMA: dict[str, float] = {
    "rate_limit.max_tokens": 100_000, "rate_limit.window_ms": DAY_MS, "rate_limit.min_delay_ms": DAY_MS,
    "retry.max_retries": 100, "retry.backoff_ms": HOUR_MS, "retry.backoff_multiplier": 10,
    "retry.max_backoff_ms": DAY_MS,
    "compression.max_dimension": 16_384, "compression.initial_quality": 100, "compression.min_quality": 100,
    "compression.quality_step": 100, "compression.emergency_dimension_factor": 1, "compression.max_attempts": 100,
    "compression.heavy_compression_threshold": 100,
    "payload.max_reference_images": 1_000, "payload.safety_margin_percent": 99,
}
# Zero here would loop for ever (a quality step of 0) or make images of no pixels.
_MINIMA: dict[str, float] = {
    "compression.quality_step": 1, "compression.max_dimension": 64, "compression.max_attempts": 1,
    "compression.emergency_dimension_factor": 0.1,
}
MAX_AUTO_PAUSE = 1_000_000

_TABLES: dict[str, type] = {"rate_limit": RateLimit, "retry": Retry, "compression": Compression, "payload": Payload}
_LISTS = ("retryable_errors", "fatal_errors")
POLICY_KEYS = (*_TABLES, *_LISTS, "auto_pause_after")


def _table(cls: type, value: Any, key: str, problem: PolicyProblem) -> Any:
    if not isinstance(value, dict):
        problem(key, f"expected a table, got {show(value)}")
        return cls()
    known = {f.name: f for f in fields(cls)}
    values = {}
    for name, item in value.items():
        spec = known.get(name)
        if spec is None:
            problem(f"{key}.{name}", f"unknown key; expected one of {', '.join(known)}")
            continue
        number_ok = isinstance(item, int | float) and not isinstance(item, bool)
        least, most = _MINIMA.get(f"{key}.{name}", 0), _MAXIMA.get(f"{key}.{name}", MAX_SETTING)
        if not number_ok or not least <= item <= most or (spec.type == "int" and not isinstance(item, int)):
            kind = "an integer" if spec.type == "int" else "a number"
            problem(f"{key}.{name}", f"expected {kind} from {least:g} to {most:,}, got {show(item)}")
            continue
        values[name] = item
    return cls(**values)


def split_policy(options: dict[str, Any], problem: PolicyProblem) -> tuple[Policy, dict[str, Any]]:
    """Take the policy keys out of an engine's options: ``(policy, the adapter's options)``."""
    settings: dict[str, Any] = {}
    for key, cls in _TABLES.items():
        if key in options:
            settings[key] = _table(cls, options[key], key, problem)
    for key in _LISTS:
        if key in options:
            value = options[key]
            if not isinstance(value, list) or not all(isinstance(v, int) and 100 <= v <= 599 for v in value):
                problem(key, f"expected a list of HTTP status codes, got {show(value)}")
            else:
                settings[key] = tuple(value)
    if "auto_pause_after" in options:
        value = options["auto_pause_after"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AUTO_PAUSE:
            problem("auto_pause_after", f"expected an integer from 0 (never pause) to {MAX_AUTO_PAUSE:,}, got {show(value)}")
        else:
            settings["auto_pause_after"] = value
    rest = {k: v for k, v in options.items() if k not in POLICY_KEYS}
    return Policy(**settings), rest


class RateLimiter:
    """Request starts of one engine, shared by its lane's threads: at most ``max_tokens`` starts
    in any sliding window of ``window_ms`` (a log of recent starts, not a bucket, so no burst
    ever goes over), at least ``min_delay_ms`` apart, and none while the lane is paused."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.clock = clock
        self.window_s = limit.window_ms / 1000
        self.starts: deque[float] = deque()  # the starts still inside the window, oldest first
        self.last_start = float("-inf")
        self.paused_until = float("-inf")
        self.lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        """Hold every start back for ``seconds`` from now (a server's ``Retry-After``)."""
        with self.lock:
            self.paused_until = max(self.paused_until, self.clock() + seconds)

    def _wait_needed(self, now: float) -> float:
        limit = self.limit
        while self.starts and self.starts[0] <= now - self.window_s:
            self.starts.popleft()
        window_wait = 0.0
        if limit.max_tokens and len(self.starts) >= limit.max_tokens:
            window_wait = self.starts[0] + self.window_s - now
        gap_wait = self.last_start + limit.min_delay_ms / 1000 - now
        return max(window_wait, gap_wait, self.paused_until - now, 0.0)

    def acquire(self, stop: threading.Event) -> float | None:
        """Wait for a start slot and take it: the clock's time of the slot (the call's start as
        the limit counts it), or None if ``stop`` was set while waiting."""
        while True:
            with self.lock:
                now = self.clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    if self.limit.max_tokens:
                        self.starts.append(now)
                    self.last_start = now
                    return now
            if stop.wait(wait):
                return None
