"""The HTTP engine adapters against real local servers speaking each service's protocol."""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from kiln.cli import cli
from kiln.engines import create_engine, engine_types
from kiln.engines.a1111 import A1111Engine
from kiln.engines.base import EngineError, GenerateRequest, Progress
from kiln.engines.comfyui import ComfyUIEngine
from kiln.engines.gemini import GeminiEngine, nearest_aspect_ratio
from kiln.engines.http import HTTPEngine, HTTPEngineError, parse_retry_after, read_reference
from kiln.engines.openai import OpenAIEngine
from kiln.errors import InputError
from kiln.project import EngineConfig

from http_fakes import (
    FakeA1111,
    FakeComfyUI,
    FakeGemini,
    FakeOpenAI,
    gemini_error,
    openai_error,
    png_bytes,
)

KEY = "sk-kiln-test-7f3a9c2e5b1d4f6a8c0e"
ENV = "KILN_TEST_API_KEY"
FAST = {"timeout_s": 5}


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def job(**changes: Any) -> GenerateRequest:
    values: dict[str, Any] = dict(model="gpt-image-1", prompt="a red fox in the snow", negative_prompt="",
                                  width=1024, height=1024, seed=1234, steps=20, guidance=5.0)
    values.update(changes)
    return GenerateRequest(**values)


_STARTED: list[HTTPEngine] = []


@pytest.fixture(autouse=True)
def close_engines() -> Any:
    yield
    while _STARTED:
        _STARTED.pop().close()


def start(cls: type[HTTPEngine], options: dict[str, Any], model: str, root: Path | None = None) -> Any:
    engine = cls("test", {**FAST, **options}, root=root)
    _STARTED.append(engine)
    engine.load(model)
    return engine


def fails(engine: HTTPEngine, request: GenerateRequest, logs: pytest.LogCaptureFixture | None = None) -> HTTPEngineError:
    """The error ``request`` fails with, checked never to show the key."""
    with pytest.raises(HTTPEngineError) as caught:
        engine.generate(request)
    error = caught.value
    for text in (str(error), repr(error), repr(vars(error)), repr(vars(engine))):
        assert KEY not in text
    if logs is not None:
        assert KEY not in logs.text
    return error


# --- Shared pieces ---------------------------------------------------------------------------


def test_every_adapter_is_registered_with_the_runner_attributes():
    types = engine_types()
    for cls, concurrency in ((OpenAIEngine, 4), (A1111Engine, 1), (ComfyUIEngine, 2), (GeminiEngine, 4)):
        assert types[cls.type] is cls
        assert cls.local is False
        assert cls.concurrency == concurrency
    engine = create_engine(EngineConfig("cloud", "openai", {"api_key_env": ENV, "concurrency": 9}))
    assert isinstance(engine, OpenAIEngine) and engine.concurrency == 9 and engine.local is False


def test_options_are_checked_with_the_kiln_toml_key_named():
    with pytest.raises(InputError) as caught:
        OpenAIEngine("cloud", {"timeout_s": "soon", "sizez": [], "base_url": "api.openai.com", "concurrency": 0})
    text = str(caught.value)
    assert "engines.cloud.timeout_s: expected a number, got \"soon\"" in text
    assert "engines.cloud.sizez: unknown option (did you mean 'sizes'?)" in text
    assert "engines.cloud.base_url: expected an http:// or https:// address" in text
    assert "engines.cloud.concurrency: expected an integer from 1 to 256, got 0" in text
    with pytest.raises(InputError, match=r"engines.comfy.workflow: required"):
        ComfyUIEngine("comfy", {})
    with pytest.raises(InputError, match=r"engines.a1\.extra\.seed: kiln sets this itself"):
        A1111Engine("a1", {"extra": {"seed": 5}})


def test_a_missing_key_variable_fails_the_load_without_a_retry(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV)
    engine = OpenAIEngine("cloud", {"api_key_env": ENV})
    with pytest.raises(HTTPEngineError) as caught:
        engine.load("gpt-image-1")
    assert caught.value.code == "MISSING_API_KEY" and not caught.value.retryable
    assert ENV in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_in_seconds(headers: dict[str, str], expected: float | None):
    assert parse_retry_after(headers) == expected


def test_retry_after_as_an_http_date():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    header = email.utils.format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == 30.0
    assert parse_retry_after({"retry-after": email.utils.format_datetime(now - timedelta(seconds=5), usegmt=True)},
                             now=now) == 0.0


def test_a_refused_connection_and_a_slow_server_are_retryable():
    with FakeOpenAI(KEY) as server:
        url = server.url
    engine = start(OpenAIEngine, {"base_url": url, "api_key_env": ENV}, "gpt-image-1")
    error = fails(engine, job())
    assert (error.code, error.retryable, error.status) == ("CONNECTION_ERROR", True, None)

    with FakeOpenAI(KEY) as server:
        server.fail_next(200, {"data": []}, delay_s=1.0)
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV, "timeout_s": 0.2}, "gpt-image-1")
        started = time.perf_counter()
        error = fails(engine, job())
        assert time.perf_counter() - started < 0.9
    assert (error.code, error.retryable) == ("TIMEOUT", True)


def test_references_are_read_as_they_are(tmp_path: Path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.webp", "WEBP")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.bmp", "BMP")
    (tmp_path / "a.txt").write_text("not an image")
    image = read_reference("a.webp", tmp_path, "test")
    assert (image.data, image.mime_type, image.filename) == ((tmp_path / "a.webp").read_bytes(), "image/webp", "a.webp")
    assert read_reference(str(tmp_path / "a.webp"), tmp_path / "elsewhere", "test").data == image.data
    for name, code in (("a.bmp", "BAD_REFERENCE"), ("a.txt", "BAD_REFERENCE"), ("missing.png", "REFERENCE_MISSING")):
        with pytest.raises(HTTPEngineError) as caught:
            read_reference(name, tmp_path, "test")
        assert caught.value.code == code and not caught.value.retryable


# --- OpenAI ----------------------------------------------------------------------------------


def test_openai_generates_with_the_key_in_the_bearer_header(logs: pytest.LogCaptureFixture):
    with FakeOpenAI(KEY) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        progress: list[Progress] = []
        result = engine.generate(job(width=1536, height=1024), progress.append)
        (sent,) = server.received("/v1/images/generations")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {"model": "gpt-image-1", "prompt": "a red fox in the snow", "n": 1, "size": "1536x1024",
                         "output_format": "png"}
    assert result.image.size == (1536, 1024) and result.image.mode == "RGB"
    assert result.seed == 1234 and result.response_id.startswith("req_")
    assert result.info["usage"]["total_tokens"] == 4210
    assert [p.phase for p in progress] == ["sampling", "saving"]
    assert KEY not in json.dumps(result.info) and KEY not in logs.text


def test_openai_dall_e_asks_for_base64_and_records_the_revised_prompt():
    with FakeOpenAI(KEY) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "dall-e-3")
        result = engine.generate(job(model="dall-e-3", width=1792, height=1024))
        (sent,) = server.received("/v1/images/generations")
    assert sent.json["response_format"] == "b64_json" and "output_format" not in sent.json
    assert result.info["revised_prompt"].endswith("a red fox in the snow")


def test_openai_401_is_fatal_shows_the_message_and_never_the_key(logs: pytest.LogCaptureFixture):
    with FakeOpenAI("sk-the-right-one-000000000000") as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        error = fails(engine, job(), logs)
    assert (error.code, error.status, error.retryable) == ("invalid_api_key", 401, False)
    assert "Incorrect API key provided" in str(error)


def test_a_key_echoed_by_a_service_is_redacted(logs: pytest.LogCaptureFixture):
    with FakeOpenAI(KEY) as server:
        server.fail_next(502, f"<html><body><h1>502 Bad Gateway</h1>upstream rejected {KEY}</body></html>")
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        error = fails(engine, job(), logs)
    assert (error.code, error.retryable) == ("HTTP_502", True)
    assert "502 Bad Gateway upstream rejected [redacted]" in str(error)


def test_openai_429_is_retryable_after_the_servers_delay():
    with FakeOpenAI(KEY) as server:
        server.fail_next(429, openai_error(429, "Rate limit reached for gpt-image-1 on images per minute (IPM): "
                                           "Limit 5, Used 5, Requested 1.", "requests", "rate_limit_exceeded").body,
                         headers={"Retry-After": "2"})
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        error = fails(engine, job())
        assert engine.generate(job()).image.size == (1024, 1024)
    assert (error.code, error.status, error.retryable, error.retry_after_s) == ("rate_limit_exceeded", 429, True, 2.0)
    assert "Rate limit reached" in str(error)


def test_openai_out_of_quota_429_is_not_worth_retrying():
    with FakeOpenAI(KEY) as server:
        server.fail_next(429, openai_error(429, "You exceeded your current quota, please check your plan and billing "
                                           "details.", "insufficient_quota", "insufficient_quota").body)
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        error = fails(engine, job())
    assert (error.code, error.retryable) == ("insufficient_quota", False)


def test_openai_content_policy_rejection_is_fatal():
    with FakeOpenAI(KEY) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        error = fails(engine, job(prompt="something forbidden"))
    assert (error.code, error.status, error.retryable) == ("content_policy_violation", 400, False)
    assert "rejected as a result of our safety system" in str(error)


@pytest.mark.parametrize("status", [500, 503])
def test_openai_server_errors_are_retryable(status: int):
    with FakeOpenAI(KEY) as server:
        server.fail_next(status, openai_error(status, "The server had an error while processing your request. Sorry "
                                              "about that!", "server_error", None).body)
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        error = fails(engine, job())
    assert (error.code, error.status, error.retryable) == (f"HTTP_{status}", status, True)
    assert "The server had an error" in str(error)


def test_openai_sizes_the_service_does_not_make_fail_before_sending():
    with FakeOpenAI(KEY) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        error = fails(engine, job(width=768, height=512))
        assert server.requests == []
    assert (error.code, error.retryable) == ("UNSUPPORTED_SIZE", False)
    assert "1536x1024" in str(error) and "sizes = []" in str(error)


def test_openai_compatible_server_with_any_size_and_its_error_shape():
    with FakeOpenAI(None, any_size=True) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "sizes": []}, "sd-cpp-local")
        result = engine.generate(job(model="sd-cpp-local", width=768, height=512))
        (sent,) = server.requests
        error = fails(engine, job(model="sd-cpp-local", prompt=""))
    assert result.image.size == (768, 512)
    assert "authorization" not in sent.headers
    assert sent.json["response_format"] == "b64_json" and sent.json["output_format"] == "png"
    assert (error.code, error.retryable) == ("HTTP_400", False) and "prompt required" in str(error)


def test_openai_image_links_are_fetched_without_the_key():
    with FakeOpenAI(KEY, answer_with_url=True) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "dall-e-2")
        result = engine.generate(job(model="dall-e-2", width=512, height=512))
        fetch = next(r for r in server.requests if r.path.startswith("/files/"))
    assert result.image.size == (512, 512)
    assert "authorization" not in fetch.headers


def test_openai_edits_send_references_as_multipart(tmp_path: Path):
    (tmp_path / "refs").mkdir()
    first, second = tmp_path / "refs" / "a.png", tmp_path / "refs" / "b.png"
    first.write_bytes(png_bytes(64, 64, (10, 20, 30)))
    second.write_bytes(png_bytes(32, 32, (40, 50, 60)))
    with FakeOpenAI(KEY) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1", root=tmp_path)
        result = engine.generate(job(references=("refs/a.png",)))
        engine.generate(job(references=("refs/a.png", str(second))))
        one, two = server.received("/v1/images/edits")
    assert result.image.size == (1024, 1024) and result.info["endpoint"] == "edits"
    assert one.headers["authorization"] == f"Bearer {KEY}"
    assert one.field("prompt") == "a red fox in the snow" and one.field("size") == "1024x1024" and one.field("n") == "1"
    assert [p.data for p in one.files("image")] == [first.read_bytes()]
    assert [p.data for p in two.files("image[]")] == [first.read_bytes(), second.read_bytes()]


def test_openai_engine_serves_concurrent_jobs_from_one_client():
    with FakeOpenAI(KEY) as server:
        engine = start(OpenAIEngine, {"base_url": server.url, "api_key_env": ENV}, "gpt-image-1")
        sizes: list[tuple[int, int]] = []
        errors: list[BaseException] = []

        def work(width: int, height: int) -> None:
            try:
                sizes.append(engine.generate(job(width=width, height=height)).image.size)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=((1024, 1536) if i % 2 else (1536, 1024))) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        engine.close()
    assert not errors
    assert sorted(sizes) == sorted([(1536, 1024), (1024, 1536)] * 4)


# --- AUTOMATIC1111 ---------------------------------------------------------------------------


def test_a1111_txt2img_sends_the_job_and_reads_back_the_seed_and_progress():
    with FakeA1111(seconds_per_job=0.4) as server:
        engine = start(A1111Engine, {"base_url": server.url, "progress_interval_s": 0.05}, "sd_xl_base_1.0.safetensors")
        progress: list[Progress] = []
        result = engine.generate(job(model="sd_xl_base_1.0.safetensors", width=832, height=1216, steps=8,
                                     guidance=6.5, sampler="DPM++ 2M", negative_prompt="blurry"), progress.append)
        (sent,) = server.received("/sdapi/v1/txt2img")
    assert sent.json["prompt"] == "a red fox in the snow" and sent.json["negative_prompt"] == "blurry"
    assert (sent.json["seed"], sent.json["steps"], sent.json["cfg_scale"]) == (1234, 8, 6.5)
    assert (sent.json["width"], sent.json["height"], sent.json["sampler_name"]) == (832, 1216, "DPM++ 2M")
    assert sent.json["override_settings"] == {"sd_model_checkpoint": "sd_xl_base_1.0.safetensors"}
    assert sent.json["override_settings_restore_afterwards"] is False
    assert result.image.size == (832, 1216) and result.seed == 1234
    assert result.info["sd_model_name"] == "sd_xl_base_1.0" and "Seed: 1234" in result.info["infotext"]
    steps = [p.step for p in progress if p.phase == "sampling" and p.step]
    assert steps and steps == sorted(steps) and all(p.total == 8 for p in progress if p.phase == "sampling")
    assert len(server.received("/sdapi/v1/progress")) >= 2


def test_a1111_img2img_sends_the_reference_bytes(tmp_path: Path):
    reference = tmp_path / "fox.png"
    reference.write_bytes(png_bytes(96, 64, (1, 2, 3)))
    with FakeA1111() as server:
        engine = start(A1111Engine, {"base_url": server.url, "progress_interval_s": 0, "denoising_strength": 0.4},
                       "v1-5-pruned-emaonly.safetensors", root=tmp_path)
        result = engine.generate(job(model="v1-5-pruned-emaonly.safetensors", width=512, height=512,
                                     references=("fox.png",)))
        (sent,) = server.received("/sdapi/v1/img2img")
    assert base64.b64decode(sent.json["init_images"][0]) == reference.read_bytes()
    assert server.init_images == [reference.read_bytes()]
    assert sent.json["denoising_strength"] == 0.4 and result.info["endpoint"] == "img2img"
    assert server.received("/sdapi/v1/progress") == []


def test_a1111_validation_errors_and_unknown_samplers_are_fatal():
    with FakeA1111() as server:
        engine = start(A1111Engine, {"base_url": server.url, "progress_interval_s": 0, "extra": {"batch_size": "two"}},
                       "m.safetensors")
        invalid = fails(engine, job(model="m.safetensors", width=512, height=512))
        engine = start(A1111Engine, {"base_url": server.url, "progress_interval_s": 0}, "m.safetensors")
        unknown = fails(engine, job(model="m.safetensors", width=512, height=512, sampler="Nope"))
    assert (invalid.code, invalid.status, invalid.retryable) == ("HTTP_422", 422, False)
    assert "batch_size: value is not a valid integer" in str(invalid)
    assert (unknown.code, unknown.retryable) == ("HTTP_404", False) and "Sampler not found" in str(unknown)


def test_a1111_out_of_memory_is_retryable_and_basic_auth_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("A1111_AUTH", "kiln:hunter2")
    with FakeA1111(auth="kiln:hunter2") as server:
        server.fail_next(500, {"error": "OutOfMemoryError", "detail": "", "body": "",
                               "errors": "CUDA out of memory. Tried to allocate 2.00 GiB"})
        engine = start(A1111Engine, {"base_url": server.url, "progress_interval_s": 0, "api_key_env": "A1111_AUTH"},
                       "m.safetensors")
        error = fails(engine, job(model="m.safetensors", width=512, height=512))
        assert engine.generate(job(model="m.safetensors", width=512, height=512)).image.size == (512, 512)
        anonymous = start(A1111Engine, {"base_url": server.url, "progress_interval_s": 0}, "m.safetensors")
        refused = fails(anonymous, job(model="m.safetensors", width=512, height=512))
    assert (error.code, error.retryable) == ("HTTP_500", True) and "CUDA out of memory" in str(error)
    assert "hunter2" not in str(error)
    assert (refused.code, refused.retryable) == ("HTTP_401", False) and "no api_key_env" in str(refused)


# --- ComfyUI ---------------------------------------------------------------------------------

WORKFLOW = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{model}}"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "masterpiece, {{prompt}}", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {
        "seed": "{{seed}}", "steps": "{{steps}}", "cfg": "{{guidance}}", "sampler_name": "{{sampler|euler}}",
        "scheduler": "normal", "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
        "latent_image": ["5", 0]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "kiln", "images": ["8", 0]}},
}


def project_with(tmp_path: Path, workflow: Any, name: str = "workflows/txt2img.json") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(workflow))
    return tmp_path


def comfy(server: FakeComfyUI, root: Path, **options: Any) -> ComfyUIEngine:
    settings = {"base_url": server.url, "workflow": "workflows/txt2img.json", "poll_interval_s": 0.02, **options}
    return start(ComfyUIEngine, settings, "sd_xl_base_1.0.safetensors", root=root)


def test_comfyui_fills_the_template_with_typed_values_and_polls_until_done(tmp_path: Path):
    root = project_with(tmp_path, WORKFLOW)
    with FakeComfyUI(polls_to_finish=4) as server:
        engine = comfy(server, root)
        result = engine.generate(job(model="sd_xl_base_1.0.safetensors", width=832, height=1216, steps=30,
                                     guidance=7, negative_prompt="blurry, text"))
        (sent,) = server.received("/prompt")
        polls = server.requests[1:-1]
        view = server.requests[-1]
    graph = sent.json["prompt"]
    assert sent.json["client_id"] == engine.client_id
    assert graph["4"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
    assert graph["5"]["inputs"] == {"width": 832, "height": 1216, "batch_size": 1}
    assert graph["6"]["inputs"]["text"] == "masterpiece, a red fox in the snow"
    assert graph["7"]["inputs"]["text"] == "blurry, text"
    sampler = graph["3"]["inputs"]
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["sampler_name"]) == (1234, 30, 7.0, "euler")
    assert type(sampler["seed"]) is int and type(sampler["steps"]) is int and type(sampler["cfg"]) is float
    assert [r.path for r in polls] == [f"/history/{result.response_id}"] * 4
    assert view.path == "/view" and view.query["type"] == ["output"]
    assert result.image.size == (832, 1216) and result.seed == 1234
    assert result.info["output_node"] == "9" and len(result.info["workflow_sha256"]) == 64
    assert WORKFLOW["3"]["inputs"]["seed"] == "{{seed}}"


def test_comfyui_node_errors_are_fatal_and_name_the_node(tmp_path: Path):
    root = project_with(tmp_path, WORKFLOW)
    with FakeComfyUI() as server:
        engine = comfy(server, root)
        error = fails(engine, job(model="missing.safetensors", width=512, height=512, sampler="bogus"))
    assert (error.code, error.status, error.retryable) == ("prompt_outputs_failed_validation", 400, False)
    message = str(error)
    assert "node 4 (CheckpointLoaderSimple): Value not in list: ckpt_name: 'missing.safetensors'" in message
    assert "node 3 (KSampler): Value not in list: sampler_name: 'bogus'" in message


def test_comfyui_execution_errors_in_history_are_fatal(tmp_path: Path):
    root = project_with(tmp_path, WORKFLOW)
    with FakeComfyUI(polls_to_finish=2) as server:
        error = fails(comfy(server, root), job(model="sd_xl_base_1.0.safetensors", prompt="explode", width=512,
                                               height=512))
    assert (error.code, error.retryable) == ("EXECUTION_ERROR", False)
    assert "node 3 (KSampler) failed: torch.OutOfMemoryError: Allocation on device 0" in str(error)


def test_comfyui_gives_up_after_max_wait_and_unqueues_the_prompt(tmp_path: Path):
    root = project_with(tmp_path, WORKFLOW)
    with FakeComfyUI(polls_to_finish=10_000) as server:
        error = fails(comfy(server, root, max_wait_s=0.2), job(model="sd_xl_base_1.0.safetensors", width=512, height=512))
        (prompt_id,) = server.prompts
    assert (error.code, error.retryable) == ("TIMEOUT", True)
    assert server.deleted == [prompt_id]


def test_comfyui_uploads_references_for_load_image_nodes(tmp_path: Path):
    workflow = {
        "4": WORKFLOW["4"], "6": WORKFLOW["6"], "7": WORKFLOW["7"], "8": WORKFLOW["8"], "9": WORKFLOW["9"],
        "10": {"class_type": "LoadImage", "inputs": {"image": "{{reference_1}}"}},
        "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}},
        "3": {**WORKFLOW["3"], "inputs": {**WORKFLOW["3"]["inputs"], "latent_image": ["11", 0], "denoise": 0.6}},
    }
    root = project_with(tmp_path, workflow)
    (root / "fox.png").write_bytes(png_bytes(640, 448))
    with FakeComfyUI(polls_to_finish=1) as server:
        engine = comfy(server, root)
        result = engine.generate(job(model="sd_xl_base_1.0.safetensors", width=640, height=448, references=("fox.png",)))
        (upload,) = server.received("/upload/image")
        (sent,) = server.received("/prompt")
        no_reference = fails(engine, job(model="sd_xl_base_1.0.safetensors", width=640, height=448))
    (image,) = upload.files("image")
    assert image.data == (root / "fox.png").read_bytes()
    assert sent.json["prompt"]["10"]["inputs"]["image"] == image.filename
    assert result.image.size == (640, 448)
    assert no_reference.code == "UNSUPPORTED_REFERENCES"


@pytest.mark.parametrize(
    ("workflow", "name", "message"),
    [
        (WORKFLOW, "../outside.json", "points outside the project"),
        ({"nodes": [], "links": []}, "workflows/txt2img.json", "UI format"),
        ({**WORKFLOW, "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{promt}}"}}},
         "workflows/txt2img.json", "unknown placeholder(s) {{promt}}"),
        ({k: v for k, v in WORKFLOW.items() if k != "3"}, "workflows/txt2img.json", "has no {{seed}} placeholder"),
    ],
)
def test_comfyui_bad_templates_fail_the_load(tmp_path: Path, workflow: Any, name: str, message: str):
    root = tmp_path / "project"
    root.mkdir()
    target = (root / name).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(workflow))
    engine = ComfyUIEngine("comfy", {"workflow": name}, root=root)
    with pytest.raises(HTTPEngineError) as caught:
        engine.load("m")
    assert caught.value.code == "BAD_WORKFLOW" and not caught.value.retryable
    assert message in str(caught.value)


# --- Gemini ----------------------------------------------------------------------------------


def test_gemini_generates_with_the_key_header_and_stores_the_response_id(logs: pytest.LogCaptureFixture):
    with FakeGemini(KEY) as server:
        engine = start(GeminiEngine, {"base_url": server.url, "api_key_env": ENV}, "gemini-2.5-flash-image")
        result = engine.generate(job(model="gemini-2.5-flash-image", width=1248, height=832, seed=2**32 - 1,
                                     negative_prompt="text, watermark"))
        (sent,) = server.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY and "key" not in sent.query
    assert sent.json["contents"][0]["parts"] == [{"text": "a red fox in the snow\n\nAvoid: text, watermark"}]
    assert sent.json["generationConfig"] == {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "3:2"},
                                             "seed": 2**31 - 1}
    assert result.image.size == (1248, 832) and result.seed == 2**32 - 1
    assert result.response_id and result.response_id.startswith("resp-")
    assert result.info["modelVersion"] == "gemini-2.5-flash-image" and result.info["text"] == "Here is your image."
    assert KEY not in logs.text and KEY not in json.dumps(result.info)


def test_gemini_sends_references_inline(tmp_path: Path):
    (tmp_path / "style.png").write_bytes(png_bytes(40, 40))
    with FakeGemini(KEY) as server:
        engine = start(GeminiEngine, {"base_url": server.url, "api_key_env": ENV}, "gemini-2.5-flash-image", root=tmp_path)
        engine.generate(job(model="gemini-2.5-flash-image", references=("style.png",)))
        (sent,) = server.requests
    inline = sent.json["contents"][0]["parts"][1]["inline_data"]
    assert inline["mime_type"] == "image/png"
    assert base64.b64decode(inline["data"]) == (tmp_path / "style.png").read_bytes()


def test_gemini_429_resource_exhausted_is_retryable_with_the_servers_delay(logs: pytest.LogCaptureFixture):
    with FakeGemini(KEY) as server:
        retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
        server.fail_next(429, gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check "
                                           "your plan and billing details.", [retry_info]).body)
        engine = start(GeminiEngine, {"base_url": server.url, "api_key_env": ENV}, "gemini-2.5-flash-image")
        error = fails(engine, job(model="gemini-2.5-flash-image"), logs)
    assert (error.code, error.status, error.retryable, error.retry_after_s) == ("RESOURCE_EXHAUSTED", 429, True, 7.0)
    assert "You exceeded your current quota" in str(error)


def test_gemini_bad_key_and_unavailable():
    with FakeGemini("another-key") as server:
        server.fail_next(503, gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.").body,
                         headers={"Retry-After": "3"})
        engine = start(GeminiEngine, {"base_url": server.url, "api_key_env": ENV}, "gemini-2.5-flash-image")
        unavailable = fails(engine, job(model="gemini-2.5-flash-image"))
        bad_key = fails(engine, job(model="gemini-2.5-flash-image"))
    assert (unavailable.code, unavailable.retryable, unavailable.retry_after_s) == ("UNAVAILABLE", True, 3.0)
    assert (bad_key.code, bad_key.status, bad_key.retryable) == ("API_KEY_INVALID", 400, False)
    assert "API key not valid" in str(bad_key)


@pytest.mark.parametrize(
    ("prompt", "code", "message"),
    [
        ("something forbidden", "SAFETY", "finishReason SAFETY"),
        ("something prohibited", "PROHIBITED_CONTENT", "the prompt was blocked (PROHIBITED_CONTENT)"),
        ("be chatty", "NO_IMAGE", "the model said: I would rather describe it"),
    ],
)
def test_gemini_blocks_and_text_only_answers_are_fatal(prompt: str, code: str, message: str):
    with FakeGemini(KEY) as server:
        engine = start(GeminiEngine, {"base_url": server.url, "api_key_env": ENV}, "gemini-2.5-flash-image")
        error = fails(engine, job(model="gemini-2.5-flash-image", prompt=prompt))
    assert (error.code, error.retryable) == (code, False)
    assert message in str(error)


def test_gemini_images_a_proxy_returns_as_data_urls_in_text_are_read():
    data = base64.b64encode(png_bytes(1024, 1024)).decode()
    with FakeGemini(KEY) as server:
        server.fail_next(200, {"candidates": [{"content": {"role": "model", "parts": [
            {"text": f"![image](data:image/png;base64,{data})"}]}, "finishReason": "STOP", "index": 0}],
            "responseId": "proxy-1"})
        engine = start(GeminiEngine, {"base_url": server.url, "api_key_env": ENV}, "gemini-2.5-flash-image")
        result = engine.generate(job(model="gemini-2.5-flash-image"))
    assert result.image.size == (1024, 1024) and result.response_id == "proxy-1"


def test_gemini_sizes_it_does_not_make_fail_clearly():
    assert nearest_aspect_ratio(1184, 864) == "4:3" and nearest_aspect_ratio(1344, 768) == "16:9"
    assert nearest_aspect_ratio(1000, 300) is None
    with FakeGemini(KEY) as server:
        engine = start(GeminiEngine, {"base_url": server.url, "api_key_env": ENV}, "gemini-2.5-flash-image")
        unsupported = fails(engine, job(model="gemini-2.5-flash-image", width=1000, height=300))
        assert server.requests == []
        wrong = fails(engine, job(model="gemini-2.5-flash-image", width=512, height=512))
    assert (unsupported.code, unsupported.retryable) == ("UNSUPPORTED_SIZE", False)
    assert (wrong.code, wrong.retryable) == ("WRONG_SIZE", False)
    assert "made 1024x1024, the recipe asks for 512x512" in str(wrong)


def test_http_errors_are_engine_errors_for_the_runner():
    error = HTTPEngineError("x", code="HTTP_429", retryable=True, status=429, retry_after_s=2.0)
    assert isinstance(error, EngineError) and str(error) == "HTTP_429: x"


def test_kiln_run_retries_a_rate_limited_api_and_stores_no_key(tmp_path: Path):
    with FakeOpenAI(KEY) as server:
        server.fail_next(429, openai_error(429, "Rate limit reached.", "requests", "rate_limit_exceeded").body,
                         headers={"Retry-After": "0.05"})
        (tmp_path / "kiln.toml").write_text(
            f'[engines.cloud]\ntype = "openai"\nbase_url = "{server.url}"\napi_key_env = "{ENV}"\n'
            "timeout_s = 5\nretry = { backoff_ms = 10 }\n"
        )
        (tmp_path / "recipes").mkdir()
        (tmp_path / "recipes" / "foxes.toml").write_text(
            'engine = "cloud"\nmodel = "gpt-image-1"\nprompt = "a red fox"\nsize = "1024x1024"\n'
        )
        result = CliRunner().invoke(cli, ["run", "-C", str(tmp_path)], catch_exceptions=False)
        sent = server.received("/v1/images/generations")
    assert result.exit_code == 0, result.output
    assert len(sent) == 2 and all(r.headers["authorization"] == f"Bearer {KEY}" for r in sent)
    with sqlite3.connect(tmp_path / "art" / "kiln.db") as db:
        (response_id,) = db.execute("SELECT response_id FROM images").fetchone()
    assert response_id.startswith("req_")
    assert KEY not in result.output
    for path in (tmp_path / "art").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
