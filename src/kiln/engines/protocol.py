"""The cn-engine NDJSON protocol: message shapes shared by kiln's client and server.

cn-engine (condenser.cpp's ``tools/engine``) is an image engine run as a child process. It
reads one JSON object per line on stdin, ``{"id": "...", "cmd": "...", "params": {...}}``,
and writes one JSON object per line on stdout::

    {"id": "<the request's id, or "">", "type": "ok|progress|result|error", "data": {...}}

A request gets zero or more ``progress`` lines and then exactly one terminal line (``ok``,
``result`` or ``error``). Errors carry ``data.message`` and, except for validation errors,
``data.code``. Logs go to stderr. Images travel as file paths, never inline.

kiln speaks this protocol in both directions: :mod:`kiln.engines.ndjson` drives any engine
that speaks it (cn-engine itself, ``kiln engine serve``, a test double), and
:mod:`kiln.engines.server` serves any kiln engine with it. This module holds what both
sides must agree on: the vocabulary, the envelope, and the mapping between the protocol's
progress events and kiln's :class:`~kiln.engines.base.Progress`.
"""

from __future__ import annotations

import json
from typing import Any

from kiln.engines.base import Progress

COMMANDS = ("ping", "load", "generate", "upscale", "unload", "status", "quit")
# Types of reply line: any number of progress lines, then one of the others.
REPLY_TYPES = ("ok", "progress", "result", "error")

# Error codes cn-engine uses. Validation errors (a missing ``params`` object, a missing
# ``input``, an out-of-range ``upscale_repeats``) have no code at all.
PARSE_ERROR = "PARSE_ERROR"
UNKNOWN_CMD = "UNKNOWN_CMD"
NO_MODEL = "NO_MODEL"
NO_UPSCALER = "NO_UPSCALER"
CTX_CREATION_FAILED = "CTX_CREATION_FAILED"
UPSCALER_CREATION_FAILED = "UPSCALER_CREATION_FAILED"
REF_IMAGE_LOAD_FAILED = "REF_IMAGE_LOAD_FAILED"
OUTPUT_DIR_FAILED = "OUTPUT_DIR_FAILED"
GENERATION_FAILED = "GENERATION_FAILED"
UPSCALE_FAILED = "UPSCALE_FAILED"
NO_OUTPUT = "NO_OUTPUT"
ERROR_CODES = frozenset(
    {
        PARSE_ERROR,
        UNKNOWN_CMD,
        NO_MODEL,
        NO_UPSCALER,
        CTX_CREATION_FAILED,
        UPSCALER_CREATION_FAILED,
        REF_IMAGE_LOAD_FAILED,
        OUTPUT_DIR_FAILED,
        GENERATION_FAILED,
        UPSCALE_FAILED,
        NO_OUTPUT,
    }
)

BANNER_SUFFIX = "started. Awaiting JSON commands on stdin."


def encode(message: dict[str, Any]) -> str:
    """One message as one protocol line: compact JSON and a newline."""
    # ensure_ascii=False: prompts travel as UTF-8, as cn-engine writes them. JSON escapes
    # control characters inside strings, so the only raw newline is the terminator.
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"


def request(request_id: str, cmd: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A request object; ``params`` is left out when there are none, as for ``ping``."""
    message: dict[str, Any] = {"id": request_id, "cmd": cmd}
    if params is not None:
        message["params"] = params
    return message


def reply(request_id: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A reply envelope: ``kind`` is one of :data:`REPLY_TYPES`."""
    return {"id": request_id, "type": kind, "data": data}


def error(request_id: str, message: str, code: str | None = None) -> dict[str, Any]:
    """An error reply; ``code`` is omitted, not null, for validation errors."""
    data: dict[str, Any] = {"message": message}
    if code:
        data["code"] = code
    return reply(request_id, "error", data)


def decode(line: bytes | str) -> dict[str, Any] | None:
    """A reply line as a dict, or None if it is not a protocol message (log noise)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") not in REPLY_TYPES:
        return None
    if not isinstance(message.get("data"), dict):
        message["data"] = {}
    return message


def progress_data(progress: Progress, step_time_s: float | None = None) -> dict[str, Any]:
    """kiln progress as a protocol ``progress`` payload.

    Step events look like cn-engine's library callback (``step``, ``total_steps``,
    ``step_time_s``); other events carry a ``message``.
    """
    if progress.total:
        return {
            "phase": progress.phase,
            "step": progress.step,
            "total_steps": progress.total,
            "step_time_s": round(step_time_s or 0.0, 6),
        }
    return {"phase": progress.phase, "message": progress.message}


def progress_from_data(data: dict[str, Any]) -> Progress:
    """A protocol ``progress`` payload as kiln progress; fields of the wrong type read as empty."""

    def integer(key: str) -> int:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    message = data.get("message")
    return Progress(
        phase=str(data.get("phase") or "sampling"),
        step=integer("step"),
        total=integer("total_steps"),
        message=message if isinstance(message, str) else "",
    )
