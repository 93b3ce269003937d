"""Stages: what is made from each original after it is saved.

A stage takes the decoded original and writes one derivative into ``art/<stage>/``. The runner
calls :func:`run_stages` in a finishing worker process so the engine never waits for them.

Two thumbnail widths: galleries, sweep grids and covers offer both in a ``srcset``, so a tile
shown at 13–16rem on an ordinary screen loads the small one and a sharp screen the large one.

An original that browsers show as it is (a JPEG or WebP no larger than the web copy, not much
heavier than one) is its own web copy: a hard link to it in ``web/``, where encoding it again
would cost time and lose quality (a JPEG made a WebP is a second lossy generation).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blurhash
from PIL import Image

from kiln.art import link_atomic, stage_path, store_atomic

THUMB_SIZE = 400
# Grid tiles are 13–16rem wide and sweep-grid cells 12rem: 256 px covers them at 1x.
SMALL_THUMB_SIZE = 256
WEB_LONG_EDGE = 1600
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SAMPLE = 32
# The originals' formats a browser shows as they are, with their extensions.
WEB_FORMATS = {"jpeg": "jpg", "webp": "webp"}
# An original kept as its own web copy weighs no more than this (a JPEG of quality 90 from an
# engine: 2-3 bits per pixel; kiln's WebP web copy: about 1).
WEB_MAX_BITS_PER_PIXEL = 4
ORIENTATION = 0x0112  # the EXIF tag browsers turn a picture by, and thumbnails do not


def square(image: Image.Image, side: int) -> Image.Image:
    """A square, centre-cropped thumbnail of at most ``side`` px (never upscaled)."""
    side = min(side, image.width, image.height)
    crop = min(image.size)
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    box = (left, top, left + crop, top + crop)
    # reducing_gap 1.0 lets Pillow reduce by a whole factor with a box filter first (halve a
    # 1024 px picture: half the time of 2.0, 6 against 12 ms, and no visible difference at
    # thumbnail size), so the filtered step left always shrinks by less than 2×. There bicubic
    # is within 41–53 dB PSNR of Lanczos, ten times closer than WebP's own loss at quality 80
    # (29–40 dB), for 3.7 ms against 4.7 from 512 px (bench/thumbnail_filter.py).
    return image.resize((side, side), Image.Resampling.BICUBIC, box=box, reducing_gap=1.0)


def thumbnail(image: Image.Image) -> Image.Image:
    """The 400 px square thumbnail."""
    return square(image, THUMB_SIZE)


def small_thumbnail(image: Image.Image) -> Image.Image:
    """The 256 px square thumbnail."""
    return square(image, SMALL_THUMB_SIZE)


def web_copy(image: Image.Image) -> Image.Image:
    """A copy whose long edge is at most 1600 px."""
    scale = WEB_LONG_EDGE / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


@dataclass(frozen=True)
class Stage:
    name: str
    make: Callable[[Image.Image], Image.Image]
    quality: int
    # libwebp's effort, 0 to 6: 0 at quality 80 encodes a 1024x1024 web copy in about half the
    # time of 2 at quality 85, for files about 1 % larger (bench/finishing.py).
    method: int = 0
    # Whether a suitable original that ``make`` leaves as it is serves as this stage's file.
    keeps_original: bool = False


@dataclass(frozen=True)
class Original:
    """The file an image's derivatives are made from, for the stages that can keep it."""

    path: Path
    format: str  # as in the images table: png, jpeg, webp, avif
    width: int
    height: int
    bytes: int


STAGES = (
    Stage("thumb", thumbnail, 80),
    # From the original, not the 400 px thumbnail: Pillow box-reduces it by a whole factor first,
    # so only the last step is a filtered one, 0.3–1.5 ms against 2.5 from the 400 px picture for
    # originals of 512–1536 px (bench/finishing.py).
    Stage("thumb_small", small_thumbnail, 80),
    Stage("web", web_copy, 80, keeps_original=True),
)


def encode_webp(image: Image.Image, quality: int, method: int = 0) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=quality, method=method)
    return buffer.getvalue()


def blurhash_of(image: Image.Image) -> str:
    """The 4×3 blurhash of an image, computed from a 32×32 box downscale."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")  # not a copy of what is RGB already
    # A whole-factor reduce first (Pillow's fast path for a box of n×n pixels, then the box
    # filter for what is left): 0.15 ms from 512 px, against 0.38 for the box filter alone.
    small = rgb.resize((BLURHASH_SAMPLE, BLURHASH_SAMPLE), Image.Resampling.BOX, reducing_gap=1.0)
    return blurhash.encode(small, *BLURHASH_COMPONENTS)


def shown_as_is(image: Image.Image, original: Original) -> bool:
    """Whether ``original``, decoded as ``image``, can stand for a derivative of its own size:
    a format browsers show, whole (not decoded at a reduced scale), colours a browser shows as
    the thumbnails do (no CMYK, no EXIF turn, one frame), and light enough."""
    return (
        original.format in WEB_FORMATS
        and image.size == (original.width, original.height)
        and image.mode in ("RGB", "RGBA", "L")
        and getattr(image, "n_frames", 1) == 1
        and image.getexif().get(ORIENTATION, 1) == 1
        and original.bytes * 8 <= WEB_MAX_BITS_PER_PIXEL * original.width * original.height
    )


def run_stages(
    image: Image.Image, image_id: str, art_dir: Path, created_at: str, stages: tuple[Stage, ...] = STAGES,
    sync: bool = True, original: Original | None = None,
) -> list[dict[str, Any]]:
    """Write each stage's derivative of ``image`` and return their rows (``sync``: as
    :func:`kiln.art.store_atomic`'s). ``original``, the file ``image`` was decoded from, is
    linked as the derivative of the stages that keep it, where it suits (:func:`shown_as_is`)."""
    rows = []
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    keep = original is not None and any(stage.keeps_original for stage in stages) and shown_as_is(image, original)
    for stage in stages:
        made = stage.make(rgb)
        if keep and stage.keeps_original and made is rgb:
            assert original is not None
            extension, size, kind = WEB_FORMATS[original.format], original.bytes, original.format
            path = stage_path(art_dir, stage.name, image_id, extension)
            if not link_atomic(original.path, path):
                store_atomic(path, original.path.read_bytes(), sync)
        else:
            data = encode_webp(made, stage.quality, stage.method)
            size, kind = len(data), "webp"
            path = stage_path(art_dir, stage.name, image_id, "webp")
            store_atomic(path, data, sync)
        rows.append(
            {
                "image_id": image_id,
                "stage": stage.name,
                "path": path.relative_to(art_dir).as_posix(),
                "width": made.width,
                "height": made.height,
                "bytes": size,
                "format": kind,
                "created_at": created_at,
            }
        )
    return rows
