"""Skies: gradients, sun and moon, clouds, stars, nebulae and aurora."""

from __future__ import annotations

import numpy as np

from kiln.engines.placeholder.canvas import WHITE, Canvas, col, colour_field, ramp
from kiln.engines.placeholder.colour import Color, Palette, mix
from kiln.engines.placeholder.noise import (
    blur,
    fbm,
    noise1d,
    smoothstep,
    warped_noise,
    with_contrast,
)


def paint_sky(c: Canvas, pal: Palette) -> None:
    t = np.clip(c.y / max(c.horizon, 1.0), 0.0, 1.0) ** 1.5
    c.rgb[:] = colour_field(pal.sky, pal.horizon, t)
    # A faint large-scale unevenness keeps a big sky from looking like a CSS gradient.
    c.rgb *= 0.93 + 0.14 * fbm(c.streams("sky"), c.w, c.h, 1.2, 3)


def paint_sun(c: Canvas, pal: Palette, x: float, height: float, size: float, kind: str) -> None:
    """A sun, a moon or a striped synthwave sun, with its halo. ``height`` is the fraction
    of the way from the horizon to the top of the frame."""
    cx, cy = x * c.w, c.horizon * (1.0 - height)
    r = size * c.unit
    d = c.radius(cx, cy)
    if kind == "moon":
        c.screen(np.exp(-d / (r * 1.6)) * 0.4 + np.exp(-d / (r * 6)) * 0.15, mix(pal.glow, pal.horizon, 0.3))
        top, bottom, left, right = c.box(cx, cy, r + 2)
        face = fbm(c.streams("moon"), right - left, bottom - top, 2.5, 3) if bottom > top and right > left else 0.5
        disc = np.clip(r - d[top:bottom, left:right] + 0.5, 0.0, 1.0)
        c.blend(disc, col(mix(pal.glow, WHITE, 0.45)) * (0.8 + 0.3 * face), top, left)
        return
    halo = np.exp(-d / (r * 2.4)) * 0.5 + np.exp(-d / (r * 9)) * 0.22
    band = np.exp(-(((c.x - cx) / (c.w * 0.6)) ** 2) - ((c.y - c.horizon) / (c.h * 0.2)) ** 2) * 0.3
    c.screen(halo + band, pal.glow)
    disc = np.clip((r - d) / 1.5 + 0.5, 0.0, 1.0)
    if kind == "striped":
        v = np.clip((c.y - (cy - 0.1 * r)) / (1.1 * r), 0.0, 1.0)
        disc = disc * ~(((c.y - cy) / (r * 0.17)) % 1.0 < v * 0.55)
        c.blend(disc, colour_field(pal.glow, pal.accent, np.clip((c.y - cy + r) / (2 * r), 0.0, 1.0)))
    else:
        c.blend(disc, mix(pal.glow, WHITE, 0.5))


def paint_clouds(c: Canvas, pal: Palette, cover: float, body: Color, lit: Color, seed: int) -> None:
    rows = max(2, int(c.horizon))
    n = with_contrast(fbm(c.streams("clouds", seed), c.w, rows, 2.2, c.octaves(3), stretch=(3.5, 0.8)), 2.2)
    y = c.y[:rows] / rows
    density = smoothstep(1.0 - cover, 1.05 - cover * 0.6, n) * smoothstep(1.0, 0.55, y)
    # The light is low, so the undersides glow: compare the noise with itself a few rows
    # lower, and where the cloud thins downwards, it is lit.
    shift = max(1, int(c.unit * 0.015))
    underside = np.clip((n - np.roll(n, -shift, axis=0)) * 8.0, 0.0, 1.0)
    shade = colour_field(body, pal.horizon, 0.35 + 0.3 * y)
    c.blend(density * 0.92, shade + (col(lit) - shade) * (underside * 0.8))


def paint_stars(c: Canvas, pal: Palette, density: float, bottom: float) -> None:
    rng = c.streams("stars")
    count = int(density * c.w * c.h / c.unit**2 * (600 + 1400 * c.detail))
    ys = rng.random(count) ** 1.3 * bottom * c.h
    xs = rng.random(count) * c.w
    bright = rng.random(count) ** 4 * np.clip((bottom * c.h - ys) / (0.35 * bottom * c.h), 0.0, 1.0)
    light = np.zeros((c.h, c.w), np.float32)
    np.maximum.at(light, (ys.astype(np.int64), xs.astype(np.int64)), bright.astype(np.float32))
    c.screen(light + blur(light, c.unit * 0.004) * 3.0, mix(pal.glow, WHITE, 0.6))


def paint_nebula(c: Canvas, pal: Palette, bottom: float) -> None:
    """Glowing gas: domain-warped noise through the palette, cut by dark dust lanes."""
    rows = max(2, int(bottom * c.h))
    rng = c.streams("nebula")
    gas = with_contrast(warped_noise(rng, c.w, rows, 2.0, c.octaves(4), 0.3 * c.unit / min(c.w, rows)), 2.6)
    dust = smoothstep(0.5, 0.72, with_contrast(fbm(rng, c.w, rows, 3.0, c.octaves(3)), 2.0))
    veil = smoothstep(0.2, 0.9, gas) * (1.0 - 0.7 * dust) * smoothstep(1.0, 0.5, c.y[:rows] / rows)
    colour = ramp(np.stack([pal.horizon, pal.far, pal.accent, pal.glow]), gas**1.4)
    c.screen(blur(veil, c.unit * 0.05) * 0.45, pal.far)
    c.screen(veil, colour)


def paint_aurora(c: Canvas, pal: Palette) -> None:
    """Curtains of light: a bright wavy hem with rays fading upwards."""
    rows = max(2, int(c.horizon))
    rng = c.streams("aurora")
    hem = (0.3 + 0.35 * noise1d(rng, c.w, 1.2 * c.w / c.unit, 4)) * rows
    strength = smoothstep(0.25, 0.7, noise1d(rng, c.w, 1.5 * c.w / c.unit, 3))
    rays = with_contrast(fbm(rng, c.w, rows, 4.0, c.octaves(2), stretch=(0.3, 3.0)), 1.6)
    above = (hem[None, :] - c.y[:rows]) / (rows * 0.4)
    shape = np.where(above > 0, np.exp(-above * 2.2), np.exp(-((above * 10.0) ** 2)))
    light = shape * (0.35 + 0.65 * rays) * strength[None, :]
    c.screen(blur(light, c.unit * 0.01) * 0.95, colour_field(pal.accent, pal.glow, np.clip(above * 1.2, 0.0, 1.0)))
