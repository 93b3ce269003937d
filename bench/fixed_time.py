"""Engines for benchmarks: a fixed time per image, and a replay of a folder's pictures.

``type = "fixed_time:FixedTimeEngine"`` sleeps ``seconds`` per job (steps are ignored) and
returns one pre-drawn picture of the requested size, as a PNG file's bytes when ``encoded``
is true (as cn-engine and the HTTP services hand over their images: the same pixels each time,
with the seed in a text chunk so each file is distinct), else as decoded pixels.

``type = "fixed_time:ReplayEngine"`` returns the files of ``folder``, in name order, one per
job by its seed (seed 1 is the first file), as they are on disk: an engine that made those
pictures, taking no time of its own.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from PIL import Image

from kiln.engines.base import Engine, GenerateRequest, GenerateResult, ProgressFn, no_progress
from kiln.pngmeta import splice_png


class FixedTimeEngine(Engine):
    type = "fixed_time"
    description = "sleeps a fixed time per image (benchmarks only)"
    local = True

    def __init__(self, name: str, options: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(name, options, **kwargs)
        self.seconds = float(self.options.get("seconds", 0.2))
        self.encoded = bool(self.options.get("encoded", False))
        self.pictures: dict[tuple[int, int], tuple[Image.Image, bytes]] = {}

    def _load(self, model: str, progress: ProgressFn) -> float:
        return 0.0

    def _picture(self, size: tuple[int, int]) -> tuple[Image.Image, bytes]:
        if size not in self.pictures:
            # A soft gradient with a little noise: encoders do about the work a generated picture costs them.
            base = Image.radial_gradient("L").resize(size).convert("RGB")
            colour = Image.merge("RGB", [Image.linear_gradient("L").resize(size).rotate(angle) for angle in (0, 90, 45)])
            noise = Image.effect_noise(size, 12).convert("RGB")
            image = Image.blend(Image.blend(base, colour, 0.5), noise, 0.15)
            buffer = io.BytesIO()
            image.save(buffer, "PNG", compress_level=4)  # ComfyUI's level
            self.pictures[size] = (image, buffer.getvalue())
        return self.pictures[size]

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        started = time.perf_counter()
        image, data = self._picture((request.width, request.height))
        if self.encoded:
            result = GenerateResult.from_file(splice_png(data, {"seed": str(request.seed)}), request.seed)
        else:
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
