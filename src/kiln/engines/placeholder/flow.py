"""Flow: marbling and streamlines."""

from __future__ import annotations

import math

import numpy as np

from kiln.engines.placeholder.canvas import WHITE, Canvas, colour_field, ramp
from kiln.engines.placeholder.colour import Palette, mix
from kiln.engines.placeholder.noise import (
    blur,
    fbm,
    smoothstep,
    warped_noise,
    with_contrast,
)


def paint_marble(c: Canvas, pal: Palette) -> None:
    """Marbled paper: bands of the palette combed through a twice-folded noise, with fine
    light veins where the bands meet."""
    rng = c.streams("marble")
    folded = warped_noise(rng, c.w, c.h, 1.6, c.octaves(3), 0.5, folds=2)
    t = with_contrast(folded, 2.0) * 3.0 + (c.x + c.y) / c.unit * 0.8
    stops = np.stack([pal.near, pal.sky, pal.accent, pal.horizon, pal.far, pal.glow])
    stops = stops + (np.array([0.95, 0.93, 0.88], np.float32) - stops) * 0.2
    band = np.floor(t).astype(np.int32)
    f = t - band
    columns = stops.T.astype(np.float32)
    here, after = columns[:, band % len(stops)], columns[:, (band + 1) % len(stops)]
    c.rgb[:] = here + (after - here) * smoothstep(0.15, 0.85, f)
    c.rgb *= 0.94 + 0.12 * fbm(rng, c.w, c.h, 5.0, c.octaves(2))
    c.screen(np.exp(-np.minimum(f, 1.0 - f) * 40.0) * 0.6, mix(pal.glow, WHITE, 0.5))


def paint_streamlines(c: Canvas, pal: Palette) -> None:
    """Silk: thousands of threads drawn along a smooth flow field."""
    rng = c.streams("streamlines")
    angle = fbm(rng, c.w, c.h, 1.3, 3) * (4.0 * math.pi)
    c.rgb[:] = colour_field(pal.near, mix(pal.sky, pal.near, 0.3), c.y / c.h)
    count = int(c.w * c.h / c.unit**2 * (1200 + 1500 * c.detail))
    xs, ys = rng.random(count) * c.w, rng.random(count) * c.h
    tone = rng.random(count).astype(np.float32)
    hits, tones = [], []
    for _ in range(int(c.unit * 0.3)):
        ix, iy = xs.astype(np.int64), ys.astype(np.int64)
        inside = (ix >= 0) & (ix < c.w) & (iy >= 0) & (iy < c.h)
        ix, iy = ix[inside], iy[inside]
        hits.append(iy * c.w + ix)
        tones.append(tone[inside])
        a = angle[iy, ix]
        xs, ys, tone = xs[inside] + np.cos(a), ys[inside] + np.sin(a), tone[inside]
        if not xs.size:
            break
    index, weight = np.concatenate(hits), np.concatenate(tones)
    density = np.bincount(index, minlength=c.w * c.h).reshape(c.h, c.w).astype(np.float32)
    shade = np.bincount(index, weights=weight, minlength=c.w * c.h).reshape(c.h, c.w).astype(np.float32)
    shade = blur(shade, 1.5) / np.maximum(blur(density, 1.5), 1e-3)
    cover = 1.0 - np.exp(-blur(density, 1.2) * 0.9)
    c.blend(cover, ramp(np.stack([pal.sky, pal.far, pal.accent, pal.horizon, pal.glow]), shade))
