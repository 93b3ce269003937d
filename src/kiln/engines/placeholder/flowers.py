"""Flowers and ponds: stems, blossoms, koi, lily pads and ripples."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from kiln.engines.placeholder.canvas import (
    WHITE,
    Canvas,
    col,
    colour_field,
    drawn_mask,
    shape_mask,
)
from kiln.engines.placeholder.colour import Color, Palette, adjust, hex_colour, mix
from kiln.engines.placeholder.noise import blur, fbm, smoothstep, with_contrast


@dataclass(frozen=True)
class Flower:
    """One bloom: where (fractions of the frame), how big (of the shorter side) and its form."""

    x: float
    y: float
    size: float
    petals: int
    layers: int
    roundness: float
    turn: float
    tint: float
    colour: Color | None = None


def paint_paper(c: Canvas, pal: Palette, dark: bool) -> None:
    colour = mix(pal.near, pal.sky, 0.25) if dark else mix(pal.horizon, WHITE, 0.6)
    d = c.radius(c.w * 0.5, c.h * 0.45) / c.unit
    c.rgb[:] = colour_field(colour, colour * 0.85, np.clip(d, 0.0, 1.0))
    c.rgb *= 0.95 + 0.08 * fbm(c.streams("paper"), c.w, c.h, 3.0, c.octaves(2))


def _leaf(base: tuple[float, float], angle: float, length: float, width: float) -> list[tuple[float, float]]:
    """A pointed leaf outline from its base along ``angle``."""
    s = np.linspace(0.0, 1.0, 9)
    along = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-along[1], along[0]])
    spine = np.asarray(base) + s[:, None] * along * length
    half = (np.sin(np.pi * s) ** 0.8 * width)[:, None]
    outline = np.concatenate([spine + normal * half, (spine - normal * half)[::-1]])
    return [(float(x), float(y)) for x, y in outline]


def paint_stems(c: Canvas, pal: Palette, flowers: list[Flower]) -> None:
    """Stems curving down out of the frame, with leaves, in one green wash."""
    rng = c.streams("stems")
    green = mix(pal.far, hex_colour("#4f7a4a"), 0.6)
    leaves: list[list[tuple[float, float]]] = []
    width = max(1, int(c.unit * 0.008))

    def draw(d: ImageDraw.ImageDraw, ss: int) -> None:
        for f in flowers:
            x0, y0 = f.x * c.w, f.y * c.h
            bend = float(rng.uniform(-0.25, 0.25)) * c.unit
            points = [
                (x0 + bend * math.sin(t * math.pi * 0.8), y0 + (c.h * 1.05 - y0) * t) for t in np.linspace(0, 1, 12)
            ]
            d.line([(x * ss, y * ss) for x, y in points], fill=255, width=width * ss)
            for _ in range(int(rng.integers(1, 4))):
                bx, by = points[int(rng.integers(3, 10))]
                side = 1 if rng.random() < 0.5 else -1
                angle = -math.pi / 2 + side * float(rng.uniform(0.5, 1.2))
                leaves.append(
                    _leaf((bx, by), angle, c.unit * f.size * float(rng.uniform(0.8, 1.4)), c.unit * f.size * 0.22)
                )
        for leaf in leaves:
            d.polygon([(x * ss, y * ss) for x, y in leaf], fill=255)

    mask = drawn_mask(c.w, c.h, draw)
    c.blend(mask, colour_field(mix(green, pal.glow, 0.2), green * 0.6, c.y / c.h))


def paint_flower(c: Canvas, pal: Palette, f: Flower, outline: bool) -> None:
    """A bloom in polar form: layers of petals, darker at the base and veined, round a
    stippled heart."""
    cx, cy, radius = f.x * c.w, f.y * c.h, f.size * c.unit
    t, b, left, r = c.box(cx, cy, radius * 1.05)
    if b <= t or r <= left:
        return
    dx, dy = c.x[:, left:r] - cx, c.y[t:b] - cy
    dist = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    petal = adjust(pal.accent if f.colour is None else f.colour, hue=f.tint)
    ink = mix(pal.near, np.zeros(3, np.float32), 0.5)
    for layer in range(f.layers):
        scale = radius * (1.0 - 0.3 * layer)
        wave = np.abs(np.cos(f.petals * (theta - f.turn - layer * math.pi / f.petals) / 2.0))
        edge = scale * (0.22 + 0.78 * wave**f.roundness)
        cover = np.clip((edge - dist) / 1.2 + 0.5, 0.0, 1.0)
        base_colour = adjust(petal, light=0.55 + 0.15 * layer)
        tip_colour = mix(adjust(petal, lift=0.12 * layer), pal.glow, 0.3)
        colour = colour_field(base_colour, tip_colour, np.clip(dist / scale, 0.0, 1.0) ** 0.7)
        colour = colour * (0.88 + 0.18 * wave**6)
        c.blend(cover, colour, t, left)
        if outline:
            c.blend(np.exp(-np.abs(edge - dist) / 0.9) * 0.55 * (dist < edge + 2), ink, t, left)
    heart = radius * 0.16
    stipple = smoothstep(0.45, 0.6, c.texture()[t:b, left:r])
    centre = colour_field(mix(pal.glow, hex_colour("#f2c14e"), 0.5), mix(pal.near, hex_colour("#5a3a1a"), 0.5), stipple)
    c.blend(np.clip(heart - dist + 0.5, 0.0, 1.0), centre, t, left)


def plan_flowers(rng: np.random.Generator, aspect: float, count: int) -> list[Flower]:
    """Blooms spread over the frame without piling up, largest first so small ones sit on top."""
    flowers: list[Flower] = []
    for _ in range(count * 8):
        if len(flowers) == count:
            break
        size = float(rng.uniform(0.1, 0.24))
        x, y = float(rng.uniform(0.12, 0.88)), float(rng.uniform(0.12, 0.75))
        if all(
            math.hypot((x - f.x) * aspect, y - f.y) > (size + f.size) * 0.75 * min(1.0, 1.0 / aspect) for f in flowers
        ):
            petals = int(rng.choice([5, 5, 6, 8, 12, 16]))
            flowers.append(
                Flower(
                    x=x,
                    y=y,
                    size=size,
                    petals=petals,
                    layers=int(rng.integers(1, 4)),
                    roundness=float(rng.uniform(0.4, 1.2)) if petals < 10 else float(rng.uniform(1.5, 3.0)),
                    turn=float(rng.uniform(0, math.pi)),
                    tint=float(rng.uniform(-0.04, 0.04)),
                )
            )
    return sorted(flowers, key=lambda f: -f.size)


def paint_pond_water(c: Canvas, pal: Palette) -> None:
    """Deep green water, lighter where it is shallow, with glints of the sky on its surface."""
    rng = c.streams("pond")
    depth = fbm(rng, c.w, c.h, 1.5, 3)
    water_deep = mix(pal.near, hex_colour("#0d2b2a"), 0.5)
    water_light = mix(mix(pal.sky, pal.far, 0.5), hex_colour("#3f7f73"), 0.5)
    c.rgb[:] = colour_field(water_deep, water_light, with_contrast(depth, 1.6))
    glints = smoothstep(0.62, 0.8, with_contrast(fbm(rng, c.w, c.h, 3.0, c.octaves(2), stretch=(2.0, 0.6)), 1.8))
    c.screen(glints * 0.25, mix(pal.horizon, pal.glow, 0.5))


def _shadow(c: Canvas, shape: tuple[np.ndarray, int, int], strength: float) -> None:
    """Darken the water under a floating or swimming shape, offset down and to the right."""
    mask, top, left = shape
    shift = max(1, int(c.unit * 0.025))
    soft = blur(mask, c.unit * 0.015)
    y0, x0 = top + shift, left + shift
    y1, x1 = min(c.h, y0 + soft.shape[0]), min(c.w, x0 + soft.shape[1])
    if y1 > y0 and x1 > x0:
        c.rgb[:, y0:y1, x0:x1] *= 1.0 - strength * soft[: y1 - y0, : x1 - x0]


def paint_koi(c: Canvas, pal: Palette, fish: list[tuple[float, float, float, float, float]]) -> None:
    """Koi: round-headed bodies tapering along a swimming curve, veil tails, white with
    orange and black patches."""
    rng = c.streams("koi")
    patches = fbm(rng, c.w, c.h, 14.0, c.octaves(2))
    spots = fbm(rng, c.w, c.h, 22.0, c.octaves(1))
    base = mix(hex_colour("#f4eee4"), pal.glow, 0.15)
    orange = mix(hex_colour("#ef6a1f"), pal.accent, 0.2)
    pad = int(c.unit * 0.05)
    for x, y, heading, bend, length in fish:
        body, fins = _koi_outline(x * c.w, y * c.h, heading, bend, length * c.unit)
        whole = shape_mask(c, body, *fins, pad=pad)
        _shadow(c, whole, 0.35)
        fin_mask, top, left = shape_mask(c, *fins, pad=pad)
        c.blend(fin_mask * 0.55, mix(base, orange, 0.35), top, left)
        mask, top, left = shape_mask(c, body, pad=pad)
        if not mask.size:
            continue
        rows, cols = slice(top, top + mask.shape[0]), slice(left, left + mask.shape[1])
        threshold = float(rng.uniform(0.35, 0.62))
        colour = colour_field(base, orange, smoothstep(threshold, threshold + 0.04, patches[rows, cols]))
        colour = colour + (col(hex_colour("#1b1a1f")) - colour) * smoothstep(0.68, 0.7, spots[rows, cols])
        c.blend(mask, colour * (0.68 + 0.38 * blur(mask, c.unit * 0.008)), top, left)


def _koi_outline(
    x: float, y: float, heading: float, bend: float, length: float
) -> tuple[list[tuple[float, float]], list[list[tuple[float, float]]]]:
    """Body and fins of a koi whose head is at (x, y), swimming along ``heading``."""
    s = np.linspace(0.0, 1.0, 18)
    angle = heading + bend * np.sin(s * math.pi * 0.9)
    step = length / (len(s) - 1)
    spine = np.stack([x - np.cumsum(np.cos(angle)) * step, y - np.cumsum(np.sin(angle)) * step], axis=1)
    spine = np.vstack([[x, y], spine[:-1]])
    normal = np.stack([-np.sin(angle), np.cos(angle)], axis=1)
    # Round at the head, widest a fifth of the way back, tapering to a narrow tail.
    width = (
        length * 0.15 * np.clip((s + 0.03) / 0.22, 0.0, 1.0) ** 0.5 * (1.0 - 0.82 * np.clip((s - 0.2) / 0.8, 0, 1))
    )[:, None]
    body = np.concatenate([spine + normal * width, (spine - normal * width)[::-1]])
    back = -np.array([math.cos(angle[-1]), math.sin(angle[-1])])
    end = spine[-1]

    def turned(v: np.ndarray, a: float) -> np.ndarray:
        return np.array([v[0] * math.cos(a) - v[1] * math.sin(a), v[0] * math.sin(a) + v[1] * math.cos(a)])

    tail = [
        end + normal[-1] * width[-1],
        end + turned(back, 0.5) * length * 0.32,
        end + turned(back, 0.25) * length * 0.26,
        end + back * length * 0.16,
        end + turned(back, -0.25) * length * 0.26,
        end + turned(back, -0.5) * length * 0.32,
        end - normal[-1] * width[-1],
    ]
    fins = [tail]
    for side in (1.0, -1.0):
        root = spine[5] + normal[5] * width[5] * side * 0.7
        sweep = turned(normal[5] * side, -0.6 * side)
        fins.append([spine[4], root + sweep * length * 0.16, root + (sweep + back) * length * 0.1, spine[7]])

    def as_points(pts: list[np.ndarray] | np.ndarray) -> list[tuple[float, float]]:
        return [(float(px), float(py)) for px, py in pts]

    return as_points(body), [as_points(f) for f in fins]


def paint_pads(
    c: Canvas, pal: Palette, pads: list[tuple[float, float, float, float]], blooms: list[Flower]
) -> None:
    """Lily pads (discs with a notch and faint veins) and, on some, a water lily."""
    green = mix(hex_colour("#4c8a3f"), pal.far, 0.25)
    for x, y, size, notch in pads:
        cx, cy, r = x * c.w, y * c.h, size * c.unit
        t, b, left, rr = c.box(cx, cy, r + 2)
        if b <= t or rr <= left:
            continue
        dx, dy = c.x[:, left:rr] - cx, c.y[t:b] - cy
        d = np.sqrt(dx * dx + dy * dy)
        off_notch = np.abs((np.arctan2(dy, dx) - notch + math.pi) % (2 * math.pi) - math.pi)
        mask = np.clip(r - d + 0.5, 0.0, 1.0) * np.clip(d * np.sin(np.clip(off_notch - 0.2, -1.0, 1.0)) + 0.5, 0.0, 1.0)
        _shadow(c, (mask, t, left), 0.4)
        veins = np.abs(np.cos(np.arctan2(dy, dx) * 9.0)) ** 40 * 0.1
        rim = np.clip(d / r, 0.0, 1.0) ** 6 * 0.2
        c.blend(mask, col(green) * (0.85 + 0.15 * c.texture()[t:b, left:rr] + veins + rim), t, left)
    for bloom in blooms:
        paint_flower(c, pal, bloom, outline=False)


def paint_ripples(c: Canvas, pal: Palette, rings: list[tuple[float, float, float]]) -> None:
    for x, y, size in rings:
        cx, cy, r = x * c.w, y * c.h, size * c.unit
        t, b, left, rr = c.box(cx, cy, r)
        d = c.radius(cx, cy)[t:b, left:rr]
        wave = np.maximum(np.sin(d / (c.unit * 0.012)), 0.0) ** 6 * np.clip(1.0 - d / r, 0.0, 1.0)
        c.screen(wave * 0.35, pal.horizon, t, left)
