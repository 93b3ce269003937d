"""The ``openai`` engine: the OpenAI images API, and servers that speak it (sd-server).

A job without references is ``POST {base_url}/v1/images/generations`` with ``model``,
``prompt``, ``n = 1`` and ``size = "WxH"``; a job with references is
``POST {base_url}/v1/images/edits`` as multipart, the references as ``image`` (one) or
``image[]`` (several). The image comes back as ``data[0].b64_json`` (or, from servers that
answer with a link, ``data[0].url``, fetched without the key). The ``x-request-id`` header
becomes the image's response id; ``usage`` and ``revised_prompt`` go in its info.

Options (besides ``base_url``, ``api_key_env``, ``timeout_s`` and ``concurrency``, see
:mod:`kiln.engines.http`)::

    [engines.openai]
    type = "openai"
    base_url = "https://api.openai.com"    # the default; sd-server: "http://127.0.0.1:1234"
    api_key_env = "OPENAI_API_KEY"
    sizes = ["1024x1024", "1536x1024", "1024x1536"]   # sizes the service makes; [] = any
    output_format = "png"                  # png, jpeg or webp
    extra = { quality = "high", moderation = "low" }  # more request fields, sent as given

The API makes only fixed sizes, and kiln never resizes what comes back: a recipe size not in
``sizes`` fails before anything is sent (``UNSUPPORTED_SIZE``), and an image of another size
fails as ``WRONG_SIZE``. The default ``sizes`` is every size OpenAI documents (which ones a
model takes is the model's business: gpt-image-1 makes 1024x1024, 1536x1024 and 1024x1536).
Set ``sizes = []`` for servers that make any size, such as sd-server.

Model families differ in what they accept: ``dall-e-*`` gets ``response_format = "b64_json"``
and no ``output_format``; ``gpt-image-*`` gets ``output_format`` and no ``response_format``
(it always answers in base64); any other model name (sd-server, other compatible servers)
gets both. The API has no seed, steps, guidance, sampler or negative prompt: they are not sent,
and the image's info says so.
"""

from __future__ import annotations

import re
from typing import Any

from kiln.engines.base import GenerateRequest, GenerateResult, Progress, ProgressFn
from kiln.engines.http import (
    EXTRA_OPTION,
    ErrorDetail,
    HTTPEngine,
    HTTPEngineError,
    Option,
    common_options,
    decode_base64,
    decode_image,
    merged,
)

DOCUMENTED_SIZES = ["1024x1024", "1536x1024", "1024x1536", "256x256", "512x512", "1792x1024", "1024x1792"]
OUTPUT_FORMATS = ("png", "jpeg", "webp")
# Retrying a request that failed because the account has no credit only costs time.
_FATAL_CODES = {"insufficient_quota", "billing_hard_limit_reached"}


def _sizes(value: list[str]) -> str | None:
    bad = [size for size in value if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", size)]
    return f"expected sizes such as \"1024x1024\", not {', '.join(bad)}" if bad else None


def _output_format(value: str) -> str | None:
    return None if value in OUTPUT_FORMATS else f"expected one of {', '.join(OUTPUT_FORMATS)}"


class OpenAIEngine(HTTPEngine):
    """OpenAI's images API, or any server speaking it."""

    type = "openai"
    description = "OpenAI images API (/v1/images/generations and /edits), or a server speaking it such as sd-server"
    concurrency = 4
    options_schema = {
        **common_options(base_url="https://api.openai.com", timeout_s=300.0),
        **EXTRA_OPTION,
        "sizes": Option(list, DOCUMENTED_SIZES, _sizes),
        "output_format": Option(str, "png", _output_format),
    }
    managed_fields = ("model", "prompt", "n", "size", "image", "response_format", "output_format")

    def _error_detail(self, status: int, body: Any) -> ErrorDetail:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code") if isinstance(error.get("code"), str) else None
            return ErrorDetail(
                message=str(error.get("message") or error.get("type") or ""),
                code=code,
                retryable=False if code in _FATAL_CODES else None,
            )
        if isinstance(error, str):
            # sd-server: {"error": "prompt required"} or {"error": "server_error", "message": "..."}.
            return ErrorDetail(message=f"{error}: {body['message']}" if body.get("message") else error)
        return ErrorDetail()

    def _fields(self, request: GenerateRequest) -> dict[str, Any]:
        fields: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": 1,
                                  "size": f"{request.width}x{request.height}"}
        if not request.model.startswith("gpt-image"):
            fields["response_format"] = "b64_json"
        if not request.model.startswith("dall-e"):
            fields["output_format"] = self.settings["output_format"]
        return merged(fields, self.settings["extra"])

    def _generate(self, request: GenerateRequest, progress: ProgressFn) -> GenerateResult:
        size = f"{request.width}x{request.height}"
        sizes = self.settings["sizes"]
        if sizes and size not in sizes:
            raise HTTPEngineError(
                f"{self.label}: {size} is not a size this service makes; use one of {', '.join(sizes)} "
                "(or set sizes = [] in kiln.toml for a server that makes any size)",
                code="UNSUPPORTED_SIZE", retryable=False,
            )
        fields = self._fields(request)
        if request.references:
            progress(Progress("conditioning", message=f"reading {len(request.references)} reference image(s)"))
            images = self.references(request)
            name = "image" if len(images) == 1 else "image[]"
            progress(Progress("sampling", message=f"waiting for {self.label}"))
            response = self.request(
                "POST", "/v1/images/edits",
                data={key: str(value) for key, value in fields.items()},
                files=[(name, (image.filename, image.data, image.mime_type)) for image in images],
            )
        else:
            progress(Progress("sampling", message=f"waiting for {self.label}"))
            response = self.request("POST", "/v1/images/generations", json=fields)
        body = self.json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise self.bad_response("no data[0] in the response")
        item = data[0]
        progress(Progress("saving", message="decoding the image"))
        if isinstance(item.get("b64_json"), str):
            raw = decode_base64(item["b64_json"], self.label)
        elif isinstance(item.get("url"), str):
            raw = self.request("GET", "", url=item["url"]).content
        else:
            raise self.bad_response("data[0] has neither b64_json nor url")
        image = decode_image(raw, request, self.label,
                             hint="; restrict sizes in kiln.toml to the sizes the model makes")
        info: dict[str, Any] = {
            "engine": self.type,
            "endpoint": "edits" if request.references else "generations",
            "not_sent": ["seed", "steps", "guidance", "sampler", "negative_prompt"],
        }
        for key in ("created", "usage", "quality", "background", "output_format"):
            if key in body:
                info[key] = body[key]
        if item.get("revised_prompt"):
            info["revised_prompt"] = item["revised_prompt"]
        return GenerateResult(
            image=image,
            encoded=raw,
            seed=request.seed,
            response_id=response.headers.get("x-request-id"),
            info=info,
        )
