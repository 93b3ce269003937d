"""An engine that takes a fixed time per image, to measure what the runner adds around it.

Used by bench/run.py as ``type = "fixed_time:FixedTimeEngine"``: it sleeps ``seconds`` per
job (steps are ignored) and returns a copy of one pre-drawn picture of the requested size.
"""

from __future__ import annotations

import time
from typing import Any

from PIL import Image

from kiln.engines.base import Engine, GenerateRequest, GenerateResult, ProgressFn, no_progress


class FixedTimeEngine(Engine):
    type = "fixed_time"
    description = "sleeps a fixed time per image (benchmarks only)"

    def __init__(self, name: str, options: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(name, options, **kwargs)
        self.seconds = float(self.options.get("seconds", 0.2))
        self.pictures: dict[tuple[int, int], Image.Image] = {}

    def _load(self, model: str, progress: ProgressFn) -> float:
        return 0.0

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        started = time.perf_counter()
        size = (request.width, request.height)
        if size not in self.pictures:
            # A gradient with noise, so encoders do realistic work on it.
            base = Image.radial_gradient("L").resize(size).convert("RGB")
            noise = Image.effect_noise(size, 40).convert("RGB")
            self.pictures[size] = Image.blend(base, noise, 0.3)
        # Variation per seed, so each image is a distinct file.
        image = self.pictures[size].point(lambda v: (v + request.seed) % 256)
        remaining = self.seconds - (time.perf_counter() - started)
        if remaining > 0:
            time.sleep(remaining)
        return GenerateResult(image=image, seed=request.seed, timings_ms={"total": self.seconds * 1000})
