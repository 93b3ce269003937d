"""The flat ``art/`` store: one folder per stage, files named by content hash.

Files are written to a temporary name in the same folder, flushed to disk and renamed into
place, so a reader (or a crash) never sees half a file. Rows are committed only after the
rename, so the database never points at a file that is not there.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

ID_LENGTH = 16
TEMP_PREFIX = ".tmp-"
FILE_MODE = 0o644


def content_id(data: bytes) -> tuple[str, str]:
    """``(id, sha256)`` of a file's bytes; the id is the hash's first 16 hex digits."""
    digest = hashlib.sha256(data).hexdigest()
    return digest[:ID_LENGTH], digest


def stage_path(art_dir: Path, stage: str, image_id: str, extension: str) -> Path:
    return art_dir / stage / f"{image_id}.{extension}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so the file is either absent or complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        # mkstemp makes owner-only files; images are meant to be served and shared.
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def sweep_temporaries(art_dir: Path, spare_since_ns: int | None = None) -> int:
    """Delete temporary files left by a process that died mid-write; those modified since
    ``spare_since_ns`` (the start of a run still going) may be another's, and are kept."""
    removed = 0
    if art_dir.is_dir():
        for stage in art_dir.iterdir():
            if stage.is_dir():
                for temp in stage.glob(f"{TEMP_PREFIX}*"):
                    try:
                        if spare_since_ns is not None and temp.stat().st_mtime_ns >= spare_since_ns:
                            continue
                        temp.unlink()
                    except FileNotFoundError:
                        continue  # its writer renamed it into place meanwhile
                    removed += 1
    return removed
