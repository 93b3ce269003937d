"""Reference images made ready for an engine, and the thumbnails kept with each image.

A job's spec names its references by project-relative path and SHA-256. Before a call:

* local engines get the image downscaled to at most one megapixel, as a PNG cached by
  content hash in ``art/ref_cache/``, so a large photo is decoded and shrunk once;
* remote APIs get a JPEG squeezed into the engine's payload budget
  (:class:`kiln.policy.Payload`, :class:`kiln.policy.Compression`): the long edge capped,
  then quality stepped down, then the size cut further, with a warning when it took heavy
  compression to fit.

Each generated image keeps a 400 px thumbnail of every reference it used, in
``art/ref_thumb/``, so a gallery can show its inputs after the source files are gone.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from kiln.art import store_atomic
from kiln.engines import Engine, EngineError
from kiln.policy import Policy
from kiln.project import Project
from kiln.recipe.references import IMAGE_ERRORS, image_error, too_many_pixels
from kiln.stages import encode_webp, thumbnail

LOCAL_MAX_PIXELS = 1024 * 1024


class ReferencePreparer:
    def __init__(self, project: Project):
        self.project = project
        self.cache = project.art_dir / "ref_cache"
        self.thumbs = project.art_dir / "ref_thumb"
        self.warnings: list[str] = []
        self._lock = threading.Lock()

    def for_engine(self, references: list[dict[str, Any]], engine: Engine, policy: Policy) -> list[Path]:
        """Paths of the references prepared for ``engine``, in order."""
        if not references:
            return []
        if engine.local:
            return [self._downscaled(ref) for ref in references]
        if len(references) > policy.payload.max_reference_images:
            raise EngineError(
                f"{len(references)} references, more than the {policy.payload.max_reference_images}"
                f" engine {engine.name!r} accepts (payload.max_reference_images)",
                code="TOO_MANY_REFERENCES",
            )
        budget = policy.payload.per_image_budget(len(references))
        return [self._compressed(ref, budget, policy) for ref in references]

    def thumbnail(self, reference: dict[str, Any]) -> str:
        """The reference's thumbnail, made if missing; its path relative to ``art/``."""
        path = self.thumbs / f"{reference['sha256'][:16]}.webp"
        if not path.exists():
            with self._open(reference) as image:
                store_atomic(path, encode_webp(thumbnail(image.convert("RGB")), 80))
        return path.relative_to(self.project.art_dir).as_posix()

    def _open(self, reference: dict[str, Any]) -> Image.Image:
        """The source image, after checking it is still the file the job was planned with."""
        path = self.project.root / reference["path"]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise EngineError(f"reference {reference['path']} cannot be read: {error.strerror}", code="REFERENCE_MISSING") from None
        if hashlib.sha256(data).hexdigest() != reference["sha256"]:
            raise EngineError(
                f"reference {reference['path']} changed since the recipe was planned; run again to plan it anew",
                code="REFERENCE_CHANGED",
            )
        try:
            image = Image.open(io.BytesIO(data))
            problem = too_many_pixels(image)
            if problem is None:
                image.load()
                return ImageOps.exif_transpose(image)
        except IMAGE_ERRORS as error:
            problem = image_error(error)
        raise EngineError(f"reference {reference['path']} {problem}", code="REFERENCE_UNREADABLE")

    def _downscaled(self, reference: dict[str, Any]) -> Path:
        path = self.cache / f"{reference['sha256'][:16]}-1mp.png"
        if path.exists():
            return path
        with self._open(reference) as image:
            scale = math.sqrt(LOCAL_MAX_PIXELS / (image.width * image.height))
            if scale < 1:
                size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
                image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "PNG", compress_level=1)
        store_atomic(path, buffer.getvalue())
        return path

    def _compressed(self, reference: dict[str, Any], budget: int, policy: Policy) -> Path:
        settings = policy.compression
        path = self.cache / f"{reference['sha256'][:16]}-{budget}-{settings.max_dimension}.jpg"
        if path.exists():
            return path
        with self._open(reference) as source:
            image = source.convert("RGB")
        dimension = settings.max_dimension
        data, quality = b"", settings.initial_quality
        for _ in range(max(1, settings.max_attempts)):
            fitted = image.copy()
            fitted.thumbnail((dimension, dimension), Image.Resampling.LANCZOS)
            quality = settings.initial_quality
            while True:
                buffer = io.BytesIO()
                fitted.save(buffer, "JPEG", quality=quality, optimize=True)
                data = buffer.getvalue()
                if len(data) <= budget or quality - settings.quality_step < settings.min_quality:
                    break
                quality -= settings.quality_step
            if len(data) <= budget:
                break
            dimension = max(64, int(dimension * settings.emergency_dimension_factor))
        if len(data) > budget:
            raise EngineError(
                f"reference {reference['path']} does not fit in {budget:,} bytes even at quality"
                f" {quality} and {dimension} px",
                code="REFERENCE_TOO_LARGE",
            )
        if quality < settings.heavy_compression_threshold or dimension < settings.max_dimension:
            with self._lock:
                self.warnings.append(
                    f"reference {reference['path']} compressed heavily to fit the payload:"
                    f" JPEG quality {quality}, long edge {dimension} px, {len(data):,} bytes"
                )
        store_atomic(path, data)
        return path
