"""The ``a1111`` engine: the AUTOMATIC1111 web UI API (``--api``), and servers that speak it
(Forge, SD.Next, sd-server's ``/sdapi/v1``).

A job without references is ``POST {base_url}/sdapi/v1/txt2img``; a job with one reference is
``POST {base_url}/sdapi/v1/img2img`` with the reference as ``init_images[0]``. Both send
``prompt``, ``negative_prompt``, ``seed``, ``steps``, ``cfg_scale`` (the recipe's guidance),
``width``, ``height``, ``sampler_name`` (when the recipe names one) and the model as
``override_settings.sd_model_checkpoint``, kept loaded afterwards
(``override_settings_restore_afterwards = false``) so the next job does not reload it. The
image is ``images[0]``; the seed the server used is read from the ``info`` JSON string.

While a request runs, ``GET /sdapi/v1/progress`` is polled every ``progress_interval_s`` to
report sampling steps. The server works one job at a time, so progress it reports is for the
job it is running, which is ours unless someone else shares the server.

Options (besides ``base_url``, ``api_key_env``, ``timeout_s`` and ``concurrency``, see
:mod:`kiln.engines.http`)::

    [engines.a1111]
    type = "a1111"
    base_url = "http://127.0.0.1:7860"     # the default
    api_key_env = "A1111_AUTH"             # only with --api-auth: the variable holds "user:password"
    timeout_s = 600                        # the default: a large image on a slow GPU takes a while
    concurrency = 1                        # the default: the server runs one job at a time anyway
    denoising_strength = 0.75              # img2img: how far from the reference (0-1)
    progress_interval_s = 1.0              # 0 turns progress polling off
    extra = { scheduler = "karras", override_settings = { CLIP_stop_at_last_layers = 2 } }

The server makes exactly the size asked for; an image of another size fails as ``WRONG_SIZE``.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

from kiln.engines.base import EngineError, GenerateRequest, GenerateResult, Progress, ProgressFn
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


def _fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else "expected a number from 0 to 1"


def _not_negative(value: float) -> str | None:
    return None if value >= 0 else "expected 0 (off) or a number of seconds"


class A1111Engine(HTTPEngine):
    """The AUTOMATIC1111 ``/sdapi/v1`` API."""

    type = "a1111"
    description = "AUTOMATIC1111 web UI API (/sdapi/v1/txt2img and img2img), or a server speaking it"
    concurrency = 1
    options_schema = {
        **common_options(base_url="http://127.0.0.1:7860", timeout_s=600.0),
        **EXTRA_OPTION,
        "denoising_strength": Option(float, 0.75, _fraction),
        "progress_interval_s": Option(float, 1.0, _not_negative),
    }
    managed_fields = (
        "prompt", "negative_prompt", "seed", "steps", "cfg_scale", "width", "height", "sampler_name",
        "init_images", "override_settings.sd_model_checkpoint",
    )

    def _auth_headers(self, key: str) -> dict[str, str]:
        # --api-auth is HTTP basic authentication with "user:password".
        return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode("ascii")}

    def _error_detail(self, status: int, body: Any) -> ErrorDetail:
        if not isinstance(body, dict):
            return ErrorDetail()
        detail = body.get("detail")
        if isinstance(detail, list):
            # FastAPI's 422: [{"loc": ["body", "steps"], "msg": "...", "type": "..."}].
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                    parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", "")))
            return ErrorDetail(message="; ".join(parts) or None)
        # The web UI's middleware: {"error": "ExceptionName", "detail": "...", "body": "...", "errors": "..."}.
        pieces = [str(body[key]) for key in ("error", "detail", "errors") if body.get(key)]
        return ErrorDetail(message=": ".join(dict.fromkeys(pieces)) or None)

    def _generate(self, request: GenerateRequest, progress: ProgressFn) -> GenerateResult:
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": request.seed,
            "steps": request.steps,
            "cfg_scale": request.guidance,
            "width": request.width,
            "height": request.height,
            "batch_size": 1,
            "n_iter": 1,
            "send_images": True,
            "save_images": False,
            "override_settings": {"sd_model_checkpoint": request.model},
            "override_settings_restore_afterwards": False,
        }
        if request.sampler:
            payload["sampler_name"] = request.sampler
        endpoint = "/sdapi/v1/txt2img"
        if request.references:
            if len(request.references) > 1:
                raise HTTPEngineError(
                    f"{self.label}: img2img takes one reference image, the job has {len(request.references)}",
                    code="UNSUPPORTED_REFERENCES", retryable=False,
                )
            progress(Progress("conditioning", message="reading the reference image"))
            (reference,) = self.references(request)
            payload["init_images"] = [reference.b64()]
            payload["denoising_strength"] = self.settings["denoising_strength"]
            endpoint = "/sdapi/v1/img2img"
        payload = merged(payload, self.settings["extra"])

        progress(Progress("sampling", step=0, total=request.steps))
        poller = _ProgressPoller(self, progress, request.steps, self.settings["progress_interval_s"])
        poller.start()
        try:
            response = self.request("POST", endpoint, json=payload)
        finally:
            poller.stop()
        body = self.json(response)
        images = body.get("images") if isinstance(body, dict) else None
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise self.bad_response("no images[0] in the response")
        progress(Progress("saving", message="decoding the image"))
        raw = decode_base64(images[0], self.label)
        image = decode_image(raw, request, self.label)
        info = _parse_info(body.get("info"))
        seed = info.get("seed")
        return GenerateResult(
            image=image,
            encoded=raw,
            seed=seed if isinstance(seed, int) and seed >= 0 else request.seed,
            info={
                "engine": self.type,
                "endpoint": endpoint.rsplit("/", 1)[1],
                **{key: info[key] for key in ("sd_model_name", "sd_model_hash", "sampler_name") if key in info},
                **({"infotext": info["infotexts"][0]} if info.get("infotexts") else {}),
            },
        )


def _parse_info(text: Any) -> dict[str, Any]:
    """The ``info`` JSON string; sd-server sends an empty one."""
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


class _ProgressPoller:
    """Reports sampling steps from ``/sdapi/v1/progress`` while a request runs."""

    def __init__(self, engine: A1111Engine, progress: ProgressFn, total: int, interval_s: float):
        self.engine = engine
        self.progress = progress
        self.total = total
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="kiln-a1111-progress", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        last = -1
        while not self.stopped.wait(self.interval_s):
            try:
                response = self.engine.request("GET", "/sdapi/v1/progress", params={"skip_current_image": "true"},
                                               timeout_s=max(self.interval_s, 2.0))
                state = response.json().get("state") or {}
                step, total = int(state.get("sampling_step", 0)), int(state.get("sampling_steps", 0))
            except (EngineError, ValueError, TypeError, AttributeError):
                # Progress is a courtesy: the request itself reports whatever went wrong.
                continue
            if total == self.total and step != last and not self.stopped.is_set():
                last = step
                self.progress(Progress("sampling", step=step, total=total))
