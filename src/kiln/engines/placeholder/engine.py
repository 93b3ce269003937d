"""The engine: requests checked, the plan painted over the steps with progress reported, the
picture refined, resampled and saved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from PIL import Image, ImageFilter

from kiln.engines.base import (
    Engine,
    EngineError,
    GenerateRequest,
    GenerateResult,
    Progress,
    ProgressFn,
    no_progress,
)
from kiln.engines.placeholder.canvas import Canvas
from kiln.engines.placeholder.planning import Plan, detail_for, plan_picture
from kiln.engines.placeholder.vocabulary import words_of

MIN_SIDE, MAX_SIDE = 64, 4096
MAX_STEPS = 200
FAIL_WORD = "_fail_"
# Internal canvas budget: big enough that hard edges survive the final resample, small
# enough that a 1024x1024 picture takes a few tenths of a second.
_INTERNAL_PIXELS = 450_000


class _Refiner:
    """The closing steps: sharpen the picture (or, after very few steps, soften it, as an
    under-sampled diffusion image is soft), one band of rows per step."""

    def __init__(self, amount: float, bands: int):
        self.bands = bands
        self.filter: ImageFilter.Filter | None = None
        if amount > 0.02:
            self.filter = ImageFilter.UnsharpMask(radius=1.2, percent=int(amount * 70), threshold=2)
        elif amount < -0.02:
            self.filter = ImageFilter.GaussianBlur(-amount * 2.2)
        self.source: np.ndarray | None = None
        self.result: np.ndarray | None = None

    def unit(self, index: int) -> Callable[[Canvas], None]:
        return partial(self._band, index=index)

    def _band(self, c: Canvas, index: int) -> None:
        if self.source is None:
            pixels = (np.clip(c.rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            self.source = np.ascontiguousarray(pixels.transpose(1, 2, 0))
            self.result = self.source.copy()
        assert self.result is not None
        if self.filter is None:
            return
        r0, r1 = index * c.h // self.bands, (index + 1) * c.h // self.bands
        a, b = max(0, r0 - 8), min(c.h, r1 + 8)
        band = np.asarray(Image.fromarray(self.source[a:b]).filter(self.filter))
        self.result[r0:r1] = band[r0 - a : r1 - a]


def _pixelate(image: Image.Image, w: int, h: int) -> Image.Image:
    """Pixel art: a coarse grid of a few colours, enlarged with hard edges."""
    scale = 96 / max(image.size)
    small = image.resize((max(4, round(image.width * scale)), max(4, round(image.height * scale))), Image.BOX)
    small = small.quantize(20, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    return small.resize((w, h), Image.NEAREST)


def _add_grain(image: Image.Image, rng: np.random.Generator, amount: float) -> Image.Image:
    pixels = np.asarray(image, np.float32)
    noise = (rng.random(pixels.shape[:2], dtype=np.float32) - 0.5) * (amount * 2 * 255)
    return Image.fromarray(np.clip(pixels + noise[..., None], 0, 255).astype(np.uint8))


def _save(pixels: np.ndarray, plan: Plan, request: GenerateRequest) -> Image.Image:
    """The painted pixels at exactly the requested size, pixelated or grained as asked."""
    image = Image.fromarray(pixels)
    if plan.pixel:
        image = _pixelate(image, request.width, request.height)
    elif image.size != (request.width, request.height):
        image = image.resize((request.width, request.height), Image.LANCZOS)
    if plan.grain:
        image = _add_grain(image, plan.streams("grain", request.sampler, request.model), plan.grain)
    return image


def _internal_size(w: int, h: int) -> tuple[int, int]:
    scale = min(1.0, math.sqrt(_INTERNAL_PIXELS / (w * h)))
    return max(16, round(w * scale)), max(16, round(h * scale))


def _schedule(units: list[Callable[[Canvas], None]], steps: int) -> list[list[Callable[[Canvas], None]]]:
    """Share the work out over the steps, in order, at least one unit per step."""
    n = len(units)
    return [units[i * n // steps : (i + 1) * n // steps] for i in range(steps)]


def _validate(request: GenerateRequest) -> None:
    for name in ("width", "height"):
        value = getattr(request, name)
        if not isinstance(value, int) or not MIN_SIDE <= value <= MAX_SIDE:
            raise EngineError(
                f"{name} must be an integer from {MIN_SIDE} to {MAX_SIDE}, got {value!r}", code="INVALID_REQUEST"
            )
    if not isinstance(request.steps, int) or not 1 <= request.steps <= MAX_STEPS:
        raise EngineError(
            f"steps must be an integer from 1 to {MAX_STEPS}, got {request.steps!r}", code="INVALID_REQUEST"
        )
    if not math.isfinite(request.guidance):
        raise EngineError(f"guidance must be a finite number, got {request.guidance!r}", code="INVALID_REQUEST")
    if FAIL_WORD in words_of(request.prompt):
        raise EngineError("requested failure", code="GENERATION_FAILED", retryable=False)


class PlaceholderEngine(Engine):
    """Procedural pictures from the prompt's words and the seed; needs no model."""

    type = "placeholder"
    description = (
        "Procedural placeholder engine: no AI model; images are drawn from the prompt's words and the seed, "
        "deterministically."
    )
    cpu_cores = 1  # it draws on one core of this machine

    def _load(self, model: str, progress: ProgressFn) -> float:
        start = time.perf_counter()
        progress(Progress("loading", message=f"placeholder engine: no weights to load for {model!r}"))
        return (time.perf_counter() - start) * 1000.0

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        _validate(request)
        start = time.perf_counter()
        progress(Progress("conditioning", message="reading the prompt and planning the picture"))
        plan = plan_picture(request)
        iw, ih = _internal_size(request.width, request.height)
        canvas = Canvas(iw, ih, plan.horizon, plan.streams, detail_for(request.steps))
        refiner = _Refiner(plan.sharpen, max(1, request.steps - len(plan.layers)))
        units = [fn for _, fn in plan.layers] + [refiner.unit(i) for i in range(refiner.bands)]
        conditioned = time.perf_counter()

        for step, batch in enumerate(_schedule(units, request.steps), start=1):
            for unit in batch:
                unit(canvas)
            progress(Progress("sampling", step=step, total=request.steps))
        sampled = time.perf_counter()

        progress(Progress("saving", message=f"resampling to {request.width}x{request.height}"))
        assert refiner.result is not None
        image = _save(refiner.result, plan, request)
        end = time.perf_counter()
        return GenerateResult(
            image=image,
            seed=request.seed,
            timings_ms={
                "conditioning": (conditioned - start) * 1000.0,
                "sampling": (sampled - conditioned) * 1000.0,
                "total": (end - start) * 1000.0,
            },
            response_id=None,
            info={
                "engine": "placeholder",
                "procedural": True,
                "scene": plan.scene,
                "palette": plan.palette,
                "styles": plan.styles,
                "internal_size": [iw, ih],
            },
        )
