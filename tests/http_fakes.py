"""Fake image services for the HTTP engine tests: real HTTP servers on 127.0.0.1.

Each fake speaks its service's documented protocol, errors included: the OpenAI images API,
AUTOMATIC1111's ``/sdapi/v1``, ComfyUI's prompt queue, and Gemini's ``generateContent``. They
make real PNGs of the size the request implies, check credentials the way the service does,
and record every request so tests can see what the engine sent. ``fail_next`` queues a canned
error reply for the next request to a path.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def png_bytes(width: int, height: int, colour: tuple[int, int, int] = (200, 90, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG", compress_level=1)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def most_in_a_window(starts: list[float], window: float) -> int:
    """The most starts in any half-open interval of ``window`` seconds."""
    starts = sorted(starts)
    return max((sum(1 for t in starts[i:] if t < s + window) for i, s in enumerate(starts)), default=0)


@dataclass
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    parts: list[Part] = field(default_factory=list)
    received_at: float = 0.0  # time.monotonic() when the request line arrived

    def field(self, name: str) -> str:
        return next(p.data.decode() for p in self.parts if p.name == name and p.filename is None)

    def files(self, name: str) -> list[Part]:
        return [p for p in self.parts if p.name == name and p.filename is not None]


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, bytes → as is, str → text
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay_s: float = 0.0


def _parse_multipart(content_type: str, body: bytes) -> list[Part]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = []
    for part in message.iter_parts():
        parts.append(Part(
            name=part.get_param("name", header="content-disposition"),
            filename=part.get_filename(),
            content_type=part.get_content_type(),
            data=part.get_payload(decode=True) or b"",
        ))
    return parts


class FakeService:
    """A threaded HTTP server; subclasses answer in ``handle``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._scripted: list[tuple[str | None, Reply]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                service._serve(self, "GET")

            def do_POST(self) -> None:
                service._serve(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None, path: str | None = None,
                  delay_s: float = 0.0) -> None:
        """Answer the next request (to ``path``, if given) with this reply instead."""
        with self.lock:
            self._scripted.append((path, Reply(status, body, headers or {}, delay_s=delay_s)))

    def received(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def handle(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        received_at = time.monotonic()
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        request = Recorded(method, split.path, parse_qs(split.query), {k.lower(): v for k, v in handler.headers.items()},
                           body, received_at=received_at)
        if content_type.startswith("application/json") and body:
            try:
                request.json = json.loads(body)
            except ValueError:
                request.json = None
        elif content_type.startswith("multipart/form-data"):
            request.parts = _parse_multipart(content_type, body)
        with self.lock:
            self.requests.append(request)
            scripted = next((i for i, (path, _) in enumerate(self._scripted) if path in (None, split.path)), None)
            reply = self._scripted.pop(scripted)[1] if scripted is not None else None
        if reply is None:
            reply = self.handle(request)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if isinstance(reply.body, (dict, list)):
            data, ctype = json.dumps(reply.body).encode(), "application/json"
        elif isinstance(reply.body, bytes):
            data, ctype = reply.body, "application/octet-stream"
        else:
            data, ctype = str(reply.body or "").encode(), "text/plain; charset=utf-8"
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type or ctype)
            handler.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


# --- OpenAI ----------------------------------------------------------------------------------

OPENAI_SIZES = {"gpt-image-1": ("1024x1024", "1536x1024", "1024x1536"),
                "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
                "dall-e-2": ("256x256", "512x512", "1024x1024")}


def openai_error(status: int, message: str, type_: str, code: str | None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": type_, "param": param, "code": code}}, headers or {})


class FakeOpenAI(FakeService):
    """``/v1/images/generations`` and ``/v1/images/edits`` as OpenAI answers them; with
    ``any_size`` it answers as sd-server does (any size, ``{"error": "..."}`` errors); with
    ``answer_with_url`` it hands back a link to the image instead of base64."""

    def __init__(self, key: str | None, *, any_size: bool = False, answer_with_url: bool = False):
        super().__init__()
        self.key = key
        self.any_size = any_size
        self.answer_with_url = answer_with_url
        self.files: dict[str, bytes] = {}

    def handle(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path.startswith("/files/"):
            data = self.files.get(request.path.rsplit("/", 1)[1])
            return Reply(200, data, content_type="image/png") if data else Reply(404, "not found")
        if request.path not in ("/v1/images/generations", "/v1/images/edits") or request.method != "POST":
            return openai_error(404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error", None)
        if self.key is not None:
            given = request.headers.get("authorization", "")
            if not given.startswith("Bearer "):
                return openai_error(401, "You didn't provide an API key. You need to provide your API key in an "
                                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                                    "invalid_request_error", None)
            if given != f"Bearer {self.key}":
                shown = given[7:]
                masked = shown[:3] + "*" * max(0, len(shown) - 7) + shown[-4:]
                return openai_error(401, f"Incorrect API key provided: {masked}. You can find your API key at "
                                    "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                                    "invalid_api_key")
        if request.path.endswith("/edits"):
            if not request.parts:
                return openai_error(400, "Invalid Content-Type header (application/json), expected multipart/form-data.",
                                    "invalid_request_error", None)
            fields = {p.name: p.data.decode() for p in request.parts if p.filename is None}
            images = request.files("image") + request.files("image[]")
            if not images:
                return openai_error(400, "Missing required parameter: 'image'.", "invalid_request_error",
                                    "missing_required_parameter", "image")
        else:
            if not isinstance(request.json, dict):
                return openai_error(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
            fields = request.json
        prompt = fields.get("prompt")
        if not prompt:
            if self.any_size:
                return Reply(400, {"error": "prompt required"})
            return openai_error(400, "Missing required parameter: 'prompt'.", "invalid_request_error",
                                "missing_required_parameter", "prompt")
        model = fields.get("model", "dall-e-2")
        if model.startswith("gpt-image") and "response_format" in fields:
            return openai_error(400, "Unknown parameter: 'response_format'.", "invalid_request_error",
                                "unknown_parameter", "response_format")
        if model.startswith("dall-e") and "output_format" in fields:
            return openai_error(400, "Unknown parameter: 'output_format'.", "invalid_request_error",
                                "unknown_parameter", "output_format")
        size = str(fields.get("size", "1024x1024"))
        allowed = OPENAI_SIZES.get(model, ())
        if not self.any_size and size not in allowed:
            return openai_error(400, f"Invalid value: '{size}'. Supported values are: "
                                + ", ".join(f"'{s}'" for s in allowed) + ", and 'auto'.",
                                "invalid_request_error", "invalid_value", "size")
        if "forbidden" in prompt:
            return openai_error(400, "Your request was rejected as a result of our safety system. Your prompt may "
                                "contain text that is not allowed by our safety system.", "image_generation_user_error",
                                "content_policy_violation")
        width, height = (int(v) for v in size.split("x"))
        image = png_bytes(width, height)
        item: dict[str, Any] = {}
        if self.answer_with_url:
            name = f"{uuid.uuid4().hex}.png"
            self.files[name] = image
            item["url"] = f"{self.url}/files/{name}"
        else:
            item["b64_json"] = b64(image)
        body: dict[str, Any] = {"created": int(time.time()), "data": [item]}
        if model.startswith("dall-e-3"):
            item["revised_prompt"] = f"A detailed picture: {prompt}"
        if model.startswith("gpt-image"):
            body.update(background="opaque", output_format=fields.get("output_format", "png"), quality="high",
                        size=size, usage={"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210,
                                          "input_tokens_details": {"image_tokens": 40, "text_tokens": 10}})
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-processing-ms": "12"}
        return Reply(200, body, headers)


# --- AUTOMATIC1111 ---------------------------------------------------------------------------

A1111_SAMPLERS = ("Euler a", "Euler", "DPM++ 2M", "DDIM")
_A1111_TYPES = {
    "prompt": str, "negative_prompt": str, "seed": int, "steps": int, "cfg_scale": (int, float),
    "width": int, "height": int, "sampler_name": str, "batch_size": int, "n_iter": int,
    "override_settings": dict, "override_settings_restore_afterwards": bool, "send_images": bool,
    "save_images": bool, "denoising_strength": (int, float), "init_images": list, "scheduler": str,
}
_A1111_TYPE_ERRORS = {
    str: ("str type expected", "type_error.str"),
    int: ("value is not a valid integer", "type_error.integer"),
    dict: ("value is not a valid dict", "type_error.dict"),
    bool: ("value could not be parsed to a boolean", "type_error.bool"),
    list: ("value is not a valid list", "type_error.list"),
}


class FakeA1111(FakeService):
    """``/sdapi/v1/txt2img``, ``img2img`` and ``progress`` as the web UI answers them: one job
    at a time, sampling ``steps`` steps over ``seconds_per_job``."""

    def __init__(self, *, seconds_per_job: float = 0.0, auth: str | None = None):
        super().__init__()
        self.seconds_per_job = seconds_per_job
        self.auth = auth
        self.gpu = threading.Lock()
        self.state = {"sampling_step": 0, "sampling_steps": 0, "job_count": 0}
        self.init_images: list[bytes] = []

    def handle(self, request: Recorded) -> Reply:
        if self.auth is not None:
            expected = "Basic " + b64(self.auth.encode())
            if request.headers.get("authorization") != expected:
                return Reply(401, {"detail": "Incorrect username or password"}, {"WWW-Authenticate": "Basic"})
        if request.method == "GET" and request.path == "/sdapi/v1/progress":
            state = dict(self.state)
            steps = state["sampling_steps"] or 1
            return Reply(200, {"progress": state["sampling_step"] / steps, "eta_relative": 0.1,
                               "state": {"skipped": False, "interrupted": False, "job": "", "job_count": state["job_count"],
                                         "job_timestamp": "20240101000000", "job_no": 0,
                                         "sampling_step": state["sampling_step"], "sampling_steps": state["sampling_steps"]},
                               "current_image": None, "textinfo": None})
        if request.method != "POST" or request.path not in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img"):
            return Reply(404, {"detail": "Not Found"})
        payload = request.json
        if not isinstance(payload, dict):
            return Reply(422, {"detail": [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]})
        problems = []
        for key, kind in _A1111_TYPES.items():
            if key in payload and (not isinstance(payload[key], kind) or (kind is int and isinstance(payload[key], bool))):
                msg, typ = _A1111_TYPE_ERRORS.get(kind, ("value is not a valid float", "type_error.float"))
                problems.append({"loc": ["body", key], "msg": msg, "type": typ})
        if problems:
            return Reply(422, {"detail": problems})
        sampler = payload.get("sampler_name", "Euler a")
        if sampler not in A1111_SAMPLERS:
            return Reply(404, {"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": ""})
        if request.path.endswith("img2img"):
            images = payload.get("init_images") or []
            if not images:
                return Reply(500, {"error": "IndexError", "detail": "", "body": "", "errors": "list index out of range"})
            self.init_images.append(base64.b64decode(images[0]))
        seed = payload.get("seed", -1)
        if seed == -1:
            seed = random.randrange(2**32)
        steps, width, height = payload.get("steps", 20), payload.get("width", 512), payload.get("height", 512)
        with self.gpu:
            self.state.update(sampling_step=0, sampling_steps=steps, job_count=1)
            for step in range(1, steps + 1):
                time.sleep(self.seconds_per_job / steps)
                self.state["sampling_step"] = step
            self.state.update(sampling_step=0, sampling_steps=0, job_count=0)
        model = payload.get("override_settings", {}).get("sd_model_checkpoint", "v1-5-pruned-emaonly.safetensors")
        infotext = (f"{payload.get('prompt', '')}\nNegative prompt: {payload.get('negative_prompt', '')}\n"
                    f"Steps: {steps}, Sampler: {sampler}, CFG scale: {payload.get('cfg_scale', 7)}, Seed: {seed}, "
                    f"Size: {width}x{height}, Model: {model}")
        info = {"prompt": payload.get("prompt", ""), "all_prompts": [payload.get("prompt", "")], "seed": seed,
                "all_seeds": [seed], "subseed": 1234, "width": width, "height": height, "sampler_name": sampler,
                "cfg_scale": payload.get("cfg_scale", 7), "steps": steps, "sd_model_name": model.rsplit(".", 1)[0],
                "sd_model_hash": "6ce0161689", "infotexts": [infotext]}
        return Reply(200, {"images": [b64(png_bytes(width, height))], "parameters": payload, "info": json.dumps(info)})


# --- ComfyUI ---------------------------------------------------------------------------------

COMFY_MODELS = ("sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors")
COMFY_SAMPLERS = ("euler", "euler_ancestral", "dpmpp_2m", "ddim")
_INT, _FLOAT, _STR, _LINK = "INT", "FLOAT", "STRING", "LINK"
COMFY_NODES: dict[str, dict[str, Any]] = {
    "CheckpointLoaderSimple": {"ckpt_name": COMFY_MODELS},
    "CLIPTextEncode": {"text": _STR, "clip": _LINK},
    "EmptyLatentImage": {"width": _INT, "height": _INT, "batch_size": _INT},
    "KSampler": {"model": _LINK, "seed": _INT, "steps": _INT, "cfg": _FLOAT, "sampler_name": COMFY_SAMPLERS,
                 "scheduler": ("normal", "karras"), "positive": _LINK, "negative": _LINK,
                 "latent_image": _LINK, "denoise": _FLOAT},
    "VAEDecode": {"samples": _LINK, "vae": _LINK},
    "VAEEncode": {"pixels": _LINK, "vae": _LINK},
    "LoadImage": {"image": "UPLOADED"},
    "SaveImage": {"images": _LINK, "filename_prefix": _STR},
    "PreviewImage": {"images": _LINK},
}
_OUTPUT_NODES = {"SaveImage": "output", "PreviewImage": "temp"}


class FakeComfyUI(FakeService):
    """ComfyUI's ``/prompt``, ``/history/{id}``, ``/view``, ``/upload/image`` and ``/queue``.

    A valid prompt finishes after ``polls_to_finish`` reads of its history; until then its
    history is ``{}``, as ComfyUI's is while a prompt is queued or running. A prompt whose
    text contains "explode" fails during execution."""

    def __init__(self, *, polls_to_finish: int = 3):
        super().__init__()
        self.polls_to_finish = polls_to_finish
        self.prompts: dict[str, dict[str, Any]] = {}
        self.polls: dict[str, int] = {}
        self.inputs: dict[str, bytes] = {}
        self.outputs: dict[tuple[str, str], bytes] = {}
        self.deleted: list[str] = []
        self.counter = 0

    def handle(self, request: Recorded) -> Reply:
        path = request.path.removeprefix("/api")
        if request.method == "POST" and path == "/prompt":
            return self._prompt(request.json)
        if request.method == "GET" and path.startswith("/history/"):
            return self._history(path.rsplit("/", 1)[1])
        if request.method == "GET" and path == "/view":
            return self._view(request.query)
        if request.method == "POST" and path == "/upload/image":
            image = next(iter(request.files("image")), None)
            if image is None or not image.filename:
                return Reply(400, "")
            self.inputs[image.filename] = image.data
            return Reply(200, {"name": image.filename, "subfolder": "", "type": "input"})
        if request.method == "POST" and path == "/queue":
            self.deleted.extend((request.json or {}).get("delete", []))
            return Reply(200, "")
        return Reply(404, "404: Not Found")

    def _prompt(self, body: Any) -> Reply:
        if not isinstance(body, dict) or "prompt" not in body:
            return Reply(400, {"error": "no prompt", "node_errors": []})
        graph = body["prompt"]
        for node_id, node in graph.items():
            if node.get("class_type") not in COMFY_NODES:
                message = f"Cannot execute because node {node.get('class_type')} does not exist."
                return Reply(400, {"error": {"type": "invalid_prompt", "message": message,
                                             "details": f"Node ID '#{node_id}'", "extra_info": {}}, "node_errors": {}})
        outputs = [node_id for node_id, node in graph.items() if node["class_type"] in _OUTPUT_NODES]
        if not outputs:
            return Reply(400, {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs",
                                         "details": "", "extra_info": {}}, "node_errors": []})
        node_errors: dict[str, Any] = {}
        for node_id, node in graph.items():
            errors = self._validate(node)
            if errors:
                node_errors[node_id] = {"errors": errors, "dependent_outputs": outputs, "class_type": node["class_type"]}
        if node_errors:
            return Reply(400, {"error": {"type": "prompt_outputs_failed_validation",
                                         "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
                               "node_errors": node_errors})
        prompt_id = str(uuid.uuid4())
        self.counter += 1
        self.prompts[prompt_id] = graph
        self.polls[prompt_id] = 0
        return Reply(200, {"prompt_id": prompt_id, "number": self.counter, "node_errors": {}})

    def _validate(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        for name, kind in COMFY_NODES[node["class_type"]].items():
            value = node["inputs"].get(name)
            if value is None:
                errors.append({"type": "required_input_missing", "message": "Required input is missing",
                               "details": name, "extra_info": {"input_name": name}})
            elif kind == _LINK:
                if not (isinstance(value, list) and len(value) == 2):
                    errors.append({"type": "bad_linked_input", "message": "Bad linked input, must be a length-2 list",
                                   "details": f"{name}", "extra_info": {"input_name": name}})
            elif kind in (_INT, _FLOAT):
                ok = isinstance(value, int) if kind == _INT else isinstance(value, (int, float))
                if not ok or isinstance(value, bool):
                    errors.append({"type": "invalid_input_type",
                                   "message": f"Failed to convert an input value to a {kind} value",
                                   "details": f"{name}, {value}", "extra_info": {"input_name": name}})
            elif kind == _STR:
                if not isinstance(value, str):
                    errors.append({"type": "invalid_input_type",
                                   "message": "Failed to convert an input value to a STRING value",
                                   "details": f"{name}, {value}", "extra_info": {"input_name": name}})
            else:
                allowed = tuple(self.inputs) if kind == "UPLOADED" else kind
                if value not in allowed:
                    errors.append({"type": "value_not_in_list", "message": "Value not in list",
                                   "details": f"{name}: '{value}' not in {list(allowed)}",
                                   "extra_info": {"input_name": name}})
        return errors

    def _history(self, prompt_id: str) -> Reply:
        graph = self.prompts.get(prompt_id)
        if graph is None:
            return Reply(200, {})
        self.polls[prompt_id] += 1
        if self.polls[prompt_id] < self.polls_to_finish:
            return Reply(200, {})
        texts = " ".join(str(n["inputs"].get("text", "")) for n in graph.values())
        entry: dict[str, Any] = {"prompt": [1, prompt_id, graph, {}, []], "meta": {}}
        if "explode" in texts:
            sampler = next(i for i, n in graph.items() if n["class_type"] == "KSampler")
            entry["outputs"] = {}
            entry["status"] = {"status_str": "error", "completed": False, "messages": [
                ["execution_start", {"prompt_id": prompt_id, "timestamp": 1}],
                ["execution_error", {"prompt_id": prompt_id, "node_id": sampler, "node_type": "KSampler",
                                     "executed": [],
                                     "exception_message": "Allocation on device 0 would exceed allowed memory.",
                                     "exception_type": "torch.OutOfMemoryError", "traceback": ["..."],
                                     "current_inputs": {}, "current_outputs": {}}]]}
            return Reply(200, {prompt_id: entry})
        latent = next((n["inputs"] for n in graph.values() if n["class_type"] == "EmptyLatentImage"), None)
        if latent:
            size = (latent["width"], latent["height"])
        else:
            loaded = next(n["inputs"]["image"] for n in graph.values() if n["class_type"] == "LoadImage")
            size = Image.open(io.BytesIO(self.inputs[loaded])).size
        entry["outputs"] = {}
        for node_id, node in graph.items():
            kind = _OUTPUT_NODES.get(node["class_type"])
            if kind:
                name = f"{node['inputs'].get('filename_prefix', 'ComfyUI_temp')}_{self.counter:05d}_.png"
                self.outputs[(kind, name)] = png_bytes(*size)
                entry["outputs"][node_id] = {"images": [{"filename": name, "subfolder": "", "type": kind}]}
        entry["status"] = {"status_str": "success", "completed": True,
                           "messages": [["execution_start", {"prompt_id": prompt_id}],
                                        ["execution_success", {"prompt_id": prompt_id}]]}
        return Reply(200, {prompt_id: entry})

    def _view(self, query: dict[str, list[str]]) -> Reply:
        filename = query.get("filename", [""])[0]
        if not filename or filename.startswith("/") or ".." in filename:
            return Reply(400, "")
        if query.get("subfolder", [""])[0].startswith(("/", "..")):
            return Reply(403, "")
        data = self.outputs.get((query.get("type", ["output"])[0], filename))
        return Reply(200, data, content_type="image/png") if data else Reply(404, "")


# --- Gemini ----------------------------------------------------------------------------------

GEMINI_SIZES = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
                "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672)}
GEMINI_MODELS = ("gemini-2.5-flash-image", "gemini-3-pro-image-preview")


def gemini_error(status: int, code_name: str, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": code_name}
    if details:
        error["details"] = details
    return Reply(status, {"error": error}, headers or {})


class FakeGemini(FakeService):
    """``/v1beta/models/{model}:generateContent`` as the Gemini API answers it. Prompts with
    "forbidden" are stopped by the image safety filter, with "prohibited" blocked outright,
    with "chatty" answered in text only."""

    def __init__(self, key: str):
        super().__init__()
        self.key = key
        self.served = 0

    def handle(self, request: Recorded) -> Reply:
        match = re.fullmatch(r"/v1beta/models/([^/:]+):generateContent", request.path)
        if request.method != "POST" or not match:
            return gemini_error(404, "NOT_FOUND", "Requested entity was not found.")
        given = request.headers.get("x-goog-api-key") or request.query.get("key", [None])[0]
        if not given:
            return gemini_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers "
                                "without established identity). Please use API Key or other form of API consumer "
                                "identity to call this API.")
        if given != self.key:
            return gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])
        model = match.group(1)
        if model not in GEMINI_MODELS:
            return gemini_error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not "
                                "supported for generateContent. Call ListModels to see the list of available models "
                                "and their supported methods.")
        body = request.json
        try:
            parts = body["contents"][0]["parts"]
            text = " ".join(p["text"] for p in parts if "text" in p)
            config = body.get("generationConfig", {})
            ratio = config.get("imageConfig", {}).get("aspectRatio", "1:1")
        except (KeyError, IndexError, TypeError):
            return gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if ratio not in GEMINI_SIZES:
            return gemini_error(400, "INVALID_ARGUMENT", f"Unsupported aspect ratio: {ratio}")
        seed = config.get("seed")
        if seed is not None and not (isinstance(seed, int) and -2**31 <= seed < 2**31):
            return gemini_error(400, "INVALID_ARGUMENT", f"Invalid value at 'generation_config.seed' (TYPE_INT32), {seed}")
        self.served += 1
        common = {"usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1290, "totalTokenCount": 1302},
                  "modelVersion": model, "responseId": f"resp-{self.served}-{uuid.uuid4().hex[:8]}"}
        if "prohibited" in text:
            return Reply(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, **common})
        if "forbidden" in text:
            return Reply(200, {"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}], **common})
        if "chatty" in text:
            return Reply(200, {"candidates": [{"content": {"role": "model", "parts": [
                {"text": "I would rather describe it: a quiet fox in the snow."}]},
                "finishReason": "STOP", "index": 0}], **common})
        width, height = GEMINI_SIZES[ratio]
        return Reply(200, {"candidates": [{"content": {"role": "model", "parts": [
            {"text": "Here is your image."},
            {"inlineData": {"mimeType": "image/png", "data": b64(png_bytes(width, height))}}]},
            "finishReason": "STOP", "index": 0}], **common})
