"""kiln's benchmarks: ``just bench`` (or ``python bench/run.py``).

Each benchmark works in a fresh temporary project and prints its figures; nothing here is a
test, and nothing asserts a time. The figures go into docs/benchmarks.md by hand.

1. Run + stages at 1024×1024 with the placeholder engine: seconds per image for the whole
   pipeline, next to the engine's own seconds per image, so the cost the runner adds on top
   of the engine (encoding, hashing, derivatives, blurhash, SQLite) is visible.
2. Engine utilisation: an engine that takes a fixed time per image (bench/fixed_time.py),
   0.5 s at 1024x1024 and 0.3 s at 1536x1536, handing over PNG files (as cn-engine and the
   HTTP services do) or decoded pixels; images per second as a share of 1 / that time. The runner's bookkeeping (PNG, derivatives,
   blurhash, SQLite) overlaps the next generation, so this should stay near 100 %; what it
   does not overlap is shown apart: the time before the engine's first job, after its last
   (the last image's finishing, the run's close), and between its jobs.
3. ``kiln build`` over 1,000 images: a full build into an empty build/, then a no-op rebuild.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import fixed_time
from kiln.engines import GenerateRequest, create_engine
from kiln.plan import make_plan
from kiln.project import load_project
from kiln.recipe import load_all
from kiln.runner import Runner
from kiln.site import build_site
from kiln.store import open_store


def make_project(folder: Path, recipe: str, settings: str = "") -> None:
    (folder / "kiln.toml").write_text('[project]\ntitle = "bench"\n' + textwrap.dedent(settings))
    (folder / "recipes").mkdir()
    (folder / "recipes" / "bench.toml").write_text(textwrap.dedent(recipe))


def cpu_seconds() -> float:
    """User + system time of this process and of its children that have ended (the finishing
    workers, once the run's pool is shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_project(folder: Path) -> tuple[float, int]:
    elapsed, generated, _ = timed_run(folder)
    return elapsed, generated


def timed_run(folder: Path) -> tuple[float, int, tuple[float, float]]:
    """Plan and run ``folder``'s recipes: the run's seconds, images made, and when (in Unix
    time) the run started and ended, to set beside the times the store records."""
    project = load_project(folder)
    store = open_store(project.db_path)
    plans = make_plan(load_all(project), project, store)
    started, wall_started = time.perf_counter(), time.time()
    report = Runner(project, store).run(plans)
    elapsed, wall_ended = time.perf_counter() - started, time.time()
    store.close()
    return elapsed, report.generated, (wall_started, wall_ended)


def bench_run(images: int) -> None:
    recipe = f"""
        prompt = "a {{red|arctic}} fox in {{a snowstorm|an autumn forest}}, oil painting"
        size = "1024x1024"
        seeds = {max(1, images // 4)}
        steps = 20
    """
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        make_project(folder, recipe)
        project = load_project(folder)
        jobs = [job for plan in make_plan(load_all(project), project, open_store(project.db_path)) for job in plan.jobs]

        engine = create_engine(project.engine("placeholder"))
        engine.load(jobs[0].spec["model"])
        engine_times = []
        for job in jobs:
            request = GenerateRequest.from_spec(job.spec)
            started = time.perf_counter()
            engine.generate(request)
            engine_times.append(time.perf_counter() - started)

        elapsed, generated = run_project(folder)
    engine_only = sum(engine_times) / len(engine_times)
    pipeline = elapsed / generated
    print(f"run + stages, {generated} images at 1024x1024, 20 steps, placeholder engine")
    print(f"  engine alone        {engine_only:.3f} s/image (median {statistics.median(engine_times):.3f})")
    print(f"  whole pipeline      {pipeline:.3f} s/image ({elapsed:.1f} s in all)")
    print(f"  pipeline / engine   {pipeline / engine_only:.2f}x")


def bench_utilisation(images: int, seconds: float, size: str = "1024x1024", encoded: bool = True) -> None:
    recipe = f"""
        engine = "fixed"
        model = "none"
        prompt = "utilisation"
        size = "{size}"
        seeds = {images}
    """
    settings = f"""
        [engines.fixed]
        type = "fixed_time:FixedTimeEngine"
        seconds = {seconds}
        encoded = {"true" if encoded else "false"}
    """
    # The stand-in engine draws its picture before the clock starts: a real one at this speed
    # makes its first image in its time too.
    width, height = (int(side) for side in size.split("x"))
    (fixed_time.png_file if encoded else fixed_time.picture)((width, height))
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        make_project(folder, recipe, settings)
        cpu_before = cpu_seconds()
        elapsed, generated, (run_started, run_ended) = timed_run(folder)
        cpu = cpu_seconds() - cpu_before
        store = open_store(load_project(folder).db_path)
        first, last, busy = store.query(
            "SELECT (min(julianday(started_at)) - 2440587.5) * 86400,"
            " (max(julianday(started_at) + duration_ms / 86400000.0) - 2440587.5) * 86400,"
            " sum(duration_ms) / 1000.0 FROM attempts"
        )[0].values()
        store.close()
    span = last - first
    rate = generated / elapsed
    handed = "PNG files" if encoded else "decoded pixels"
    print(f"engine utilisation, {generated} images at {size}, engine fixed at {seconds:.3f} s/image, handing over {handed}")
    print(f"  throughput          {rate:.2f} images/s against an ideal {1 / seconds:.2f}")
    print(f"  utilisation         {rate * seconds:.1%} of the whole run ({elapsed:.2f} s, start-up and last image included)")
    print(f"  engine busy         {busy / span:.1%} of the time from its first job's start to its last job's end")
    # What the engine's own time leaves of the run: kiln's start-up before its first job, and
    # the finishing of the last image (and the run's close) after its last.
    print(f"  around the engine   {first - run_started:.3f} s before its first job, {run_ended - last:.3f} s after its"
          f" last, {span - busy:.3f} s between jobs")
    # What does not depend on what else the machine runs: the CPU kiln spends per image (the
    # runner and its finishing workers), against what the free cores offer in an engine's time.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"  kiln's CPU          {cpu / generated * 1000:.0f} ms per image, of {cores * seconds * 1000:.0f} ms"
          f" the {cores} cores offer while the engine makes one; load average {os.getloadavg()[0]:.1f}")


def bench_build(images: int) -> None:
    recipe = f"""
        prompt = "{{lavender field|koi pond|neon city|quiet ocean|autumn forest}} at {{dawn|noon|dusk|night}}"
        size = "256x256"
        seeds = {images // 20}
        steps = 2
    """
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        make_project(folder, recipe)
        run_seconds, generated = run_project(folder)
        project = load_project(folder)
        store = open_store(project.db_path)
        full = build_site(project, store)
        noop = build_site(project, store)
        store.close()
        peer = bench_sigal(project.art_dir / "original", folder / "sigal")
    print(f"kiln build, {generated} images (made in {run_seconds:.1f} s at 256x256)")
    print(f"  full build          {full.seconds:.2f} s ({full.written} files written)")
    print(f"  no-op rebuild       {noop.seconds:.2f} s ({noop.written} written, {noop.skipped} unchanged)")
    if peer is None:
        print("  (sigal is not installed: `pip install -e '.[bench]'` adds the side-by-side figures)")
        return
    sigal_full, sigal_noop = peer
    print(f"sigal build of the same {generated} originals (it makes its thumbnails during the build)")
    print(f"  full build          {sigal_full:.2f} s, {sigal_full / full.seconds:.1f}x kiln's")
    print(f"  no-op rebuild       {sigal_noop:.2f} s, {sigal_noop / noop.seconds:.1f}x kiln's")


SIGAL_CONF = """
source = {source!r}
destination = {destination!r}
theme = "colorbox"
"""


def bench_sigal(originals: Path, folder: Path) -> tuple[float, float] | None:
    """sigal (a static gallery generator) over the same files: a full build, then a no-op one."""
    sigal = shutil.which("sigal", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if sigal is None:
        return None
    folder.mkdir()
    source = folder / "source"
    shutil.copytree(originals, source)
    (folder / "sigal.conf.py").write_text(SIGAL_CONF.format(source=str(source), destination=str(folder / "out")))
    times = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run([sigal, "build", "-q", "-c", str(folder / "sigal.conf.py")], check=True, cwd=folder)
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-images", type=int, default=16, help="images for the run benchmark")
    parser.add_argument("--build-images", type=int, default=1000, help="images for the build benchmark")
    parser.add_argument("--fixed-images", type=int, default=40, help="images for the utilisation benchmark")
    parser.add_argument("--fixed-seconds", type=float, default=0.5, help="the fixed engine's time per image")
    args = parser.parse_args()
    bench_run(args.run_images)
    for size, seconds in (("1024x1024", args.fixed_seconds), ("1536x1536", 0.3)):
        for encoded in (True, False):
            bench_utilisation(args.fixed_images, seconds, size, encoded)
    bench_build(args.build_images)


if __name__ == "__main__":
    main()
