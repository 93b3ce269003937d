"""When ``kiln run`` starts its engine process, and whether it does: ``python bench/engine_start.py``.

A project whose engine is ``kiln engine serve`` (an ``ndjson`` engine: a process of its own,
booting as a real engine does, though in a fraction of the time a model takes), and two kinds
of ``kiln run``, each a process of its own as a user starts it:

1. with work: a fresh project of a few small images. The figure is the time from the
   ``kiln run`` process's start to the engine's first job (the first attempt the store
   records), and the CPU of the whole process tree (kiln, its engine, its finishing workers).
2. nothing to do: the same project run again. The figures are the whole run's wall and CPU
   time, and how many engine processes it started (each start appends a line to a file).

Nothing here asserts a time; the figures go into docs/benchmarks.md by hand. To measure
another kiln (an older one, say), put its ``src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

RECIPE = """
    engine = "serve"
    model = "procedural-v1"
    prompt = "a {red|blue} kite over {the sea|a field}"
    size = "64x64"
    steps = 2
"""


def make_project(folder: Path) -> Path:
    """A project whose engine appends a line to ``starts`` each time its process starts."""
    starts = folder / "starts"
    # The shell writes the line before the engine's interpreter starts, so a process killed
    # while it boots is counted too (only one killed within its first milliseconds is not).
    command = ["sh", "-c", 'echo started >> "$0"; exec "$@"', str(starts), sys.executable, "-m", "kiln", "engine", "serve"]
    (folder / "recipes").mkdir(parents=True)
    (folder / "kiln.toml").write_text(
        '[project]\ntitle = "bench"\n\n[engines.serve]\ntype = "ndjson"\ncommand = ['
        + ", ".join(json.dumps(part) for part in command) + "]\n"
    )
    (folder / "recipes" / "kites.toml").write_text(textwrap.dedent(RECIPE))
    return starts


def kiln_run(folder: Path) -> tuple[float, float, float]:
    """Run ``kiln run`` in ``folder``: when it started (Unix time), its wall seconds, and the
    CPU seconds of its process tree (every child it waited for is in its rusage)."""
    started, clock = time.time(), time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln", "run", "-C", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - clock
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    errors = process.stderr.read()
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"kiln run failed ({process.returncode}): {errors.decode(errors='replace')}")
    return started, wall, usage.ru_utime + usage.ru_stime


def first_job(folder: Path) -> float:
    """When the engine's first job started (Unix time), as the store recorded it."""
    with sqlite3.connect(folder / "art" / "kiln.db") as db:
        (moment,) = db.execute("SELECT min(started_at) FROM attempts").fetchone()
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}, {min(values):.3f}–{max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="runs of each kind")
    args = parser.parse_args()
    import kiln

    print(f"kiln from {Path(kiln.__file__).parent}; load average {os.getloadavg()[0]:.1f} at the start")
    to_first, work_cpu, noop_wall, noop_cpu, noop_starts = [], [], [], [], []
    with tempfile.TemporaryDirectory() as temp:
        for number in range(args.runs):
            folder = Path(temp) / f"project-{number}"
            starts = make_project(folder)
            started, _, cpu = kiln_run(folder)
            to_first.append(first_job(folder) - started)
            work_cpu.append(cpu)
            before = len(starts.read_text().splitlines())
            _, wall, cpu = kiln_run(folder)
            noop_wall.append(wall)
            noop_cpu.append(cpu)
            noop_starts.append(len(starts.read_text().splitlines()) - before)
            shutil.rmtree(folder)
    print("run  with work: start to first job, CPU  nothing to do: wall, CPU, engines started")
    for number in range(args.runs):
        print(f"{number + 1:>3}  {to_first[number]:>25.3f} {work_cpu[number]:>5.3f}"
              f"  {noop_wall[number]:>22.3f} {noop_cpu[number]:>5.3f} {noop_starts[number]:>2}")
    print(f"kiln run with work, {args.runs} runs of 4 images at 64x64, engine `kiln engine serve`")
    print(f"  start to first job  {spread(to_first)} s")
    print(f"  CPU, process tree   {spread(work_cpu)} s")
    print(f"kiln run with nothing to do, {args.runs} runs")
    print(f"  wall                {spread(noop_wall)} s")
    print(f"  CPU, process tree   {spread(noop_cpu)} s")
    print(f"  engine processes    {sum(noop_starts)} started in {args.runs} runs")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
