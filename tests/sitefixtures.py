"""Catalogues for the site tests: a tmp project, store rows, and real image files.

Rows go straight into the store's tables, as the runner would leave them, and files are
written where the rows say. Pictures are small painted landscapes and bokeh fields so
screenshots look like a gallery; a handful of distinct pictures is drawn once per process and
reused, so a thousand images take about a second.

Run as a script for the 1,000-image timing check::

    python tests/sitefixtures.py 1000
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blurhash
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from kiln.project import Project, load_project
from kiln.store.db import Store, open_store

STAMP = "2025-03-14T09:26:53.000Z"
SIZES = [(640, 480), (480, 640), (560, 560), (720, 405)]
VARIANTS = 12

SUBJECTS = [
    "a lighthouse on a basalt cliff",
    "a quiet harbour town",
    "a glass greenhouse in the mountains",
    "an abandoned observatory",
    "a field of lavender",
    "a desert highway motel",
    "a fox in tall grass",
    "a tram crossing a bridge",
]
STYLES = [
    "at dusk, volumetric light, 35mm film",
    "in heavy fog, muted palette, medium format",
    "under a violet sky, long exposure",
    "golden hour, soft haze, shot on Portra 400",
]
PALETTES = [
    # sky top, sky bottom, sun, nearest hill
    ((24, 32, 74), (246, 154, 94), (255, 226, 160), (22, 18, 34)),
    ((12, 44, 66), (116, 188, 196), (240, 248, 232), (10, 34, 40)),
    ((58, 22, 70), (236, 108, 122), (255, 200, 150), (30, 12, 38)),
    ((30, 60, 110), (200, 220, 236), (255, 255, 240), (34, 52, 58)),
    ((70, 40, 20), (240, 190, 100), (255, 240, 190), (50, 26, 12)),
    ((14, 20, 30), (70, 96, 140), (210, 226, 255), (8, 10, 18)),
]


@dataclass(frozen=True)
class Picture:
    """One drawn picture in every form the art store keeps."""

    original: bytes
    size: tuple[int, int]
    thumb: bytes
    thumb_size: tuple[int, int]
    web: bytes
    web_size: tuple[int, int]
    blurhash: str


def _mix(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def _sky(size: tuple[int, int], top: tuple[int, ...], bottom: tuple[int, ...]) -> Image.Image:
    return ImageOps.colorize(Image.linear_gradient("L").resize(size), top, bottom).convert("RGB")


def _glow(size: tuple[int, int], x: float, y: float, radius: float, colour: tuple[int, ...]) -> Image.Image:
    """A soft halo around a point, as an RGBA layer."""
    layer = Image.new("RGBA", size)
    ImageDraw.Draw(layer).ellipse((x - radius, y - radius, x + radius, y + radius), fill=(*colour, 150))
    return layer.filter(ImageFilter.GaussianBlur(radius / 2))


def _landscape(rnd: random.Random, size: tuple[int, int], palette: tuple) -> Image.Image:
    top, bottom, sun, near = palette
    w, h = size
    sx, sy, radius = rnd.uniform(0.2, 0.8) * w, rnd.uniform(0.25, 0.45) * h, rnd.uniform(0.04, 0.08) * min(w, h)
    image = Image.alpha_composite(_sky(size, top, bottom).convert("RGBA"), _glow(size, sx, sy, radius * 4, sun))
    draw = ImageDraw.Draw(image)
    draw.ellipse((sx - radius, sy - radius, sx + radius, sy + radius), fill=(*sun, 255))
    layers = 4
    for layer in range(layers):
        colour = _mix(_mix(bottom, top, 0.4), near, (layer + 1) / layers)
        points = [(0, h)]
        x, y = 0.0, h * (0.5 + 0.12 * layer) - rnd.uniform(0, 0.1) * h
        while x < w:
            points.append((x, y))
            x += rnd.uniform(0.03, 0.1) * w
            y = min(h, max(h * 0.3, y + rnd.uniform(-0.08, 0.08) * h))
        points += [(w, y), (w, h)]
        draw.polygon(points, fill=(*colour, 255))
    return image.convert("RGB").filter(ImageFilter.GaussianBlur(0.6))


def _bokeh(rnd: random.Random, size: tuple[int, int], palette: tuple) -> Image.Image:
    top, bottom, sun, _ = palette
    image = _sky(size, top, _mix(top, bottom, 0.6)).convert("RGBA")
    for blur in (6, 2):
        layer = Image.new("RGBA", size)
        draw = ImageDraw.Draw(layer)
        for _ in range(18):
            r = rnd.uniform(0.03, 0.14) * min(size)
            x, y = rnd.uniform(0, size[0]), rnd.uniform(0, size[1])
            colour = _mix(bottom, sun, rnd.random())
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(*colour, rnd.randint(50, 150)))
        image = Image.alpha_composite(image, layer.filter(ImageFilter.GaussianBlur(blur)))
    return image.convert("RGB")


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@functools.lru_cache(maxsize=None)
def picture(variant: int) -> Picture:
    """Picture number ``variant``, drawn once per process."""
    rnd = random.Random(variant)
    size = SIZES[variant % len(SIZES)]
    palette = PALETTES[variant % len(PALETTES)]
    draw = _bokeh if variant % 3 == 2 else _landscape
    image = draw(rnd, size, palette)
    side = min(400, *size)
    thumb = ImageOps.fit(image, (side, side), Image.Resampling.LANCZOS)
    small = image.resize((32, 32), Image.Resampling.BOX)
    return Picture(
        original=_encode(image, "PNG", compress_level=1),
        size=size,
        thumb=_encode(thumb, "WEBP", quality=80, method=0),
        thumb_size=thumb.size,
        web=_encode(image, "WEBP", quality=85, method=0),
        web_size=size,
        blurhash=blurhash.encode(small, 4, 3),
    )


def make_project(root: Path, *, title: str = "Test", description: str = "", page_size: int | None = None) -> Project:
    """A project at ``root`` with a kiln.toml and nothing else."""
    lines = ["[project]", f"title = {json.dumps(title)}"]
    if description:
        lines.append(f"description = {json.dumps(description)}")
    if page_size is not None:
        lines += ["", "[site]", f"page_size = {page_size}"]
    (root / "kiln.toml").write_text("\n".join(lines) + "\n")
    return load_project(root)


def open_project_store(project: Project) -> Store:
    return open_store(project.db_path)


def add_recipe(
    store: Store, name: str, *, title: str | None = None, description: str = "", gallery: dict | None = None
) -> None:
    """Record a recipe, and write its file (default paths: art/kiln.db, recipes/), which a
    recipe the gallery shows must have: without it, the recipe is archived."""
    recipes = store.path.parent.parent / "recipes"
    recipes.mkdir(exist_ok=True)
    (recipes / f"{name}.toml").write_text(f'prompt = "{name}"\n')
    store.db["recipes"].insert(
        {
            "name": name,
            "path": f"recipes/{name}.toml",
            "title": title or name.replace("-", " ").title(),
            "description": description,
            "source_sha256": "0" * 64,
            "job_count": 0,
            "gallery": json.dumps(gallery or {}),
            "updated_at": STAMP,
        }
    )


def image_id(recipe: str, index: int) -> str:
    return hashlib.sha256(f"{recipe}/{index}".encode()).hexdigest()[:16]


def add_images(project: Project, store: Store, recipe: str, count: int, *, start: int = 0, **overrides: Any) -> list[str]:
    """Add ``count`` generated images to ``recipe`` (positions from ``start``), writing their
    files; returns their ids. ``overrides`` set image columns on every row."""
    art = project.art_dir
    for stage in ("original", "thumb", "web"):
        (art / stage).mkdir(parents=True, exist_ok=True)
    jobs, links, images, derivatives = [], [], [], []
    ids = []
    for index in range(start, start + count):
        ident = image_id(recipe, index)
        key = hashlib.sha256(f"job/{recipe}/{index}".encode()).hexdigest()
        pic = picture((index + sum(recipe.encode())) % VARIANTS)
        prompt = f"{SUBJECTS[index % len(SUBJECTS)]}, {STYLES[(index // len(SUBJECTS)) % len(STYLES)]}"
        seed = 1000 + index % 4
        (art / "original" / f"{ident}.png").write_bytes(pic.original)
        (art / "thumb" / f"{ident}.webp").write_bytes(pic.thumb)
        (art / "web" / f"{ident}.webp").write_bytes(pic.web)
        jobs.append(
            {
                "key": key,
                "spec": json.dumps({"engine": "placeholder", "model": "placeholder-v1", "prompt": prompt}),
                "recipe": recipe,
                "engine": "placeholder",
                "model": "placeholder-v1",
                "status": "succeeded",
                "queued_at": STAMP,
                "image_id": ident,
            }
        )
        links.append({"recipe": recipe, "job_key": key, "position": index, "axes": json.dumps({"prompt": prompt, "seed": seed})})
        images.append(
            {
                "id": ident,
                "path": f"original/{ident}.png",
                "width": pic.size[0],
                "height": pic.size[1],
                "bytes": len(pic.original),
                "sha256": hashlib.sha256(pic.original).hexdigest(),
                "format": "png",
                "job_key": key,
                "recipe": recipe,
                "prompt": prompt,
                "negative_prompt": "blurry, text, watermark",
                "model": "placeholder-v1",
                "engine": "placeholder",
                "seed": seed,
                "steps": 20,
                "guidance": 7.0,
                "sampler": "euler_a",
                "params": json.dumps({"engine_type": "placeholder", "procedural": True}),
                "timings": json.dumps({"conditioning": 12.5, "sampling": 840.0, "stages": 55.0, "total": 910.2}),
                "created_at": f"2025-03-14T09:{index // 60 % 60:02d}:{index % 60:02d}.000Z",
                "rating": index % 6,
                "status": "selected" if index % 7 == 3 else "rejected" if index % 11 == 5 else None,
                "tags": json.dumps(["test"] if index % 5 == 0 else []),
                "notes": "",
                "blurhash": pic.blurhash,
                **overrides,
            }
        )
        for stage, size, data in (("thumb", pic.thumb_size, pic.thumb), ("web", pic.web_size, pic.web)):
            derivatives.append(
                {
                    "image_id": ident,
                    "stage": stage,
                    "path": f"{stage}/{ident}.webp",
                    "width": size[0],
                    "height": size[1],
                    "bytes": len(data),
                    "format": "webp",
                    "created_at": STAMP,
                }
            )
        ids.append(ident)
    with store.transaction() as db:
        db["jobs"].insert_all(jobs)
        db["recipe_jobs"].insert_all(links)
        db["images"].insert_all(images)
        db["derivatives"].insert_all(derivatives)
    return ids


def add_pending(store: Store, recipe: str, count: int, *, start: int = 0) -> None:
    """Jobs planned for ``recipe`` that have no image yet."""
    with store.transaction() as db:
        for index in range(start, start + count):
            key = hashlib.sha256(f"pending/{recipe}/{index}".encode()).hexdigest()
            db["jobs"].insert(
                {"key": key, "spec": "{}", "recipe": recipe, "engine": "placeholder", "model": "placeholder-v1",
                 "status": "queued", "queued_at": STAMP}
            )
            db["recipe_jobs"].insert({"recipe": recipe, "job_key": key, "position": index, "axes": "{}"})


def demo(root: Path, images: int) -> tuple[Project, Store]:
    """A project with a few recipes sharing ``images`` images, one recipe still empty."""
    project = make_project(
        root,
        title="Kiln Studio",
        description="Studies in light and weather, generated from **TOML recipes**.",
    )
    store = open_project_store(project)
    recipes = [
        ("coastal-dusk", "Coastal dusk", "Harbours and headlands as the light goes. *Warm* palettes only.\n\nSecond paragraph with detail."),
        ("fog-studies", "Fog studies", "Low contrast, long lenses, and a lot of grey."),
        ("night-trams", "Night trams", "Public transport after midnight, in sodium light."),
    ]
    per = images // len(recipes)
    for n, (name, title, text) in enumerate(recipes):
        add_recipe(store, name, title=title, description=text)
        add_images(project, store, name, per + (images - per * len(recipes) if n == 0 else 0))
    add_recipe(store, "winter-markets", title="Winter markets", description="Stalls, steam and strings of lights.")
    add_pending(store, "winter-markets", 8)
    return project, store


def _build(root: Path) -> None:
    from kiln.site import build_site

    started = time.perf_counter()
    project = load_project(root)
    report = build_site(project, open_project_store(project))
    print(f"{report}  ({time.perf_counter() - started:.2f} s in a fresh process, imports excluded)")


def main(argv: list[str]) -> None:
    if argv[1:2] == ["--build"]:
        _build(Path(argv[2]))
        return
    count = int(argv[1]) if len(argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        demo(Path(tmp), count)[1].close()
        print(f"catalogue of {count} images made in {time.perf_counter() - started:.2f} s")
        for label in ("full build:   ", "no-op rebuild:"):
            print(label, end=" ", flush=True)
            subprocess.run([sys.executable, __file__, "--build", tmp], check=True)


if __name__ == "__main__":
    main(sys.argv)
