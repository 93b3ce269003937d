"""Engines for benchmarks: a fixed time per image, and a replay of a folder's pictures.

``type = "fixed_time:FixedTimeEngine"`` sleeps ``seconds`` per job (steps are ignored) and
returns one pre-drawn picture of the requested size, as a PNG file's bytes when ``encoded``
is true (as cn-engine and the HTTP services hand over their images: the same pixels each time,
with the seed in a text chunk so each file is distinct), else as decoded pixels. Drawing and
encoding that picture once takes longer than a job (half a second at 1536x1536): a benchmark
calls :func:`picture` before it starts the clock, so the first job takes its ``seconds`` too.

``type = "fixed_time:ReplayEngine"`` returns the files of ``folder``, in name order, one per
job by its seed (seed 1 is the first file), as they are on disk: an engine that made those
pictures, taking no time of its own.
"""

from __future__ import annotations

import io
import time
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from kiln.engines.base import Engine, GenerateRequest, GenerateResult, ProgressFn, no_progress
from kiln.pngmeta import splice_png


@cache
def picture(size: tuple[int, int]) -> Image.Image:
    """The picture every job of ``size`` returns, drawn once per process."""
    # A soft gradient with a little noise: encoders do about the work a generated picture costs them.
    base = Image.radial_gradient("L").resize(size).convert("RGB")
    colour = Image.merge("RGB", [Image.linear_gradient("L").resize(size).rotate(angle) for angle in (0, 90, 45)])
    noise = Image.effect_noise(size, 12).convert("RGB")
    return Image.blend(Image.blend(base, colour, 0.5), noise, 0.15)


@cache
def png_file(size: tuple[int, int]) -> bytes:
    """:func:`picture` as a PNG file, at ComfyUI's compression level."""
    buffer = io.BytesIO()
    picture(size).save(buffer, "PNG", compress_level=4)
    return buffer.getvalue()


class FixedTimeEngine(Engine):
    type = "fixed_time"
    description = "sleeps a fixed time per image (benchmarks only)"
    local = True

    def __init__(self, name: str, options: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(name, options, **kwargs)
        self.seconds = float(self.options.get("seconds", 0.2))
        self.encoded = bool(self.options.get("encoded", False))

    def _load(self, model: str, progress: ProgressFn) -> float:
        return 0.0

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        started = time.perf_counter()
        size = (request.width, request.height)
        if self.encoded:
            result = GenerateResult.from_file(splice_png(png_file(size), {"seed": str(request.seed)}), request.seed)
        else:
            image = picture(size)
            # Variation per seed, so each image is a distinct file.
            result = GenerateResult(image=image.point(lambda v: (v + request.seed) % 256), seed=request.seed)
        remaining = self.seconds - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        result.timings_ms = {"total": self.seconds * 1000}
        return result


class ReplayEngine(Engine):
    type = "replay"
    description = "returns a folder's pictures in name order, by seed (benchmarks only)"
    local = False

    def __init__(self, name: str, options: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(name, options, **kwargs)
        self.files = sorted(path for path in Path(self.options["folder"]).iterdir() if path.is_file())

    def _load(self, model: str, progress: ProgressFn) -> float:
        return 0.0

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        return GenerateResult.from_file(self.files[request.seed - 1].read_bytes(), request.seed)
