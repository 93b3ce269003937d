"""The 300-image set, from an empty project to a browsable gallery: kiln against sigal.

``python bench/vs_sigal.py`` makes the set (200 JPEG 1024x1024 and 100 PNG 1024x1536 pictures,
drawn reproducibly; kept in ``--set`` if given), then, side by side and ``--rounds`` times
interleaved:

* kiln: a fresh project whose two recipes use an engine that returns those files
  (bench/fixed_time.py ``ReplayEngine``), ``kiln run`` then ``kiln build``;
* sigal: a full ``sigal build`` of a fresh copy of the same two folders.

Each figure is the wall time and the CPU time (user + system, children included) of the
commands, run as processes as a user runs them. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

BENCH = Path(__file__).resolve().parent
SETS = (("jpeg", 200, (1024, 1024), "JPEG"), ("png", 100, (1024, 1536), "PNG"))


def draw(index: int, size: tuple[int, int]) -> Image.Image:
    """A soft picture of a few blurred shapes over a gradient, different for each index."""
    rnd = random.Random(index)
    width, height = size
    base = Image.merge("RGB", [Image.linear_gradient("L").rotate(rnd.choice((0, 90, 180, 270))).resize(size)
                               for _ in range(3)])
    layer = ImageDraw.Draw(base)
    for _ in range(12):
        x, y = rnd.randrange(width), rnd.randrange(height)
        r = rnd.randrange(width // 20, width // 4)
        layer.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rnd.randrange(256) for _ in range(3)))
    picture = base.filter(ImageFilter.GaussianBlur(6))
    grain = Image.effect_noise(size, 10).convert("RGB")
    return Image.blend(picture, grain, 0.08)


def make_set(folder: Path) -> None:
    """The set's files, unless ``folder`` already holds them."""
    for name, count, size, fmt in SETS:
        target = folder / name
        if target.is_dir() and len(list(target.iterdir())) == count:
            continue
        target.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            extension = "jpg" if fmt == "JPEG" else "png"
            options = {"quality": 90} if fmt == "JPEG" else {}
            draw(i + (1000 if fmt == "PNG" else 0), size).save(target / f"{i + 1:04d}.{extension}", fmt, **options)


def timed(commands: list[list[str]], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of running ``commands`` one after another."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, cwd=cwd, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def tool(name: str) -> str:
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        raise SystemExit(f"{name} is not installed: `pip install -e '.[bench]'`")
    return found


def kiln_round(photos: Path, work: Path) -> tuple[float, float]:
    project = work / "kiln"
    project.mkdir()
    engines = "".join(
        f'[engines.replay-{name}]\ntype = "fixed_time:ReplayEngine"\nfolder = "{photos / name}"\n\n'
        for name, *_ in SETS
    )
    (project / "kiln.toml").write_text('[project]\ntitle = "300 pictures"\n\n' + engines)
    (project / "recipes").mkdir()
    for name, count, (width, height), _ in SETS:
        (project / "recipes" / f"{name}.toml").write_text(textwrap.dedent(f"""\
            engine = "replay-{name}"
            model = "replay"
            prompt = "picture"
            size = "{width}x{height}"
            seeds = {list(range(1, count + 1))}
        """))
    env_path = os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = env_path  # the engine module lives in bench/
    kiln = tool("kiln")
    return timed([[kiln, "run", "-C", str(project)], [kiln, "build", "-C", str(project)]], project)


SIGAL_CONF = """
source = {source!r}
destination = {destination!r}
theme = "colorbox"
"""


def sigal_round(photos: Path, work: Path) -> tuple[float, float]:
    folder = work / "sigal"
    source = folder / "source"
    shutil.copytree(photos, source)
    (folder / "sigal.conf.py").write_text(SIGAL_CONF.format(source=str(source), destination=str(folder / "out")))
    return timed([[tool("sigal"), "build", "-q", "-c", str(folder / "sigal.conf.py")]], folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, help="keep the 300 pictures in this folder (made if missing)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        photos = args.set or Path(temp) / "set"
        make_set(photos)
        results: dict[str, list[tuple[float, float]]] = {"kiln": [], "sigal": []}
        for round_ in range(args.rounds):
            for name, run in (("kiln", kiln_round), ("sigal", sigal_round)):
                work = Path(temp) / f"{name}-{round_}"
                work.mkdir()
                results[name].append(run(photos, work))
                shutil.rmtree(work)
    print("300 pictures (200 JPEG 1024x1024, 100 PNG 1024x1536), empty project to browsable gallery")
    print(f"  medians of {args.rounds} interleaved rounds; CPU = user + system of every process")
    print(f"  {'':28} {'wall s':>8} {'CPU s':>8}")
    medians = {}
    for name, label in (("kiln", "kiln run + kiln build"), ("sigal", "sigal build")):
        wall = statistics.median(r[0] for r in results[name])
        cpu = statistics.median(r[1] for r in results[name])
        medians[name] = (wall, cpu)
        print(f"  {label:28} {wall:8.1f} {cpu:8.1f}   (runs: {', '.join(f'{w:.1f}/{c:.1f}' for w, c in results[name])})")
    (kw, kc), (sw, sc) = medians["kiln"], medians["sigal"]
    print(f"  {'kiln / sigal':28} {kw / sw:8.2f} {kc / sc:8.2f}")


if __name__ == "__main__":
    main()
