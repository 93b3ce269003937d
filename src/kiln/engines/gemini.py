"""The ``gemini`` engine: Google's Gemini image models through ``generateContent``.

A job is ``POST {base_url}/v1beta/models/{model}:generateContent`` with the key in the
``x-goog-api-key`` header, the prompt as a text part, each reference as an ``inline_data``
part, and ``generationConfig`` asking for ``responseModalities: ["IMAGE"]`` with
``imageConfig.aspectRatio`` and a ``seed``. The image is the first ``inlineData`` part of
``candidates[0]``; the response's ``responseId`` becomes the image's response id, and
``modelVersion``, ``usageMetadata`` and any text the model wrote go in its info.

Options (besides ``base_url``, ``api_key_env``, ``timeout_s`` and ``concurrency``, see
:mod:`kiln.engines.http`)::

    [engines.gemini]
    type = "gemini"
    base_url = "https://generativelanguage.googleapis.com"   # the default
    api_key_env = "GEMINI_API_KEY"
    image_size = "2K"          # optional imageConfig.imageSize, for models that take it
    extra = { safetySettings = [{ category = "HARM_CATEGORY_HARASSMENT", threshold = "BLOCK_NONE" }] }

Gemini takes an aspect ratio, not a size, and picks the pixels itself (gemini-2.5-flash-image:
1:1 is 1024x1024, 3:2 is 1248x832, 16:9 is 1344x768, …). kiln sends the supported ratio
nearest the recipe's size (within 5%, else ``UNSUPPORTED_SIZE``) and never resizes what comes
back: if the image is not the recipe's size the job fails as ``WRONG_SIZE``, naming the size
Gemini made, which is the size to put in the recipe.

The model has no negative prompt, steps, guidance or sampler: a negative prompt is added to
the text as "Avoid: …", the others are not sent. The seed is sent as its low 31 bits (the API
takes a 32-bit signed integer), which the image's info records. A prompt or image blocked by
safety filters, or an answer without an image, fails the job without a retry, with the
reason (``SAFETY``, ``IMAGE_SAFETY``, ``PROHIBITED_CONTENT``, ``NO_IMAGE``, …) as its code.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from kiln.engines.base import GenerateRequest, GenerateResult, Progress, ProgressFn
from kiln.engines.http import (
    DATA_URL,
    EXTRA_OPTION,
    ErrorDetail,
    HTTPEngine,
    HTTPEngineError,
    Option,
    common_options,
    decode_base64,
    decode_image,
    excerpt,
    merged,
    parse_duration,
)

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# The ratio a size is sent as must be this close to it: Gemini's own sizes are not exact ratios
# (4:3 is 1184x864).
_RATIO_TOLERANCE = math.log(1.05)
_SEED_MASK = 0x7FFFFFFF


def _image_size(value: str) -> str | None:
    return None if value in ("", "1K", "2K", "4K") else 'expected "1K", "2K" or "4K"'


def nearest_aspect_ratio(width: int, height: int) -> str | None:
    """The supported aspect ratio closest to ``width``:``height``, if one is close enough."""

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log((width / height) / (w / h)))

    best = min(ASPECT_RATIOS, key=distance)
    return best if distance(best) <= _RATIO_TOLERANCE else None


class GeminiEngine(HTTPEngine):
    """Gemini image generation (``generateContent``)."""

    type = "gemini"
    description = "Google Gemini image models (generateContent with responseModalities IMAGE)"
    concurrency = 4
    options_schema = {
        **common_options(base_url="https://generativelanguage.googleapis.com", timeout_s=300.0),
        **EXTRA_OPTION,
        "image_size": Option(str, "", _image_size),
    }
    managed_fields = (
        "contents", "generationConfig.responseModalities", "generationConfig.imageConfig.aspectRatio",
        "generationConfig.seed",
    )

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def _error_detail(self, status: int, body: Any) -> ErrorDetail:
        if isinstance(body, list) and body:
            body = body[0]
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return ErrorDetail()
        code = error.get("status") if isinstance(error.get("status"), str) else None
        retry_after = None
        for detail in error.get("details") or []:
            if not isinstance(detail, dict):
                continue
            kind = str(detail.get("@type", ""))
            if kind.endswith("google.rpc.RetryInfo"):
                retry_after = parse_duration(detail.get("retryDelay"))
            elif kind.endswith("google.rpc.ErrorInfo") and isinstance(detail.get("reason"), str):
                # "API_KEY_INVALID" says more than the INVALID_ARGUMENT status around it.
                code = detail["reason"]
        return ErrorDetail(message=str(error.get("message") or ""), code=code, retry_after_s=retry_after)

    def _generate(self, request: GenerateRequest, progress: ProgressFn) -> GenerateResult:
        ratio = nearest_aspect_ratio(request.width, request.height)
        if ratio is None:
            raise HTTPEngineError(
                f"{self.label}: {request.width}x{request.height} is not near an aspect ratio Gemini makes "
                f"({', '.join(ASPECT_RATIOS)})",
                code="UNSUPPORTED_SIZE", retryable=False,
            )
        text = request.prompt
        if request.negative_prompt.strip():
            text += f"\n\nAvoid: {request.negative_prompt.strip()}"
        parts: list[dict[str, Any]] = [{"text": text}]
        if request.references:
            progress(Progress("conditioning", message=f"reading {len(request.references)} reference image(s)"))
            for image in self.references(request):
                parts.append({"inline_data": {"mime_type": image.mime_type, "data": image.b64()}})
        image_config: dict[str, Any] = {"aspectRatio": ratio}
        if self.settings["image_size"]:
            image_config["imageSize"] = self.settings["image_size"]
        body = merged({
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {
                "responseModalities": ["IMAGE"],
                "imageConfig": image_config,
                "seed": request.seed & _SEED_MASK,
            },
        }, self.settings["extra"])

        progress(Progress("sampling", message=f"waiting for {self.label}"))
        model = quote(request.model.removeprefix("models/"), safe="-._")
        response = self.request("POST", f"/v1beta/models/{model}:generateContent", json=body)
        answer = self.json(response)
        if not isinstance(answer, dict):
            raise self.bad_response("the response is not a JSON object")
        progress(Progress("saving", message="decoding the image"))
        raw, texts, finish = self._find_image(answer)
        image = decode_image(raw, request, self.label,
                             hint=f"; Gemini picks the pixels for aspect ratio {ratio}: "
                                  "set the recipe's size to the size it made")
        info: dict[str, Any] = {"engine": self.type, "aspect_ratio": ratio, "seed_sent": request.seed & _SEED_MASK}
        for key in ("modelVersion", "usageMetadata"):
            if key in answer:
                info[key] = answer[key]
        if finish:
            info["finishReason"] = finish
        if texts:
            info["text"] = excerpt(" ".join(texts))
        return GenerateResult(image=image, encoded=raw, seed=request.seed, response_id=answer.get("responseId"),
                              info=info)

    def _find_image(self, answer: dict[str, Any]) -> tuple[bytes, list[str], str | None]:
        """The image bytes, the text parts and the finish reason of the first candidate; a
        block or an answer without an image is a job failure no retry will fix."""
        feedback = answer.get("promptFeedback") if isinstance(answer.get("promptFeedback"), dict) else {}
        candidates = answer.get("candidates") if isinstance(answer.get("candidates"), list) else []
        if not candidates:
            reason = feedback.get("blockReason")
            if reason:
                why = f": {feedback['blockReasonMessage']}" if feedback.get("blockReasonMessage") else ""
                raise HTTPEngineError(f"{self.label}: the prompt was blocked ({reason}){why}",
                                      code=str(reason), retryable=False)
            raise self.bad_response("no candidates in the response")
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        finish = candidate.get("finishReason")
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        texts = []
        for part in content.get("parts") or []:
            if not isinstance(part, dict):
                continue
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                return decode_base64(inline["data"], self.label), texts, finish
            if isinstance(part.get("text"), str):
                # Some proxies return the image as a data URL inside a text part.
                if DATA_URL.search(part["text"]):
                    return decode_base64(part["text"], self.label), texts, finish
                texts.append(part["text"])
        said = f"; the model said: {excerpt(' '.join(texts))}" if texts else ""
        if finish and finish not in ("STOP", "FINISH_REASON_UNSPECIFIED"):
            extra = f" ({candidate['finishMessage']})" if candidate.get("finishMessage") else ""
            raise HTTPEngineError(f"{self.label}: no image: generation stopped with finishReason {finish}{extra}{said}",
                                  code=str(finish), retryable=False)
        raise HTTPEngineError(f"{self.label}: the answer has no image{said}", code="NO_IMAGE", retryable=False)
