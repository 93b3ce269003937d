"""The ``ndjson`` engine: an engine process driven over the cn-engine NDJSON protocol.

kiln starts the configured ``command`` as a child process (no shell) and talks to it on its
stdin and stdout, one JSON object a line, as cn-engine (condenser.cpp) expects; see
:mod:`kiln.engines.protocol`. Anything that speaks the protocol works: cn-engine itself,
``kiln engine serve``, or a wrapper script around another backend. A project declares one in
``kiln.toml``::

    [engines.klein]
    type = "ndjson"
    command = ["/opt/condenser/bin/cn-engine"]     # or one string, split like a shell would
    load = { offload_to_cpu = true, flash_attn = true }
    timeout_s = 600

    [engines.klein.models."flux2-klein-4b"]        # what `model = "flux2-klein-4b"` loads
    diffusion_model = "/models/flux2-klein-Q5_K.gguf"
    vae = "/models/ae.safetensors"
    llm = "/models/qwen3-4b-q8_0.gguf"

Options:

``command`` (required)
    The engine's argv: a list of strings, or a string split with :func:`shlex.split`.
``load``
    Parameters sent with every ``load`` command (``n_threads``, ``offload_to_cpu``, ...).
``models``
    Recipe model name → the ``load`` parameters that load it (merged over ``load``); a string
    stands for ``{ model = "<string>" }``. When ``models`` is set, a recipe naming a model not
    in it fails with ``UNKNOWN_MODEL``. Without ``models``, the recipe's model name is sent as
    ``model``, unless ``load`` already names a ``model`` or ``diffusion_model``: then the
    engine always loads that one and the recipe's model is only a label.
``generate``
    Parameters added to every ``generate`` command (``vae_tiling``, ``use_prompt_cache``, ...);
    the job's own values win.
``timeout_s`` (600), ``load_timeout_s`` (600), ``startup_timeout_s`` (30)
    How long the engine may stay silent, in seconds, while it generates, loads a model, or
    starts and answers ``ping``. Every reply line (a progress event too) restarts the clock,
    so a long generation that reports its steps never times out.
``progress_timeout_s`` (off)
    The progress watchdog: once a generation has reported a sampling step, the next step
    must come within this many seconds, until the last. An engine that stalls mid-sampling
    is killed, restarted, and the job tried again at once, instead of after ``timeout_s``.
    Set it above the slowest step (the first step of a new prompt may take longest).
``quit_grace_s`` (5)
    How long :meth:`NdjsonEngine.close` waits after ``quit`` before it kills the process.
``env``
    Extra environment variables for the engine (strings).
``log_path``, ``log_dir``
    The engine's stderr is appended to ``log_path`` (or ``<log_dir>/engine-NAME.log``), with
    kiln's notes on starts, crashes and kills. With neither, ``kiln run`` sets the
    :attr:`NdjsonEngine.log_path` attribute to a log per run in ``art/logs``; used on its
    own, the engine falls back to ``art/logs/engine-NAME.log`` under the working folder.
``work_dir`` (the system's temporary folder)
    Where the engine is told to write each image, in a folder of kiln's own
    (``kiln-NAME-HOST-PID-...``); kiln reads each image back and deletes it, and removes the folders
    that killed kiln processes left.

Relative paths (the command, model files, ``log_dir``, ``work_dir``) are relative to the
project's root, where the engine process starts.

Each job's ``generate`` carries ``prompt``, ``width``, ``height``, ``seed``, ``steps``,
``sampling_method`` (the recipe's sampler, when it names one), ``ref_images`` (the
references) and ``output``, plus ``negative_prompt`` and ``guidance``, which cn-engine
ignores and ``kiln engine serve`` uses.

Lifecycle: the process starts on first use and is checked with ``ping``; a model is loaded
once and stays loaded across jobs. If the process dies (EOF on its stdout) or stalls (the
progress watchdog), it is restarted, its model is loaded again and the job is tried once
more, and the failed try is reported as :class:`~kiln.engines.base.Restarted` progress (the
runner records it as a retried attempt, ``ENGINE_CRASHED`` or ``ENGINE_STALLED``); a second
death or stall raises that code (retryable). If it stays silent past its timeout it is killed and the call
raises ``TIMEOUT`` (retryable); the next call starts a fresh process. The engine's own errors
keep their code (a validation error, which has none, becomes ``INVALID_REQUEST``) and are
retryable only when they describe a passing condition (``OUTPUT_DIR_FAILED``, ``NO_OUTPUT``).
:meth:`NdjsonEngine.close` sends ``quit`` and kills the process if it has not exited within
``quit_grace_s``.
"""

from __future__ import annotations

import itertools
import os
import queue
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from kiln import lifeline
from kiln.art import host_tag
from kiln.engines import protocol
from kiln.engines.base import (
    Engine,
    EngineError,
    GenerateRequest,
    GenerateResult,
    Progress,
    ProgressFn,
    Restarted,
    no_progress,
)
from kiln.errors import InputError, Problem
from kiln.paths import unusable_path
from kiln.store.leases import process_alive
from kiln.tomlfile import show

DEFAULT_LOG_DIR = Path("art") / "logs"
# Longer than a week is a slip of the keyboard (or an infinity), not a timeout.
MAX_SECONDS = 7 * 24 * 3600
TIMEOUTS = {"timeout_s": 600.0, "load_timeout_s": 600.0, "startup_timeout_s": 30.0, "quit_grace_s": 5.0}
# Engine error codes that describe a passing condition (a full disk, a vanished folder).
RETRYABLE_CODES = frozenset({protocol.OUTPUT_DIR_FAILED, protocol.NO_OUTPUT})
# Seconds to wait for a process that closed its stdout to finish exiting.
EXIT_WAIT_S = 2.0
STDERR_TAIL_LINES = 3

T = TypeVar("T")


class _Exited(Exception):
    """The engine process is gone: its stdout reached EOF or its stdin is broken."""


class _Silent(Exception):
    """The engine sent nothing within the timeout."""

    def __init__(self, cmd: str, seconds: float):
        super().__init__(f"{cmd}: nothing from the engine for {seconds:g} s")
        self.cmd = cmd
        self.seconds = seconds


class _Stalled(Exception):
    """The engine reported a sampling step, then no next one within the watchdog's time."""

    def __init__(self, cmd: str, seconds: float, last: Progress):
        super().__init__(f"{cmd}: no progress for {seconds:g} s after step {last.step}/{last.total}")
        self.cmd = cmd


class _Settings:
    """The ``[engines.NAME]`` options, checked; every problem is reported at once."""

    def __init__(self, name: str, options: dict[str, Any]):
        self.problems: list[Problem] = []
        self._name = name
        known = {
            "command", "load", "models", "generate", "env", "log_dir", "log_path", "work_dir", "progress_timeout_s",
            *TIMEOUTS,
        }
        for key in options:
            if key not in known:
                self._problem(key, f"unknown option; expected one of {', '.join(sorted(known))}")

        self.command = self._command(options.get("command"))
        self.load = self._table(options, "load")
        self.generate = self._table(options, "generate")
        self.models: dict[str, dict[str, Any]] = {}
        for model, params in self._table(options, "models").items():
            if isinstance(params, str):
                self.models[model] = {"model": params}
            elif isinstance(params, dict):
                self.models[model] = params
            else:
                self._problem(f"models.{model}", f"expected a table of load parameters or a path, got {show(params)}")
        self.env: dict[str, str] = {}
        for key, value in self._table(options, "env").items():
            if isinstance(value, str):
                self.env[key] = value
            else:
                self._problem(f"env.{key}", f"expected a string, got {show(value)}")
        self.seconds: dict[str, float] = {}
        for key, default in TIMEOUTS.items():
            value = options.get(key, default)
            # A zero grace period is a valid choice (kill at once); a zero timeout is not.
            least = 0.0 if key == "quit_grace_s" else 1e-3
            if isinstance(value, bool) or not isinstance(value, int | float) or not least <= value <= MAX_SECONDS:
                self._problem(key, f"expected a number of seconds from {least:g} to {MAX_SECONDS}, got {show(value)}")
                value = default
            self.seconds[key] = float(value)
        self.progress_timeout: float | None = None
        watchdog = options.get("progress_timeout_s")
        if watchdog is not None:
            if isinstance(watchdog, bool) or not isinstance(watchdog, int | float) or not watchdog > 0:
                self._problem("progress_timeout_s", f"expected a number of seconds above 0, got {show(watchdog)}")
            else:
                self.progress_timeout = float(watchdog)
        self.log_dir = self._path(options, "log_dir")
        self.log_path = self._path(options, "log_path")
        self.work_dir = self._path(options, "work_dir")
        if self.problems:
            raise InputError(self.problems)

    def _problem(self, key: str, message: str) -> None:
        self.problems.append(Problem("kiln.toml", None, f"engines.{self._name}.{key}", message))

    def _command(self, value: Any) -> list[str]:
        if isinstance(value, str):
            argv = shlex.split(value, posix=os.name != "nt")
        elif isinstance(value, list) and all(isinstance(part, str) for part in value):
            argv = list(value)
        elif value is None:
            argv = []
        else:
            self._problem("command", f"expected a list of strings or a string, got {show(value)}")
            return []
        if not argv or not argv[0]:
            self._problem("command", "required: the engine's command line, e.g. [\"cn-engine\"]")
        return argv

    def _table(self, options: dict[str, Any], key: str) -> dict[str, Any]:
        value = options.get(key, {})
        if not isinstance(value, dict):
            self._problem(key, f"expected a table, got {show(value)}")
            return {}
        return dict(value)

    def _path(self, options: dict[str, Any], key: str) -> Path | None:
        value = options.get(key)
        if value is None:
            return None
        if isinstance(value, str | os.PathLike) and str(value):
            unusable = unusable_path(str(value))
            if unusable:
                self._problem(key, f"{show(str(value))} {unusable}")
                return None
            return Path(value)
        self._problem(key, f"expected a path, got {show(value)}")
        return None


class _Log:
    """The engine's log file: its stderr, verbatim, and kiln's notes, each flushed at once.

    An engine started before its log has a name (``kiln run`` names it after the run, which
    planning precedes) has its lines held until :meth:`open` names the file; a run that ends
    before then (a recipe found bad while planning) leaves no file behind.
    """

    def __init__(self, path: Path | None):
        self.path: Path | None = None
        self._file: BinaryIO | None = None
        self._held: list[bytes] = []
        self._closed = False
        self._lock = threading.Lock()
        if path is not None:
            self.open(path)

    def open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = open(path, "ab")  # noqa: SIM115 - open for the engine's whole life
        with self._lock:
            self.path, self._file = path, file
            file.write(b"".join(self._held))
            file.flush()
            self._held = []

    def write(self, data: bytes) -> None:
        line = data if data.endswith(b"\n") else data + b"\n"
        with self._lock:
            # The stderr thread may still hold a last line after close().
            if self._closed:
                return
            if self._file is None:
                self._held.append(line)
                return
            self._file.write(line)
            self._file.flush()

    def note(self, text: str) -> None:
        self.write(f"[kiln ] {datetime.now().isoformat(timespec='seconds')} {text}\n".encode())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()


class _Process:
    """One running engine process, with threads that drain its stdout and stderr."""

    def __init__(self, argv: list[str], env: dict[str, str], log: _Log, name: str, cwd: Path):
        # A session of its own: Ctrl-C in the terminal reaches kiln, which stops after the
        # job, instead of killing the engine mid-image; and a kill can take the whole group.
        detach: dict[str, Any] = (
            {"start_new_session": True}
            if os.name == "posix"
            else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]
        )
        # And it dies with kiln: a killed kiln must not leave an engine holding a GPU's memory.
        self.popen = lifeline.popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, **detach
        )
        self.log = log
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._threads = [
            threading.Thread(target=self._pump_stdout, name=f"kiln-{name}-stdout", daemon=True),
            threading.Thread(target=self._pump_stderr, name=f"kiln-{name}-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def _pump_stdout(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        # Drained continuously so a chatty engine never blocks on a full pipe.
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.log.write(line)
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    def send(self, message: dict[str, Any]) -> None:
        stdin = self.popen.stdin
        assert stdin is not None
        try:
            stdin.write(protocol.encode(message).encode("utf-8"))
            stdin.flush()
        except (OSError, ValueError) as problem:  # ValueError: stdin already closed
            raise _Exited(f"cannot write to the engine: {problem}") from None

    def next_line(self, timeout: float) -> bytes | None:
        """The next stdout line, or None if none came within ``timeout`` seconds."""
        try:
            line = self.lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if line is None:
            self.lines.put(None)  # later reads see the EOF too
            raise _Exited("the engine closed its stdout")
        return line

    def close_stdin(self) -> None:
        if self.popen.stdin is not None:
            try:
                self.popen.stdin.close()
            except OSError:
                pass  # a broken pipe: the process is gone, which is what closing asks for

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if os.name == "posix":
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass  # the group is already empty
        if self.alive:
            self.popen.kill()
        self.popen.wait()

    def finish(self) -> str:
        """Reap the stopped process, release its pipes and describe how it ended."""
        self.close_stdin()
        for thread in self._threads:
            thread.join(timeout=1.0)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()
        code = self.popen.returncode
        if code is None:
            return "is still running"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"

    def last_words(self) -> str:
        return f"; its stderr ended: {' | '.join(self.stderr_tail)}" if self.stderr_tail else ""


class NdjsonEngine(Engine):
    """An engine process that speaks the cn-engine NDJSON protocol on stdio."""

    type = "ndjson"
    description = (
        "An engine process speaking the cn-engine NDJSON protocol on stdin/stdout: cn-engine "
        "(condenser.cpp), `kiln engine serve`, or any adapter that speaks it."
    )

    def __init__(self, name: str, options: dict[str, Any] | None = None, *, root: Path | None = None):
        super().__init__(name, options, root=root)
        self.settings = _Settings(name, self.options)
        #: Where the engine's stderr goes. None until an option or the runner sets it (before
        #: the process first starts); then ``art/logs/engine-NAME.log`` under the working folder.
        for key in ("log_dir", "log_path", "work_dir"):
            path = getattr(self.settings, key)
            if path is not None and not path.is_absolute():
                setattr(self.settings, key, self.root / path)
        self.log_path: Path | None = self.settings.log_path or (
            self.settings.log_dir / f"engine-{name}.log" if self.settings.log_dir else None
        )
        self._process: _Process | None = None
        self._greeted = False  # whether the running process has answered ping
        self._process_model: str | None = None  # the model the running process holds
        self._model_info = ""  # the engine's name for that model
        self._log: _Log | None = None
        self._work_dir: Path | None = None
        # Ids unique across restarts and engines, so a late line is never taken for a reply.
        self._ids = (f"{secrets.token_hex(3)}-{n}" for n in itertools.count(1))

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], root: Path) -> list[Problem]:
        try:
            _Settings(name, options)
        except InputError as error:
            return error.problems
        return []

    @property
    def pid(self) -> int | None:
        """The running engine process's id, if one is running."""
        return self._process.pid if self._process and self._process.alive else None

    # --- Engine interface ------------------------------------------------------------------

    def start(self) -> None:
        """Start the engine process and leave it booting; the first call greets it."""
        if self._process is not None:
            return
        try:
            self._spawn(self._log or _Log(self.log_path))
        except (EngineError, OSError):
            self._log = None  # the first call starts it again, and reports why it cannot

    def load(self, model: str, progress: ProgressFn = no_progress) -> float:
        """Make ``model`` ready in the engine process; milliseconds taken (0 if it was loaded)."""
        # Unlike the base class, also look at the process: after a restart it holds nothing.
        if self._process_model == model and self._process is not None and self._process.alive:
            return 0.0
        elapsed = self._load(model, progress)
        self.loaded_model = model
        return elapsed

    def _load(self, model: str, progress: ProgressFn) -> float:
        started = time.perf_counter()
        self._with_restart(lambda: self._ensure_model(model, progress), progress)
        return (time.perf_counter() - started) * 1000.0

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        return self._with_restart(lambda: self._generate_once(request, progress), progress)

    def status(self) -> dict[str, Any]:
        """The engine's answer to ``status`` (starting the process if needed)."""

        def ask() -> dict[str, Any]:
            self._ensure_process()
            return self._call("status", None, self.settings.seconds["startup_timeout_s"])

        return self._with_restart(ask, no_progress)

    def close(self) -> None:
        """Send ``quit``, wait ``quit_grace_s`` for the process to exit, then kill it."""
        if self._process is not None:
            self._stop()
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        if self._log is not None:
            self._log.close()
            self._log = None
        super().close()

    # --- Jobs ------------------------------------------------------------------------------

    def _generate_once(self, request: GenerateRequest, progress: ProgressFn) -> GenerateResult:
        self._ensure_model(request.model, progress)
        output = self._outputs() / f"{uuid.uuid4().hex}.png"
        params: dict[str, Any] = {
            **self.settings.generate,
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "width": request.width,
            "height": request.height,
            "seed": request.seed,
            "steps": request.steps,
            "guidance": request.guidance,
            "output": str(output),
        }
        if request.sampler:
            params["sampling_method"] = request.sampler
        if request.references:
            # Absolute, like the output path: a wrapper command may change folders.
            params["ref_images"] = [os.path.abspath(path) for path in request.references]
        params.update(request.params)
        timeout = self.settings.seconds["timeout_s"]
        started = time.perf_counter()
        try:
            try:
                data = self._call("generate", params, timeout, progress, watchdog=self.settings.progress_timeout)
            except EngineError as error:
                if error.code != protocol.NO_MODEL:
                    raise
                # The process lost its model behind our back: load it again, try once more.
                self._process_model = None
                self._ensure_model(request.model, progress)
                data = self._call("generate", params, timeout, progress, watchdog=self.settings.progress_timeout)
            result = _read_image(output, request.seed)
        finally:
            output.unlink(missing_ok=True)
        roundtrip_ms = (time.perf_counter() - started) * 1000.0

        timings = {"roundtrip": roundtrip_ms}
        if isinstance(data.get("total_time_ms"), int | float):
            timings["total"] = float(data["total_time_ms"])
        info: dict[str, Any] = {"engine": self.type, "model_info": self._model_info}
        info.update({key: data[key] for key in ("prompt_cache_hit", "ref_latent_cache_hit", "upscaled") if key in data})
        if isinstance(data.get("kiln_info"), dict):
            info["server"] = data["kiln_info"]
            # Pictures from `kiln engine serve` are the placeholder's: say so where kiln looks.
            if data["kiln_info"].get("procedural") is True:
                info["procedural"] = True
        seed = data.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            result.seed = seed
        result.timings_ms, result.info = timings, info
        return result

    def _load_params(self, model: str) -> dict[str, Any]:
        params = dict(self.settings.load)
        if self.settings.models:
            if model not in self.settings.models:
                raise EngineError(
                    f"model {model!r} is not in engines.{self.name}.models "
                    f"(it has {', '.join(sorted(self.settings.models))})",
                    code="UNKNOWN_MODEL",
                )
            params.update(self.settings.models[model])
        elif not (params.get("model") or params.get("diffusion_model")):
            params["model"] = model
        return params

    def _ensure_model(self, model: str, progress: ProgressFn) -> None:
        self._ensure_process()
        if self._process_model == model:
            return
        params = self._load_params(model)
        progress(Progress("loading", message=f"{self.name}: loading {model}"))
        self._process_model = None
        data = self._call("load", params, self.settings.seconds["load_timeout_s"])
        self._process_model = model
        self._model_info = str(data.get("model_info", model))
        self._note(f"loaded {model} ({data.get('load_time_ms', '?')} ms)")

    # --- The process -----------------------------------------------------------------------

    def _with_restart(self, action: Callable[[], T], progress: ProgressFn) -> T:
        """Run ``action``; if the engine dies or stalls, restart it and run ``action`` once more."""
        try:
            try:
                return action()
            except _Exited:
                ending = self._discard()
                self._note(f"the engine crashed ({ending}); restarting it and trying again")
                progress(Restarted(
                    "loading", code="ENGINE_CRASHED",
                    message=f"{self.name}: the engine crashed ({ending}); restarted it to try again",
                ))
            except _Stalled as stall:
                self._note(f"{stall}; killing it, restarting it and trying again")
                ending = self._kill()
                progress(Restarted(
                    "loading", code="ENGINE_STALLED",
                    message=f"{self.name}: {stall}, so it was killed ({ending}); restarted it to try again",
                ))
            try:
                return action()
            except _Exited:
                ending = self._discard()
                raise EngineError(
                    f"the engine crashed again after a restart ({ending})", code="ENGINE_CRASHED", retryable=True
                ) from None
            except _Stalled as stall:
                self._note(f"{stall}; killing it")
                ending = self._kill()
                raise EngineError(
                    f"{stall} again after a restart, so it was killed ({ending}); the next call starts a new one",
                    code="ENGINE_STALLED", retryable=True,
                ) from None
        except _Silent as silence:
            self._note(f"{silence}; killing it")
            ending = self._kill()
            raise EngineError(
                f"the engine sent nothing for {silence.seconds:g} s during {silence.cmd}, so it was "
                f"killed ({ending}); the next call starts a new one",
                code="TIMEOUT",
                retryable=True,
            ) from None

    def _ensure_process(self) -> _Process:
        if self._process is not None:
            if not self._greeted:  # set off by start(): booting, or failed to
                self._open_log()
                return self._greet(self._process)
            if self._process.alive:
                return self._process
            # Died between jobs: nothing was lost, so this does not count as a crash.
            self._note(f"the engine died while idle ({self._discard()}); starting a new one")
        return self._greet(self._spawn(self._open_log()))

    def _spawn(self, log: _Log) -> _Process:
        self._log = log
        env = {**os.environ, **self.settings.env}
        try:
            process = _Process(self.settings.command, env, log, self.name, self.root)
        except OSError as problem:
            raise EngineError(
                f"cannot start {shlex.join(self.settings.command)}: {problem}", code="ENGINE_START_FAILED"
            ) from None
        self._process = process
        self._greeted = False
        self._process_model = None
        self._model_info = ""
        self._note(f"started pid {process.pid}: {shlex.join(self.settings.command)}")
        return process

    def _greet(self, process: _Process) -> _Process:
        """Wait for a new process's answer to ping."""
        try:
            data = self._call("ping", None, self.settings.seconds["startup_timeout_s"])
        except _Exited:
            ending = self._discard()
            raise EngineError(
                f"{shlex.join(self.settings.command)} failed before answering ping ({ending}); see {process.log.path}",
                code="ENGINE_START_FAILED",
            ) from None
        if data.get("status") != "pong":
            self._kill()
            raise EngineError(f"the engine answered ping with {data!r}, not pong", code="PROTOCOL_ERROR")
        self._greeted = True
        return process

    def _call(
        self,
        cmd: str,
        params: dict[str, Any] | None,
        timeout: float,
        progress: ProgressFn | None = None,
        *,
        watchdog: float | None = None,
    ) -> dict[str, Any]:
        """Send one command and return the data of its ``ok`` or ``result`` reply.

        With ``watchdog``, a sampling step reported before the last arms a deadline that only
        the next progress event of this request moves on."""
        process = self._process
        assert process is not None
        request_id = f"{cmd}-{next(self._ids)}"
        process.send(protocol.request(request_id, cmd, params))
        deadline = time.monotonic() + timeout
        step_due: float | None = None
        last_step = Progress("sampling")
        while True:
            until = deadline if step_due is None else min(deadline, step_due)
            line = process.next_line(until - time.monotonic())
            if line is None:
                if watchdog is not None and until == step_due:
                    raise _Stalled(cmd, watchdog, last_step)
                raise _Silent(cmd, timeout)
            message = protocol.decode(line)
            if message is None:
                self._note(f"stdout line that is not a protocol message: {line[:200]!r}")
                continue
            # Any reply shows the engine is alive, even one for an abandoned request.
            deadline = time.monotonic() + timeout
            kind, data = message["type"], message["data"]
            # An error with an empty id is the engine failing to read our request at all.
            if message.get("id") != request_id and not (kind == "error" and message.get("id") == ""):
                self._note(f"skipped a {kind} line for request {message.get('id')!r}")
                continue
            if kind == "progress":
                update = protocol.progress_from_data(data)
                if watchdog is not None:
                    if update.total and update.step >= update.total:
                        step_due = None  # decoding and saving report no steps
                    elif update.step > 0:
                        step_due, last_step = time.monotonic() + watchdog, update
                if progress is not None:
                    progress(update)
                continue
            if kind == "error":
                code = str(data.get("code") or "INVALID_REQUEST")
                raise EngineError(
                    f"{cmd}: {data.get('message') or 'no message'}", code=code, retryable=code in RETRYABLE_CODES
                )
            return data

    def _stop(self) -> None:
        process = self._process
        assert process is not None
        self._process = None
        self._process_model = None
        if process.alive and not self._greeted:
            # Asked nothing yet, so it holds nothing: waiting for it to boot only to quit it
            # would hold up a run that stopped before its first job, or found bad input.
            self._note(f"pid {process.pid} was started but not needed; killing it")
            process.kill()
        elif process.alive:
            grace = self.settings.seconds["quit_grace_s"]
            try:
                process.send(protocol.request(f"quit-{next(self._ids)}", "quit"))
            except _Exited:
                pass  # it is exiting anyway; the wait below sees to it
            process.close_stdin()
            if process.wait(grace) is None:
                self._note(f"pid {process.pid} did not exit within {grace:g} s of quit; killing it")
                process.kill()
        self._note(f"pid {process.pid} {process.finish()}")

    def _discard(self) -> str:
        """Forget a process that died (or closed its stdout); how it ended, for messages."""
        process = self._process
        assert process is not None
        self._process = None
        self._process_model = None
        if process.wait(EXIT_WAIT_S) is None:
            process.kill()
        return f"pid {process.pid} {process.finish()}{process.last_words()}"

    def _kill(self) -> str:
        process = self._process
        assert process is not None
        self._process = None
        self._process_model = None
        process.kill()
        return f"pid {process.pid} {process.finish()}"

    def _open_log(self) -> _Log:
        path = self.log_path or self.root / DEFAULT_LOG_DIR / f"engine-{self.name}.log"
        if self._log is None or self._log.path != path:
            try:
                if self._log is not None and self._log.path is None:  # its process started before it had a name
                    self._log.open(path)
                else:
                    if self._log is not None:
                        self._log.close()
                    self._log = _Log(path)
            except OSError as problem:
                raise EngineError(f"cannot open the engine log {path}: {problem}", code="ENGINE_START_FAILED") from None
        return self._log

    def _note(self, text: str) -> None:
        if self._log is not None:
            self._log.note(text)

    def _outputs(self) -> Path:
        if self._work_dir is None:
            parent = self.settings.work_dir
            if parent is not None:
                parent.mkdir(parents=True, exist_ok=True)
            prefix = f"kiln-{self.name}-{host_tag()}-{os.getpid()}-"
            self._work_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent)).absolute()
            _sweep_work_dirs(self._work_dir.parent)
        return self._work_dir


def _sweep_work_dirs(parent: Path) -> None:
    """Remove the work folders of kiln processes that are gone: one killed (``kill -9``)
    could not remove its own. A folder is kiln's by its name, ``kiln-ENGINE-HOST-PID-...``;
    those of other machines (a shared ``work_dir``) and of live processes are left alone."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    here = host_tag()
    for entry in entries:
        parts = entry.name.split("-")
        if len(parts) < 5 or parts[0] != "kiln" or parts[-3] != here or not parts[-2].isdigit():
            continue
        if len(parts[-2]) <= 9 and entry.is_dir(follow_symlinks=False) and not process_alive(int(parts[-2])):
            shutil.rmtree(entry.path, ignore_errors=True)


def _read_image(path: Path, seed: int, **fields: Any) -> GenerateResult:
    """The engine's output file as a result: its bytes, kept as they are, so the file can go."""
    if not path.exists():
        raise EngineError(
            f"the engine reported success but wrote no image at {path}", code="NO_OUTPUT", retryable=True
        )
    try:
        return GenerateResult.from_file(path.read_bytes(), seed, **fields)
    except (OSError, ValueError, SyntaxError) as problem:  # Pillow says "broken PNG" with a SyntaxError
        raise EngineError(
            f"the engine wrote an unreadable image: {problem}", code="BAD_OUTPUT", retryable=True
        ) from None
