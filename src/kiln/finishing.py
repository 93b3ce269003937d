"""Turning an engine's pixels into files: the work done for each image after it is generated.

:func:`write_image_files` runs in a separate worker process, so encoding the PNG, hashing it,
making the derivatives and the blurhash never compete with the engine's thread for Python's
interpreter lock. It writes every file atomically and returns the rows describing them; the
runner commits those rows only afterwards.
"""

from __future__ import annotations

import atexit
import io
import json
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from kiln.art import content_id, stage_path, store_atomic
from kiln.exifmeta import splice_jpeg, splice_webp
from kiln.lifeline import watch_parent
from kiln.pngencode import encode_png
from kiln.pngmeta import PNG_SIGNATURE, provenance_texts, splice_png
from kiln.stages import Original, blurhash_of, run_stages

# The formats an original is kept in, with their file extensions.
ORIGINAL_FORMATS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
# The formats an engine's own bytes are kept in, by their first bytes, and how provenance goes
# into each.
_KEPT_FORMATS: tuple[tuple[bytes, str, Callable[[bytes, dict[str, str]], bytes]], ...] = (
    (PNG_SIGNATURE, "png", splice_png),
    (b"\xff\xd8\xff", "jpeg", splice_jpeg),
    (b"RIFF", "webp", splice_webp),
)


def original_file(picture: Image.Image | bytes, texts: dict[str, str]) -> tuple[bytes, str, str, Image.Image]:
    """The original's bytes, format, file extension and picture, provenance ``texts`` included.

    Bytes an engine encoded (PNG, JPEG or WebP) are kept, with the texts spliced in: the
    pixels stay exactly the engine's, and no time goes into compressing them again (a JPEG
    made a PNG would be three times the size and no better). Anything else, and decoded
    pixels, are encoded as a PNG.
    """
    if isinstance(picture, bytes):
        image = Image.open(io.BytesIO(picture))
        for magic, name, splice in _KEPT_FORMATS:
            if picture.startswith(magic):
                try:
                    return splice(picture, texts), name, ORIGINAL_FORMATS[name], image
                except ValueError:
                    break  # not a whole file of its kind: the decoded pixels are kept instead
        image.load()
        picture = image
    return encode_png(picture, texts), "png", "png", picture


def write_image_files(
    picture: Image.Image | bytes,
    art_dir: Path,
    created_at: str,
    key: str,
    recipe: str,
    spec: dict[str, Any],
    template: str,
    provenance: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Write the original (with its provenance) and its derivatives.

    ``picture`` is the engine's encoded file when it gave one, else its decoded pixels.
    Returns the file columns of the image's row and the derivatives' rows.
    """
    texts = provenance_texts(key, recipe, spec, template, provenance)
    data, name, extension, image = original_file(picture, texts)
    image_id, sha256 = content_id(data)
    original = stage_path(art_dir, "original", image_id, extension)
    if not (original.exists() and original.stat().st_size == len(data)):
        store_atomic(original, data)
    kept = Original(original, name, image.width, image.height, len(data))
    derivatives = run_stages(image, image_id, art_dir, created_at, original=kept)
    row = {
        "id": image_id,
        "path": original.relative_to(art_dir).as_posix(),
        "width": image.width,
        "height": image.height,
        "bytes": len(data),
        "sha256": sha256,
        "format": name,
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
    # A worker has written and synced its files before it answers, so the interpreter's
    # teardown would only free the memory its images held: at the end of a run that wait (a
    # few tenths of a second at 1536x1536) is the run's last, with nothing running beside it.
    # The pool's executor sees the worker end all the same; multiprocessing has flushed its
    # output streams by the time exit handlers run.
    atexit.register(os._exit, 0)


def _ready() -> None:
    return None


def finishing_workers(cores_taken: Iterable[int], jobs: int, cores: int | None = None) -> int:
    """How many finishing workers a run gets: one per core its engines leave free (a GPU or
    remote engine leaves them all; the placeholder takes one), no more than it has jobs, and
    at least one. ``cores`` defaults to this machine's."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    free = cores - sum(cores_taken)
    return max(1, min(free, jobs))


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` worker processes for :func:`write_image_files`, started now."""
    # spawn, not fork: the runner has threads, and forking a threaded process is unsafe.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),))
    # Starting a worker imports Pillow and friends (most of a second): do it while the
    # engine makes its first image, not after.
    for _ in range(workers):
        pool.submit(_ready)
    return pool
