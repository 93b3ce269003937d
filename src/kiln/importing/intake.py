"""The work done for each imported file, in a worker process: hash it, read its metadata,
decode it, put the original into ``art/`` and make its derivatives and blurhash.

Every file is written atomically and nothing here touches the store but to ask whether an
image is already in it; the importing process commits the rows afterwards, in batches. Files
are not flushed to disk one by one: each outcome names the files it wrote, and the importing
process makes a batch's files durable at once before committing its rows
(:func:`kiln.art.make_durable`).
"""

from __future__ import annotations

import io
import math
import os
import sqlite3
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from kiln.art import content_id, link_atomic, stage_path, store_atomic
from kiln.importing.metadata import Generation, read_generation
from kiln.stages import STAGES, THUMB_SIZE, WEB_LONG_EDGE, Original, blurhash_of, run_stages

# Pillow's name for each format kiln takes in, and the extension its original keeps.
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "AVIF": "avif"}
MODES = ("copy", "link", "move")
# Adopted thumbnails, largest first: one for each of these stages, each smaller than the last.
ADOPTED_STAGES = ("thumb", "thumb_small")
# An adopted thumbnail must be a thumbnail: smaller than its image and no larger than this.
ADOPT_MAX_EDGE = 1024
ADOPT_MIN_EDGE = 64


@dataclass(frozen=True)
class Task:
    path: str
    art_dir: str
    db_path: str
    mode: str
    thumbs: tuple[str, ...] = ()  # thumbnails of this image other tools made, to adopt if they fit


@dataclass(frozen=True)
class Outcome:
    """What became of one file. ``kind`` is ``imported``, ``duplicate``, ``deleted`` (the
    store had it and it was deleted on purpose), ``skipped`` (not an image kiln imports) or
    ``failed``."""

    kind: str
    bytes: int = 0
    mtime_ns: int = 0
    image_id: str | None = None
    reason: str = ""
    image: dict[str, Any] | None = None  # the images row's columns this file gives
    derivatives: tuple[dict[str, Any], ...] = ()
    generation: Generation | None = None
    notes: tuple[str, ...] = ()
    written: tuple[str, ...] = ()  # files written into art/, relative to it, not yet flushed to disk


_readers: dict[str, sqlite3.Connection] = {}


def _store_reader(db_path: str) -> sqlite3.Connection:
    """This process's own read-only connection to the store, opened once."""
    if db_path not in _readers:
        _readers[db_path] = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
    return _readers[db_path]


def _in_store(db_path: str, image_id: str) -> tuple[str, str] | None:
    """``(duplicate, the original's path)`` if the store holds ``image_id``, ``(deleted, "")``
    if it was deleted on purpose."""
    conn = _store_reader(db_path)
    row = conn.execute("SELECT path FROM images WHERE id = ?", [image_id]).fetchone()
    if row:
        return "duplicate", row[0]
    if conn.execute("SELECT 1 FROM jobs WHERE image_id = ? AND status = 'deleted'", [image_id]).fetchone():
        return "deleted", ""
    return None


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def take_in(task: Task) -> Outcome:
    """Import one file's content into ``art/`` and say what its rows are; never raises for a
    bad file (a worker that raised would lose the others' results)."""
    try:
        return _take_in(task)
    except Exception as error:  # Pillow, its plugins and the metadata readers raise many kinds
        return Outcome("failed", reason=f"{type(error).__name__}: {error}")


def take_in_all(tasks: list[Task]) -> list[Outcome]:
    """:func:`take_in` for several files: one round trip to a worker for all of them."""
    return [take_in(task) for task in tasks]


def _take_in(task: Task) -> Outcome:
    path = Path(task.path)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except OSError as error:
        return Outcome("failed", reason=f"cannot be read: {error.strerror}")
    size, mtime = len(data), stat.st_mtime_ns
    image_id, sha256 = content_id(data)
    known = _in_store(task.db_path, image_id)
    if known:
        kind, recorded = known
        original = Path(task.art_dir) / recorded
        if kind == "duplicate" and not original.exists():
            # The store's copy is lost and this is its content: put it back.
            _place(path, original, data, task.mode)
            return Outcome("restored", size, mtime, image_id, written=(recorded,))
        return Outcome(kind, size, mtime, image_id)
    with warnings.catch_warnings():
        # Pillow only warns between its limit and twice it; a file that big is refused all the same.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            return Outcome("skipped", size, mtime, reason="not an image")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            return Outcome("failed", size, mtime, reason=f"decompression bomb: {error}")
    if image.format not in EXTENSIONS:
        return Outcome("skipped", size, mtime, reason=f"{image.format} images are not imported (PNG, JPEG, WebP, AVIF are)")
    generation = read_generation(image)
    width, height, kind = image.width, image.height, image.format
    if kind == "JPEG":
        # JPEG decodes at 1/2, 1/4, 1/8 scale for the asking (DCT scaling, for a fraction of the
        # time): the largest scale that still covers every derivative.
        image.draft("RGB", derivatives_need(width, height))
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return Outcome("failed", size, mtime, reason=f"decompression bomb: {error}")
    except OSError as error:
        return Outcome("failed", size, mtime, reason=f"does not decode: {error}")

    notes: list[str] = []
    original = stage_path(Path(task.art_dir), "original", image_id, EXTENSIONS[kind])
    if not (original.exists() and original.stat().st_size == size) and not _place(path, original, data, task.mode):
        notes.append("could not be hard-linked (another file system?); copied")
    created = generation.created_at or _stamp(stat.st_mtime)
    art = Path(task.art_dir)
    derivatives: list[dict[str, Any]] = []
    derivatives += _adopt_thumbs([Path(thumb) for thumb in task.thumbs], image_id, art, created, (width, height))
    adopted = {row["stage"] for row in derivatives}
    stages = tuple(stage for stage in STAGES if stage.name not in adopted)
    kept = Original(original, kind.lower(), width, height, size)
    derivatives += run_stages(image, image_id, art, created, stages, sync=False, original=kept)
    row = {
        "id": image_id,
        "path": original.relative_to(art).as_posix(),
        "width": width,
        "height": height,
        "bytes": size,
        "sha256": sha256,
        "format": EXTENSIONS[kind],
        "blurhash": blurhash_of(image),
        "file_mtime_ns": original.stat().st_mtime_ns,
        "created_at": created,
    }
    written = (row["path"], *(derivative["path"] for derivative in derivatives))
    return Outcome("imported", size, mtime, image_id, image=row, derivatives=tuple(derivatives),
                   generation=generation, notes=tuple(notes), written=written)


def derivatives_need(width: int, height: int) -> tuple[int, int]:
    """The least picture every derivative of a ``width`` × ``height`` image can be made from at
    its full size: the web copy's, and no less than a thumbnail on either edge."""
    scale = min(1.0, WEB_LONG_EDGE / max(width, height))
    return (min(width, max(THUMB_SIZE, math.ceil(width * scale))),
            min(height, max(THUMB_SIZE, math.ceil(height * scale))))


def _place(source: Path, original: Path, data: bytes, mode: str) -> bool:
    """Put the file into ``art/``: a hard link for ``link`` where the file system allows (the
    user's file, its mode untouched; False if it had to be copied instead), else a read-only
    copy of ``data``."""
    if mode == "link" and link_atomic(source, original):
        return True
    store_atomic(original, data, sync=False)
    return mode != "link"


def _whole(image: Image.Image, data: bytes) -> bool:
    """Whether an opened image's file is whole, read without decoding its pixels (a fraction of
    the time): a PNG's chunks and their checksums up to IEND, a JPEG's end marker, a WebP's
    RIFF length; an AVIF is decoded (OSError if it does not)."""
    if image.format == "PNG":
        image.verify()  # raises for a bad checksum or a missing chunk
        return True
    if image.format == "JPEG":
        return data.rstrip(b"\0").endswith(b"\xff\xd9")
    if image.format == "WEBP":
        return len(data) >= 8 + int.from_bytes(data[4:8], "little")
    image.load()
    return True


def _adopt_thumbs(
    paths: list[Path], image_id: str, art: Path, created: str, size: tuple[int, int]
) -> list[dict[str, Any]]:
    """The derivative rows of thumbnails other tools made (``thumbs/``, ``t2/``), copied into
    ``art/``: those that fit (:func:`_thumbnail`), the largest as the thumbnail and a smaller one
    as the small thumbnail."""
    found = [fits for fits in (_thumbnail(path, size) for path in paths) if fits is not None]
    found.sort(key=lambda fits: -max(fits[2], fits[3]))
    rows: list[dict[str, Any]] = []
    for data, extension, width, height in found:
        if len(rows) == len(ADOPTED_STAGES):
            break
        if rows and max(width, height) >= max(rows[-1]["width"], rows[-1]["height"]):
            continue  # no smaller than the one adopted before it
        stage = ADOPTED_STAGES[len(rows)]
        target = stage_path(art, stage, image_id, extension)
        store_atomic(target, data, sync=False)
        rows.append({
            "image_id": image_id, "stage": stage, "path": target.relative_to(art).as_posix(),
            "width": width, "height": height, "bytes": len(data), "format": extension, "created_at": created,
        })
    return rows


def _thumbnail(path: Path, size: tuple[int, int]) -> tuple[bytes, str, int, int] | None:
    """The bytes, extension and size of a thumbnail another tool made, if it is one of an image
    of ``size``: a whole file, smaller than the image, with the image's shape or a square's."""
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as thumb:
            kind, width, height = thumb.format, thumb.width, thumb.height
            if kind not in EXTENSIONS or not _whole(thumb, data):
                return None
    except Exception:  # a thumbnail that cannot be read is made again instead
        return None
    long_edge = max(width, height)
    if not (ADOPT_MIN_EDGE <= long_edge <= ADOPT_MAX_EDGE and long_edge < max(size)):
        return None
    same_shape = abs(width / height - size[0] / size[1]) < 0.02 * size[0] / size[1]
    if not (same_shape or width == height):
        return None
    return data, EXTENSIONS[kind], width, height
