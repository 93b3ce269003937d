"""The ``comfyui`` engine: a ComfyUI server running a workflow template kiln fills in.

The template is a workflow saved in ComfyUI's API format ("Export (API)"): a JSON object of
nodes, ``{"3": {"class_type": "KSampler", "inputs": {...}}, ...}``. Wherever an input's value
is a placeholder string, kiln puts the job's value:

=========================  ========  ==================================================
placeholder                type      value
=========================  ========  ==================================================
``"{{prompt}}"``           string    the prompt (required in every template)
``"{{negative_prompt}}"``  string    the negative prompt
``"{{seed}}"``             integer   the seed (required: without it seeds change nothing)
``"{{width}}"``            integer   the width in pixels
``"{{height}}"``           integer   the height in pixels
``"{{steps}}"``            integer   sampling steps
``"{{guidance}}"``         number    guidance (CFG), always a float
``"{{model}}"``            string    the recipe's model, e.g. a checkpoint file name
``"{{sampler}}"``          string    the recipe's sampler
``"{{reference_1}}"`` …    string    the uploaded reference image, for a LoadImage node
=========================  ========  ==================================================

A value that is exactly a placeholder becomes the typed value (``"{{seed}}"`` → ``42``); a
placeholder inside a longer string is replaced as text (``"photo, {{prompt}}"``). A default
after ``|`` is used when the job has no value: ``"{{sampler|euler}}"``. An unknown placeholder
fails the load, so a typo cannot send ``{{promt}}`` to the server.

A job runs as: references uploaded with ``POST /upload/image`` (named by their content hash,
so each is sent once); ``POST /prompt {"prompt": graph, "client_id"}`` → ``prompt_id``;
``GET /history/{prompt_id}`` every ``poll_interval_s`` until the prompt has finished; the image
from ``GET /view?filename=&subfolder=&type=``. The image is the one output of the node named
by ``output_node``, or of the only node that made images (SaveImage preferred over previews).
It must be the size asked for (``{{width}}``/``{{height}}`` in the latent node see to that);
any other size fails as ``WRONG_SIZE``.

Options (besides ``base_url``, ``api_key_env``, ``timeout_s`` and ``concurrency``, see
:mod:`kiln.engines.http`)::

    [engines.comfy]
    type = "comfyui"
    base_url = "http://127.0.0.1:8188"    # the default
    workflow = "workflows/sdxl.json"       # required; relative to the project, never outside it
    output_node = "9"                      # optional: the node whose image to keep
    poll_interval_s = 0.5                  # how often to ask whether the prompt has finished
    max_wait_s = 1800                      # give up (TIMEOUT, retryable) after this long
    timeout_s = 60                         # the default here: each request is short
    concurrency = 2                        # the default: one queued while one runs
    api_key_env = "COMFY_TOKEN"            # only behind a proxy that wants a bearer token

The template is read when the engine loads a model, so an edited template takes effect on the
next run; its SHA-256 is recorded in each image's info, with the recipe values it has no
placeholder for (``unused``), which change the job's key but not its image.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.engines.base import GenerateRequest, GenerateResult, Progress, ProgressFn
from kiln.engines.http import (
    REQUIRED,
    EncodedImage,
    ErrorDetail,
    HTTPEngine,
    HTTPEngineError,
    Option,
    common_options,
    decode_image,
    excerpt,
    positive,
)
from kiln.paths import inside

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_0-9]+)\s*(?:\|([^}]*))?\}\}")
_NAMES = ("prompt", "negative_prompt", "seed", "width", "height", "steps", "guidance", "model", "sampler")
_REFERENCE = re.compile(r"reference_([1-9]\d*)")
# Without these every job of a recipe would make the same picture.
_MUST_USE = ("prompt", "seed")


def _workflow(value: str) -> str | None:
    return None if value.strip() else "expected the path of a workflow file"


@dataclass(frozen=True)
class Template:
    """A workflow template: the graph, the placeholders it uses, and its hash."""

    graph: dict[str, Any]
    names: frozenset[str]
    references: int
    sha256: str


class ComfyUIEngine(HTTPEngine):
    """A ComfyUI server running a workflow template."""

    type = "comfyui"
    description = "ComfyUI server running a workflow template (API format) with kiln's placeholders filled in"
    concurrency = 2
    options_schema = {
        **common_options(base_url="http://127.0.0.1:8188", timeout_s=60.0),
        "workflow": Option(str, REQUIRED, _workflow),
        "output_node": Option(str, ""),
        "poll_interval_s": Option(float, 0.5, positive),
        "max_wait_s": Option(float, 1800.0, positive),
    }

    def __init__(self, name: str, options: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(name, options, **kwargs)
        self.client_id = uuid.uuid4().hex
        self.template: Template | None = None

    # Loading the template

    def _prepare(self, model: str, progress: ProgressFn) -> None:
        progress(Progress("loading", message=f"reading workflow {self.settings['workflow']}"))
        self.template = self._read_template()

    def _bad_workflow(self, message: str) -> HTTPEngineError:
        return HTTPEngineError(f"{self.label}: workflow {self.settings['workflow']}: {message}",
                               code="BAD_WORKFLOW", retryable=False)

    def _read_template(self) -> Template:
        path = self.root / self.settings["workflow"]
        if not inside(self.root, path):
            raise self._bad_workflow("points outside the project")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self._bad_workflow("not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise self._bad_workflow(f"cannot be read ({exc})") from exc
        try:
            graph = json.loads(text)
        except ValueError as exc:
            raise self._bad_workflow(f"is not JSON ({exc})") from exc
        if isinstance(graph, dict) and isinstance(graph.get("nodes"), list):
            raise self._bad_workflow("is in ComfyUI's UI format; save it with \"Export (API)\" instead")
        if not isinstance(graph, dict) or not graph or not all(
            isinstance(node, dict) and isinstance(node.get("class_type"), str) and isinstance(node.get("inputs"), dict)
            for node in graph.values()
        ):
            raise self._bad_workflow("expected an API-format workflow: an object of nodes with class_type and inputs")
        names = set(_placeholders(graph))
        unknown = sorted(n for n in names if n not in _NAMES and not _REFERENCE.fullmatch(n))
        if unknown:
            raise self._bad_workflow(
                f"unknown placeholder(s) {', '.join('{{' + n + '}}' for n in unknown)}; "
                f"known: {', '.join('{{' + n + '}}' for n in _NAMES)}, {{{{reference_1}}}}…"
            )
        missing = [n for n in _MUST_USE if n not in names]
        if missing:
            raise self._bad_workflow(f"has no {' or '.join('{{' + n + '}}' for n in missing)} placeholder")
        references = max((int(m.group(1)) for n in names if (m := _REFERENCE.fullmatch(n))), default=0)
        node = self.settings["output_node"]
        if node and node not in graph:
            raise self._bad_workflow(f"has no node {node!r} (output_node)")
        return Template(graph, frozenset(names), references, hashlib.sha256(text.encode()).hexdigest())

    # Running a job

    def _error_detail(self, status: int, body: Any) -> ErrorDetail:
        if not isinstance(body, dict):
            return ErrorDetail()
        error = body.get("error")
        if isinstance(error, str):
            return ErrorDetail(message=error)
        if not isinstance(error, dict):
            return ErrorDetail()
        parts = [str(error.get("message") or "")]
        if error.get("details"):
            parts[0] += f" ({error['details']})"
        node_errors = body.get("node_errors")
        if isinstance(node_errors, dict):
            for node_id, entry in node_errors.items():
                if not isinstance(entry, dict):
                    continue
                for item in entry.get("errors") or []:
                    if isinstance(item, dict):
                        what = f"{item.get('message', '')}: {item.get('details', '')}".strip(": ")
                        parts.append(f"node {node_id} ({entry.get('class_type', '?')}): {what}")
        code = error.get("type") if isinstance(error.get("type"), str) else None
        return ErrorDetail(message="; ".join(p for p in parts if p), code=code)

    def _generate(self, request: GenerateRequest, progress: ProgressFn) -> GenerateResult:
        template = self.template or self._read_template()
        if len(request.references) != template.references:
            raise HTTPEngineError(
                f"{self.label}: the workflow takes {template.references} reference image(s) "
                f"({{{{reference_1}}}}…), the job has {len(request.references)}",
                code="UNSUPPORTED_REFERENCES", retryable=False,
            )
        values: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": request.seed,
            "width": request.width,
            "height": request.height,
            "steps": request.steps,
            "guidance": float(request.guidance),
            "model": request.model,
            "sampler": request.sampler,
        }
        if request.references:
            progress(Progress("conditioning", message=f"uploading {len(request.references)} reference image(s)"))
            for index, image in enumerate(self.references(request), start=1):
                values[f"reference_{index}"] = self._upload(image)
        graph = _fill(template.graph, values, self._bad_workflow)
        # A recipe value the template has no placeholder for changes the job key but not the image.
        unused = [name for name in ("negative_prompt", "sampler", "steps", "guidance", "model")
                  if values[name] and name not in template.names]

        started = time.perf_counter()
        body = self.json(self.request("POST", "/prompt", json={"prompt": graph, "client_id": self.client_id}))
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        if not isinstance(prompt_id, str):
            raise self.bad_response("no prompt_id from POST /prompt")
        progress(Progress("sampling", message=f"ComfyUI prompt {prompt_id} queued"))
        entry = self._wait(prompt_id, started)
        queued_ms = round((time.perf_counter() - started) * 1000.0, 1)

        progress(Progress("saving", message="fetching the image"))
        node_id, picture = self._pick_output(entry)
        raw = self.request("GET", "/view", params={
            "filename": picture.get("filename", ""),
            "subfolder": picture.get("subfolder", ""),
            "type": picture.get("type", "output"),
        }).content
        image = decode_image(raw, request, self.label,
                             hint="; fill the latent size in the workflow with {{width}} and {{height}}")
        return GenerateResult(
            image=image,
            encoded=raw,
            seed=request.seed,
            response_id=prompt_id,
            timings_ms={"queued_and_run": queued_ms},
            info={
                "engine": self.type,
                "workflow": self.settings["workflow"],
                "workflow_sha256": template.sha256,
                "output_node": node_id,
                "filename": picture.get("filename"),
                **({"unused": unused} if unused else {}),
            },
        )

    def _upload(self, image: EncodedImage) -> str:
        # Named by content, so a reference every job uses is stored once and never mistaken
        # for another file of the same name.
        name = f"kiln-{hashlib.sha256(image.data).hexdigest()[:16]}{Path(image.filename).suffix.lower()}"
        body = self.json(self.request(
            "POST", "/upload/image",
            data={"type": "input", "overwrite": "true"},
            files={"image": (name, image.data, image.mime_type)},
        ))
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise self.bad_response("no name from POST /upload/image")
        return f"{body['subfolder']}/{body['name']}" if body.get("subfolder") else body["name"]

    def _wait(self, prompt_id: str, started: float) -> dict[str, Any]:
        """The prompt's history entry once it has finished (successfully or not)."""
        deadline = started + self.settings["max_wait_s"]
        while True:
            history = self.json(self.request("GET", f"/history/{prompt_id}"))
            entry = history.get(prompt_id) if isinstance(history, dict) else None
            if isinstance(entry, dict):
                status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
                if status.get("status_str") == "error":
                    raise self._execution_error(status)
                if entry.get("outputs") or status.get("completed"):
                    return entry
            if time.perf_counter() >= deadline:
                # Take it off the queue if it has not started, so it does not run after we gave up.
                try:
                    self.request("POST", "/queue", json={"delete": [prompt_id]})
                except HTTPEngineError:
                    pass
                raise HTTPEngineError(
                    f"{self.label}: prompt {prompt_id} not finished after {self.settings['max_wait_s']:g} s (max_wait_s)",
                    code="TIMEOUT", retryable=True,
                )
            time.sleep(self.settings["poll_interval_s"])

    def _execution_error(self, status: dict[str, Any]) -> HTTPEngineError:
        for message in status.get("messages") or []:
            if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
                data = message[1] if isinstance(message[1], dict) else {}
                return HTTPEngineError(
                    f"{self.label}: node {data.get('node_id', '?')} ({data.get('node_type', '?')}) failed: "
                    f"{data.get('exception_type', 'error')}: {excerpt(str(data.get('exception_message', '')))}",
                    code="EXECUTION_ERROR", retryable=False,
                )
        return HTTPEngineError(f"{self.label}: the prompt failed without an execution_error message",
                               code="EXECUTION_ERROR", retryable=False)

    def _pick_output(self, entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
        made = {node: out["images"] for node, out in outputs.items()
                if isinstance(out, dict) and isinstance(out.get("images"), list) and out["images"]}
        wanted = self.settings["output_node"]
        if wanted:
            if wanted not in made:
                made_by = ", ".join(sorted(made)) or "none"
                raise self.bad_response(f"output_node {wanted!r} made no image (nodes that did: {made_by})")
            candidates = [wanted]
        else:
            saved = [node for node, images in made.items() if images[0].get("type") == "output"]
            candidates = saved or list(made)
        if not candidates:
            raise HTTPEngineError(f"{self.label}: the workflow finished without making an image",
                                  code="NO_IMAGE", retryable=False)
        if len(candidates) > 1:
            raise HTTPEngineError(
                f"{self.label}: nodes {', '.join(sorted(candidates))} all made images; set output_node in kiln.toml",
                code="BAD_WORKFLOW", retryable=False,
            )
        node = candidates[0]
        return node, made[node][0]


def _placeholders(value: Any) -> list[str]:
    if isinstance(value, str):
        return [m.group(1) for m in _PLACEHOLDER.finditer(value)]
    if isinstance(value, dict):
        return [name for item in value.values() for name in _placeholders(item)]
    if isinstance(value, list):
        return [name for item in value for name in _placeholders(item)]
    return []


def _fill(value: Any, values: dict[str, Any], fail: Callable[[str], Exception]) -> Any:
    """A copy of ``value`` with every placeholder replaced (the template stays untouched, so
    concurrent jobs can share it)."""
    if isinstance(value, dict):
        return {key: _fill(item, values, fail) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values, fail) for item in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> Any:
        name, default = match.group(1), match.group(2)
        found = values.get(name)
        if found is None:
            if default is None:
                raise fail(f"uses {{{{{name}}}}} but the job has no {name}; give a default as {{{{{name}|value}}}}")
            return default.strip()
        return found

    whole = _PLACEHOLDER.fullmatch(value.strip())
    if whole:
        return lookup(whole)
    return _PLACEHOLDER.sub(lambda m: str(lookup(m)), value)
