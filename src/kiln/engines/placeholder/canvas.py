"""The canvas pictures are painted on (channel-first float RGB) and the masks shapes are drawn
with.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from kiln.engines.placeholder.colour import Color
from kiln.engines.placeholder.noise import fbm, with_contrast
from kiln.engines.placeholder.seeding import Streams

# Pictures are channel-first (3, h, w): numpy broadcasts a (h, w) coverage over the leading
# axis several times faster than over a trailing axis of size 1, and blending is most of
# the work.


def col(c: Color) -> np.ndarray:
    return np.asarray(c, np.float32).reshape(3, 1, 1)


def colour_field(a: Color, b: Color, t: np.ndarray) -> np.ndarray:
    """Colours from ``a`` to ``b`` for the values of a 2-D ``t``, channel-first."""
    return col(a) + col(b - a) * t


def ramp(stops: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Colours along ``stops`` ((n, 3), dark to light) for values ``t`` in 0..1."""
    pos = np.clip(t, 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(pos.astype(np.int32), len(stops) - 2)
    f = (pos - i).astype(np.float32)
    columns = stops.T.astype(np.float32)
    return columns[:, i] * (1 - f) + columns[:, i + 1] * f


class Canvas:
    """The picture being painted, plus what layers tell later layers: where the horizon
    is, and where the ground is for a figure to stand on."""

    def __init__(self, w: int, h: int, horizon: float, streams: Streams, detail: float):
        self.w, self.h = w, h
        self.unit = float(min(w, h))
        self.rgb = np.zeros((3, h, w), np.float32)
        self.x = np.arange(w, dtype=np.float32)[None, :]
        self.y = np.arange(h, dtype=np.float32)[:, None]
        self.horizon = horizon * h
        self.ground = np.full(w, float(h), np.float32)
        self.detail = detail
        self.streams = streams
        self._texture: np.ndarray | None = None

    def octaves(self, base: int) -> int:
        """More octaves of noise as the step count (``detail``) grows."""
        return base + round(3 * self.detail)

    def texture(self) -> np.ndarray:
        """A fine noise shared by the layers that want surface texture."""
        if self._texture is None:
            self._texture = with_contrast(fbm(self.streams("texture"), self.w, self.h, 24, self.octaves(1)), 1.8)
        return self._texture

    def blend(self, alpha: np.ndarray, color: np.ndarray, top: int = 0, left: int = 0) -> None:
        """Paint ``color`` (a colour or a channel-first field) with coverage ``alpha``
        over the region whose corner is (top, left)."""
        region = self.rgb[:, top : top + alpha.shape[0], left : left + alpha.shape[1]]
        color = np.asarray(color, np.float32)
        region += ((color.reshape(3, 1, 1) if color.ndim == 1 else color) - region) * alpha

    def screen(self, light: np.ndarray, color: np.ndarray, top: int = 0, left: int = 0) -> None:
        """Add light as light adds: brighter, but never clipped flat."""
        region = self.rgb[:, top : top + light.shape[0], left : left + light.shape[1]]
        color = np.asarray(color, np.float32)
        color = color.reshape(3, 1, 1) if color.ndim == 1 else color
        region[:] = 1.0 - (1.0 - region) * (1.0 - np.clip(light, 0.0, 1.0) * color)

    def radius(self, cx: float, cy: float) -> np.ndarray:
        return np.sqrt((self.x - cx) ** 2 + (self.y - cy) ** 2)

    def box(self, cx: float, cy: float, r: float) -> tuple[int, int, int, int]:
        """The (top, bottom, left, right) rows and columns of a square around a point."""
        return (max(0, int(cy - r)), min(self.h, int(cy + r) + 2), max(0, int(cx - r)), min(self.w, int(cx + r) + 2))


def drawn_mask(w: int, h: int, draw: Callable[[ImageDraw.ImageDraw, int], None], supersample: int = 2) -> np.ndarray:
    """Coverage of shapes drawn with Pillow, anti-aliased by supersampling. ``draw`` gets
    the drawing and the factor to scale its coordinates by."""
    image = Image.new("L", (w * supersample, h * supersample), 0)
    draw(ImageDraw.Draw(image), supersample)
    return np.asarray(image.reduce(supersample), np.float32) / 255.0


def _polygon_drawer(*polygons: list[tuple[float, float]]) -> Callable[[ImageDraw.ImageDraw, int], None]:
    def draw(d: ImageDraw.ImageDraw, ss: int) -> None:
        for points in polygons:
            d.polygon([(x * ss, y * ss) for x, y in points], fill=255)

    return draw


def shape_mask(c: Canvas, *polygons: list[tuple[float, float]], pad: int = 2) -> tuple[np.ndarray, int, int]:
    """Coverage of polygons within their bounding box (plus ``pad``), clipped to the
    canvas: (mask, top, left). Small shapes cost only their own area."""
    points = np.concatenate([np.asarray(p, np.float64) for p in polygons])
    left, top = max(0, int(points[:, 0].min()) - pad), max(0, int(points[:, 1].min()) - pad)
    right, bottom = min(c.w, int(points[:, 0].max()) + pad + 2), min(c.h, int(points[:, 1].max()) + pad + 2)
    if right <= left or bottom <= top:
        return np.zeros((0, 0), np.float32), 0, 0
    moved = [[(x - left, y - top) for x, y in p] for p in polygons]
    return drawn_mask(right - left, bottom - top, _polygon_drawer(*moved)), top, left


def closed_spline(points: list[tuple[float, float]], per_segment: int = 6) -> list[tuple[float, float]]:
    """A smooth closed outline through ``points`` (repeat a point to keep a corner sharp)."""
    p = np.asarray(points, np.float64)
    n = len(p)
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(n):
        p0, p1, p2, p3 = p[i - 1], p[i], p[(i + 1) % n], p[(i + 2) % n]
        out.append(p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0))))
    return [(float(x), float(y)) for x, y in np.concatenate(out)]


WHITE = np.ones(3, np.float32)
