"""``kiln build`` at library scale: a full build, a no-op and a build after one new image.

    python bench/build_scale.py [--sizes 1000,10000,100000] [--runs 3] [--stores DIR]

For each size, a store from bench/stores.py (made once and kept in ``--stores``), copied to a
fresh project; then ``kiln build`` as a child process, timed with its peak RSS (``wait4``'s
resource usage of that child and of the worker processes it waited for, so CPU time counts
every core a build used): a full build into an empty build folder, a no-op build,
and a build after one new image is added to the largest recipe (rows as ``kiln run`` writes
them, files hard-linked). Every virtual collection is shown (``[site] collections``). With ``--runs`` above one, the three are repeated and the medians
printed, with the number of files each wrote; ``--full-only`` times full builds alone. Each
cell gives wall time, CPU time (user + system, the whole process tree) and peak RSS; the load
average at the start is printed under the table, since others' work on the machine inflates
wall times but hardly CPU times, and so is how the builds published media: by hard link where
the store's files are read-only, as kiln stores them, or as copies where they are writable (a
store an older kiln made: ``kiln doctor --fix`` or ``chmod a-w`` makes them read-only).
A full build starts 31 s after the bench last deleted files, at the earliest (see
``INODE_REUSE_DELAY``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from stores import make_store  # noqa: E402
from treerss import PeakTreeRss  # noqa: E402

KILN = [sys.executable, "-m", "kiln"]
WROTE = re.compile(r"(\d[\d,]*) written")
COLLECTIONS = '["all", "picks", "top", "recent", "tags"]'


Sample = tuple[float, float, float, float, int]  # wall and CPU seconds, peak RSS of the largest process and of all together in MB, files written

# ext4 without a journal (as some virtual machines' disks are made) does not reuse an inode for
# 30 s after it is freed, and every file created meanwhile steps over each such inode: a full
# build started right after the bench deleted the last one's files pays for the deletion, up
# to a third of its time at 100,000 images. Full builds wait that out, so the bench times the
# build and not its own clean-up.
INODE_REUSE_DELAY = 31.0
_removed_at = -INODE_REUSE_DELAY


def remove(path: Path) -> None:
    """Delete the tree at ``path`` (if any), noting when, for :func:`settled`."""
    global _removed_at
    if path.exists():
        shutil.rmtree(path)
        _removed_at = time.monotonic()


def settled() -> None:
    """Wait until the inodes of the last tree removed may be reused."""
    time.sleep(max(0.0, _removed_at + INODE_REUSE_DELAY - time.monotonic()))


def timed_build(project: Path) -> Sample:
    """Wall and CPU seconds, peak RSS in MB and files written of one ``kiln build`` in ``project``.

    ``wait4`` gives the child's resource usage including that of every descendant it waited
    for: the build's worker processes (its pool is shut down, and so waited for, before it
    exits) are counted in its CPU time, and the peak RSS is the largest of them all."""
    started = time.perf_counter()
    child = subprocess.Popen([*KILN, "build"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = PeakTreeRss(child.pid)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    together = sampler.stop()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"kiln build failed in {project}:\n{output}")
    found = WROTE.search(output)
    cpu = usage.ru_utime + usage.ru_stime
    largest = usage.ru_maxrss / 1024
    sample = (seconds, cpu, largest, max(together, largest), int(found.group(1).replace(",", "")) if found else -1)
    print(  # as it is taken: removing a large copy afterwards takes a while
        f"{project.name}: {seconds:.2f} s, {cpu:.2f} s CPU ({usage.ru_utime:.2f} s user), {sample[2]:.0f} MB"
        f" ({sample[3]:.0f} MB with its workers), {sample[4]:,} files, load {os.getloadavg()[0]:.1f}",
        file=sys.stderr, flush=True,
    )
    return sample


def described_build(project: Path) -> str:
    """One ``kiln build`` in ``project``, its figures as a line."""
    seconds, cpu, rss, _, written = timed_build(project)
    return f"{cpu:6.2f} s CPU {seconds:6.2f} s wall {rss:5.0f} MB  load {os.getloadavg()[0]:4.1f}  {written:,} files written"


def add_image(project: Path, serial: int) -> None:
    """One new image in the largest live recipe, as a run records it: job, place, image, files."""
    conn = sqlite3.connect(project / "art" / "kiln.db", isolation_level=None)
    recipe, top = conn.execute(
        "SELECT rj.recipe, max(rj.position) FROM recipe_jobs rj JOIN recipes r ON r.name = rj.recipe"
        " GROUP BY rj.recipe ORDER BY count(*) DESC"
    ).fetchall()[0]
    model = conn.execute("SELECT id, job_key FROM images WHERE recipe = ? ORDER BY created_at DESC LIMIT 1", [recipe]).fetchone()
    image_id, key = f"bench{serial:011x}", f"benchjob{serial:08x}"
    newest = conn.execute("SELECT max(created_at) FROM images").fetchone()[0]
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO jobs (key, spec, recipe, engine, model, status, attempts, queued_at, image_id)"
        " SELECT ?, spec, recipe, engine, model, 'succeeded', 1, queued_at, ? FROM jobs WHERE key = ?",
        [key, image_id, model[1]],
    )
    conn.execute("INSERT INTO recipe_jobs (recipe, job_key, position, axes) VALUES (?, ?, ?, '{}')", [recipe, key, top + 1])
    columns = [row[1] for row in conn.execute("PRAGMA table_info(images)") if row[1] not in ("id", "path", "job_key", "created_at", "revision")]
    listed = ", ".join(columns)
    conn.execute(
        f"INSERT INTO images (id, path, job_key, created_at, {listed}) SELECT ?, ?, ?, ?, {listed} FROM images WHERE id = ?",
        [image_id, f"original/{image_id}.png", key, _later(newest), model[0]],
    )
    os.link(project / "art" / conn.execute("SELECT path FROM images WHERE id = ?", [model[0]]).fetchone()[0],
            project / "art" / "original" / f"{image_id}.png")
    for stage, path, width, height, size, fmt, made in conn.execute(
        "SELECT stage, path, width, height, bytes, format, created_at FROM derivatives WHERE image_id = ?", [model[0]]
    ).fetchall():
        new_path = f"{stage}/{image_id}{Path(path).suffix}"
        os.link(project / "art" / path, project / "art" / new_path)
        conn.execute(
            "INSERT INTO derivatives (image_id, stage, path, width, height, bytes, format, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [image_id, stage, new_path, width, height, size, fmt, made],
        )
    conn.execute("COMMIT")
    conn.close()


def _later(stamp: str | None) -> str:
    """A creation time after ``stamp`` and no earlier than now, written as kiln writes them (a
    suffix on ``stamp`` would sort before it)."""
    moment = datetime.now(timezone.utc)
    if stamp:
        moment = max(moment, datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(milliseconds=1))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def fresh_copy(store: Path, work: Path) -> Path:
    """A project like ``store`` whose database is its own (files hard-linked) and no build,
    showing every virtual collection besides the recipes'."""
    remove(work)
    shutil.copytree(store, work, copy_function=os.link, ignore=shutil.ignore_patterns("build", "kiln.db*", "kiln.toml"))
    for name in ("kiln.db", "kiln.db-wal", "kiln.db-shm"):
        if (store / "art" / name).exists():
            shutil.copy2(store / "art" / name, work / "art" / name)
    settings = (store / "kiln.toml").read_text()
    (work / "kiln.toml").write_text(settings.replace("[project]", f"[site]\ncollections = {COLLECTIONS}\n\n[project]", 1))
    return work


def measure(store: Path, work: Path, runs: int, full_only: bool) -> dict[str, list[Sample]]:
    figures: dict[str, list[Sample]] = {"full": [], "noop": [], "one": []}
    project = fresh_copy(store, work)
    for run in range(runs):
        remove(project / "build")
        settled()
        figures["full"].append(timed_build(project))
        if full_only:
            continue
        figures["noop"].append(timed_build(project))
        add_image(project, run)
        figures["one"].append(timed_build(project))
    remove(project)
    return figures


def media_published(store: Path) -> str:
    """How a default build publishes ``store``'s media, judged by one original: every file of
    a store comes from the same writer."""
    with os.scandir(store / "art" / "original") as scan:
        sample = next(entry for entry in scan if entry.is_file())
    return "copied (writable files)" if sample.stat().st_mode & 0o222 else "hard-linked (read-only files)"


def cell(samples: list[Sample], files: bool) -> str:
    seconds = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    rss = max(s[2] for s in samples)
    together = max(s[3] for s in samples)
    text = f"{seconds:.2f} s ({cpu:.2f} s CPU), {rss:.0f} MB"
    if together > rss * 1.05:
        text += f" ({together:.0f} MB with its workers)"
    if files:
        text += f" ({statistics.median(s[4] for s in samples):,.0f} files)"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stores", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "kiln-bench-stores")
    parser.add_argument("--full-only", action="store_true", help="time full builds only")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    load = os.getloadavg()
    for size in sizes:
        store = args.stores / f"images-{size}"
        if not (store / "art" / "kiln.db").exists():
            shutil.rmtree(store, ignore_errors=True)
            make_store(store, size)
            # Bring the store up to this kiln's schema once, outside the timings.
            subprocess.run([*KILN, "status"], cwd=store, check=True, capture_output=True)
        runs = args.runs if size < 100_000 else 1
        results[size] = measure(store, args.stores / f"work-{size}", runs, args.full_only)
        print(f"measured {size:,} images", file=sys.stderr)
    print("| | " + " | ".join(f"{s:,} images" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    rows = (("noop", "`kiln build`, no-op", False), ("one", "after one new image", True), ("full", "full", True))
    for key, label, files in rows:
        if all(results[s][key] for s in sizes):
            print(f"| {label} | " + " | ".join(cell(results[s][key], files) for s in sizes) + " |")
    print(f"\nload average: {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    for size in sizes:
        print(f"{size:,} images: media {media_published(args.stores / f'images-{size}')}")


if __name__ == "__main__":
    main()
