"""``kiln engine serve``: any kiln engine behind the cn-engine NDJSON protocol on stdio.

The server reads one JSON request per line on stdin and answers on stdout exactly as
cn-engine does (see :mod:`kiln.engines.protocol`), so whatever drives cn-engine can drive
kiln's engines, and kiln's ``ndjson`` client can be tested end to end without cn-engine.
By default it serves the procedural placeholder engine.

Behaviour, command by command, and where it departs from cn-engine:

* ``ping`` → ``ok {"status": "pong"}``.
* ``load`` frees the current model, then loads ``params.model`` (or, failing that,
  ``params.diffusion_model``) into the kiln engine; the placeholder accepts any name. With
  neither, or when the engine refuses, the error is ``CTX_CREATION_FAILED``. Other load
  parameters (``vae``, ``llm``, ``n_threads``, ...) are accepted and ignored. A non-empty
  ``upscale_model`` "loads" the upscaler, which is procedural (see ``upscale``).
* ``generate`` needs a loaded model (else ``NO_MODEL``), takes cn-engine's parameters and two
  that cn-engine ignores and kiln engines use: ``negative_prompt`` (default ``""``) and
  ``guidance`` (default 3.5). ``steps`` defaults to 20, as in cn-engine's library, and a
  negative ``seed`` draws a random one, reported in the result. The image is written to
  ``output`` (parent folders created; ``.jpg``/``.jpeg`` gives JPEG quality 90, anything else
  PNG). Progress is the kiln engine's own: ``conditioning``, one ``sampling`` event per step
  with ``step_time_s``, ``saving``. kiln's ``INVALID_REQUEST`` becomes a validation error
  (no code); any other engine failure, including the placeholder's failure word in the
  prompt (``_fail_``), is ``GENERATION_FAILED``. The result adds one key cn-engine does not
  send, ``kiln_info``: the kiln engine's own description of the image (for the placeholder,
  ``procedural: true``).
* ``upscale`` is a procedural upscale: Pillow's Lanczos resampling by ``upscale_factor``,
  ``upscale_repeats`` times. As in cn-engine it needs an upscaler named in ``load`` or in the
  request (any name), otherwise ``NO_UPSCALER``. ``generate`` with ``upscale_repeats > 0``
  uses the same upscaler.
* ``unload``, ``status`` and ``quit`` answer as cn-engine does; EOF on stdin exits 0.

Where cn-engine would abort on a malformed request (a non-string ``id``, a parameter of the
wrong type) this server answers with a validation error instead and carries on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from PIL import Image

from kiln import __version__
from kiln.engines import protocol
from kiln.engines.base import Engine, EngineError, GenerateRequest, Progress
from kiln.pngencode import encode_png

NAME = "kiln-engine"
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 3.5
# A Lanczos upscale is cheap, but a few repeats of x4 would ask Pillow for gigapixels.
MAX_UPSCALED_SIDE = 16384

Handler = Callable[[str, dict[str, Any]], None]


class _Invalid(Exception):
    """A validation error: answered without a code, as cn-engine does."""


class _Failed(Exception):
    """A failure with one of the protocol's error codes."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class Server:
    """One protocol session: the engine, what it has loaded, and the reply stream."""

    def __init__(self, engine: Engine, stdout: TextIO, stderr: TextIO, name: str = NAME):
        self.engine = engine
        self.stdout = stdout
        self.stderr = stderr
        self.name = name
        self.model: str | None = None
        self.model_info = ""
        self.loaded_at = 0.0
        self.upscaler_model = ""
        self._handlers: dict[str, Handler] = {cmd: getattr(self, f"_cmd_{cmd}") for cmd in protocol.COMMANDS}

    def run(self, lines: Iterable[str]) -> int:
        """Answer requests until ``quit`` or the end of input; returns the exit status (0)."""
        self.log("INFO", f"{self.name} {__version__} ({self.engine.type}) {protocol.BANNER_SUFFIX}")
        try:
            for line in lines:
                if line.strip() and not self.handle(line):
                    break
            else:
                if self.model is not None:
                    self.log("INFO", "stdin closed — cleaning up.")
        except BrokenPipeError:
            # The client closed our stdout: nobody is left to answer.
            self.log("WARN", "stdout closed by the client; exiting.")
        self._unload()
        self.log("INFO", f"{self.name} exiting.")
        return 0

    def handle(self, line: str) -> bool:
        """Answer one request line; False once it was ``quit``."""
        try:
            message = json.loads(line, parse_constant=_reject_constant)
        except ValueError:
            self.write(protocol.error("", "Invalid JSON", protocol.PARSE_ERROR))
            return True
        if not isinstance(message, dict):
            self.write(protocol.error("", "A request must be a JSON object"))
            return True
        request_id = message.get("id", "")
        if not isinstance(request_id, str):
            self.write(protocol.error("", "'id' must be a string"))
            return True
        cmd = message.get("cmd", "")
        if not isinstance(cmd, str):
            self.write(protocol.error(request_id, "'cmd' must be a string"))
            return True
        if not cmd:
            self.write(protocol.error(request_id, "Missing 'cmd' field"))
            return True
        handler = self._handlers.get(cmd)
        if handler is None:
            self.write(protocol.error(request_id, f"Unknown command: {cmd}", protocol.UNKNOWN_CMD))
            return True
        try:
            handler(request_id, message)
        except _Invalid as problem:
            self.write(protocol.error(request_id, str(problem)))
        except _Failed as failure:
            self.log("ERROR", f"{cmd} failed: {failure.code}: {failure}")
            self.write(protocol.error(request_id, str(failure), failure.code))
        except BrokenPipeError:
            raise
        except Exception as bug:  # a bug here must cost one request, not the session
            self.log("ERROR", "".join(traceback.format_exception(bug)).rstrip())
            self.write(protocol.error(request_id, f"Internal error: {type(bug).__name__}: {bug}"))
        return cmd != "quit"

    def write(self, message: dict[str, Any]) -> None:
        self.stdout.write(protocol.encode(message))
        self.stdout.flush()

    def log(self, level: str, text: str) -> None:
        self.stderr.write(f"[{level:<5}] {text}\n")
        self.stderr.flush()

    # --- Commands -------------------------------------------------------------------------

    def _cmd_ping(self, request_id: str, message: dict[str, Any]) -> None:
        self.write(protocol.reply(request_id, "ok", {"status": "pong"}))

    def _cmd_load(self, request_id: str, message: dict[str, Any]) -> None:
        params = _params(message, "load")
        # cn-engine frees the current model before it reads anything else.
        self._unload()
        started = time.perf_counter()
        model = _get(params, "model", str, "")
        diffusion_model = _get(params, "diffusion_model", str, "")
        upscale_model = _get(params, "upscale_model", str, "")
        name = model or diffusion_model
        if not name:
            raise _Failed(protocol.CTX_CREATION_FAILED, "Failed to create context: give 'model' or 'diffusion_model'")
        try:
            self.engine.load(name, lambda p: self.log("INFO", p.message or p.phase))
        except EngineError as problem:
            raise _Failed(protocol.CTX_CREATION_FAILED, f"Failed to load {name!r}: {problem}") from None
        self.model = name
        self.model_info = _basename(diffusion_model or model)
        self.loaded_at = time.monotonic()
        self.upscaler_model = upscale_model
        load_time_ms = round((time.perf_counter() - started) * 1000)
        self.log("INFO", f"Model loaded: {self.model_info} ({load_time_ms} ms)")
        self.write(
            protocol.reply(
                request_id,
                "ok",
                {
                    "status": "model_loaded",
                    "model_info": self.model_info,
                    "load_time_ms": load_time_ms,
                    "upscaler_loaded": bool(self.upscaler_model),
                    "upscaler_model": self.upscaler_model,
                },
            )
        )

    def _cmd_generate(self, request_id: str, message: dict[str, Any]) -> None:
        if self.model is None:
            raise _Failed(protocol.NO_MODEL, "No model loaded — send a 'load' command first")
        params = _params(message, "generate")
        started = time.perf_counter()
        prompt = _get(params, "prompt", str, "")
        width = _get(params, "width", int, 512)
        height = _get(params, "height", int, 512)
        seed = _get(params, "seed", int, 42)
        steps = _get(params, "steps", int, DEFAULT_STEPS)
        sampler = _get(params, "sampling_method", str, "")
        output = _get(params, "output", str, "output.png")
        references = _get(params, "ref_images", list, [])
        repeats = _get(params, "upscale_repeats", int, 0)
        factor = _get(params, "upscale_factor", int, 4)
        negative_prompt = _get(params, "negative_prompt", str, "")
        guidance = _get(params, "guidance", float, DEFAULT_GUIDANCE)
        if not all(isinstance(path, str) for path in references):
            raise _Invalid("'ref_images' must be a list of paths")
        if repeats < 0:
            raise _Invalid("'upscale_repeats' must be >= 0")
        if repeats > 0 and not self.upscaler_model:
            raise _Failed(
                protocol.NO_UPSCALER,
                "No upscaler loaded — provide 'upscale_model' in load params before using upscale_repeats",
            )
        for path in references:
            _open_image(path, f"Failed to load reference image: {path}")
        _make_parent(output)
        if seed < 0:
            # cn-engine hands -1 to its library, which draws a seed; here the seed drawn is reported.
            seed = random.randrange(2**31)

        request = GenerateRequest(
            model=self.model,
            prompt=prompt,
            negative_prompt=negative_prompt,
            width=width,
            height=height,
            seed=seed,
            steps=steps,
            guidance=float(guidance),
            sampler=sampler or None,
            references=tuple(references),
        )
        self.log("INFO", f"Generating {width}x{height}, {steps} steps, seed {seed}: {prompt[:60]!r}")
        progress = _ProgressWriter(self, request_id)
        try:
            result = self.engine.generate(request, progress)
        except EngineError as problem:
            if problem.code == "INVALID_REQUEST":
                raise _Invalid(str(problem.args[0])) from None
            code = problem.code if problem.code in protocol.ERROR_CODES else protocol.GENERATION_FAILED
            raise _Failed(code, f"Generation failed: {problem}") from None
        except Exception as bug:
            self.log("ERROR", "".join(traceback.format_exception(bug)).rstrip())
            raise _Failed(protocol.GENERATION_FAILED, f"Generation failed: {type(bug).__name__}: {bug}") from None
        if not progress.saw_saving:
            progress.write({"phase": "saving", "message": "Saving output..."})
        image = result.image
        if repeats:
            image = self._upscale(request_id, image, factor, repeats, announce_passes=False)
        try:
            _save(image, output)
        except (OSError, ValueError) as problem:
            self.log("WARN", f"Failed to save image to {output}: {problem}")
            raise _Failed(protocol.NO_OUTPUT, "Generation produced no valid images") from None
        self.write(
            protocol.reply(
                request_id,
                "result",
                {
                    "success": True,
                    "output": output,
                    "seed": result.seed,
                    "total_time_ms": round((time.perf_counter() - started) * 1000),
                    "images_saved": 1,
                    "prompt_cache_hit": False,
                    "ref_latent_cache_hit": False,
                    "upscaled": repeats > 0,
                    "upscale_repeats": repeats,
                    "kiln_info": _jsonable({"engine_type": self.engine.type, **result.info}),
                },
            )
        )

    def _cmd_upscale(self, request_id: str, message: dict[str, Any]) -> None:
        params = _params(message, "upscale")
        started = time.perf_counter()
        source = _get(params, "input", str, "")
        output = _get(params, "output", str, "output_upscaled.png")
        repeats = _get(params, "upscale_repeats", int, 1)
        factor = _get(params, "upscale_factor", int, 4)
        upscaler = _get(params, "upscale_model", str, "") or self.upscaler_model
        if not source:
            raise _Invalid("upscale command requires an 'input' path")
        if repeats < 1:
            raise _Invalid("'upscale_repeats' must be >= 1")
        if not upscaler:
            raise _Failed(
                protocol.NO_UPSCALER, "No upscaler loaded — provide 'upscale_model' in load params or in this command"
            )
        image = _open_image(source, f"Failed to load input image: {source}")
        _make_parent(output)
        image = self._upscale(request_id, image, factor, repeats, announce_passes=repeats > 1)
        try:
            _save(image, output)
        except (OSError, ValueError):
            raise _Failed(protocol.NO_OUTPUT, f"Failed to save image to: {output}") from None
        self.write(
            protocol.reply(
                request_id,
                "result",
                {
                    "success": True,
                    "output": output,
                    "total_time_ms": round((time.perf_counter() - started) * 1000),
                    "upscale_repeats": repeats,
                    "upscale_factor": factor,
                    "width": image.width,
                    "height": image.height,
                },
            )
        )

    def _cmd_unload(self, request_id: str, message: dict[str, Any]) -> None:
        self._unload()
        self.write(protocol.reply(request_id, "ok", {"status": "model_unloaded"}))

    def _cmd_status(self, request_id: str, message: dict[str, Any]) -> None:
        upscaler = {"upscaler_loaded": bool(self.upscaler_model), "upscaler_model": self.upscaler_model}
        if self.model is None:
            data: dict[str, Any] = {"model_loaded": False, **upscaler}
        else:
            uptime_s = int(time.monotonic() - self.loaded_at)
            data = {"model_loaded": True, "model_info": self.model_info, "uptime_s": uptime_s, **upscaler}
        self.write(protocol.reply(request_id, "ok", data))

    def _cmd_quit(self, request_id: str, message: dict[str, Any]) -> None:
        self._unload()
        self.write(protocol.reply(request_id, "ok", {"status": "quitting"}))

    # --- Helpers --------------------------------------------------------------------------

    def _unload(self) -> None:
        if self.model is not None:
            self.engine.close()
            self.log("INFO", "Model unloaded.")
        self.model = None
        self.model_info = ""
        self.upscaler_model = ""

    def _upscale(
        self, request_id: str, image: Image.Image, factor: int, repeats: int, *, announce_passes: bool
    ) -> Image.Image:
        if factor < 1:
            raise _Failed(protocol.UPSCALE_FAILED, "Upscale failed: 'upscale_factor' must be >= 1")
        scale = factor**repeats
        if max(image.width, image.height) * scale > MAX_UPSCALED_SIDE:
            raise _Failed(
                protocol.UPSCALE_FAILED,
                f"Upscale failed: {image.width}x{image.height} x{scale} exceeds {MAX_UPSCALED_SIDE} pixels a side",
            )
        progress = _ProgressWriter(self, request_id)
        progress.write({"phase": "upscaling", "message": "Running upscaler..."})
        for done in range(1, repeats + 1):
            if announce_passes:
                progress.write({"phase": "upscaling", "message": f"Upscale pass {done} of {repeats}"})
            image = image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)
            progress(Progress("upscaling", step=done, total=repeats))
        return image


class _ProgressWriter:
    """Turns a kiln engine's progress callbacks into protocol ``progress`` lines."""

    def __init__(self, server: Server, request_id: str):
        self.server = server
        self.request_id = request_id
        self.last = time.perf_counter()
        self.saw_saving = False

    def __call__(self, progress: Progress) -> None:
        now = time.perf_counter()
        # A step's time is the time since the previous event, as cn-engine's callback reports.
        step_time_s, self.last = now - self.last, now
        self.saw_saving = self.saw_saving or progress.phase == "saving"
        self.write(protocol.progress_data(progress, step_time_s))

    def write(self, data: dict[str, Any]) -> None:
        self.server.write(protocol.reply(self.request_id, "progress", data))


def _reject_constant(name: str) -> None:
    # NaN and Infinity are not JSON; cn-engine's parser rejects them too.
    raise ValueError(f"{name} is not valid JSON")


def _params(message: dict[str, Any], cmd: str) -> dict[str, Any]:
    params = message.get("params")
    if not isinstance(params, dict):
        raise _Invalid(f"{cmd} command requires a 'params' object")
    return params


def _get(params: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """``params[key]``, checked against ``kind`` (a float accepts an integer; bool is not a number)."""
    value = params.get(key, default)
    kinds: tuple[type, ...] = (int, float) if kind is float else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and kind is not bool):
        raise _Invalid(f"'{key}' must be {_KIND_NAMES[kind]}, got {json.dumps(value)}")
    return value


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", bool: "true or false"}


def _basename(path: str) -> str:
    # cn-engine reports the file name of the model, whichever separator the path uses.
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _open_image(path: str, message: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError):
        raise _Failed(protocol.REF_IMAGE_LOAD_FAILED, message) from None


def _make_parent(output: str) -> None:
    try:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
    except OSError as problem:
        raise _Failed(protocol.OUTPUT_DIR_FAILED, f"Failed to create output directory: {problem}") from None


def _save(image: Image.Image, output: str) -> None:
    """Write ``image`` where cn-engine would: JPEG for .jpg/.jpeg, PNG for any other name."""
    if Path(output).suffix.lower() in (".jpg", ".jpeg"):
        image.convert("RGB").save(output, "JPEG", quality=90)
    else:
        # kiln's own encoder: a quarter of the time of Pillow's default, which the engine waits on.
        Path(output).write_bytes(encode_png(image, {}))


def _jsonable(info: dict[str, Any]) -> Any:
    # An engine's info may hold tuples, paths or numpy scalars; the wire takes JSON only.
    return json.loads(json.dumps(info, default=str))


def serve(
    engine: Engine | None = None,
    stdin: Iterable[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    *,
    name: str = NAME,
) -> int:
    """Speak the protocol on the given streams (default: the process's) until quit or EOF.

    ``engine`` defaults to the placeholder. Returns the exit status, 0.
    """
    if engine is None:
        from kiln.engines.placeholder import PlaceholderEngine

        engine = PlaceholderEngine("placeholder")
    server = Server(engine, stdout or sys.stdout, stderr or sys.stderr, name)
    return server.run(stdin if stdin is not None else sys.stdin)


def main(argv: list[str] | None = None) -> int:
    """``kiln engine serve``: the placeholder engine on this process's stdio."""
    parser = argparse.ArgumentParser(
        prog="kiln engine serve",
        description="Serve kiln's placeholder engine over the cn-engine NDJSON protocol on stdin/stdout.",
    )
    parser.add_argument("--version", action="store_true", help="print the name and version, then exit")
    args = parser.parse_args(argv)
    if args.version:
        print(f"{NAME} {__version__} (placeholder)")
        return 0

    sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    sys.stderr.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    sys.stdout.flush()
    # The protocol gets a private copy of stdout, and fd 1 and sys.stdout now lead to stderr:
    # a stray print() in an engine, or a C library writing to stdout, lands in the log
    # instead of corrupting the reply stream.
    saved_stdout = sys.stdout
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    replies = open(protocol_fd, "w", encoding="utf-8", newline="\n", closefd=True)
    sys.stdout = sys.stderr
    try:
        return serve(stdin=sys.stdin, stdout=replies, stderr=sys.stderr)
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout = saved_stdout
        with contextlib.suppress(OSError):
            replies.flush()
        # Give fd 1 back its real destination, for a caller that goes on after main().
        os.dup2(protocol_fd, 1)
        with contextlib.suppress(OSError):
            replies.close()


if __name__ == "__main__":
    sys.exit(main())
