"""The ``ndjson`` engine and ``kiln engine serve``, over real pipes to real processes.

The server is run as ``python -m kiln.engines.server``; misbehaving engines (crashing,
hanging, deaf to ``quit``) are played by ``tests/fake_engines/fake_engine.py``. Every wait
is bounded, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kiln.art import host_tag
from kiln.engines import EngineError, GenerateRequest, Progress, Restarted, create_engine
from kiln.engines.ndjson import NdjsonEngine
from kiln.engines.placeholder import FAIL_WORD, PlaceholderEngine
from kiln.errors import InputError
from kiln.project import EngineConfig

SERVER = [sys.executable, "-m", "kiln.engines.server"]
FAKE = [sys.executable, str(Path(__file__).parent / "fake_engines" / "fake_engine.py")]
BANNER_END = "started. Awaiting JSON commands on stdin."

MakeEngine = Callable[..., NdjsonEngine]


def job(**changes: Any) -> GenerateRequest:
    fields: dict[str, Any] = {
        "model": "procedural-v1",
        "prompt": "a crimson fox in a misty forest, watercolor",
        "negative_prompt": "blurry",
        "width": 96,
        "height": 64,
        "seed": 1234,
        "steps": 6,
        "guidance": 5.0,
        "sampler": "euler",
    }
    return GenerateRequest(**{**fields, **changes})


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[MakeEngine]:
    engines: list[NdjsonEngine] = []

    def make(command: list[str], **options: Any) -> NdjsonEngine:
        settings = {
            "command": command,
            "log_dir": str(tmp_path / "logs"),
            "work_dir": str(tmp_path / "work"),
            "startup_timeout_s": 20,
            "timeout_s": 20,
            "load_timeout_s": 20,
            "quit_grace_s": 2,
            **options,
        }
        engine = NdjsonEngine("test", settings)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def log_text(tmp_path: Path) -> str:
    return (tmp_path / "logs" / "engine-test.log").read_text(encoding="utf-8")


def sent(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- Through the client to kiln's own server --------------------------------------------


def test_round_trip_matches_the_placeholder_in_process(make_engine: MakeEngine, tmp_path: Path) -> None:
    engine = make_engine(SERVER)
    seen: list[Progress] = []
    engine.load("procedural-v1", seen.append)
    assert engine.status()["model_loaded"] is True
    assert engine.load("procedural-v1") == 0.0  # kept loaded

    result = engine.generate(job(), seen.append)

    local = PlaceholderEngine("local")
    local.load("procedural-v1")
    expected = local.generate(job())
    assert result.image.size == (96, 64)
    assert result.image.mode == expected.image.mode
    assert result.image.tobytes() == expected.image.tobytes()
    assert result.seed == 1234
    assert result.info["procedural"] is True and result.info["server"]["engine_type"] == "placeholder"
    assert result.info["model_info"] == "procedural-v1"

    phases = [p.phase for p in seen]
    assert phases[0] == "loading"
    assert phases.index("conditioning") < phases.index("sampling") < phases.index("saving")
    assert [(p.step, p.total) for p in seen if p.phase == "sampling"] == [(step, 6) for step in range(1, 7)]
    # The engine's output file was read back and removed.
    assert not [path for path in (tmp_path / "work").rglob("*") if path.is_file()]


def test_engine_failures_keep_their_code_and_the_process(make_engine: MakeEngine) -> None:
    engine = make_engine(SERVER)
    engine.load("procedural-v1")
    pid = engine.pid

    with pytest.raises(EngineError) as failed:
        engine.generate(job(prompt=f"a lake, {FAIL_WORD} please"))
    assert (failed.value.code, failed.value.retryable) == ("GENERATION_FAILED", False)
    with pytest.raises(EngineError) as invalid:
        engine.generate(job(width=8))
    assert (invalid.value.code, invalid.value.retryable) == ("INVALID_REQUEST", False)

    assert engine.generate(job()).image.size == (96, 64)
    assert engine.pid == pid


def test_stderr_goes_to_the_log_file_not_the_terminal(
    make_engine: MakeEngine, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(SERVER)
    engine.load("procedural-v1")
    engine.close()

    text = log_text(tmp_path)
    assert f"[INFO ] kiln-engine 0.1.0 (placeholder) {BANNER_END}" in text
    assert "[INFO ] kiln-engine exiting." in text
    assert "exited with code 0" in text  # quit, then a clean exit
    assert BANNER_END not in capfd.readouterr().err


# --- The server, line by line -------------------------------------------------------------


def converse(lines: list[str], tmp_path: Path) -> tuple[list[dict[str, Any]], str, int]:
    """Feed lines to a fresh server and close its stdin; its replies, stderr and exit status."""
    done = subprocess.run(
        SERVER, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr, done.returncode


def terminal(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in replies if r["type"] != "progress"]


def test_server_speaks_the_protocol(tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder" / "image.png"
    jpeg = tmp_path / "image.jpg"
    generate = {"prompt": "a red fox", "width": 96, "height": 64, "seed": 7, "steps": 3, "output": str(out)}
    requests = [
        {"id": "p", "cmd": "ping"},
        "this is not json",
        "",
        {"id": "no-cmd"},
        {"id": "u", "cmd": "dance"},
        {"id": 7, "cmd": "ping"},
        {"id": "g0", "cmd": "generate", "params": generate},
        {"id": "s0", "cmd": "status"},
        {"id": "l0", "cmd": "load"},
        {"id": "l1", "cmd": "load", "params": {"model": "/models/flux2-klein.gguf"}},
        {"id": "s1", "cmd": "status"},
        {"id": "g1", "cmd": "generate", "params": generate},
        {"id": "g2", "cmd": "generate", "params": {**generate, "output": str(jpeg)}},
        {"id": "g3", "cmd": "generate", "params": {**generate, "prompt": FAIL_WORD}},
        {"id": "up0", "cmd": "upscale", "params": {"input": str(out)}},
        {"id": "up1", "cmd": "upscale", "params": {"upscale_model": "lanczos"}},
        {"id": "up2", "cmd": "upscale", "params": {"input": str(out), "output": str(tmp_path / "up.png"),
                                                   "upscale_model": "lanczos", "upscale_factor": 2}},
        {"id": "n", "cmd": "unload"},
        {"id": "s2", "cmd": "status"},
        {"id": "g4", "cmd": "generate", "params": generate},
    ]
    lines = [r if isinstance(r, str) else json.dumps(r) for r in requests]
    replies, stderr, status = converse(lines, tmp_path)
    answers = terminal(replies)

    assert stderr.splitlines()[0] == f"[INFO ] kiln-engine 0.1.0 (placeholder) {BANNER_END}"
    assert status == 0  # EOF ends the session cleanly
    assert [a["id"] for a in answers] == [
        "p", "", "no-cmd", "u", "", "g0", "s0", "l0", "l1", "s1", "g1", "g2", "g3", "up0", "up1", "up2",
        "n", "s2", "g4",
    ]
    by_id = {a["id"]: a for a in answers if a["id"]}
    assert answers[0] == {"id": "p", "type": "ok", "data": {"status": "pong"}}
    assert answers[1] == {"id": "", "type": "error", "data": {"message": "Invalid JSON", "code": "PARSE_ERROR"}}
    assert by_id["no-cmd"] == {"id": "no-cmd", "type": "error", "data": {"message": "Missing 'cmd' field"}}
    assert by_id["u"]["data"] == {"message": "Unknown command: dance", "code": "UNKNOWN_CMD"}
    assert answers[4]["type"] == "error" and "code" not in answers[4]["data"]  # a non-string id
    assert by_id["g0"]["data"]["code"] == "NO_MODEL"
    assert by_id["s0"]["data"] == {"model_loaded": False, "upscaler_loaded": False, "upscaler_model": ""}
    assert by_id["l0"]["type"] == "error" and "code" not in by_id["l0"]["data"]  # no params
    assert by_id["l1"]["data"]["status"] == "model_loaded"
    assert by_id["l1"]["data"]["model_info"] == "flux2-klein.gguf"
    status_loaded = by_id["s1"]["data"]
    assert status_loaded["model_loaded"] is True and status_loaded["model_info"] == "flux2-klein.gguf"
    assert isinstance(status_loaded["uptime_s"], int)

    result = by_id["g1"]
    assert result["type"] == "result"
    assert result["data"]["success"] is True and result["data"]["output"] == str(out)
    assert result["data"]["seed"] == 7 and isinstance(result["data"]["total_time_ms"], int)
    with Image.open(out) as image:
        assert (image.format, image.size) == ("PNG", (96, 64))
    with Image.open(jpeg) as image:
        assert image.format == "JPEG"
    progress = [r["data"] for r in replies if r["id"] == "g1" and r["type"] == "progress"]
    assert [p["phase"] for p in progress] == ["conditioning", "sampling", "sampling", "sampling", "saving"]
    assert [(p["step"], p["total_steps"]) for p in progress[1:4]] == [(1, 3), (2, 3), (3, 3)]
    assert all(isinstance(p["step_time_s"], float) for p in progress[1:4])

    assert by_id["g3"]["data"]["code"] == "GENERATION_FAILED"
    assert by_id["up0"]["data"]["code"] == "NO_UPSCALER"
    assert by_id["up1"]["type"] == "error" and "code" not in by_id["up1"]["data"]  # no input
    assert by_id["up2"]["data"]["width"] == 192 and by_id["up2"]["data"]["height"] == 128
    assert by_id["n"]["data"] == {"status": "model_unloaded"}
    assert by_id["s2"]["data"]["model_loaded"] is False
    assert by_id["g4"]["data"]["code"] == "NO_MODEL"


def test_server_stops_at_quit(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "q", "cmd": "quit"}), json.dumps({"id": "after", "cmd": "ping"})]
    replies, _, status = converse(lines, tmp_path)
    assert replies == [{"id": "q", "type": "ok", "data": {"status": "quitting"}}]
    assert status == 0


def test_server_exits_0_at_eof(tmp_path: Path) -> None:
    assert converse([], tmp_path)[1:] == (f"[INFO ] kiln-engine 0.1.0 (placeholder) {BANNER_END}\n"
                                          "[INFO ] kiln-engine exiting.\n", 0)


# --- Crashes, hangs and shutdown, with the fake engine ------------------------------------


def test_a_crash_mid_job_restarts_reloads_and_retries(make_engine: MakeEngine, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    engine = make_engine([*FAKE, "--log", str(requests), "--crash-once", str(tmp_path / "crashed")])
    seen: list[Progress] = []
    engine.load("klein", seen.append)
    first_pid = engine.pid

    result = engine.generate(job(model="klein", seed=300), seen.append)

    assert result.image.size == (96, 64)
    assert result.image.getpixel((0, 0)) == (300 % 256, 1, 128)
    assert engine.pid not in (None, first_pid)
    commands = [r["cmd"] for r in sent(requests)]
    assert commands == ["ping", "load", "generate", "ping", "load", "generate"]
    assert [r["params"]["model"] for r in sent(requests) if r["cmd"] == "load"] == ["klein", "klein"]
    assert any("crashed" in p.message for p in seen)
    text = log_text(tmp_path)
    assert "was killed by SIGKILL" in text and "fake: crashing now" in text
    # The noise line and the reply for an abandoned request were skipped, and noted.
    assert "not a protocol message" in text and "'abandoned-1'" in text


def test_a_second_crash_is_reported(make_engine: MakeEngine) -> None:
    engine = make_engine([*FAKE, "--crash-always"])
    engine.load("klein")
    with pytest.raises(EngineError) as crashed:
        engine.generate(job(model="klein"))
    assert (crashed.value.code, crashed.value.retryable) == ("ENGINE_CRASHED", True)
    assert "SIGKILL" in str(crashed.value)


def test_a_hang_times_out_kills_and_recovers(make_engine: MakeEngine, tmp_path: Path) -> None:
    marker = tmp_path / "hang"
    engine = make_engine([*FAKE, "--hang-once", str(marker)], timeout_s=1)
    engine.load("klein")
    pid = engine.pid
    assert pid is not None
    marker.touch()

    started = time.monotonic()
    with pytest.raises(EngineError) as hung:
        engine.generate(job(model="klein"))
    assert (hung.value.code, hung.value.retryable) == ("TIMEOUT", True)
    assert time.monotonic() - started < 5
    assert gone(pid)
    assert engine.pid is None

    assert engine.generate(job(model="klein")).image.size == (96, 64)
    assert engine.pid not in (None, pid)


def test_a_stall_after_some_progress_restarts_and_retries_at_once(make_engine: MakeEngine, tmp_path: Path) -> None:
    marker = tmp_path / "hang"
    engine = make_engine([*FAKE, "--hang-once", str(marker)], progress_timeout_s=0.3)
    engine.load("klein")
    pid = engine.pid
    marker.touch()
    seen: list[Progress] = []

    started = time.monotonic()
    result = engine.generate(job(model="klein"), seen.append)

    assert result.image.size == (96, 64)
    assert time.monotonic() - started < 10  # not the 20 s of timeout_s
    assert not marker.exists() and gone(pid)
    restarts = [p for p in seen if isinstance(p, Restarted)]
    assert [r.code for r in restarts] == ["ENGINE_STALLED"]
    assert "no progress for 0.3 s after step 1/6, so it was killed" in restarts[0].message
    assert "generate: no progress for 0.3 s after step 1/6; killing it" in log_text(tmp_path)


def test_a_second_stall_is_reported(make_engine: MakeEngine) -> None:
    engine = make_engine([*FAKE, "--hang-always"], progress_timeout_s=0.3)
    engine.load("klein")
    with pytest.raises(EngineError) as stalled:
        engine.generate(job(model="klein"))
    assert (stalled.value.code, stalled.value.retryable) == ("ENGINE_STALLED", True)
    assert engine.pid is None


def test_a_crash_is_reported_as_a_restart(make_engine: MakeEngine, tmp_path: Path) -> None:
    engine = make_engine([*FAKE, "--crash-once", str(tmp_path / "crashed")])
    seen: list[Progress] = []
    engine.generate(job(model="klein"), seen.append)
    assert [(type(p), p.code) for p in seen if isinstance(p, Restarted)] == [(Restarted, "ENGINE_CRASHED")]


def test_close_sends_quit_and_the_engine_exits(make_engine: MakeEngine, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    engine = make_engine([*FAKE, "--log", str(requests)])
    engine.load("klein")
    pid = engine.pid
    assert pid is not None

    started = time.monotonic()
    engine.close()
    assert time.monotonic() - started < 1.5
    assert sent(requests)[-1]["cmd"] == "quit"
    assert gone(pid)
    assert f"pid {pid} exited with code 0" in log_text(tmp_path)


def test_close_kills_an_engine_that_ignores_quit(make_engine: MakeEngine, tmp_path: Path) -> None:
    engine = make_engine([*FAKE, "--ignore-quit"], quit_grace_s=0.3)
    engine.load("klein")
    pid = engine.pid
    assert pid is not None

    started = time.monotonic()
    engine.close()
    assert 0.3 <= time.monotonic() - started < 2
    assert gone(pid)
    text = log_text(tmp_path)
    assert "did not exit within 0.3 s of quit; killing it" in text
    assert f"pid {pid} was killed by SIGKILL" in text


# --- Options and parameters ---------------------------------------------------------------


def test_generate_sends_the_job_and_the_configured_parameters(make_engine: MakeEngine, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    engine = make_engine(
        [*FAKE, "--log", str(requests)],
        load={"offload_to_cpu": True},
        models={"flux2-klein-4b": {"diffusion_model": "/m/klein.gguf", "vae": "/m/ae.safetensors"}, "tiny": "/m/t"},
        generate={"use_prompt_cache": False, "steps": 99},
    )
    engine.generate(job(model="flux2-klein-4b", references=("ref.png",)))
    with pytest.raises(EngineError) as unknown:
        engine.load("sdxl")
    assert unknown.value.code == "UNKNOWN_MODEL"
    engine.load("tiny")

    loads = [r["params"] for r in sent(requests) if r["cmd"] == "load"]
    assert loads == [
        {"offload_to_cpu": True, "diffusion_model": "/m/klein.gguf", "vae": "/m/ae.safetensors"},
        {"offload_to_cpu": True, "model": "/m/t"},
    ]
    params = next(r["params"] for r in sent(requests) if r["cmd"] == "generate")
    output = Path(params.pop("output"))
    assert output.suffix == ".png" and (tmp_path / "work") in output.parents
    assert params == {
        "use_prompt_cache": False, "prompt": "a crimson fox in a misty forest, watercolor",
        "negative_prompt": "blurry", "width": 96, "height": 64, "seed": 1234, "steps": 6, "guidance": 5.0,
        "sampling_method": "euler", "ref_images": [os.path.abspath("ref.png")],
    }


def test_a_fixed_model_in_load_makes_the_recipe_model_a_label(make_engine: MakeEngine, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    engine = make_engine([*FAKE, "--log", str(requests)], load={"diffusion_model": "/m/klein.gguf"})
    engine.load("anything")
    assert [r["params"] for r in sent(requests) if r["cmd"] == "load"] == [{"diffusion_model": "/m/klein.gguf"}]


def test_engines_that_cannot_start(make_engine: MakeEngine, tmp_path: Path) -> None:
    with pytest.raises(EngineError) as missing:
        make_engine([str(tmp_path / "no-such-engine")]).load("m")
    assert (missing.value.code, missing.value.retryable) == ("ENGINE_START_FAILED", False)

    with pytest.raises(EngineError) as exits:
        make_engine([sys.executable, "-c", "import sys; print('bad flag', file=sys.stderr); sys.exit(3)"]).load("m")
    assert exits.value.code == "ENGINE_START_FAILED"
    assert "exited with code 3" in str(exits.value) and "bad flag" in str(exits.value)


def test_the_type_is_registered_and_options_are_checked() -> None:
    engine = create_engine(EngineConfig("klein", "ndjson", {"command": "cn-engine --verbose 'a b'"}))
    assert isinstance(engine, NdjsonEngine)
    assert engine.settings.command == ["cn-engine", "--verbose", "a b"]
    assert engine.settings.seconds == {"timeout_s": 600, "load_timeout_s": 600, "startup_timeout_s": 30,
                                       "quit_grace_s": 5}

    with pytest.raises(InputError) as bad:
        NdjsonEngine("klein", {"timeout_s": "long", "env": {"A": 1}, "models": {"m": 3}, "timout": 5})
    assert [f"{p.key}" for p in bad.value.problems] == [
        "engines.klein.timout", "engines.klein.command", "engines.klein.models.m", "engines.klein.env.A",
        "engines.klein.timeout_s",
    ]
    with pytest.raises(InputError) as watchdog:
        NdjsonEngine("klein", {"command": "x", "progress_timeout_s": 0})
    assert str(watchdog.value) == "kiln.toml: engines.klein.progress_timeout_s: expected a number of seconds above 0, got 0"
    assert "kiln.toml: engines.klein.command: required" in str(bad.value)


def test_the_work_folders_of_killed_kiln_processes_are_removed(make_engine: MakeEngine, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()  # reaped: its id names no process (for a moment, long enough)
    work = tmp_path / "work"
    here = host_tag()
    left = work / f"kiln-other-engine-{here}-{dead.pid}-k1ll3d00"
    elsewhere = work / f"kiln-other-0badc0de-{dead.pid}-k1ll3d00"  # a shared work_dir: not ours to judge
    alive = work / f"kiln-other-{here}-{os.getppid()}-running"
    foreign = work / "kiln-notes"
    for folder in (left, elsewhere, alive, foreign):
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(b"png")
    engine = make_engine([*FAKE])
    engine.generate(job())
    assert not left.exists()
    assert alive.exists() and foreign.exists() and elsewhere.exists()
    (own,) = (p for p in work.iterdir() if p.name.startswith(f"kiln-test-{here}-{os.getpid()}-"))
    engine.close()
    assert not own.exists()


def requests_sent(log: Path) -> list[str]:
    return [json.loads(line)["cmd"] for line in log.read_text().splitlines()]


def test_start_leaves_the_process_booting_and_the_first_call_greets_it(make_engine: MakeEngine, tmp_path: Path):
    engine = make_engine([*FAKE, "--log", str(tmp_path / "requests.log")])
    engine.start()
    pid = engine.pid
    assert pid is not None  # started, without waiting for its answer to ping
    engine.start()  # a second start is the same process
    assert engine.pid == pid
    engine.load("klein")
    assert engine.generate(job(model="klein")).image.size == (96, 64)
    assert engine.pid == pid
    assert requests_sent(tmp_path / "requests.log") == ["ping", "load", "generate"]


def test_an_engine_started_but_never_asked_is_killed_not_waited_for(make_engine: MakeEngine, tmp_path: Path):
    # A process that would never answer quit: closing it after a grace period would take a minute.
    engine = make_engine([sys.executable, "-c", "import time; time.sleep(60)"], quit_grace_s=60)
    engine.start()
    pid = engine.pid
    assert pid is not None
    engine.close()
    assert gone(pid)
    log = (tmp_path / "logs" / "engine-test.log").read_text()
    assert f"pid {pid} was started but not needed; killing it" in log
    assert f"pid {pid} was killed by SIGKILL" in log


def test_a_log_named_after_the_start_holds_what_the_engine_said_before(tmp_path: Path):
    engine = NdjsonEngine("late", {"command": FAKE, "work_dir": str(tmp_path / "work")}, root=tmp_path)
    try:
        engine.start()
        assert engine.pid is not None
        engine.log_path = tmp_path / "logs" / "run-7-late.log"
        engine.load("klein")
    finally:
        engine.close()
    log = (tmp_path / "logs" / "run-7-late.log").read_text()
    # Both were said before the log had its name: kiln's note, and the engine's banner.
    assert "started pid" in log and BANNER_END in log and "loaded klein" in log
    assert not (tmp_path / "art").exists()  # no default log was opened beside it


def test_an_engine_that_cannot_start_is_reported_by_its_first_call(make_engine: MakeEngine, tmp_path: Path):
    engine = make_engine([str(tmp_path / "no-such-engine")])
    engine.start()  # says nothing: the run reports it with the job that needed the engine
    assert engine.pid is None
    with pytest.raises(EngineError) as caught:
        engine.load("klein")
    assert caught.value.code == "ENGINE_START_FAILED"
