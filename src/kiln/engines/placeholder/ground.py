"""Ground: ridges, fog, trees, water and waves, cities and their windows, fields, meadows, the
synthwave grid, rain and snow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from kiln.engines.placeholder.canvas import WHITE, Canvas, col, colour_field, drawn_mask
from kiln.engines.placeholder.colour import (
    Color,
    Palette,
    adjust,
    hex_colour,
    mix,
    rgb255,
)
from kiln.engines.placeholder.noise import (
    blur,
    fbm,
    noise1d,
    sample,
    smooth1d,
    smoothstep,
    with_contrast,
)


def ridge_profile(rng: np.random.Generator, c: Canvas, kind: str, base: float, amp: float) -> np.ndarray:
    """The skyline of one layer of land, as a y coordinate per column."""
    across = c.w / c.unit
    if kind == "mountains":
        envelope = noise1d(rng, c.w, 0.8 * across, 2)
        n = noise1d(rng, c.w, 1.8 * across, c.octaves(3), gain=0.42, ridged=True) * (0.3 + 0.9 * envelope)
    elif kind == "dunes":
        n = 1.0 - np.abs(2.0 * noise1d(rng, c.w, 1.3 * across, 2, gain=0.3) - 1.0) ** 1.4
        n = n * 0.9 + 0.1 * noise1d(rng, c.w, 4 * across, c.octaves(1), gain=0.4)
    else:
        n = noise1d(rng, c.w, 1.1 * across, c.octaves(2), gain=0.3)
    return (base - amp * n).astype(np.float32)


@dataclass(frozen=True)
class Land:
    """How one band of land is coloured and lit."""

    colour: Color
    mist_colour: Color
    mist: float
    shade: float = 0.0
    sun_side: float = 1.0
    texture: float = 0.0
    glow: Color | None = None
    snow: Color | None = None


def paint_ridge(c: Canvas, top: np.ndarray, land: Land, extra: np.ndarray | None = None) -> None:
    """Fill below ``top``: land whose colour melts into mist further down, lit on the
    slopes that face the sun; ``extra`` adds coverage above the line (trees)."""
    y0 = max(0, int(np.floor(top.min())) - 1)
    if extra is not None:
        rows = np.flatnonzero(extra.max(axis=1) > 0.0)
        y0 = min(y0, int(rows[0])) if rows.size else y0
    below = c.y[y0:] - top[None, :]
    alpha = np.clip(below + 0.5, 0.0, 1.0)
    if extra is not None:
        alpha = np.maximum(alpha, extra[y0:])
    mist = land.mist * np.sqrt(np.clip(below / (c.unit * 0.22), 0.0, 1.0))
    colour = colour_field(land.colour, land.mist_colour, mist)
    near_top = np.exp(-np.maximum(below, 0.0) / (c.unit * 0.05))
    facing = np.clip(np.gradient(smooth1d(top, c.unit * 0.012)) * land.sun_side * 1.5, -1.0, 1.0)[None, :]
    if land.snow is not None:
        height = np.clip((top.max() - top) / max(1.0, float(top.max() - top.min())), 0.0, 1.0)[None, :]
        depth = c.unit * 0.07 * np.clip(height - 0.3, 0.0, 1.0) * (0.5 + c.texture()[y0:])
        snow = smoothstep(1.0, -1.0, below - depth) * (below > -1)
        lit = colour_field(mix(land.snow, land.mist_colour, 0.35), land.snow, np.clip(0.5 + facing, 0.0, 1.0))
        colour = colour + (lit - colour) * snow
    if land.shade:
        colour = colour * (1.0 + land.shade * facing * near_top)
    if land.glow is not None:
        colour = colour + (col(land.glow) - colour) * (0.3 * near_top * np.clip(facing + 0.6, 0.0, 1.0))
    if land.texture:
        colour = colour * (1.0 + land.texture * (c.texture()[y0:] - 0.5))
    c.blend(alpha, colour, y0)
    c.ground = np.minimum(top, c.h).astype(np.float32)


def land_colours(pal: Palette, depth: float, fog: bool) -> tuple[Color, Color, float]:
    """Atmospheric perspective: far land takes the colour of the air in front of it."""
    haze = mix(pal.horizon, pal.far, 0.45)
    colour = mix(haze, pal.near, depth**0.85)
    mist_colour = mix(pal.horizon, haze, 0.35)
    mist = (0.8 if fog else 0.55) * (1.0 - depth) + 0.12
    return colour, mist_colour, mist


def paint_fog(c: Canvas, pal: Palette, level: float, thickness: float, density: float, seed: int) -> None:
    """A bank of fog lying at ``level`` (a fraction of the height), thinning upwards."""
    top = max(0, int((level - thickness) * c.h))
    n = fbm(c.streams("fog", seed), c.w, c.h - top, 1.5, 3, stretch=(4.0, 0.6))
    rise = smoothstep(level - thickness, level + thickness * 0.5, c.y[top:] / c.h)
    alpha = np.clip(density * rise * (0.6 + 0.9 * (n - 0.5)), 0.0, 0.95)
    c.blend(alpha, mix(pal.horizon, pal.glow, 0.15), top)


def _conifer(x: float, base: float, height: float, width: float, tiers: int) -> list[tuple[float, float]]:
    """A pine outline: tiers of branches that widen towards the ground."""
    left, right = [], []
    for k in range(1, tiers + 1):
        y = base - height + height * k / tiers
        half = width * (0.25 + 0.75 * k / tiers)
        left += [(x - half, y), (x - half * 0.45, y - height * 0.05)]
        right += [(x + half, y), (x + half * 0.45, y - height * 0.05)]
    trunk = width * 0.08
    return [
        (x, base - height),
        *right,
        (x + trunk, base + height * 0.2),
        (x - trunk, base + height * 0.2),
        *reversed(left),
    ]


def tree_mask(
    c: Canvas, rng: np.random.Generator, top: np.ndarray, spacing: float, height: float, kind: str
) -> np.ndarray:
    def draw(d: ImageDraw.ImageDraw, ss: int) -> None:
        x = float(rng.uniform(0, spacing))
        while x < c.w + spacing:
            h = height * float(rng.uniform(0.55, 1.35))
            base = float(top[min(c.w - 1, max(0, int(x)))]) + h * 0.08
            if kind == "pine":
                points = _conifer(x, base, h, h * float(rng.uniform(0.2, 0.3)), int(rng.integers(4, 7)))
                d.polygon([(px * ss, py * ss) for px, py in points], fill=255)
            else:
                _draw_broadleaf(d, ss, rng, x, base, h)
            x += spacing * float(rng.uniform(0.45, 1.4))

    return drawn_mask(c.w, c.h, draw)


def _draw_broadleaf(d: ImageDraw.ImageDraw, ss: int, rng: np.random.Generator, x: float, base: float, h: float) -> None:
    """A leafy tree: a short trunk under a lumpy crown of overlapping blobs."""
    d.line([(x * ss, base * ss), (x * ss, (base - h * 0.45) * ss)], fill=255, width=max(1, int(h * 0.06 * ss)))
    crown_y, crown_r = base - h * 0.6, h * 0.4
    for _ in range(10):
        angle = float(rng.uniform(0, 2 * math.pi))
        dist = crown_r * float(rng.uniform(0.0, 0.7))
        r = crown_r * float(rng.uniform(0.3, 0.55))
        cx, cy = x + math.cos(angle) * dist * 1.15, crown_y + math.sin(angle) * dist * 0.75
        d.ellipse([(cx - r) * ss, (cy - r) * ss, (cx + r) * ss, (cy + r) * ss], fill=255)


def paint_water(c: Canvas, pal: Palette, line: float, calm: float, sun_x: float | None) -> None:
    """Water below ``line`` (a fraction of the height) mirroring what is above it, broken
    up by ripples that grow towards the viewer."""
    top = int(line * c.h)
    if top >= c.h - 1 or top < 2:
        return
    rows = c.h - top
    ys = c.y[top:]
    dist = (ys - top) / rows
    ripples = fbm(c.streams("water"), c.w, rows, 3.0, c.octaves(3), stretch=(5.0, 0.22))
    amp = (1.0 - calm) * (1.5 + c.unit * 0.06 * dist) + 0.6
    src_y = np.clip(2.0 * top - ys - 1.0 + (ripples - 0.5) * amp * 0.6, 0, top - 1)
    # A reflection is never as sharp as what it reflects.
    reflection = blur(sample(c.rgb, src_y, c.x + (ripples - 0.5) * amp * 2.0), c.unit * 0.006)
    strength = (0.88 - 0.45 * dist) * (0.75 + 0.25 * calm)
    deep = col(mix(pal.near, pal.sky, 0.35))
    c.rgb[:, top:] = deep + (reflection * 0.92 - deep) * strength
    crest = with_contrast(fbm(c.streams("crests"), c.w, rows, 4.0, c.octaves(2), stretch=(10.0, 0.12)), 2.0)
    sparkle = (smoothstep(0.64, 0.68, crest) - smoothstep(0.7, 0.76, crest)) * (0.08 + 0.25 * (1 - calm))
    if sun_x is not None:
        spread = c.w * (0.03 + 0.1 * dist)
        path = np.exp(-(((c.x - sun_x * c.w) / spread) ** 2))
        sparkle = sparkle + smoothstep(0.55, 0.64, crest) * path * 0.9
    c.screen(sparkle, mix(pal.glow, pal.horizon, 0.3), top)
    c.ground = np.full(c.w, float(c.h), np.float32)


def paint_waves(c: Canvas, pal: Palette, seed: int) -> None:
    """Swells rolling in towards the viewer: sharp crests capped with foam, dark troughs."""
    rng = c.streams("waves", seed)
    foam_colour = mix(pal.glow, WHITE, 0.6)
    for i in range(5):
        t = i / 4
        base = c.horizon + (c.h - c.horizon) * (0.12 + 0.85 * t**1.3)
        height = c.unit * (0.01 + 0.07 * t**1.2)
        crest = noise1d(rng, c.w, (5.0 - 2.5 * t) * c.w / c.unit, c.octaves(2), gain=0.4, ridged=True)
        top = base - height * crest
        y0 = max(0, int(top.min()) - 2)
        below = c.y[y0:] - top[None, :]
        body = colour_field(
            mix(pal.sky, pal.near, 0.35 + 0.4 * t),
            mix(pal.near, pal.sky, 0.1),
            np.clip(below / (height * 2.5 + 1), 0, 1),
        )
        foam = np.exp(-np.maximum(below, 0.0) / (c.unit * (0.004 + 0.01 * t))) * smoothstep(0.3, 0.8, crest)[None, :]
        foam = foam * (0.6 + 0.6 * c.texture()[y0:])
        # Far swells are only a ruffle on the reflecting water; near ones are solid.
        cover = np.clip(below + 0.5, 0.0, 1.0) * (0.3 + 0.7 * t)
        c.blend(cover, body + (col(foam_colour) - body) * np.clip(foam, 0.0, 1.0), y0)


def _skyline(rng: np.random.Generator, c: Canvas, base: float, scale: float) -> list[tuple[float, float, float]]:
    """Buildings as (left, right, roof) from edge to edge."""
    buildings = []
    x = -float(rng.uniform(0, 0.05)) * scale
    while x < c.w:
        width = scale * float(rng.uniform(0.045, 0.12))
        height = scale * (0.1 + 0.5 * float(rng.random()) ** 1.7)
        buildings.append((x, x + width, base - height))
        x += width + (0 if rng.random() < 0.6 else scale * float(rng.uniform(0.005, 0.02)))
    return buildings


def paint_city(
    c: Canvas, pal: Palette, base: float, depth: float, lights: float, neon: bool, fog: bool, seed: int
) -> None:
    rng = c.streams("city", seed)
    scale = c.unit * (0.45 + 0.75 * depth)
    base_y = base * c.h
    buildings = _skyline(rng, c, base_y, scale)
    roofs = [(float(rng.random()), float(rng.random())) for _ in buildings]

    def draw(d: ImageDraw.ImageDraw, ss: int) -> None:
        d.rectangle([0, base_y * ss, c.w * ss, c.h * ss], fill=255)
        for (x0, x1, roof), (kind, where) in zip(buildings, roofs, strict=True):
            d.rectangle([x0 * ss, roof * ss, x1 * ss, c.h * ss], fill=255)
            w = x1 - x0
            if kind < 0.3:  # a setback tower
                d.rectangle([(x0 + w * 0.2) * ss, (roof - w * 0.5) * ss, (x1 - w * 0.2) * ss, roof * ss], fill=255)
            elif kind < 0.45:  # an antenna
                ax = x0 + w * (0.3 + 0.4 * where)
                d.line([ax * ss, roof * ss, ax * ss, (roof - scale * 0.08) * ss], fill=255, width=max(1, ss))
            elif kind < 0.55:  # a spire
                d.polygon(
                    [(x0 * ss, roof * ss), ((x0 + w / 2) * ss, (roof - w * 0.9) * ss), (x1 * ss, roof * ss)], fill=255
                )

    colour, mist_colour, mist = land_colours(pal, depth, fog)
    mistiness = np.clip((c.y - (base_y - scale * 0.35)) / (scale * 0.5), 0.0, 1.0) * mist * 0.8
    c.blend(drawn_mask(c.w, c.h, draw), colour_field(colour, mist_colour, mistiness))
    if lights > 0:
        _paint_windows(c, rng, buildings, base_y, scale, lights, pal, neon)
    c.ground = np.full(c.w, base_y, np.float32)


def _paint_windows(
    c: Canvas,
    rng: np.random.Generator,
    buildings: list[tuple[float, float, float]],
    base_y: float,
    scale: float,
    lights: float,
    pal: Palette,
    neon: bool,
) -> None:
    emission = np.zeros((c.h, c.w), np.float32)
    pitch = max(3.0, scale * 0.016)
    for x0, x1, roof in buildings:
        left, r, t, b = (
            max(0, int(x0 + pitch)),
            min(c.w, int(x1 - pitch * 0.5)),
            max(0, int(roof + pitch)),
            min(c.h, int(base_y)),
        )
        if r - left < 2 or b - t < 2:
            continue
        lx = np.arange(r - left, dtype=np.float32)[None, :]
        ly = np.arange(b - t, dtype=np.float32)[:, None]
        cells = rng.random((int((b - t) / pitch) + 2, int((r - left) / pitch) + 2)) < lights * float(
            rng.uniform(0.3, 1.0)
        )
        window = ((lx % pitch) < pitch * 0.55) & ((ly % (pitch * 1.3)) < pitch * 0.7)
        lit = cells[(ly / (pitch * 1.3)).astype(np.int32), (lx / pitch).astype(np.int32)]
        emission[t:b, left:r] = np.maximum(emission[t:b, left:r], (window & lit) * 0.85)
        if neon and rng.random() < 0.25:  # a vertical sign
            sx = int(left + (r - left) * float(rng.uniform(0.1, 0.8)))
            emission[
                t + int((b - t) * 0.1) : t + int((b - t) * float(rng.uniform(0.3, 0.6))),
                sx : sx + max(2, int(pitch * 0.6)),
            ] = 1.0
    colour = pal.accent if neon else mix(pal.glow, hex_colour("#ffc46b"), 0.5)
    c.screen(emission, colour)
    c.screen(blur(emission, c.unit * 0.012) * (1.6 if neon else 0.9), colour)


def paint_field(c: Canvas, pal: Palette, start: float, vanish_x: float) -> None:
    """Rows of flowers or crops running to a vanishing point on the horizon, textured in
    ground-plane coordinates so the clumps shrink with distance."""
    top = int(start * c.h)
    rows = c.h - top
    depth = np.maximum(c.y[top:] - c.horizon, 1.0)
    frequency = 9.0 * (c.h - c.horizon) / c.w
    across = (c.x - vanish_x * c.w) / depth * frequency
    distance = (c.h - c.horizon) / depth
    clumps = fbm(c.streams("field"), 256, 256, 12.0, c.octaves(2))
    tufts = sample(clumps, (distance * 40.0) % 255, (across * 25.0) % 255)
    nearness = np.clip((c.y[top:] - top) / rows, 0.0, 1.0)
    # Rows thinner than a few pixels would alias into moire: fade them into their average.
    pixels_per_row = depth / frequency / np.sqrt(1.0 + ((c.x - vanish_x * c.w) / depth) ** 2)
    resolved = np.clip((pixels_per_row - 4.0) / 10.0, 0.0, 1.0)
    ridge = np.abs((across % 1.0) - 0.5) * 2.0
    tufts = 0.5 + (tufts - 0.5) * resolved
    bush = smoothstep(0.9, 0.25, ridge + (tufts - 0.5) * 0.9)
    bush = 0.6 + (bush - 0.6) * resolved
    soil = mix(adjust(pal.accent, light=0.35), hex_colour("#2f4a2a"), 0.4)
    colour = colour_field(soil, adjust(pal.accent, light=0.75), np.clip(bush * 1.4, 0.0, 1.0))
    lit = np.clip((bush - 0.5) * 2.0, 0.0, 1.0) * (0.5 + 0.5 * tufts)
    colour = colour + (col(mix(pal.accent, pal.glow, 0.4)) - colour) * (lit * 0.6)
    haze = mix(pal.horizon, pal.accent, 0.35)
    colour = colour + (col(haze) - colour) * (0.75 * (1.0 - nearness) ** 4)
    c.blend(np.clip(c.y[top:] - top + 0.5, 0.0, 1.0) * np.ones((1, c.w), np.float32), colour, top)
    c.ground = np.full(c.w, float(c.h) * 0.97, np.float32)


def paint_meadow(c: Canvas, pal: Palette) -> None:
    """Wildflowers dotted over the slopes, larger towards the viewer."""
    rng = c.streams("meadow")
    count = int(c.w * c.h / c.unit**2 * 1500)
    xs = rng.random(count) * c.w
    nearness = rng.random(count) ** 0.7
    ys = c.horizon + 0.05 * c.h + (0.95 * c.h - c.horizon) * nearness
    sizes = 0.6 + nearness**2 * c.unit * 0.01 * rng.uniform(0.5, 1.5, count)
    inks = [rgb255(k) for k in (pal.accent, hex_colour("#f2d14b"), mix(pal.glow, WHITE, 0.7), hex_colour("#e889b0"))]
    picks = rng.integers(len(inks), size=count)
    colours = Image.new("RGB", (c.w, c.h))
    cover = Image.new("L", (c.w, c.h))
    paint, mark = ImageDraw.Draw(colours), ImageDraw.Draw(cover)
    for x, y, r, pick in zip(xs, ys, sizes, picks, strict=True):
        box = [x - r, y - r * 0.8, x + r, y + r * 0.8]
        paint.ellipse(box, fill=inks[pick])
        mark.ellipse(box, fill=230)
    c.blend(np.asarray(cover, np.float32) / 255.0, np.asarray(colours, np.float32).transpose(2, 0, 1) / 255.0)


def paint_grid(c: Canvas, pal: Palette) -> None:
    """A glowing perspective grid to the horizon, synthwave style."""
    top = int(c.horizon)
    depth = np.maximum(c.y[top:] - c.horizon, 0.5)
    c.rgb[:, top:] = colour_field(pal.near, pal.sky, 0.6 * np.exp(-depth / (c.h * 0.05)))
    spacing = c.unit * 0.16
    u = (c.x - c.w / 2) / depth * (c.h * 0.5) / spacing
    du = (c.h * 0.5) / spacing / depth
    v = c.h * 0.5 / depth
    dv = c.h * 0.5 / depth**2
    lines = np.maximum(
        np.clip(1.2 - np.abs(u - np.round(u)) / du, 0, 1), np.clip(1.2 - np.abs(v - np.round(v)) / dv, 0, 1)
    )
    lines = lines * np.clip(depth / (c.h * 0.12), 0.0, 1.0)
    c.screen(lines, pal.accent, top)
    c.screen(blur(lines, c.unit * 0.01) * 1.5, pal.accent, top)
    c.ground = np.full(c.w, float(c.h) * 0.95, np.float32)


def paint_precipitation(c: Canvas, pal: Palette, snow: bool) -> None:
    rng = c.streams("weather")
    count = int(c.w * c.h / c.unit**2 * (500 if snow else 900))
    image = Image.new("L", (c.w, c.h), 0)
    d = ImageDraw.Draw(image)
    xs, ys = rng.random(count) * c.w, rng.random(count) * c.h
    sizes = rng.random(count) ** 3 * c.unit * (0.008 if snow else 0.04) + 1.0
    levels = (rng.uniform(0.35, 1.0, count) * 255).astype(int)
    for x, y, s, v in zip(xs, ys, sizes, levels, strict=True):
        if snow:
            d.ellipse([x - s / 2, y - s / 2, x + s / 2, y + s / 2], fill=int(v))
        else:
            d.line([x, y, x - s * 0.25, y + s * 1.6], fill=int(v * 0.6), width=1)
    layer = np.asarray(image, np.float32) / 255.0
    if snow:
        layer = np.maximum(layer, blur(layer, 2.0))
    c.screen(layer * 0.9, mix(pal.glow, WHITE, 0.6))
