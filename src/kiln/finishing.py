"""Turning an engine's pixels into files: the work done for each image after it is generated.

:func:`write_image_files` runs in a separate worker process, so encoding the PNG, hashing it,
making the derivatives and the blurhash never compete with the engine's thread for Python's
interpreter lock. It writes every file atomically and returns the rows describing them; the
runner commits those rows only afterwards.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from kiln.art import content_id, stage_path, write_atomic
from kiln.lifeline import watch_parent
from kiln.pngmeta import png_info
from kiln.stages import blurhash_of, run_stages


def write_image_files(
    image: Image.Image,
    art_dir: Path,
    created_at: str,
    key: str,
    recipe: str,
    spec: dict[str, Any],
    template: str,
    provenance: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Write the original PNG (with its provenance) and its derivatives.

    Returns the file columns of the image's row and the derivatives' rows.
    """
    buffer = io.BytesIO()
    # zlib level 1: measured as fast as any and no larger than level 4 on engine output.
    image.save(buffer, "PNG", pnginfo=png_info(key, recipe, spec, template, provenance), compress_level=1)
    data = buffer.getvalue()
    image_id, sha256 = content_id(data)
    original = stage_path(art_dir, "original", image_id, "png")
    if not (original.exists() and original.stat().st_size == len(data)):
        write_atomic(original, data)
    derivatives = run_stages(image, image_id, art_dir, created_at)
    row = {
        "id": image_id,
        "path": original.relative_to(art_dir).as_posix(),
        "width": image.width,
        "height": image.height,
        "bytes": len(data),
        "sha256": sha256,
        "format": "png",
        "blurhash": blurhash_of(image),
        # What kiln doctor compares with: while size and mtime are these, the bytes are not re-hashed.
        "file_mtime_ns": original.stat().st_mtime_ns,
    }
    return row, derivatives


def image_row(
    files: dict[str, Any],
    key: str,
    recipe: str,
    spec: dict[str, Any],
    provenance: dict[str, Any],
    *,
    seed: int,
    response_id: str | None,
    created_at: str,
) -> dict[str, Any]:
    """An image's row: its file columns (from :func:`write_image_files`) and its provenance."""
    return {
        **files,
        "job_key": key,
        "recipe": recipe,
        "prompt": spec["prompt"],
        "negative_prompt": spec["negative_prompt"],
        "model": spec["model"],
        "engine": spec["engine"],
        "seed": seed,
        "steps": spec["steps"],
        "guidance": spec["guidance"],
        "sampler": spec["sampler"],
        "params": json.dumps(provenance, sort_keys=True),
        "response_id": response_id,
        "created_at": created_at,
    }


def _start_worker(parent: int) -> None:
    # Ctrl-C reaches the whole process group; the runner decides what stops, and the images
    # already handed to this worker are finished and kept.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # But a kiln that is killed outright takes its workers with it.
    watch_parent(parent)


def _ready() -> None:
    return None


WORKERS = max(1, min(4, (os.cpu_count() or 2) - 1))


def worker_pool() -> ProcessPoolExecutor:
    """Worker processes for :func:`write_image_files`, started now: one per core but one (the
    engine's thread keeps that one), at least one and at most four."""
    # spawn, not fork: the runner has threads, and forking a threaded process is unsafe.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(WORKERS, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),))
    # Starting a worker imports Pillow and friends (most of a second): do it while the
    # engine makes its first image, not after.
    for _ in range(WORKERS):
        pool.submit(_ready)
    return pool
