"""What the HTTP engine adapters (``openai``, ``a1111``, ``comfyui``, ``gemini``) share.

:class:`HTTPEngine` is their base: it reads and checks the adapter's options from
``[engines.NAME]``, looks the API key up in the environment, holds one pooled
:class:`httpx.Client` (thread-safe, so the runner may call ``generate`` from several threads),
and turns every failure into an :class:`HTTPEngineError` that says whether trying again may
help and how long the service asked us to wait. The module also decodes returned images and
reads reference images for sending.

Options every HTTP adapter takes::

    [engines.cloud]
    type = "openai"                  # or "a1111", "comfyui", "gemini"
    base_url = "https://api.openai.com"   # each adapter has its own default
    api_key_env = "OPENAI_API_KEY"   # the environment variable holding the key; omit for none
    timeout_s = 300                  # the longest one HTTP request may take
    concurrency = 4                  # how many jobs the runner may send at once

The key is read from the environment when the engine loads. It is only ever put in request
headers: never in URLs, messages, logs, the store or a ``repr``, and any error text a service
echoes it in is redacted.

Errors carry ``code`` (the service's own error code when it gives a useful one, otherwise
``HTTP_<status>``, or ``TIMEOUT`` / ``CONNECTION_ERROR`` when no answer came), ``retryable``
(408, 429 and 5xx other than 501 are; other 4xx are not; timeouts and refused or reset
connections are), ``status`` (the HTTP status or None) and ``retry_after_s`` (from
``Retry-After`` in seconds or as an HTTP date, ``retry-after-ms``, or a hint in the body).

References are sent as the files they are (the runner has already fitted them into the
engine's payload policy, :mod:`kiln.reference_images`); relative paths are read from the
project root.

The runner reads ``local`` (False: these engines run elsewhere, so several jobs may be in
flight) and ``concurrency`` from each engine, and ``status``, ``retryable`` and
``retry_after_s`` from its errors.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import email.utils
import io
import logging
import math
import os
import re
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import httpx
from PIL import Image

from kiln.engines.base import Engine, EngineError, GenerateRequest, GenerateResult, ProgressFn, no_progress
from kiln.errors import InputError, Problem
from kiln.project import CONFIG_NAME
from kiln.tomlfile import show

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
# Services put long HTML pages in error bodies (proxies, load balancers); a message needs a line.
MAX_MESSAGE_CHARS = 400


class HTTPEngineError(EngineError):
    """A failed call to an image service.

    ``status`` is the HTTP status, or None when no response came back. ``retry_after_s`` is
    how long the service asked the caller to wait before trying again, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(message, code=code, retryable=retryable)
        self.status = status
        self.retry_after_s = retry_after_s


def retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying: timeouts, rate limits and server trouble,
    but not 501, which says the server never will."""
    return status in (408, 429) or (500 <= status < 600 and status != 501)


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    text = (headers.get("retry-after") or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def parse_duration(text: Any) -> float | None:
    """A protobuf JSON duration such as ``"7s"`` or ``"0.5s"`` in seconds (Google's RetryInfo)."""
    if isinstance(text, str) and (match := re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", text)):
        return float(match.group(1))
    return None


class Secret:
    """An API key that does not show itself in ``repr``, ``str`` or tracebacks' locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "[redacted]") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class ErrorDetail:
    """What an adapter reads from a service's error body; None leaves the generic choice."""

    message: str | None = None
    code: str | None = None
    retryable: bool | None = None
    retry_after_s: float | None = None


# --- Options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One ``[engines.NAME]`` key: its type, its default (:data:`REQUIRED` if it has none),
    and an optional extra check that returns what is wrong with a value (or None)."""

    kind: type
    default: Any
    check: Callable[[Any], str | None] | None = None


REQUIRED: Any = object()

_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list of strings", dict: "a table"}


def _is_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    if kind is list:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, kind)


def positive(value: float) -> str | None:
    return None if value > 0 else "expected a number above 0"


# More threads than this only queue at the service; more seconds than this is a slip of the keyboard.
MAX_CONCURRENCY = 256
MAX_SECONDS = 7 * 24 * 3600


def _concurrency(value: int) -> str | None:
    return None if 1 <= value <= MAX_CONCURRENCY else f"expected an integer from 1 to {MAX_CONCURRENCY}"


def _timeout(value: float) -> str | None:
    return None if 0 < value <= MAX_SECONDS else f"expected a number of seconds above 0, at most {MAX_SECONDS}"


def _http_url(value: str) -> str | None:
    return None if re.match(r"https?://[^/\s]+", value) else 'expected an http:// or https:// address'


def common_options(*, base_url: str, timeout_s: float) -> dict[str, Option]:
    """The options every HTTP adapter takes, with the adapter's defaults. ``concurrency``
    defaults to the engine class's ``concurrency``."""
    return {
        "base_url": Option(str, base_url, _http_url),
        "api_key_env": Option(str, None),
        "timeout_s": Option(float, timeout_s, _timeout),
        "concurrency": Option(int, None, _concurrency),
    }


EXTRA_OPTION: dict[str, Option] = {"extra": Option(dict, {})}


def read_options(engine: str, given: Mapping[str, Any], schema: Mapping[str, Option]) -> dict[str, Any]:
    """The engine's options with defaults filled in; every problem is reported at once, named
    as ``engines.NAME.KEY`` in ``kiln.toml``."""
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(CONFIG_NAME, None, f"engines.{engine}.{key}", message))

    settings: dict[str, Any] = {}
    for key, value in given.items():
        option = schema.get(key)
        if option is None:
            close = difflib.get_close_matches(key, schema, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problem(key, f"unknown option{hint}; expected one of {', '.join(sorted(schema))}")
            continue
        if not _is_kind(value, option.kind):
            problem(key, f"expected {_KIND_NAMES[option.kind]}, got {show(value)}")
            continue
        if option.kind is float and not math.isfinite(value):
            problem(key, f"expected a finite number, got {show(value)}")
            continue
        if option.check and (message := option.check(value)):
            problem(key, f"{message}, got {show(value)}")
            continue
        # TOML writes 300 for 300.0; numbers are floats from here on.
        settings[key] = float(value) if option.kind is float else value
    for key, option in schema.items():
        if key not in given and option.default is REQUIRED:
            problem(key, f"required: {_KIND_NAMES[option.kind]}")
        settings.setdefault(key, option.default)
    if problems:
        raise InputError(problems)
    return settings


def check_extra(engine: str, extra: Mapping[str, Any], managed: Iterable[str]) -> None:
    """Refuse ``extra`` keys (dotted paths into the request body) that kiln fills itself, so
    a setting never silently overrides the recipe or loses to it."""
    problems = []
    for path in managed:
        node: Any = extra
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            problems.append(Problem(CONFIG_NAME, None, f"engines.{engine}.extra.{path}",
                                    "kiln sets this itself; remove it from extra"))
    if problems:
        raise InputError(problems)


def merged(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with ``extra`` merged in, tables merged key by key."""
    out = dict(body)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(dict(out[key]), value)
        else:
            out[key] = value
    return out


# --- Images ----------------------------------------------------------------------------------

DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,([A-Za-z0-9+/=\s]+)", re.IGNORECASE)


def decode_base64(data: str, label: str) -> bytes:
    """Base64 image data as bytes, bare or as a ``data:image/...;base64,`` URL."""
    match = DATA_URL.search(data)
    text = match.group(1) if match else data
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPEngineError(f"{label}: the image data is not valid base64 ({exc})",
                              code="BAD_RESPONSE", retryable=False) from exc


def decode_image(data: bytes, request: GenerateRequest, label: str, hint: str = "") -> Image.Image:
    """The image in ``data``, checked to be a whole file of the requested size (never resized:
    a different size means the recipe asks for something the service does not make). ``hint``
    is added to the size error to say what to do about it.

    Only the header is read and the file checked (chunk checksums for a PNG): the pixels are
    decoded once, by the finishing worker that is handed ``data`` itself
    (``GenerateResult.encoded``)."""
    try:
        image = Image.open(io.BytesIO(data))
        Image.open(io.BytesIO(data)).verify()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise HTTPEngineError(f"{label}: the service sent {len(data)} bytes that are not a readable image ({exc})",
                              code="BAD_RESPONSE", retryable=False) from exc
    if image.size != (request.width, request.height):
        raise HTTPEngineError(
            f"{label}: the service made {image.width}x{image.height}, the recipe asks for "
            f"{request.width}x{request.height}{hint}",
            code="WRONG_SIZE", retryable=False,
        )
    return image


@dataclass(frozen=True)
class EncodedImage:
    """A reference image ready to send: its bytes, MIME type and file name."""

    data: bytes
    mime_type: str
    filename: str

    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")


_MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def read_reference(reference: str, root: Path, label: str) -> EncodedImage:
    """A reference image's bytes, exactly as they are on disk; relative paths are read from
    the project root. Fitting references into a service's payload is the runner's job."""
    path = Path(reference)
    if not path.is_absolute():
        path = root / path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HTTPEngineError(f"{label}: reference image {reference!r} cannot be read ({exc.strerror})",
                              code="REFERENCE_MISSING", retryable=False) from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
    except (OSError, ValueError) as exc:
        raise HTTPEngineError(f"{label}: reference image {reference!r} is not a readable image ({exc})",
                              code="BAD_REFERENCE", retryable=False) from exc
    if kind not in _MIME_TYPES:
        raise HTTPEngineError(f"{label}: reference image {reference!r} is {kind}; services take PNG, JPEG or WebP",
                              code="BAD_REFERENCE", retryable=False)
    return EncodedImage(data, _MIME_TYPES[kind], path.name)


# --- The engine base -------------------------------------------------------------------------


def _body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def excerpt(text: str) -> str:
    """``text`` on one line, cut to a length a message can carry."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


def _text_excerpt(response: httpx.Response) -> str:
    """A non-JSON body as message text, HTML tags dropped."""
    return excerpt(re.sub(r"<[^>]+>", " ", response.text))


class HTTPEngine(Engine):
    """An engine behind an HTTP API. Subclasses set ``options_schema`` and implement
    ``_generate``; they may override ``_auth_headers``, ``_error_detail`` and ``_prepare``.
    ``managed_fields`` are the request-body fields (dotted paths) kiln fills itself, which
    the ``extra`` option may not set."""

    local: bool = False
    concurrency: int = 4
    options_schema: ClassVar[dict[str, Option]] = {}
    managed_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, options: dict[str, Any] | None = None, *, root: Path | None = None):
        super().__init__(name, options, root=root)
        self.settings = self._read_options(name, self.options)
        if self.settings["concurrency"] is None:
            self.settings["concurrency"] = type(self).concurrency
        self.concurrency = self.settings["concurrency"]
        self.base_url = self.settings["base_url"].rstrip("/")
        self.label = name if name == self.type else f"{name} ({self.type})"
        self._secret: Secret | None = None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def _read_options(cls, name: str, options: dict[str, Any]) -> dict[str, Any]:
        settings = read_options(name, options, cls.options_schema)
        if "extra" in settings:
            check_extra(name, settings["extra"], cls.managed_fields)
        return settings

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], root: Path) -> list[Problem]:
        try:
            cls._read_options(name, options)
        except InputError as error:
            return error.problems
        return []

    def references(self, request: GenerateRequest) -> list[EncodedImage]:
        """The job's reference images, read for sending."""
        return [read_reference(reference, self.root, self.label) for reference in request.references]

    # Loading and generating

    def _load(self, model: str, progress: ProgressFn) -> float:
        started = time.perf_counter()
        env = self.settings["api_key_env"]
        if env and self._secret is None:
            value = os.environ.get(env, "").strip()
            if not value:
                raise HTTPEngineError(
                    f"{self.label}: the environment variable {env} (api_key_env) is not set",
                    code="MISSING_API_KEY", retryable=False,
                )
            self._secret = Secret(value)
        # The client (its TLS context takes a while) is made here, before the runner hands out
        # a rate-limit slot, so the first requests leave when their slot says.
        self._http()
        self._prepare(model, progress)
        return (time.perf_counter() - started) * 1000.0

    def _prepare(self, model: str, progress: ProgressFn) -> None:
        """Adapter-specific loading; nothing by default."""

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        started = time.perf_counter()
        try:
            result = self._generate(request, progress)
        except EngineError as error:
            # The last line of defence: a service or proxy may echo the key in its own text.
            if self._secret and isinstance(error.args[0], str):
                error.args = (self._secret.redact(error.args[0]),)
            raise
        result.timings_ms["total"] = round((time.perf_counter() - started) * 1000.0, 1)
        return result

    @abstractmethod
    def _generate(self, request: GenerateRequest, progress: ProgressFn) -> GenerateResult:
        """The adapter's work for one job; ``generate`` times it and redacts its errors."""

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        super().close()

    # HTTP

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def _error_detail(self, status: int, body: Any) -> ErrorDetail:
        """What the service's error body says; adapters know their service's shape."""
        return ErrorDetail()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                # No redirects: httpx drops Authorization on a cross-host redirect, but not a
                # key in another header (x-goog-api-key), and image APIs do not redirect.
                self._client = httpx.Client(headers={"User-Agent": "kiln"}, follow_redirects=False)
            return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        url: str | None = None,
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request to ``base_url + path`` (or to ``url``, unauthenticated, for links
        a service hands back) and return the response if it succeeded."""
        target = url or self.base_url + path
        # A link a service hands back may point at another host, which must not see the key.
        headers = self._auth_headers(self._secret.reveal()) if self._secret and not url else {}
        timeout = timeout_s or self.settings["timeout_s"]
        where = f"{method} {target.split('?', 1)[0]}"
        started = time.perf_counter()
        try:
            response = self._http().request(
                method, target, headers=headers,
                timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)), **kwargs,
            )
        except httpx.TimeoutException as exc:
            raise HTTPEngineError(f"{self.label}: no answer to {where} within {timeout:g} s",
                                  code="TIMEOUT", retryable=True) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            raise HTTPEngineError(f"{self.label}: {where} failed: {exc or type(exc).__name__}",
                                  code="CONNECTION_ERROR", retryable=True) from exc
        log.debug("%s: %s -> %d in %.0f ms", self.label, where, response.status_code,
                  (time.perf_counter() - started) * 1000.0)
        if response.is_success:
            return response
        raise self._status_error(response)

    def json(self, response: httpx.Response) -> Any:
        """The JSON body of a successful response."""
        body = _body_of(response)
        if body is None:
            raise HTTPEngineError(
                f"{self.label}: expected JSON from {response.request.url.path}, got {_text_excerpt(response)!r}",
                code="BAD_RESPONSE", retryable=False,
            )
        return body

    def bad_response(self, what: str) -> HTTPEngineError:
        """An error for a successful answer that lacks what the protocol promises."""
        return HTTPEngineError(f"{self.label}: unexpected answer: {what}", code="BAD_RESPONSE", retryable=False)

    def _status_error(self, response: httpx.Response) -> HTTPEngineError:
        status = response.status_code
        detail = self._error_detail(status, _body_of(response))
        message = detail.message or _text_excerpt(response) or "(no message)"
        if status in (401, 403) and not self.settings["api_key_env"]:
            message += " (no api_key_env is set for this engine in kiln.toml)"
        elif status == 413:
            message += " (the request is too large: use fewer or smaller references, or lower payload.max_payload_bytes)"
        retry_after = parse_retry_after(response.headers)
        return HTTPEngineError(
            f"{self.label}: HTTP {status} {response.reason_phrase}: {excerpt(message)}",
            code=detail.code or f"HTTP_{status}",
            retryable=retryable_status(status) if detail.retryable is None else detail.retryable,
            status=status,
            retry_after_s=retry_after if retry_after is not None else detail.retry_after_s,
        )
