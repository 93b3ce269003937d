"""Space: the void, planets and their rings, galaxies."""

from __future__ import annotations

import math

import numpy as np

from kiln.engines.placeholder.canvas import WHITE, Canvas, colour_field, ramp
from kiln.engines.placeholder.colour import Palette, mix
from kiln.engines.placeholder.noise import fbm, noise1d, smoothstep, with_contrast


def paint_void(c: Canvas, pal: Palette) -> None:
    d = c.radius(c.w * 0.5, c.h * 0.5) / (c.unit * 0.9)
    c.rgb[:] = colour_field(mix(pal.sky, pal.far, 0.3), pal.sky * 0.6, np.clip(d, 0.0, 1.0))


def paint_planet(
    c: Canvas, pal: Palette, x: float, y: float, size: float, light: tuple[float, float], rings: bool
) -> None:
    """A lit sphere with banded clouds, a thin atmosphere and, sometimes, rings."""
    cx, cy, r = x * c.w, y * c.h, size * c.unit
    rng = c.streams("planet")
    tilt = float(rng.uniform(-0.35, 0.35))
    if rings:
        _paint_rings(c, pal, cx, cy, r, tilt, front=False)
    t, b, left, rr = c.box(cx, cy, r * 1.15)
    if b <= t or rr <= left:
        return
    dx, dy = (c.x[:, left:rr] - cx) / r, (c.y[t:b] - cy) / r
    d2 = dx * dx + dy * dy
    nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    lx, ly = light
    lz = math.sqrt(max(0.0, 1.0 - lx * lx - ly * ly))
    lambert = np.clip(dx * lx + dy * ly + nz * lz, 0.0, 1.0)
    latitude = dy * math.cos(tilt) - dx * math.sin(tilt)
    swirl = fbm(rng, rr - left, b - t, 3.0, c.octaves(2))
    bands = noise1d(rng, 256, 6.0, 3)[np.clip(((latitude + 1) * 127.5 + (swirl - 0.5) * 30).astype(np.int32), 0, 255)]
    surface = ramp(np.stack([pal.near, pal.far, pal.accent, pal.glow]), with_contrast(bands, 1.6))
    disc = np.clip((1.0 - np.sqrt(d2)) * r / 1.2 + 0.5, 0.0, 1.0)
    c.blend(disc, surface * (0.08 + 0.92 * lambert), t, left)
    atmosphere = np.exp(-np.abs(np.sqrt(d2) - 1.0) * r / (r * 0.04)) * np.clip(dx * lx + dy * ly + 0.3, 0.0, 1.0)
    c.screen(atmosphere * 0.8, mix(pal.glow, pal.accent, 0.3), t, left)
    if rings:
        _paint_rings(c, pal, cx, cy, r, tilt, front=True)


def _paint_rings(c: Canvas, pal: Palette, cx: float, cy: float, r: float, tilt: float, front: bool) -> None:
    t, b, left, rr = c.box(cx, cy, r * 2.3)
    dx, dy = c.x[:, left:rr] - cx, c.y[t:b] - cy
    u = (dx * math.cos(tilt) + dy * math.sin(tilt)) / (r * 2.2)
    v = (-dx * math.sin(tilt) + dy * math.cos(tilt)) / (r * 0.45)
    q = np.sqrt(u * u + v * v)
    grooves = noise1d(c.streams("rings"), 512, 40.0, 2)[np.clip((q * 255).astype(np.int32), 0, 511)]
    band = smoothstep(0.55, 0.6, q) * smoothstep(1.0, 0.95, q) * (0.4 + 0.6 * grooves)
    side = (v > 0) if front else (v <= 0)
    c.blend(band * side * 0.85, mix(pal.glow, pal.horizon, 0.4), t, left)


def paint_galaxy(c: Canvas, pal: Palette, x: float, y: float, size: float, arms: int) -> None:
    """A spiral galaxy seen at a slant: logarithmic arms of gas round a bright core."""
    cx, cy, r = x * c.w, y * c.h, size * c.unit
    t, b, left, rr = c.box(cx, cy, r * 1.6)
    rng = c.streams("galaxy")
    dx, dy = (c.x[:, left:rr] - cx) / r, (c.y[t:b] - cy) / (r * 0.55)
    dist = np.sqrt(dx * dx + dy * dy) + 1e-4
    angle = np.arctan2(dy, dx)
    spiral = 0.5 + 0.5 * np.cos(arms * (angle - 2.8 * np.log(dist)))
    clumps = with_contrast(fbm(rng, rr - left, b - t, 6.0, c.octaves(3)), 2.0)
    light = spiral**1.5 * np.exp(-dist * 1.2) * (0.5 + 1.1 * clumps) * 1.3 + np.exp(-dist * 6.0) * 1.5
    light = light * np.clip(1.0 - dist / 1.55, 0.0, 1.0) ** 2
    c.screen(light, colour_field(mix(pal.glow, WHITE, 0.4), pal.accent, np.clip(dist * 1.4, 0.0, 1.0)), t, left)
