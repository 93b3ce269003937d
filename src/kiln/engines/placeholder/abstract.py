"""Abstract geometry: a Bauhaus grid of motifs."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from kiln.engines.placeholder.canvas import WHITE, Canvas
from kiln.engines.placeholder.colour import Palette, luma, mix, rgb255

_Box = tuple[float, float, float, float]


def _draw_disc(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    inset = (x1 - x0) * 0.1
    d.ellipse([x0 + inset, y0 + inset, x1 - inset, y1 - inset], fill=ink)


def _draw_half(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    start = 90 * int(rng.integers(4))
    d.pieslice(list(box), start, start + 180, fill=ink)


def _draw_quarter(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    s = x1 - x0
    corner = int(rng.integers(4))
    cx, cy = (x0, x1)[corner % 2], (y0, y1)[corner // 2]
    start = (0, 90, 270, 180)[corner]
    d.pieslice([cx - s, cy - s, cx + s, cy + s], start, start + 90, fill=ink)


def _draw_stripes(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    n = int(rng.integers(3, 7))
    step = (x1 - x0) / (2 * n)
    for i in range(n):
        if rng.random() < 0.5:
            d.rectangle([x0, y0 + (2 * i + 0.5) * step, x1, y0 + (2 * i + 1.5) * step], fill=ink)
        else:
            d.rectangle([x0 + (2 * i + 0.5) * step, y0, x0 + (2 * i + 1.5) * step, y1], fill=ink)


def _draw_triangle(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    skip = int(rng.integers(4))
    d.polygon([p for i, p in enumerate(corners) if i != skip], fill=ink)


def _draw_rings(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    s = x1 - x0
    for k in range(int(rng.integers(1, 4))):
        inset = s * (0.1 + 0.13 * k)
        d.ellipse([x0 + inset, y0 + inset, x1 - inset, y1 - inset], outline=ink, width=max(1, int(s * 0.05)))


def _draw_block(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    d.rectangle(list(box), fill=ink)


def _draw_dots(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, _ = box
    s = (x1 - x0) / 3
    for i in range(3):
        for j in range(3):
            cx, cy, r = x0 + (i + 0.5) * s, y0 + (j + 0.5) * s, s * 0.18
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)


_MOTIFS = (_draw_disc, _draw_half, _draw_quarter, _draw_stripes, _draw_triangle, _draw_rings, _draw_block, _draw_dots)
_MOTIF_WEIGHTS = np.array([3, 4, 4, 2, 2, 2, 1, 1], np.float64)


def paint_bauhaus(c: Canvas, pal: Palette) -> None:
    """A Bauhaus poster: a grid of cells, each with a bold flat shape, over a few large
    shapes that span the grid."""
    rng = c.streams("bauhaus")
    ss = 2
    paper = mix(pal.horizon, WHITE, 0.5) if not pal.is_dark else mix(pal.near, pal.sky, 0.5)
    inks = [
        rgb255(k)
        for k in (pal.accent, pal.sky, pal.glow, pal.near, pal.far)
        if abs(float(luma(k) - luma(paper))) > 0.12
    ]
    inks = inks or [rgb255(pal.near), rgb255(pal.accent)]
    image = Image.new("RGB", (c.w * ss, c.h * ss), rgb255(paper))
    d = ImageDraw.Draw(image)
    cell = c.unit * ss / int(rng.choice([2, 3, 3, 4]))
    cols, rows = math.ceil(c.w * ss / cell), math.ceil(c.h * ss / cell)
    ox, oy = (c.w * ss - cols * cell) / 2, (c.h * ss - rows * cell) / 2

    def ink() -> tuple[int, ...]:
        return inks[int(rng.integers(len(inks)))]

    big = cell * float(rng.uniform(1.2, 2.2))
    bx, by = ox + cell * float(rng.uniform(0.5, cols - 0.5)), oy + cell * float(rng.uniform(0.5, rows - 0.5))
    d.ellipse([bx - big, by - big, bx + big, by + big], fill=ink())
    for i in range(cols):
        for j in range(rows):
            if rng.random() < 0.12:
                continue
            box = (ox + i * cell, oy + j * cell, ox + (i + 1) * cell, oy + (j + 1) * cell)
            motif = _MOTIFS[int(rng.choice(len(_MOTIFS), p=_MOTIF_WEIGHTS / _MOTIF_WEIGHTS.sum()))]
            motif(d, box, ink(), rng)
    if rng.random() < 0.6:
        y = oy + cell * float(rng.uniform(0.3, rows - 0.3))
        d.line([0, y - cell * 0.6, c.w * ss, y + cell * 0.6], fill=ink(), width=max(2, int(cell * 0.06)))
    c.rgb[:] = np.asarray(image.reduce(ss), np.float32).transpose(2, 0, 1) / 255.0
    c.rgb *= 0.97 + 0.04 * c.texture()
