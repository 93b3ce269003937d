"""kiln doctor: plant each kind of drift in a store made by a real run, check the exact report,
fix it, and check that a second doctor is clean and that kiln run makes lost originals again."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image
from projectcli import kiln
from projectcli import rows as sql

from kiln.site.lock import build_lock
from kiln.store.db import now

SMALL = """
prompt = "a {red|blue|green} fox in the snow"
size = "256x192"
seeds = 2
steps = 4
"""
CLEAN = "kiln doctor: 6 images, 24 files checked, no problems\n"
LEFT_ONE = "1 recent temporary or unrecorded file left alone: another kiln process may still be writing it\n"
LEFT_TWO = "2 recent temporary or unrecorded files left alone: another kiln process may still be writing them\n"
HOUR_AGO = time.time() - 3600


def aged(path: Path, data: bytes | None = None) -> Path:
    """The file (written with ``data`` if given), old enough that no live kiln process can own it."""
    if data is not None:
        path.write_bytes(data)
    os.utime(path, (HOUR_AGO, HOUR_AGO))
    return path


def tamper(path: Path, data: bytes) -> None:
    """Change a stored file in place, as something that ignores its read-only mode would."""
    mode = path.stat().st_mode
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(mode)


@pytest.fixture
def made(project_dir: Path, write_recipe) -> Path:
    write_recipe("small", SMALL)
    assert kiln(project_dir, "run")[0] == 0
    return project_dir


def images(project: Path) -> list[tuple[str, str]]:
    """(id, job key) of every image, in id order."""
    return sql(project, "SELECT id, job_key FROM images ORDER BY id")


def test_a_clean_store_is_one_line(made: Path):
    assert kiln(made, "doctor") == (0, CLEAN)
    assert kiln(made, "doctor", "--deep") == (0, "kiln doctor: 6 images, 24 files checked, decoded, no problems\n")
    assert kiln(made, "doctor", "--fix") == (0, CLEAN)


def test_a_lost_original_is_made_again_with_its_curation(made: Path):
    image_id, key = images(made)[0]
    sql(made, "UPDATE images SET rating = 4, status = 'selected', tags = '[\"keep\"]', notes = 'the one' WHERE id = ?",
        (image_id,))
    (made / "art" / "original" / f"{image_id}.png").unlink()

    code, output = kiln(made, "run")
    assert code == 0
    assert (
        "warning: 1 image skipped as already made has no original file"
        f" (art/original/{image_id}.png); 'kiln doctor --fix' queues it to be made again\n"
    ) in output

    report = (
        "kiln doctor: 6 images, 24 files checked, 1 problem\n"
        "  1 image whose original is missing\n"
        f"    {image_id}: art/original/{image_id}.png is missing\n"
    )
    assert kiln(made, "doctor") == (1, report + "'kiln doctor --fix' repairs what it can.\n")
    assert kiln(made, "doctor", "--fix") == (
        0, report + "fixed:\n  queued 1 job to remake a lost original\n'kiln run' makes the queued images again.\n"
    )
    assert sql(made, "SELECT status, expected_image_id FROM jobs WHERE key = ?", (key,)) == [("queued", image_id)]
    assert kiln(made, "doctor") == (0, CLEAN + "1 image waits for 'kiln run' to make its lost original again\n")

    code, output = kiln(made, "run")
    assert code == 0 and "Generated 1, skipped 5 (already made)" in output and "warning" not in output
    assert (made / "art" / "original" / f"{image_id}.png").is_file()
    assert sql(made, "SELECT rating, status, tags, notes FROM images WHERE id = ?", (image_id,)) == [
        (4, "selected", '["keep"]', "the one")
    ]
    assert sql(made, "SELECT expected_image_id FROM jobs WHERE key = ?", (key,)) == [(None,)]
    assert kiln(made, "doctor") == (0, CLEAN)


def test_a_rerun_that_makes_other_bytes_moves_the_curation_and_says_so(made: Path):
    """An engine that is not deterministic: the rerun of a lost original gives another id."""
    image_id, key = images(made)[0]
    old = "0123456789abcdef"
    art = made / "art"
    for stage in ("thumb", "thumb_small", "web"):
        (art / stage / f"{image_id}.webp").rename(art / stage / f"{old}.webp")
    (art / "original" / f"{image_id}.png").unlink()
    sql(made, "UPDATE images SET id = ?, path = ?, rating = 5, notes = 'best' WHERE id = ?",
        (old, f"original/{old}.png", image_id))
    sql(made, "UPDATE derivatives SET image_id = ?, path = replace(path, ?, ?) WHERE image_id = ?",
        (old, image_id, old, image_id))
    sql(made, "INSERT INTO history (batch, at, image_id, job_key, field, old, new, source)"
              " VALUES (1, '2026-01-01T00:00:00Z', ?, ?, 'rating', '0', '5', 'cli')", (old, key))
    assert kiln(made, "doctor", "--fix")[0] == 0

    code, output = kiln(made, "run")
    assert code == 0
    assert (
        f"warning: job {key} (small) made image {image_id}, not {old} as before: the engine did not give the"
        f" same bytes; the rating, status, tags and notes of {old} moved to {image_id}\n"
    ) in output
    assert sql(made, "SELECT rating, notes FROM images WHERE id = ?", (image_id,)) == [(5, "best")]
    assert sql(made, "SELECT count(*) FROM images WHERE id = ?", (old,)) == [(0,)]
    assert sql(made, "SELECT image_id FROM history") == [(image_id,)]
    assert not list(art.rglob(f"{old}.*"))
    assert kiln(made, "doctor") == (0, CLEAN)


def test_a_corrupt_original_is_quarantined_and_made_again(made: Path):
    image_id, key = images(made)[1]
    original = made / "art" / "original" / f"{image_id}.png"
    data = bytearray(original.read_bytes())
    data[-20] ^= 0xFF  # same size, other content
    tamper(original, bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()[:16]

    report = (
        "kiln doctor: 6 images, 24 files checked, 1 problem\n"
        "  1 original whose content does not match its id\n"
        f"    {image_id}: art/original/{image_id}.png hashes to {actual}\n"
    )
    assert kiln(made, "doctor") == (1, report + "'kiln doctor --fix' repairs what it can.\n")
    assert kiln(made, "doctor", "--fix") == (
        0,
        report + "fixed:\n  moved 1 corrupt original to art/quarantine/\n  queued 1 job to remake a corrupt original\n"
        "'kiln run' makes the queued images again.\n",
    )
    assert (made / "art" / "quarantine" / f"{image_id}.png").read_bytes() == bytes(data)
    assert kiln(made, "doctor") == (0, CLEAN + "1 image waits for 'kiln run' to make its lost original again\n")
    assert kiln(made, "run")[0] == 0
    assert sql(made, "SELECT status, image_id FROM jobs WHERE key = ?", (key,)) == [("succeeded", image_id)]
    assert kiln(made, "doctor") == (0, CLEAN)


def test_a_change_that_keeps_size_and_mtime_is_found_by_deep_only(made: Path):
    image_id, _ = images(made)[2]
    original = made / "art" / "original" / f"{image_id}.png"
    stat = original.stat()
    data = bytearray(original.read_bytes())
    data[-20] ^= 0xFF
    tamper(original, bytes(data))
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert kiln(made, "doctor") == (0, CLEAN)
    code, output = kiln(made, "doctor", "--deep")
    assert code == 1
    assert output.startswith(
        "kiln doctor: 6 images, 24 files checked, decoded, 1 problem\n"
        "  1 original whose content does not match its id\n"
        f"    {image_id}: art/original/{image_id}.png hashes to "
    )


def test_writable_stored_files_are_made_read_only(made: Path):
    image_id, _ = images(made)[0]
    art = made / "art"
    stored = [art / "original" / f"{image_id}.png", art / "thumb" / f"{image_id}.webp"]
    for path in stored:
        assert path.stat().st_mode & 0o777 == 0o444
        path.chmod(0o644)  # as an older kiln wrote them
    report = (
        "kiln doctor: 6 images, 24 files checked, 2 problems\n"
        "  2 stored files that can be changed in place\n"
        f"    art/original/{image_id}.png: writable, where kiln keeps stored files read-only\n"
        f"    art/thumb/{image_id}.webp: writable, where kiln keeps stored files read-only\n"
    )
    assert kiln(made, "doctor") == (1, report + "'kiln doctor --fix' repairs what it can.\n")
    assert kiln(made, "doctor", "--fix") == (0, report + "fixed:\n  made 2 stored files read-only\n")
    assert [path.stat().st_mode & 0o777 for path in stored] == [0o444, 0o444]
    assert kiln(made, "doctor") == (0, CLEAN)


def test_decode_says_why_a_file_does_not_decode(tmp_path: Path):
    from kiln.library.doctor import decode

    path = tmp_path / "x.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    assert decode(path).startswith("does not decode (")
    Image.new("RGB", (3, 2)).save(path)
    assert decode(path) == (3, 2)


def test_missing_truncated_and_resized_derivatives_are_made_again(made: Path):
    (a, _), (b, _), (c, _) = images(made)[:3]
    art = made / "art"
    (art / "thumb" / f"{a}.webp").unlink()
    web = art / "web" / f"{b}.webp"
    tamper(web, web.read_bytes()[:100])
    sizes = dict(sql(made, "SELECT path, bytes FROM derivatives"))
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "WEBP")
    tamper(art / "thumb" / f"{c}.webp", buffer.getvalue())
    tiny = len(buffer.getvalue())

    code, output = kiln(made, "doctor", "--fix")
    lines = output.splitlines()
    assert code == 0
    assert lines[:3] == [
        "kiln doctor: 6 images, 24 files checked, 3 problems",
        "  1 derivative missing",
        f"    art/thumb/{a}.webp: the thumb of {a} is missing",
    ]
    assert lines[3] == "  2 derivatives unreadable or of the wrong size"
    assert sorted(lines[4:6]) == sorted([
        f"    art/web/{b}.webp: 100 bytes, the store says {sizes[f'web/{b}.webp']:,}",
        f"    art/thumb/{c}.webp: {tiny} bytes, the store says {sizes[f'thumb/{c}.webp']:,}",
    ])
    assert lines[6:] == ["fixed:", "  regenerated 3 derivatives"]
    for path, size in sizes.items():
        assert (art / path).stat().st_size == size
    assert kiln(made, "doctor", "--deep") == (0, "kiln doctor: 6 images, 24 files checked, decoded, no problems\n")


def test_deep_compares_a_derivative_pixel_size_with_its_row(made: Path):
    image_id, _ = images(made)[0]
    sql(made, "UPDATE derivatives SET width = 999 WHERE image_id = ? AND stage = 'thumb'", (image_id,))
    assert kiln(made, "doctor") == (0, CLEAN)
    code, output = kiln(made, "doctor", "--deep", "--fix")
    assert (code, output) == (
        0,
        "kiln doctor: 6 images, 24 files checked, decoded, 1 problem\n"
        "  1 derivative unreadable or of the wrong size\n"
        f"    art/thumb/{image_id}.webp: 192x192 pixels, the store says 999x192\n"
        "fixed:\n  regenerated 1 derivative\n",
    )
    assert sql(made, "SELECT width FROM derivatives WHERE image_id = ? AND stage = 'thumb'", (image_id,)) == [(192,)]


def test_orphans_are_adopted_when_their_kiln_chunk_names_a_job(made: Path):
    """A crash between writing the files and committing the rows, a foreign file, a stray thumb."""
    art = made / "art"
    image_id, key = images(made)[3]
    before = sql(made, "SELECT * FROM images WHERE id = ?", (image_id,))
    sql(made, "DELETE FROM derivatives WHERE image_id = ?", (image_id,))
    sql(made, "DELETE FROM images WHERE id = ?", (image_id,))
    sql(made, "UPDATE jobs SET status = 'queued', image_id = NULL WHERE key = ?", (key,))
    for stage, extension in (("original", "png"), ("thumb", "webp"), ("thumb_small", "webp"), ("web", "webp")):
        aged(art / stage / f"{image_id}.{extension}")

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    foreign_id = hashlib.sha256(buffer.getvalue()).hexdigest()[:16]
    aged(art / "original" / f"{foreign_id}.png", buffer.getvalue())
    stray = aged(art / "thumb" / "ffffffffffffffff.webp", (art / "thumb" / f"{image_id}.webp").read_bytes())

    expected = sorted([
        f"    art/original/{image_id}.png: no image row",
        f"    art/original/{foreign_id}.png: no image row",
        f"    art/thumb/{image_id}.webp: no derivative row",
        "    art/thumb/ffffffffffffffff.webp: no derivative row",
        f"    art/thumb_small/{image_id}.webp: no derivative row",
        f"    art/web/{image_id}.webp: no derivative row",
    ])
    code, output = kiln(made, "doctor", "--fix")
    lines = output.splitlines()
    assert code == 1
    assert lines[:2] == ["kiln doctor: 5 images, 20 files checked, 6 problems", "  6 files in art/ with no row"]
    assert lines[2:8] == expected[:5] + ["    … and 1 more"]  # five of a kind are listed
    assert lines[8:] == [
        "fixed:",
        "  adopted 1 orphan original named by its job (with its derivatives)",
        "  deleted 1 orphan derivative whose image has no row",
        "not fixed:",
        f"  art/original/{foreign_id}.png: it has no kiln provenance (an imported file with no row: run the same import again); move or delete it by hand",
    ]
    after = sql(made, "SELECT * FROM images WHERE id = ?", (image_id,))
    columns = [row[1] for row in sql(made, "PRAGMA table_info(images)")]
    differ = {name for name, x, y in zip(columns, before[0], after[0], strict=True) if x != y}
    assert differ <= {"created_at", "timings", "response_id", "file_mtime_ns", "revision"}
    assert sql(made, "SELECT status, image_id FROM jobs WHERE key = ?", (key,)) == [("succeeded", image_id)]
    assert not stray.exists()
    assert kiln(made, "doctor") == (
        1,
        "kiln doctor: 6 images, 24 files checked, 1 problem\n"
        "  1 file in art/ with no row\n"
        f"    art/original/{foreign_id}.png: no image row\n"
        "'kiln doctor --fix' repairs what it can.\n",
    )


def test_an_orphan_whose_job_the_store_does_not_know_is_left(made: Path):
    image_id, key = images(made)[0]
    sql(made, "DELETE FROM derivatives WHERE image_id = ?", (image_id,))
    sql(made, "DELETE FROM images WHERE id = ?", (image_id,))
    sql(made, "DELETE FROM recipe_jobs WHERE job_key = ?", (key,))
    sql(made, "DELETE FROM attempts WHERE job_key = ?", (key,))
    sql(made, "DELETE FROM jobs WHERE key = ?", (key,))
    for path in (made / "art").rglob(f"{image_id}.*"):
        aged(path)
    code, output = kiln(made, "doctor", "--fix")
    assert code == 1
    assert output.endswith(
        "fixed:\n  deleted 3 orphan derivatives whose images have no row\nnot fixed:\n"
        f"  art/original/{image_id}.png: its kiln chunk names job {key}, which the store does not know;"
        " move or delete it by hand\n"
    )


def test_temporary_files_are_removed_unless_a_live_process_may_own_them(made: Path):
    art, build = made / "art", made / "build"
    old = aged(art / "thumb" / ".tmp-abc123", b"half")
    (build / "coast").mkdir(parents=True)
    page = aged(build / "coast" / ".index.html.kiln-tmp", b"<html>")
    fresh = art / "web" / ".tmp-fresh"
    fresh.write_bytes(b"half")

    report = (
        "kiln doctor: 6 images, 24 files checked, 2 problems\n"
        "  2 leftover temporary files\n"
        "    art/thumb/.tmp-abc123: left by an interrupted write\n"
        "    build/coast/.index.html.kiln-tmp: left by an interrupted write\n"
    ) + LEFT_ONE
    assert kiln(made, "doctor", "--fix") == (0, report + "fixed:\n  deleted 2 leftover temporary files\n")
    assert not old.exists() and not page.exists() and fresh.exists()

    # A build in progress owns the build folder's temporaries, however old.
    page = aged(build / "coast" / ".index.html.kiln-tmp", b"<html>")
    with build_lock(build):
        assert kiln(made, "doctor") == (0, CLEAN + LEFT_TWO)
    page.unlink()

    # A run still going on this host owns anything written since it started.
    started = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 7200))
    live = subprocess.Popen(["sleep", "60"])
    try:
        sql(made, "INSERT INTO runs (started_at, status, pid, host) VALUES (?, 'running', ?, ?)",
            (started, live.pid, socket.gethostname()))
        aged(fresh)
        assert kiln(made, "doctor") == (0, CLEAN + LEFT_ONE)
    finally:
        live.kill()
        live.wait()


def test_a_job_stuck_running_is_released(made: Path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    _, key = images(made)[0]
    sql(made, "INSERT INTO runs (started_at, status, pid, host) VALUES ('2026-01-01T00:00:00.000Z', 'running', ?, ?)",
        (gone.pid, socket.gethostname()))
    run_id = sql(made, "SELECT max(id) FROM runs")[0][0]
    sql(made, "UPDATE jobs SET status = 'running', run_id = ? WHERE key = ?", (run_id, key))
    report = (
        "kiln doctor: 6 images, 24 files checked, 1 problem\n"
        "  1 job stuck running with no live process\n"
        f"    {key}: small: run #{run_id} (pid {gone.pid}) is gone\n"
    )
    assert kiln(made, "doctor", "--fix") == (0, report + "fixed:\n  released 1 stuck job to the queue\n")
    assert sql(made, "SELECT status FROM jobs WHERE key = ?", (key,)) == [("queued",)]
    assert sql(made, "SELECT status FROM runs WHERE id = ?", (run_id,)) == [("interrupted",)]
    assert kiln(made, "doctor") == (0, CLEAN)


def claimed_by(made: Path, host: str, pid: int, heartbeat_at: str) -> tuple[str, int]:
    _, key = images(made)[0]
    sql(made, "INSERT INTO runs (started_at, status, pid, host, heartbeat_at)"
        " VALUES ('2026-01-01T00:00:00.000Z', 'running', ?, ?, ?)", (pid, host, heartbeat_at))
    run_id = sql(made, "SELECT max(id) FROM runs")[0][0]
    sql(made, "UPDATE jobs SET status = 'running', run_id = ? WHERE key = ?", (run_id, key))
    return key, run_id


def test_a_job_running_in_a_live_process_is_not_stuck(made: Path):
    live = subprocess.Popen(["sleep", "60"])
    try:
        claimed_by(made, socket.gethostname(), live.pid, now())
        assert kiln(made, "doctor") == (0, CLEAN)
    finally:
        live.kill()
        live.wait()


def test_a_job_claimed_by_a_live_run_on_another_host_is_not_stuck(made: Path):
    claimed_by(made, "render-box-2", 4242, now())
    assert kiln(made, "doctor") == (0, CLEAN)


def test_a_job_whose_lease_ran_out_on_another_host_is_stuck(made: Path):
    key, run_id = claimed_by(made, "render-box-2", 4242, "2026-01-01T00:00:05.000Z")
    report = (
        "kiln doctor: 6 images, 24 files checked, 1 problem\n"
        "  1 job stuck running with no live process\n"
        f"    {key}: small: run #{run_id} on render-box-2 has not renewed its lease since 2026-01-01T00:00:05.000Z\n"
    )
    assert kiln(made, "doctor", "--fix") == (0, report + "fixed:\n  released 1 stuck job to the queue\n")
    assert sql(made, "SELECT status FROM runs WHERE id = ?", (run_id,)) == [("interrupted",)]


def test_the_full_text_index_is_rebuilt(made: Path):
    rowid, prompt, notes = sql(made, "SELECT rowid, prompt, notes FROM images LIMIT 1")[0]
    sql(made, "INSERT INTO images_fts(images_fts, rowid, prompt, notes) VALUES ('delete', ?, ?, ?)",
        (rowid, prompt, notes))
    report = (
        "kiln doctor: 6 images, 24 files checked, 1 problem\n"
        "  1 full-text index out of step with the images table\n"
        "    images_fts: indexes 5 rows, images has 6\n"
    )
    assert kiln(made, "doctor", "--fix") == (0, report + "fixed:\n  rebuilt the full-text index\n")
    assert kiln(made, "doctor") == (0, CLEAN)
    assert len(sql(made, "SELECT rowid FROM images_fts WHERE images_fts MATCH 'fox'")) == 6


def test_an_index_whose_entries_differ_from_the_table_is_found(made: Path):
    sql(made, "DROP TRIGGER images_au")
    sql(made, "UPDATE images SET prompt = 'an owl' WHERE rowid = 1")
    code, output = kiln(made, "doctor", "--fix")
    assert (code, output) == (
        0,
        "kiln doctor: 6 images, 24 files checked, 1 problem\n"
        "  1 full-text index out of step with the images table\n"
        "    images_fts: its entries do not match the prompts and notes in images\n"
        "fixed:\n  rebuilt the full-text index\n",
    )
    assert sql(made, "SELECT rowid FROM images_fts WHERE images_fts MATCH 'owl'") == [(1,)]


def test_many_findings_of_a_kind_are_counted_past_the_first_five(made: Path):
    for image_id, _ in images(made):
        (made / "art" / "thumb" / f"{image_id}.webp").unlink()
    code, output = kiln(made, "doctor")
    lines = output.splitlines()
    assert code == 1
    assert lines[1] == "  6 derivatives missing"
    assert lines[7] == "    … and 1 more"
    assert kiln(made, "doctor", "--fix")[1].endswith("fixed:\n  regenerated 6 derivatives\n")
    assert kiln(made, "doctor") == (0, CLEAN)


def test_a_lost_original_whose_job_was_deleted_is_not_fixed(made: Path):
    image_id, key = images(made)[0]
    (made / "art" / "original" / f"{image_id}.png").unlink()
    sql(made, "UPDATE jobs SET status = 'deleted' WHERE key = ?", (key,))
    code, output = kiln(made, "doctor", "--fix")
    assert code == 1
    assert output.endswith(f"not fixed:\n  {image_id}: its job {key} is deleted\n")


def test_deep_finds_a_derivative_that_does_not_decode(made: Path):
    image_id, _ = images(made)[0]
    thumb = made / "art" / "thumb" / f"{image_id}.webp"
    tamper(thumb, b"RIFF" + bytes(thumb.stat().st_size - 4))
    assert kiln(made, "doctor") == (0, CLEAN)
    code, output = kiln(made, "doctor", "--deep", "--fix")
    lines = output.splitlines()
    assert code == 0
    assert lines[1] == "  1 derivative unreadable or of the wrong size"
    assert lines[2].startswith(f"    art/thumb/{image_id}.webp: does not decode (")
    assert lines[3:] == ["fixed:", "  regenerated 1 derivative"]
    assert kiln(made, "doctor", "--deep")[0] == 0


def test_a_project_with_nothing_made_is_clean(project_dir: Path):
    assert kiln(project_dir, "doctor") == (0, "kiln doctor: 0 images, 0 files checked, no problems\n")


def test_run_names_at_most_three_lost_originals(made: Path):
    lost = [image_id for image_id, _ in images(made)[:4]]
    for image_id in lost:
        (made / "art" / "original" / f"{image_id}.png").unlink()
    code, output = kiln(made, "run")
    shown = ", ".join(f"art/original/{image_id}.png" for image_id in sorted(lost)[:3])
    assert code == 0
    assert (
        f"warning: 4 images skipped as already made have no original file ({shown}, …);"
        " 'kiln doctor --fix' queues them to be made again\n"
    ) in output
