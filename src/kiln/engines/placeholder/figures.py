"""Figures: animals, walkers, portrait busts and their backdrops."""

from __future__ import annotations

import math

import numpy as np

from kiln.engines.placeholder.canvas import (
    WHITE,
    Canvas,
    closed_spline,
    col,
    colour_field,
    shape_mask,
)
from kiln.engines.placeholder.colour import Color, Palette, hex_colour, mix
from kiln.engines.placeholder.noise import blur, fbm

# fmt: off
# Outlines in figure units (0 = top, 1 = the ground), facing right; a repeated point keeps a
# sharp corner (ear tips, nose) when the outline is smoothed.
_FOX = [
    (0.12, 0.0), (0.12, 0.0), (0.17, 0.11), (0.25, 0.15), (0.35, 0.2), (0.43, 0.235), (0.43, 0.235),
    (0.36, 0.265), (0.25, 0.285), (0.2, 0.35), (0.215, 0.5), (0.19, 0.66), (0.18, 0.93), (0.235, 0.99),
    (0.235, 1.0), (0.235, 1.0), (-0.2, 1.0), (-0.45, 1.0), (-0.68, 0.955), (-0.72, 0.9), (-0.72, 0.9),
    (-0.56, 0.85), (-0.4, 0.865), (-0.3, 0.8), (-0.31, 0.66), (-0.22, 0.5), (-0.1, 0.35), (0.0, 0.26),
    (0.03, 0.15), (0.05, 0.0), (0.05, 0.0), (0.09, 0.08),
]
_CAT = [
    (0.16, 0.0), (0.16, 0.0), (0.22, 0.1), (0.26, 0.14), (0.3, 0.2), (0.27, 0.235), (0.22, 0.26),
    (0.2, 0.4), (0.19, 0.6), (0.17, 0.93), (0.22, 1.0), (0.22, 1.0), (-0.18, 1.0), (-0.3, 0.95),
    (-0.42, 0.93), (-0.5, 0.8), (-0.52, 0.62), (-0.52, 0.62), (-0.46, 0.62), (-0.45, 0.78), (-0.38, 0.86),
    (-0.33, 0.72), (-0.24, 0.5), (-0.1, 0.32), (0.02, 0.22), (0.04, 0.12), (0.06, 0.0), (0.06, 0.0),
    (0.11, 0.08),
]
_OWL = [
    (-0.25, 0.0), (-0.25, 0.0), (-0.15, 0.12), (0.0, 0.1), (0.15, 0.12), (0.25, 0.0), (0.25, 0.0),
    (0.3, 0.2), (0.33, 0.4), (0.32, 0.65), (0.25, 0.85), (0.12, 0.97), (0.0, 1.0), (-0.12, 0.97),
    (-0.25, 0.85), (-0.32, 0.65), (-0.33, 0.4), (-0.3, 0.2),
]
_WALKER = [
    (-0.05, 0.15), (0.05, 0.15), (0.15, 0.21), (0.17, 0.55), (0.14, 0.62), (0.09, 0.62), (0.1, 1.0),
    (0.1, 1.0), (0.02, 1.0), (0.0, 0.68), (-0.02, 1.0), (-0.1, 1.0), (-0.1, 1.0), (-0.09, 0.62),
    (-0.14, 0.62), (-0.17, 0.55), (-0.15, 0.21),
]
# A head-and-shoulders profile (head height = 1), facing right, cut off below the frame.
_PROFILE = [
    (0.0, 0.0), (0.17, 0.03), (0.29, 0.12), (0.35, 0.24), (0.365, 0.36), (0.345, 0.4), (0.38, 0.47),
    (0.455, 0.575), (0.455, 0.575), (0.38, 0.615), (0.385, 0.655), (0.355, 0.685), (0.37, 0.715),
    (0.335, 0.765), (0.345, 0.83), (0.28, 0.9), (0.16, 0.93), (0.15, 1.1), (0.35, 1.28), (0.8, 1.5),
    (0.95, 2.2), (0.95, 2.2), (-1.0, 2.2), (-1.0, 2.2), (-0.8, 1.45), (-0.45, 1.22), (-0.22, 1.06),
    (-0.24, 0.85), (-0.33, 0.64), (-0.37, 0.38), (-0.3, 0.14), (-0.16, 0.03),
]
_BEARD = [(-0.05, 0.56), (0.15, 0.66), (0.36, 0.67), (0.42, 0.76), (0.4, 0.9), (0.3, 1.02), (0.12, 1.05), (-0.08, 0.9)]
_CAP = [(-0.39, 0.27), (-0.37, 0.06), (-0.2, -0.07), (0.05, -0.1), (0.26, -0.05), (0.37, 0.1), (0.39, 0.24)]
_LONG_HAIR = [
    (-0.05, -0.03), (-0.32, 0.06), (-0.44, 0.4), (-0.5, 0.8), (-0.58, 1.25), (-0.3, 1.3), (-0.2, 0.95), (-0.1, 0.5),
]
_CROWN = [(-0.3, 0.05), (-0.32, -0.22), (-0.18, -0.08), (0.0, -0.28), (0.14, -0.08), (0.3, -0.24), (0.3, 0.05)]
_POINTED_HAT = [(-0.55, 0.16), (-0.2, 0.02), (0.1, -0.7), (0.1, -0.7), (0.3, 0.02), (0.6, 0.12), (0.0, 0.2)]
# fmt: on

# Per animal: outline, where the eye is, and how the ears are stretched (a hare's are long).
ANIMALS: dict[str, tuple[list[tuple[float, float]], tuple[float, float], float]] = {
    "fox": (_FOX, (0.27, 0.19), 1.0),
    "wolf": (_FOX, (0.27, 0.19), 0.7),
    "cat": (_CAT, (0.22, 0.16), 1.0),
    "hare": (_CAT, (0.22, 0.16), 2.6),
    "owl": (_OWL, (0.12, 0.28), 1.0),
}


def _stretch_ears(outline: list[tuple[float, float]], factor: float) -> list[tuple[float, float]]:
    """Lengthen (or shorten) whatever sticks up above the head line."""
    line = 0.12
    return [(x, line - (line - y) * factor if y < line else y) for x, y in outline]


def _place(
    outline: list[tuple[float, float]], cx: float, top: float, size: float, facing: float
) -> list[tuple[float, float]]:
    return [(cx + facing * x * size, top + y * size) for x, y in closed_spline(outline)]


def _shade_shape(c: Canvas, shape: tuple[np.ndarray, int, int], body: Color, rim: Color, light_x: float) -> None:
    """Model a flat silhouette: lighter in its thick middle, with a rim of light on the
    edge facing the light, found from the slope of the blurred mask."""
    mask, top, left = shape
    if not mask.size:
        return
    # Blurring twice keeps the slope free of the blur's own blockiness.
    soft = blur(blur(mask, c.unit * 0.008), c.unit * 0.008)
    gy, gx = np.gradient(soft)
    cols = np.flatnonzero(mask.max(axis=0) > 0)
    side = 1.0 if cols.size == 0 or light_x * c.w > left + cols.mean() else -1.0
    edge = np.clip((-gx * side + gy * 0.5) * c.unit * 0.06, 0.0, 1.0) * mask
    c.blend(mask, col(body) * (0.72 + 0.4 * soft), top, left)
    c.screen(edge * 0.9, rim, top, left)


def _light_shape(c: Canvas, shape: tuple[np.ndarray, int, int], shadow: Color, lit: Color, light_x: float) -> None:
    """A figure lit from one side, chiaroscuro: light falls off across the form into shadow."""
    mask, top, left = shape
    if not mask.size:
        return
    soft = blur(blur(mask, c.unit * 0.015), c.unit * 0.015)
    gx = np.gradient(soft, axis=1)
    cols = np.flatnonzero(mask.max(axis=0) > 0)
    centre = left + (cols.mean() if cols.size else mask.shape[1] / 2)
    side = 1.0 if light_x * c.w > centre else -1.0
    across = np.clip(0.5 + (c.x[:, left : left + mask.shape[1]] - centre) * side / (c.unit * 0.35), 0.0, 1.0)
    facing = np.clip(0.55 * across - gx * side * c.unit * 0.08 + 0.15 * soft, 0.0, 1.0)
    c.blend(mask, colour_field(shadow, lit, facing**1.2), top, left)


def _ground_at(c: Canvas, x: float, lowest: float) -> float:
    """Where a figure at column ``x`` stands: on the nearest ground, but never floating
    above ``lowest`` (a fraction of the height below the horizon) or off the frame."""
    y = float(c.ground[int(np.clip(x, 0, c.w - 1))])
    return min(max(y, c.horizon + lowest * c.h), c.h * 0.99)


def paint_animal(
    c: Canvas, pal: Palette, species: str, colour: Color | None, x: float, facing: float, size: float, light_x: float
) -> None:
    outline, eye, ears = ANIMALS[species]
    body = colour if colour is not None else mix(pal.near, pal.far, 0.15)
    scale = size * c.unit
    cx = x * c.w
    top = _ground_at(c, cx, 0.12) + scale * 0.02 - scale
    shape = shape_mask(c, _place(_stretch_ears(outline, ears), cx, top, scale, facing), pad=int(c.unit * 0.04))
    _shade_shape(c, shape, body, mix(pal.glow, pal.horizon, 0.3), light_x)
    eyes = [eye, (-eye[0], eye[1])] if species == "owl" else [eye]
    for ex, ey in eyes:
        ex, ey = cx + facing * ex * scale, top + ey * scale
        t, b, left, r = c.box(ex, ey, scale * 0.1)
        glint = np.exp(-c.radius(ex, ey)[t:b, left:r] / (scale * (0.025 if species == "owl" else 0.01)))
        c.screen(glint * 0.9, pal.glow, t, left)


def paint_walker(c: Canvas, pal: Palette, x: float, size: float, light_x: float) -> None:
    scale = size * c.unit
    cx = x * c.w
    top = _ground_at(c, cx, 0.0) + scale * 0.03 - scale
    body = mix(pal.near, pal.sky, 0.1)
    head = [
        (cx + scale * 0.075 * math.cos(a), top + scale * (0.08 + 0.075 * math.sin(a)))
        for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)
    ]
    shape = shape_mask(c, _place(_WALKER, cx, top, scale, 1.0), head, pad=int(c.unit * 0.04))
    _shade_shape(c, shape, body, pal.glow, light_x)


def paint_backdrop(c: Canvas, pal: Palette, light_x: float, light_y: float, dark: bool) -> None:
    """A studio backdrop: a pool of light behind the subject fading to the edges."""
    d = c.radius(light_x * c.w, light_y * c.h) / (c.unit * 0.95)
    centre = mix(pal.horizon, pal.glow, 0.2) if not dark else mix(pal.far, pal.accent, 0.25)
    edge = pal.sky if not dark else mix(pal.near, pal.sky, 0.4)
    c.rgb[:] = colour_field(centre, edge, np.clip(d, 0.0, 1.0) ** 0.8)
    c.rgb *= 0.94 + 0.12 * fbm(c.streams("backdrop"), c.w, c.h, 2.0, c.octaves(2))


def paint_bokeh(c: Canvas, pal: Palette, count: int) -> None:
    """Out-of-focus lights: soft discs, a few bright, most faint."""
    rng = c.streams("bokeh")
    light = np.zeros((2, c.h, c.w), np.float32)
    for _ in range(count):
        cx, cy = float(rng.random()) * c.w, float(rng.random()) * c.h
        r = c.unit * float(rng.uniform(0.02, 0.08))
        t, b, left, rr = c.box(cx, cy, r + 2)
        disc = np.clip((r - c.radius(cx, cy)[t:b, left:rr]) / 2.0 + 0.5, 0.0, 1.0)
        light[int(rng.integers(2)), t:b, left:rr] += disc * float(rng.uniform(0.08, 0.4)) * (0.8 + 0.2 * disc)
    c.screen(blur(light[0], 2.0), pal.glow)
    c.screen(blur(light[1], 2.0), pal.accent)


def _bust_extras(kinds: set[str]) -> list[tuple[list[tuple[float, float]], bool]]:
    """What a portrait wears, as (outline, in the accent colour)."""
    extras = []
    if kinds & {"old", "bearded", "sailor", "captain", "fisherman", "wizard", "king"}:
        extras.append((_BEARD, False))
    if kinds & {"sailor", "captain", "fisherman"}:
        extras.append((_CAP, True))
    if kinds & {"woman", "girl", "lady", "witch", "queen"}:
        extras.append((_LONG_HAIR, False))
    if kinds & {"king", "queen"}:
        extras.append((_CROWN, True))
    if kinds & {"wizard", "witch"}:
        extras.append((_POINTED_HAT, True))
    return extras


def paint_bust(
    c: Canvas, pal: Palette, cx: float, facing: float, kinds: set[str], lit: bool, light_x: float
) -> None:
    """A head-and-shoulders profile, like a cameo or a lit studio portrait."""
    head = c.h * 0.4 if c.h <= c.w * 1.2 else c.w * 0.55
    top = c.h * 0.26 if c.h <= c.w * 1.2 else c.h * 0.28
    x = cx * c.w
    outlines = [_place(_PROFILE, x, top, head, facing)]
    outlines += [_place(shape, x, top, head, facing) for shape, accent in _bust_extras(kinds) if not accent]
    pad = int(c.unit * 0.04)
    shape = shape_mask(c, *outlines, pad=pad)
    if lit:
        _light_shape(
            c, shape, mix(pal.near, pal.sky, 0.3), mix(mix(pal.accent, pal.glow, 0.5), WHITE, 0.2), light_x
        )
    else:
        _shade_shape(c, shape, mix(pal.near, pal.sky, 0.15), mix(pal.glow, WHITE, 0.3), light_x)
    for shape, accent in _bust_extras(kinds):
        if accent:
            colour = hex_colour("#d9a93a") if shape is _CROWN else mix(pal.accent, pal.near, 0.35)
            _shade_shape(c, shape_mask(c, _place(shape, x, top, head, facing), pad=pad), colour, pal.glow, light_x)
