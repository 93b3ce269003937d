"""Styles: how a picture is rendered (oil, watercolour, ink, etching, chalk, noir, vaporwave,
halftone, mosaic, illustration, film) and the final colour grade.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from kiln.engines.placeholder.canvas import WHITE, Canvas, col, colour_field
from kiln.engines.placeholder.colour import Palette, luma, mix
from kiln.engines.placeholder.noise import (
    blur,
    fbm,
    resize_field,
    sample,
    smoothstep,
    with_contrast,
)

_PAPER = np.array([0.96, 0.93, 0.86], np.float32)
_INK = np.array([0.1, 0.09, 0.1], np.float32)


def _paint_oil(c: Canvas, pal: Palette) -> None:
    """Oil paint: detail simplified into dabs of colour (a Kuwahara filter) that vary a
    little in tone, on the weave of the canvas."""
    rng = c.streams("oil")
    c.rgb[:] = _kuwahara(c.rgb, max(2, int(c.unit * 0.008)))
    c.rgb *= 0.96 + 0.08 * _kuwahara(fbm(rng, c.w, c.h, 40.0, 2)[None].repeat(3, axis=0), 2)[0]
    weave = max(2.0, c.unit * 0.004)
    c.rgb *= 0.97 + 0.03 * np.sin(c.x * (math.pi / weave)) * np.sin(c.y * (math.pi / weave))


def _kuwahara(rgb: np.ndarray, k: int) -> np.ndarray:
    """Each pixel takes the mean colour of its four k x k neighbourhoods, the most uniform
    counting most: edges stay, texture turns into flat dabs of paint."""
    lum = luma(rgb)
    stack = np.concatenate([rgb, lum[None], (lum * lum)[None]])
    padded = np.pad(stack, ((0, 0), (k, k), (k, k)), mode="edge")
    sums = np.pad(padded.cumsum(axis=1).cumsum(axis=2), ((0, 0), (1, 0), (1, 0)))
    # window[:, y, x] is the mean of padded[:, y:y+k+1, x:x+k+1].
    window = (
        sums[:, k + 1 :, k + 1 :]
        - sums[:, : -k - 1, k + 1 :]
        - sums[:, k + 1 :, : -k - 1]
        + sums[:, : -k - 1, : -k - 1]
    ) / (k + 1) ** 2
    h, w = rgb.shape[1:]
    quadrants = [window[:, dy : dy + h, dx : dx + w] for dy in (0, k) for dx in (0, k)]
    # Weighting the quadrants by how uniform they are, rather than picking the most uniform
    # one, avoids the blocky steps of the classic filter along smooth edges.
    weights = [1.0 / (np.maximum(q[4] - q[3] * q[3], 0.0) + 4e-3) for q in quadrants]
    total = sum(weights)
    return sum(q[:3] * (wt / total) for q, wt in zip(quadrants, weights, strict=True))


def _paint_watercolor(c: Canvas, pal: Palette) -> None:
    """Watercolour: colours bleed and soften, pigment pools at the edges of washes and
    settles unevenly, and the paper shows through."""
    rng = c.streams("watercolor")
    bleed = c.unit * 0.015
    dx, dy = (fbm(rng, c.w, c.h, 5.0, 3) - 0.5) * bleed, (fbm(rng, c.w, c.h, 5.0, 3) - 0.5) * bleed
    soft = blur(sample(c.rgb, c.y + dy, c.x + dx), c.unit * 0.006)
    pigment = np.clip(1.0 - soft / col(_PAPER), 0.0, 1.0)
    edges = np.abs(soft - blur(soft, c.unit * 0.025)).sum(axis=0)
    density = 0.72 + 0.4 * with_contrast(fbm(rng, c.w, c.h, 3.0, c.octaves(3)), 1.6) + np.clip(edges * 2.5, 0.0, 0.5)
    granules = 0.92 + 0.14 * c.texture()
    c.rgb[:] = col(_PAPER) * (1.0 - np.clip(pigment * density * granules, 0.0, 1.0))


def _paint_ink(c: Canvas, pal: Palette) -> None:
    """Ink wash (sumi-e): the picture's tones laid in as a few grey washes on paper, each
    with a wobbly wet edge where the pigment pools, and a hint of the original colour."""
    rng = c.streams("ink")
    tone = 1.0 - _levels(blur(luma(c.rgb), c.unit * 0.004))
    wobble = (fbm(rng, c.w, c.h, 8.0, c.octaves(2)) - 0.5) * 0.12
    amount = np.zeros((c.h, c.w), np.float32)
    for threshold, strength in ((0.22, 0.28), (0.5, 0.3), (0.78, 0.32)):
        wash = smoothstep(threshold - 0.03, threshold + 0.03, tone + wobble)
        pooled = np.clip((wash - blur(wash, c.unit * 0.008)) * 2.0, 0.0, 1.0)
        amount += strength * wash + 0.3 * pooled
    amount *= 0.85 + 0.3 * c.texture()
    tint = col(_PAPER) * (1.0 - 0.25 * (1.0 - blur(c.rgb, c.unit * 0.01)))
    c.rgb[:] = tint + (col(_INK) - tint) * np.clip(amount, 0.0, 1.0)


def _paint_etching(c: Canvas, pal: Palette) -> None:
    """Pen and ink: the picture's broad tones become cross-hatching over a pale wash of its
    colours, with outlines where tones meet."""
    rng = c.streams("etching")
    tone = np.clip((1.0 - _levels(blur(luma(c.rgb), c.unit * 0.006))) * 0.95 - 0.1, 0.0, 1.0)
    period = max(3.0, c.unit * 0.009)
    wobble = (fbm(rng, c.w, c.h, 10.0, 2) - 0.5) * period
    ink = np.zeros((c.h, c.w), np.float32)
    for direction, start in (((1.0, 1.0), 0.1), ((1.0, -1.0), 0.45), ((0.0, 1.0), 0.75)):
        coord = (c.x * direction[0] + c.y * direction[1]) / math.hypot(*direction) + wobble
        distance = np.abs((coord / period) % 1.0 - 0.5) * period
        width = np.clip((tone - start) / (1.0 - start), 0.0, 1.0) * period * 0.45
        ink = np.maximum(ink, np.clip(width - distance + 0.5, 0.0, 1.0) * (tone > start))
    ink = np.maximum(ink, _edges(c, 0.25, softness=0.008))
    wash = col(_PAPER) * (1.0 - 0.45 * (1.0 - blur(c.rgb, c.unit * 0.01)))
    c.rgb[:] = wash + (col(_INK) - wash) * ink


def _edges(c: Canvas, threshold: float, softness: float = 0.004) -> np.ndarray:
    """Outlines where the picture's luminance changes sharply; ``softness`` (of the
    shorter side) sets how small a feature still gets one."""
    lum = blur(luma(c.rgb), max(1.5, c.unit * softness))
    gy, gx = np.gradient(lum)
    return np.clip((np.hypot(gx, gy) * c.unit * 0.05 - threshold) * 3.0, 0.0, 1.0)


def _paint_chalk(c: Canvas, pal: Palette) -> None:
    """Chalk on a dark board: pastel colour laid down in strokes that change direction
    from patch to patch, broken up by the grain of the board."""
    rng = c.streams("chalk")
    board = np.array([0.16, 0.18, 0.18], np.float32) * 0.7 + pal.near * 0.3
    level = _levels(luma(c.rgb)) ** 0.7
    wobble = fbm(rng, c.w, c.h, 5.0, 2) * 6.0
    period = max(3.0, c.unit * 0.011)
    one = np.sin((c.x * 0.8 + c.y * 0.6) / period * 2.0 * math.pi + wobble)
    other = np.sin((c.x * 0.3 - c.y * 0.95) / period * 2.0 * math.pi + wobble)
    which = smoothstep(0.45, 0.55, fbm(rng, c.w, c.h, 3.0, 2))
    streaks = 0.5 + 0.5 * (one + (other - one) * which)
    grain = 0.4 * streaks + 0.6 * c.texture()
    cover = smoothstep(0.0, 0.25, level * 1.15 - grain * 0.6 + 0.08)
    chalk = np.clip(0.3 + c.rgb * 0.9, 0.0, 1.0)
    chalk = luma(chalk) + (chalk - luma(chalk)) * 1.3
    c.rgb[:] = col(board) + (chalk - col(board)) * cover
    c.screen(blur(cover, c.unit * 0.015) * 0.12, WHITE)


def _levels(lum: np.ndarray) -> np.ndarray:
    """Luminance stretched to fill 0..1 (ignoring the extreme few percent) with its median
    moved to mid-grey, so a style that works from tone reads as well on a night scene as
    on a bright one."""
    low, median, high = np.percentile(lum[::4, ::4], [3, 50, 98])
    level = np.clip((lum - float(low)) / max(float(high - low), 0.05), 0.0, 1.0)
    middle = min(max((float(median) - float(low)) / max(float(high - low), 0.05), 0.05), 0.95)
    return level ** (math.log(0.5) / math.log(middle))


def _paint_noir(c: Canvas, pal: Palette) -> None:
    lum = smoothstep(0.04, 0.92, luma(c.rgb))
    c.rgb[:] = lum * col(np.array([0.98, 0.99, 1.02], np.float32))


def _paint_vaporwave(c: Canvas, pal: Palette) -> None:
    """A VHS look: colour channels out of register and scanlines."""
    shift = max(1, int(c.unit * 0.004))
    c.rgb[0] = np.roll(c.rgb[0], shift, axis=1)
    c.rgb[2] = np.roll(c.rgb[2], -shift, axis=1)
    c.rgb *= 1.0 - 0.12 * ((c.y // max(1, int(c.unit * 0.004))) % 2)


def _paint_halftone(c: Canvas, pal: Palette) -> None:
    """Pop-art print: a few flat inks, a screen of dots in the shadows, bold outlines."""
    tone = 1.0 - luma(c.rgb)
    outline = _edges(c, 0.2)
    pixels = Image.fromarray((np.clip(c.rgb, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
    flat = pixels.quantize(6, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    c.rgb[:] = np.asarray(flat, np.float32).transpose(2, 0, 1) / 255.0
    c.rgb[:] = luma(c.rgb) + (c.rgb - luma(c.rgb)) * 1.25
    cell = max(4.0, c.unit * 0.014)
    u, v = (c.x + c.y) / math.sqrt(2) / cell, (c.x - c.y) / math.sqrt(2) / cell
    dist = np.hypot(u % 1.0 - 0.5, v % 1.0 - 0.5) * cell
    dots = np.clip(np.sqrt(np.clip(tone - 0.3, 0.0, 1.0)) * cell * 0.75 - dist + 0.5, 0.0, 1.0)
    c.blend(np.maximum(dots * 0.75, outline), mix(pal.near, _INK, 0.6))


def _paint_mosaic(c: Canvas, pal: Palette) -> None:
    """Tiles: each Voronoi cell takes the colour at its seed, set in dark grout. Cells are
    found at half resolution; the grout hides the softer edges."""
    rng = c.streams("mosaic")
    hw, hh = max(2, c.w // 2), max(2, c.h // 2)
    cell = c.unit / 2 / 36.0
    cols, rows = int(hw / cell) + 3, int(hh / cell) + 3
    jitter = rng.random((2, rows, cols)).astype(np.float32)
    gx = np.arange(hw, dtype=np.float32)[None, :] / cell
    gy = np.arange(hh, dtype=np.float32)[:, None] / cell
    ix, iy = gx.astype(np.int32), gy.astype(np.int32)
    seeds_x, seeds_y, dists = [], [], []
    for oy in (-1, 0, 1):
        cy = np.clip(iy + oy, 0, rows - 1)
        for ox in (-1, 0, 1):
            cx = np.clip(ix + ox, 0, cols - 1)
            px, py = cx + jitter[0][cy, cx], cy + jitter[1][cy, cx]
            seeds_x.append(px)
            seeds_y.append(py)
            dists.append((gx - px) ** 2 + (gy - py) ** 2)
    d = np.stack(dists)
    nearest = np.argmin(d, axis=0)[None]
    best, second = np.partition(d, 1, axis=0)[:2]
    seed_x = np.take_along_axis(np.stack(seeds_x), nearest, axis=0)[0] * cell * 2
    seed_y = np.take_along_axis(np.stack(seeds_y), nearest, axis=0)[0] * cell * 2
    at = np.clip(seed_y.astype(np.int32), 0, c.h - 1) * c.w + np.clip(seed_x.astype(np.int32), 0, c.w - 1)
    tiles = np.take(c.rgb.reshape(3, -1), at, axis=-1) * (0.92 + 0.16 * np.take(c.texture().reshape(-1), at))
    tiles = np.stack([resize_field(channel, c.w, c.h, Image.NEAREST) for channel in tiles])
    tiles = np.clip(luma(tiles) + (tiles - luma(tiles)) * 1.3, 0.0, 1.0)
    grout = smoothstep(0.0, 0.12, resize_field(np.sqrt(second) - np.sqrt(best), c.w, c.h, Image.BILINEAR))
    dark = col(mix(pal.near, _INK, 0.5))
    c.rgb[:] = dark + (tiles - dark) * grout


def _paint_illustration(c: Canvas, pal: Palette) -> None:
    """A printed illustration: slightly flattened colour, inked outlines, paper grain."""
    flat = np.round(c.rgb * 6.0) / 6.0
    c.rgb[:] = c.rgb * 0.5 + flat * 0.5
    c.blend(_edges(c, 0.35) * 0.85, mix(pal.near, _INK, 0.6))
    c.rgb *= 0.95 + 0.07 * c.texture()


def _paint_film(c: Canvas, pal: Palette) -> None:
    """Film: lifted blacks, warm highlights over teal shadows, halation round the lights."""
    lum = luma(c.rgb)
    tint = colour_field(np.array([0.0, 0.04, 0.05], np.float32), np.array([0.05, 0.02, -0.03], np.float32), lum)
    c.rgb[:] = np.clip(0.06 + c.rgb * 0.9 + tint, 0.0, 1.0)
    c.screen(blur(np.clip(lum - 0.72, 0.0, 1.0), c.unit * 0.02) * 1.6, np.array([1.0, 0.45, 0.25], np.float32))


STYLE_PAINTERS: dict[str, Callable[[Canvas, Palette], None]] = {
    "mosaic": _paint_mosaic,
    "oil": _paint_oil,
    "watercolor": _paint_watercolor,
    "chalk": _paint_chalk,
    "ink": _paint_ink,
    "etching": _paint_etching,
    "halftone": _paint_halftone,
    "illustration": _paint_illustration,
    "noir": _paint_noir,
    "film": _paint_film,
    "vaporwave": _paint_vaporwave,
}


def paint_grade(c: Canvas, saturation: float, contrast: float, vignette: float) -> None:
    """Guidance-driven saturation and contrast, and a vignette to hold the eye in."""
    lum = luma(c.rgb)
    mid = float(lum.mean())
    c.rgb[:] = np.clip((lum + (c.rgb - lum) * saturation - mid) * contrast + mid, 0.0, 1.0)
    if vignette:
        r2 = ((c.x - c.w / 2) / (c.w / 2)) ** 2 * 0.6 + ((c.y - c.h / 2) / (c.h / 2)) ** 2 * 0.6
        c.rgb *= 1.0 - vignette * np.clip(r2, 0.0, 1.5) ** 1.3
