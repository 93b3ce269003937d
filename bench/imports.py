"""``kiln import`` benchmarks: ``python bench/imports.py`` (figures go into docs/benchmarks.md).

1. A library of N files (PNG with A1111 ``parameters``, PNG with ComfyUI ``prompt`` and
   ``workflow`` graphs, JPEG with an EXIF UserComment) through ``kiln import``: files per
   second, CPU per file, peak memory of kiln and its workers together. Then the same files
   through two shell pipelines, side by side: the folder pipeline (``img/`` → ``thumbs/`` and
   ``t2/``, ``yes/`` and ``no/``) scripted as its own SQLite migration plan writes it (its
   ``db-upsert-images`` registration, one ImageMagick call per derivative, its
   ``db-sync-artifacts`` logging of each), and a lean one (one ``convert`` and one ``sqlite3``
   per file).
2. The 300-image set (200 JPEG 1024×1024, 100 PNG 1024×1536): ``kiln import`` then
   ``kiln build`` from nothing to a browsable gallery, against sigal's full build of the same
   folder.

Each step runs as its own process, timed from outside; CPU is the user + system time of the
process and everything it started.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image
from treerss import PeakTreeRss

# The folder pipeline (img/ → thumbs/ and t2/, approvals in yes/ and no/) as its own plan for a
# SQLite store scripts it, its bash functions as that plan writes them: the schema it creates;
# `db-upsert-images` (sha256sum and stat of each file in 16 parallel runs, one sqlite3 transaction
# per 100 files, `approved` from a `yes/` twin); the originals hard-linked into art/upstream (its
# Phase 2); its two derivative folders made one ImageMagick call per derivative (thumbs/: 400 px
# thumbnails, t2/: 400 px web images); `db-sync-artifacts` for each (sha256sum, stat, identify and
# one sqlite3 call per artifact). Its blurhash step is a placeholder string in that plan and is
# left out.
FOLDER_PIPELINE = r"""
set -euo pipefail
src=$1; db=$2; art=$3; convert=$4
mkdir -p "$art/upstream" "$art/thumbnails-small" "$art/web-optimized"
sqlite3 "$db" <<'EOF'
CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, sha256 TEXT UNIQUE NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, approved BOOLEAN DEFAULT FALSE,
  width INTEGER, height INTEGER, file_size INTEGER, mime_type TEXT);
CREATE TABLE IF NOT EXISTS artifacts (id INTEGER PRIMARY KEY AUTOINCREMENT, image_id TEXT NOT NULL,
  stage TEXT NOT NULL, file_path TEXT NOT NULL, sha256 TEXT, width INTEGER, height INTEGER,
  file_size INTEGER, processing_params TEXT, UNIQUE(image_id, stage));
EOF
export src
db_upsert_images() {
  echo "BEGIN TRANSACTION;"
  printf '%s\0' "$@" | xargs -0 -P 16 -I{} bash -c 'f=$1; id=$(basename "$f" | cut -d. -f1)
    sha256=$(sha256sum "$src/$f" | cut -d" " -f1); size=$(stat -c%s "$src/$f")
    echo "INSERT OR REPLACE INTO images (id, sha256, file_size, approved) VALUES ('"'"'$id'"'"', '"'"'$sha256'"'"', $size, $(test -f "$src/yes/$f" && echo true || echo false));"' _ {}
  echo "COMMIT;"
}
export -f db_upsert_images
find "$src" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) -printf '%f\n' | sort \
  | xargs -d '\n' -n 100 bash -c 'db_upsert_images "$@" | sqlite3 "$0"' "$db"
db_log_artifact() {
  local image_id=$1 stage=$2 file_path=$3
  local sha256 size dimensions width height
  sha256=$(sha256sum "$file_path" | cut -d' ' -f1)
  size=$(stat -c%s "$file_path")
  dimensions=$(identify -format "%w %h" "$file_path" 2>/dev/null || echo "null null")
  width=$(echo $dimensions | cut -d' ' -f1)
  height=$(echo $dimensions | cut -d' ' -f2)
  sqlite3 "$db" "INSERT OR REPLACE INTO artifacts (image_id, stage, file_path, sha256, width, height, file_size)
    VALUES ('$image_id', '$stage', '$file_path', '$sha256', $width, $height, $size);"
}
find "$src" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' \) | sort | while read -r f; do
  name=$(basename "$f"); id=${name%.*}
  ln "$f" "$art/upstream/$name"
  "$convert" "$f" -thumbnail '400x400^' -gravity center -extent 400x400 "$art/thumbnails-small/$id.webp"
  "$convert" "$f" -resize '400x400>' -quality 80 "$art/web-optimized/$id.webp"
done
for stage in thumbnails-small web-optimized; do
  find "$art/$stage" -name '*.webp' | while read -r file; do
    db_log_artifact "$(basename "$file" | cut -d. -f1)" "$stage" "$file"
  done
done
"""

# The leanest pipeline of the kind: one thumbnail and one upsert per file.
LEAN_PIPELINE = r"""
set -euo pipefail
src=$1; db=$2; thumbs=$3; convert=$4
mkdir -p "$thumbs"
sqlite3 "$db" "CREATE TABLE IF NOT EXISTS images (sha256 TEXT PRIMARY KEY, path TEXT, bytes INTEGER,
  width INTEGER, height INTEGER, thumb TEXT)"
find "$src" -type f \( -name '*.png' -o -name '*.jpg' \) -print0 | sort -z | while IFS= read -r -d '' f; do
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  size=$(stat -c %s "$f")
  dims=$("$convert" "$f" -print '%w %h' -thumbnail '400x400^' -gravity center -extent 400x400 "$thumbs/$sum.webp")
  sqlite3 "$db" "INSERT INTO images VALUES ('$sum', '${f//\'/\'\'}', $size, ${dims% *}, ${dims#* }, '$sum.webp')
    ON CONFLICT(sha256) DO UPDATE SET path = excluded.path"
done
"""

A1111 = (
    "a lighthouse at dusk number {i}, oil painting\nNegative prompt: blurry, text\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: {i}, Size: {w}x{h}, Model: sd_xl_base_1.0"
)


def _comfy(i: int) -> tuple[str, str]:
    prompt = {
        "3": {"class_type": "KSampler", "inputs": {"seed": i, "steps": 20, "cfg": 4.0, "sampler_name": "euler",
                                                   "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": f"a koi pond number {i}, ink"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark"}},
    }
    workflow = {"last_node_id": 7, "nodes": [{"id": n, "type": node["class_type"]} for n, node in enumerate(prompt.values())]}
    return json.dumps(prompt), json.dumps(workflow)


def _picture(i: int, size: tuple[int, int]) -> Image.Image:
    """A picture with gradients and grain, so files are about as large as renders of the size."""
    base = Image.linear_gradient("L").resize(size).rotate(i * 37 % 360)
    grain = Image.effect_noise(size, 10)
    return Image.merge("RGB", (base, Image.blend(base, grain, 0.2), Image.blend(grain, base, 0.8)))


def _exif(text: str) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf-16-be")
    return exif.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_text(png: bytes, chunks: dict[str, str]) -> bytes:
    """``png`` with tEXt chunks added after its header, as the tools write them."""
    end = 8 + 25  # signature, then IHDR (13 bytes of data and 12 of length, type and checksum)
    text = b"".join(_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")) for key, value in chunks.items())
    return png[:end] + text + png[end:]


BASES = 64  # distinct pictures; every file differs from every other by its metadata at least


def write_library(folder: Path, files: int, side: int) -> None:
    """``files`` files: 40% PNG with A1111 parameters, 30% PNG with ComfyUI graphs, 30% JPEG with
    an EXIF UserComment. Pixels come from :data:`BASES` pictures, so writing 10,000 is quick."""
    pngs, pictures = [], []
    for b in range(BASES):
        picture = _picture(b, (side, side))
        buffer = io.BytesIO()
        picture.save(buffer, "PNG")
        pngs.append(buffer.getvalue())
        pictures.append(picture)
    for i in range(files):
        kind = i % 10
        if kind < 4:
            data = _with_text(pngs[i % BASES], {"parameters": A1111.format(i=i, w=side, h=side)})
            (folder / f"{i:05}.png").write_bytes(data)
        elif kind < 7:
            prompt, workflow = _comfy(i)
            (folder / f"ComfyUI_{i:05}_.png").write_bytes(_with_text(pngs[i % BASES], {"prompt": prompt, "workflow": workflow}))
        else:
            pictures[i % BASES].save(folder / f"{i:05}.jpg", quality=90, exif=_exif(A1111.format(i=i, w=side, h=side)))


def write_set(folder: Path) -> None:
    """200 JPEG at 1024×1024 and 100 PNG at 1024×1536, each file different."""
    squares = [_picture(b, (1024, 1024)) for b in range(16)]
    for i in range(200):
        squares[i % 16].save(folder / f"photo-{i:03}.jpg", quality=90, exif=_exif(f"photo {i}"))
    tall = []
    for b in range(16):
        buffer = io.BytesIO()
        _picture(b, (1024, 1536)).save(buffer, "PNG")
        tall.append(buffer.getvalue())
    for i in range(100):
        (folder / f"render-{i:03}.png").write_bytes(_with_text(tall[i % 16], {"Comment": f"render {i}"}))


class Measured:
    def __init__(self, seconds: float, cpu: float, peak_mb: float):
        self.seconds, self.cpu, self.peak_mb = seconds, cpu, peak_mb


def measure(argv: list[str], cwd: Path | None = None) -> Measured:
    """Run ``argv``; its wall time, the CPU time of it and its descendants, and its peak RSS
    summed over the process tree (sampled every 50 ms)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = PeakTreeRss(process.pid)
    _, errors = process.communicate()
    elapsed = time.perf_counter() - started
    peak_mb = sampler.stop()
    if process.returncode not in (0,):
        raise SystemExit(f"{argv[:3]} failed ({process.returncode}): {errors.decode(errors='replace')[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(elapsed, cpu, peak_mb)


def _project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "kiln.toml").write_text('[project]\ntitle = "bench"\n')
    return folder


def _kiln(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiln", *args]


def bench_library(files: int, shell_files: int, side: int, temp: Path, convert: str) -> None:
    library = temp / "library"
    library.mkdir()
    started = time.perf_counter()
    write_library(library, files, side)
    size = sum(path.stat().st_size for path in library.iterdir())
    print(f"library: {files:,} files at {side}x{side} (40% PNG A1111, 30% PNG ComfyUI, 30% JPEG EXIF),"
          f" {size / 1e6:,.0f} MB, written in {time.perf_counter() - started:.0f} s")
    project = _project(temp / "kiln-project")
    kiln = measure(_kiln("import", str(library), "-C", str(project)))
    again = measure(_kiln("import", str(library), "-C", str(project)))
    print(f"kiln import, {files:,} files, {os.cpu_count()} cores")
    print(f"  wall time           {kiln.seconds:.1f} s, {files / kiln.seconds:,.1f} files/s")
    print(f"  CPU                 {kiln.cpu:.1f} s, {1000 * kiln.cpu / files:.1f} ms per file")
    print(f"  peak RSS            {kiln.peak_mb:.0f} MB (kiln and its workers together)")
    print(f"  the same again      {again.seconds:.2f} s (nothing to do)")
    if not all(shutil.which(tool) for tool in (convert, "identify", "sqlite3")):
        print("  (the shell pipelines need ImageMagick's convert and identify, and sqlite3)")
        return
    sample = temp / "shell-sample"
    sample.mkdir()
    for path in sorted(library.iterdir())[:shell_files]:
        os.link(path, sample / path.name)
    per_file = kiln.seconds / files
    for name, pipeline, what in (
        ("folder", FOLDER_PIPELINE, "folder pipeline (registration, thumbs/ and t2/, artifact log)"),
        ("lean", LEAN_PIPELINE, "lean shell pipeline (one convert and one sqlite3 per file)"),
    ):
        script = temp / f"{name}.sh"
        script.write_text(pipeline)
        shell = measure(["bash", str(script), str(sample), str(temp / f"{name}.db"), str(temp / f"{name}-out"), convert])
        print(f"{what}, the first {shell_files:,} of the same files")
        print(f"  wall time           {shell.seconds:.1f} s, {shell_files / shell.seconds:,.1f} files/s")
        print(f"  CPU                 {shell.cpu:.1f} s, {1000 * shell.cpu / shell_files:.1f} ms per file")
        print(f"  kiln is             {shell.seconds / shell_files / per_file:.1f}x faster per file (wall),"
              f" {shell.cpu / shell_files / (kiln.cpu / files):.1f}x less CPU per file")


SIGAL_CONF = """
source = {source!r}
destination = {destination!r}
theme = "colorbox"
"""


def bench_set(temp: Path) -> None:
    folder = temp / "set"
    folder.mkdir()
    write_set(folder)
    project = _project(temp / "set-project")
    imported = measure(_kiln("import", str(folder), "-C", str(project)))
    built = measure(_kiln("build", "-C", str(project)))
    total = imported.seconds + built.seconds
    print("300-image set (200 JPEG 1024x1024, 100 PNG 1024x1536), from nothing to a gallery")
    print(f"  kiln import         {imported.seconds:.1f} s (CPU {imported.cpu:.1f} s, peak {imported.peak_mb:.0f} MB)")
    print(f"  kiln build          {built.seconds:.1f} s")
    print(f"  together            {total:.1f} s")
    sigal = shutil.which("sigal", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if sigal is None:
        print("  (sigal is not installed: `pip install -e '.[bench]'` adds the side-by-side figure)")
        return
    conf = temp / "sigal.conf.py"
    conf.write_text(SIGAL_CONF.format(source=str(folder), destination=str(temp / "sigal-out")))
    peer = measure([sigal, "build", "-q", "-c", str(conf)], cwd=temp)
    print(f"  sigal build         {peer.seconds:.1f} s (CPU {peer.cpu:.1f} s), {peer.seconds / total:.1f}x kiln's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="files in the mixed library")
    parser.add_argument("--shell-files", type=int, default=1_000,
                        help="of those, how many the shell pipelines take (they are slow; their cost per file is flat)")
    parser.add_argument("--side", type=int, default=512, help="the library's image size")
    parser.add_argument("--convert", default="convert", help="ImageMagick's convert, for the shell pipelines")
    parser.add_argument("--skip-library", action="store_true")
    parser.add_argument("--skip-set", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-import-") as temp:
        if not args.skip_library:
            bench_library(args.files, min(args.shell_files, args.files), args.side, Path(temp), args.convert)
        if not args.skip_set:
            bench_set(Path(temp))


if __name__ == "__main__":
    main()
