"""``kiln doctor --fix``: mend what :func:`kiln.library.doctor.examine` found, and say what it
could not.

* a job stuck ``running`` goes back to the queue;
* a leftover temporary file is deleted;
* an orphan original whose ``kiln`` provenance (a PNG chunk, or EXIF in a JPEG or WebP) names
  a job of the store that has no image is adopted: its row and derivatives are recorded as
  ``kiln run`` would have; an orphan
  derivative or reference thumbnail whose image has no row is deleted;
* a corrupt original is moved to ``art/quarantine/`` (keeping its name) and, like a lost one,
  its job is queued again with the id it should make (``jobs.expected_image_id``), so the
  next ``kiln run`` makes it again and keeps its rating, status, tags and notes;
* missing or bad derivatives are made again from the original;
* a writable stored file (an older kiln's) is made read-only, as kiln now writes them;
* the full-text index is rebuilt.
"""

from __future__ import annotations

import io
import json
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from stat import S_IMODE
from typing import Any

from PIL import Image

from kiln.art import content_id
from kiln.engines import EngineError
from kiln.exifmeta import kiln_text
from kiln.finishing import ORIGINAL_FORMATS, image_row
from kiln.library.doctor import THREADS, Examination, Finding
from kiln.importing.records import imported_only
from kiln.project import Project
from kiln.reference_images import ReferencePreparer
from kiln.stages import STAGES, Original, blurhash_of, run_stages
from kiln.store import Store
from kiln.store.db import now
from kiln.store.leases import lapsed

QUARANTINE = "quarantine"


@dataclass
class Repairs:
    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    queued: int = 0

    def lines(self) -> list[str]:
        lines = []
        if self.done:
            lines.append("fixed:")
            lines.extend(f"  {line}" for line in self.done)
        if self.not_done:
            lines.append("not fixed:")
            lines.extend(f"  {line}" for line in self.not_done)
        if self.queued:
            lines.append("'kiln run' makes the queued images again.")
        return lines


def repair(project: Project, store: Store, examination: Examination) -> Repairs:
    """Fix every finding that can be fixed, in an order where each fix helps the next."""
    repairs = Repairs()
    _release_stuck_jobs(store, examination.of("stuck-job"), repairs)
    _delete(examination.of("temporary"), repairs,
            "deleted {n} leftover temporary file", "deleted {n} leftover temporary files")
    orphans = examination.of("orphan")
    _adopt_originals(project, store, [f for f in orphans if f.stage == "original"], repairs)
    lost = examination.of("missing-original")
    corrupt = examination.of("corrupt-original")
    quarantined = _quarantine(project, corrupt, repairs)
    remade = _requeue(store, lost, repairs,
                      "queued {n} job to remake a lost original", "queued {n} jobs to remake lost originals")
    remade |= _requeue(store, quarantined, repairs, "queued {n} job to remake a corrupt original",
                       "queued {n} jobs to remake corrupt originals")
    derivatives = examination.of("missing-derivative") + examination.of("bad-derivative")
    _regenerate(project, store, [f for f in derivatives if f.image_id not in remade], repairs, broken={
        finding.image_id for finding in lost + corrupt
    })
    _tidy_derivative_orphans(project, store, [f for f in orphans if f.stage != "original"], repairs)
    _make_read_only(project, examination.of("writable"), repairs)
    if examination.of("fts"):
        with store.transaction():
            store.conn.execute("INSERT INTO images_fts(images_fts) VALUES ('rebuild')")
        repairs.done.append("rebuilt the full-text index")
    return repairs


def _phrase(count: int, one: str, many: str) -> str:
    return (one if count == 1 else many).replace("{n}", f"{count:,}")


def _release_stuck_jobs(store: Store, findings: list[Finding], repairs: Repairs) -> None:
    if not findings:
        return
    keys = [finding.job_key for finding in findings]
    with store.transaction():
        marks = ",".join("?" * len(keys))
        runs = store.query(
            f"SELECT DISTINCT runs.id, runs.status, runs.pid, runs.host, runs.started_at, runs.heartbeat_at"
            f" FROM runs JOIN jobs ON jobs.run_id = runs.id WHERE jobs.key IN ({marks}) AND runs.status = 'running'",
            keys,
        )
        store.conn.executemany(
            "UPDATE jobs SET status = 'queued', claimed_by = NULL WHERE key = ? AND status = 'running'",
            [(key,) for key in keys],
        )
        store.conn.executemany(
            "UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ? AND status = 'running'",
            [(now(), run["id"]) for run in runs if lapsed(run) is not None],
        )
    repairs.done.append(
        _phrase(len(keys), "released {n} stuck job to the queue", "released {n} stuck jobs to the queue")
    )


def _delete(findings: list[Finding], repairs: Repairs, one: str, many: str) -> None:
    for finding in findings:
        assert finding.path is not None
        finding.path.unlink(missing_ok=True)
    if findings:
        repairs.done.append(_phrase(len(findings), one, many))


# originals ------------------------------------------------------------------------------------


def _quarantine(project: Project, findings: list[Finding], repairs: Repairs) -> list[Finding]:
    """Move each corrupt original into art/quarantine/; return the findings moved."""
    folder = project.art_dir / QUARANTINE
    moved = []
    for finding in findings:
        assert finding.path is not None
        folder.mkdir(parents=True, exist_ok=True)
        target, n = folder / finding.path.name, 2
        while target.exists():  # an earlier casualty of the same name is kept too
            target, n = folder / f"{finding.path.stem}-{n}{finding.path.suffix}", n + 1
        try:
            os.replace(finding.path, target)
        except OSError as error:
            shown = project.relative(finding.path)
            repairs.not_done.append(f"{shown}: cannot be moved to {QUARANTINE}/: {error.strerror}")
            continue
        moved.append(finding)
    if moved:
        repairs.done.append(_phrase(len(moved), "moved {n} corrupt original to " + project.relative(folder) + "/",
                                    "moved {n} corrupt originals to " + project.relative(folder) + "/"))
    return moved


def _requeue(store: Store, findings: list[Finding], repairs: Repairs, one: str, many: str) -> set[str]:
    """Queue each image's job to make it again; return the ids queued."""
    queued: set[str] = set()
    for finding in findings:
        reason = _requeue_one(store, finding)
        if reason:
            repairs.not_done.append(f"{finding.image_id}: {reason}")
        else:
            queued.add(finding.image_id or "")
    if queued:
        repairs.done.append(_phrase(len(queued), one, many))
        repairs.queued += len(queued)
    return queued


def _requeue_one(store: Store, finding: Finding) -> str | None:
    if finding.job_key is None:
        return "no job made it, so none can make it again"
    with store.transaction():
        row = store.conn.execute("SELECT status FROM jobs WHERE key = ?", [finding.job_key]).fetchone()
        if row is None:
            return f"its job {finding.job_key} is not in the store"
        if row[0] in ("deleted", "running"):
            return f"its job {finding.job_key} is {row[0]}"
        if imported_only(store, finding.job_key):
            source = store.conn.execute(
                "SELECT path FROM import_sources WHERE image_id = ? ORDER BY imported_at LIMIT 1", [finding.image_id]
            ).fetchone()
            where = f" (from {source[0]})" if source else ""
            return f"it was imported{where}, so nothing can make it again: import its file again, or 'kiln rm' it"
        store.conn.execute(
            "UPDATE jobs SET status = 'queued', expected_image_id = ?, error = NULL, error_code = NULL,"
            " claimed_by = NULL WHERE key = ?",
            [finding.image_id, finding.job_key],
        )
    return None


def _adopt_originals(project: Project, store: Store, findings: list[Finding], repairs: Repairs) -> None:
    adopted = 0
    preparer = ReferencePreparer(project)
    for finding in findings:
        assert finding.path is not None
        reason = _adopt(project, store, preparer, finding.path)
        if reason:
            repairs.not_done.append(f"{finding.subject}: {reason}; move or delete it by hand")
        else:
            adopted += 1
    if adopted:
        repairs.done.append(_phrase(adopted, "adopted {n} orphan original named by its job (with its derivatives)",
                                    "adopted {n} orphan originals named by their jobs (with their derivatives)"))


# An original with no kiln provenance, named by its content: a file an interrupted import
# wrote before its rows. Only the import knows where it came from.
_IMPORTED_ORPHAN = "it has no kiln provenance (an imported file with no row: run the same import again)"


def _adopt(project: Project, store: Store, preparer: ReferencePreparer, path: Path) -> str | None:
    """Record an orphan original as its job's image, as ``kiln run`` would; or say why not."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    image_id, sha256 = content_id(data)
    if path.name not in {f"{image_id}.{extension}" for extension in ORIGINAL_FORMATS.values()}:
        if path.stem == image_id:
            return _IMPORTED_ORPHAN
        return f"its content hashes to {image_id}, not its name"
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        payload = json.loads(kiln_text(image))
        key, spec = payload["job_key"], payload["spec"]
    except KeyError:
        return _IMPORTED_ORPHAN
    except Exception as error:  # Pillow and json raise many kinds on bad data
        return f"it does not decode ({type(error).__name__}: {error})"
    job = store.query("SELECT status, duration_ms FROM jobs WHERE key = ?", [key])
    if not job:
        return f"its kiln chunk names job {key}, which the store does not know"
    if job[0]["status"] in ("deleted", "running"):
        return f"its job {key} is {job[0]['status']}"
    held = store.query("SELECT id FROM images WHERE job_key = ?", [key])
    if held:
        return f"its job {key} already has image {held[0]['id']}"
    try:
        references = [
            {"image_id": image_id, "position": i, "source_path": ref["path"], "sha256": ref["sha256"],
             "thumb_path": preparer.thumbnail(ref)}
            for i, ref in enumerate(spec["references"])
        ]
    except EngineError as error:
        return str(error)
    stat = path.stat()
    created = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    files = {
        "id": image_id, "path": path.relative_to(project.art_dir).as_posix(), "width": image.width,
        "height": image.height, "bytes": len(data), "sha256": sha256, "format": str(image.format).lower(),
        "blurhash": blurhash_of(image), "file_mtime_ns": stat.st_mtime_ns,
    }
    provenance = {name: value for name, value in payload.items() if name not in ("job_key", "recipe", "spec")}
    row = image_row(files, key, payload["recipe"], spec, provenance, seed=spec["seed"], response_id=None,
                    created_at=created)
    derivatives = run_stages(image, image_id, project.art_dir, now(), original=_original(path, image))
    replaced = store.record_image(key, row, derivatives, job[0]["duration_ms"], references)
    if replaced is not None:
        for old in replaced.paths:
            (project.art_dir / old).unlink(missing_ok=True)
    return None


# derivatives ----------------------------------------------------------------------------------


def _original(path: Path, image: Image.Image) -> Original:
    """The original ``path``, decoded as ``image``: a web copy remade links it where the first did."""
    return Original(path, str(image.format).lower(), image.width, image.height, path.stat().st_size)


def _regenerate(
    project: Project, store: Store, findings: list[Finding], repairs: Repairs, broken: set[str | None]
) -> None:
    """Make missing or bad derivatives again from their (sound) originals."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for finding in findings:
        if finding.image_id in broken:
            repairs.not_done.append(f"{finding.subject}: its original is lost, so it cannot be made again")
        elif finding.image_id is not None and finding.stage is not None:
            wanted[finding.image_id].add(finding.stage)
    if not wanted:
        return
    rows = {row["id"]: row["path"] for row in store.query("SELECT id, path FROM images") if row["id"] in wanted}

    def make(image_id: str) -> tuple[str, list[dict[str, Any]] | str]:
        stages = tuple(stage for stage in STAGES if stage.name in wanted[image_id])
        try:
            path = project.art_dir / rows[image_id]
            with Image.open(path) as image:
                image.load()
                return image_id, run_stages(image, image_id, project.art_dir, now(), stages, original=_original(path, image))
        except Exception as error:  # a file that does not decode is reported, not fatal
            return image_id, f"{type(error).__name__}: {error}"

    made = 0
    with ThreadPoolExecutor(THREADS) as pool:
        for image_id, result in pool.map(make, sorted(wanted)):
            if isinstance(result, str):
                repairs.not_done.append(f"{image_id}: derivatives cannot be made from its original: {result}")
                continue
            with store.transaction() as db:
                db["derivatives"].upsert_all(result, pk=("image_id", "stage"))
            made += len(result)
    if made:
        repairs.done.append(_phrase(made, "regenerated {n} derivative", "regenerated {n} derivatives"))


def _make_read_only(project: Project, findings: list[Finding], repairs: Repairs) -> None:
    """Take the write bits off each writable stored file (one moved or made again since is
    already done)."""
    done = 0
    for finding in findings:
        assert finding.path is not None
        try:
            os.chmod(finding.path, S_IMODE(os.stat(finding.path).st_mode) & ~0o222)
        except FileNotFoundError:
            continue
        except OSError as error:
            repairs.not_done.append(f"{finding.subject}: cannot be made read-only: {error.strerror}")
            continue
        done += 1
    if done:
        repairs.done.append(_phrase(done, "made {n} stored file read-only", "made {n} stored files read-only"))


def _tidy_derivative_orphans(project: Project, store: Store, findings: list[Finding], repairs: Repairs) -> None:
    """An orphan derivative that the fixes above recorded is done; one whose image has no row
    can never be shown, and is made again from its original if that comes back: it goes."""
    deleted = 0
    for finding in findings:
        assert finding.path is not None
        relative = finding.path.relative_to(project.art_dir).as_posix()
        recorded = store.query(
            "SELECT 1 FROM derivatives WHERE path = ? UNION ALL SELECT 1 FROM image_references WHERE thumb_path = ?",
            [relative, relative],
        )
        if recorded:
            continue
        finding.path.unlink(missing_ok=True)
        deleted += 1
    if deleted:
        repairs.done.append(_phrase(deleted, "deleted {n} orphan derivative whose image has no row",
                                    "deleted {n} orphan derivatives whose images have no row"))
