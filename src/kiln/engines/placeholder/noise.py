"""Noise and smoothing: fractal noise, 1-D noise, domain warping, blurs and smooth steps."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def resize_field(field: np.ndarray, w: int, h: int, resample: int = Image.BICUBIC) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(field, np.float32), "F").resize((w, h), resample))


def fbm(
    rng: np.random.Generator,
    w: int,
    h: int,
    cells: float,
    octaves: int,
    *,
    gain: float = 0.5,
    stretch: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Fractal value noise in 0..1 (mean 0.5). ``cells`` is the number of coarsest cells
    across the shorter side; ``stretch`` elongates features along x or y.

    Octaves are built as a pyramid (upsample the sum, add the next grid), so the cost is
    about one full-size bicubic resize whatever the octave count."""
    unit = min(w, h)
    gw = max(2, math.ceil(cells * w / unit / stretch[0])) + 1
    gh = max(2, math.ceil(cells * h / unit / stretch[1])) + 1
    grid = rng.random((gh, gw), dtype=np.float32)
    amp, total = 1.0, 1.0
    for _ in range(octaves - 1):
        gw, gh = gw * 2 - 1, gh * 2 - 1
        amp *= gain
        grid = resize_field(grid, gw, gh) + amp * rng.random((gh, gw), dtype=np.float32)
        total += amp
    return resize_field(grid, w, h) / total


def with_contrast(n: np.ndarray, k: float) -> np.ndarray:
    """Stretch noise around its middle: summed octaves bunch up near 0.5."""
    return np.clip((n - 0.5) * k + 0.5, 0.0, 1.0)


def noise1d(
    rng: np.random.Generator, n: int, cells: float, octaves: int, *, gain: float = 0.5, ridged: bool = False
) -> np.ndarray:
    """Smooth 1-D fractal noise in 0..1 over ``n`` samples; ``ridged`` folds each octave
    into sharp crests, which is what mountain ridges look like."""
    x = np.linspace(0.0, 1.0, n, dtype=np.float64)
    total, norm, amp = np.zeros(n), 0.0, 1.0
    for octave in range(octaves):
        k = max(1, round(cells * 2**octave))
        # Catmull-Rom overshoots a little; keep each octave inside 0..1.
        values = np.clip(_catmull_rom(rng.random(k + 3), x * k), 0.0, 1.0)
        if ridged:
            values = (1.0 - np.abs(2.0 * values - 1.0)) ** 1.5
        total += amp * values
        norm += amp
        amp *= gain
    return (total / norm).astype(np.float32)


def _catmull_rom(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    i = np.minimum(np.floor(t).astype(np.int64), len(values) - 4)
    f = t - i
    p0, p1, p2, p3 = values[i], values[i + 1], values[i + 2], values[i + 3]
    return p1 + 0.5 * f * (p2 - p0 + f * (2 * p0 - 5 * p1 + 4 * p2 - p3 + f * (3 * (p1 - p2) + p3 - p0)))


def sample(field: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a (h, w) or channel-first (3, h, w) field at fractional pixel
    positions, clamped to the edges."""
    h, w = field.shape[-2:]
    xs = np.clip(xs, 0, w - 1.001)
    ys = np.clip(ys, 0, h - 1.001)
    x0, y0 = xs.astype(np.int32), ys.astype(np.int32)
    fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    # Gathering from the flattened field along its last axis is much faster than
    # fancy-indexing two axes of a channel-first array.
    flat = field.reshape(*field.shape[:-2], h * w)
    corner = y0 * w + x0
    top = np.take(flat, corner, axis=-1) * (1 - fx) + np.take(flat, corner + 1, axis=-1) * fx
    bottom = np.take(flat, corner + w, axis=-1) * (1 - fx) + np.take(flat, corner + w + 1, axis=-1) * fx
    return top * (1 - fy) + bottom * fy


def warped_noise(
    rng: np.random.Generator, w: int, h: int, cells: float, octaves: int, warp: float, folds: int = 1
) -> np.ndarray:
    """Noise pushed around by noise (domain warping), ``folds`` times over, which turns
    blobs into filaments and swirls. ``warp`` is the push as a fraction of the shorter
    side. Worked at half size: the result is smooth, so enlarging it loses nothing."""
    hw, hh = max(2, (w + 1) // 2), max(2, (h + 1) // 2)
    ys, xs = np.arange(hh, dtype=np.float32)[:, None], np.arange(hw, dtype=np.float32)[None, :]
    shift = min(hw, hh) * warp
    warp_x, warp_y = fbm(rng, hw, hh, cells * 0.7, 3), fbm(rng, hw, hh, cells * 0.7, 3)
    base = fbm(rng, hw, hh, cells, octaves, gain=0.55)
    field = sample(base, ys + (warp_y - 0.5) * shift, xs + (warp_x - 0.5) * shift)
    for _ in range(folds - 1):
        field = sample(base, ys + (field - 0.5) * shift * 1.5 + hh * 0.3, xs + (field - 0.5) * shift)
    return resize_field(field, w, h)


def blur(field: np.ndarray, radius: float) -> np.ndarray:
    """A cheap soft blur of a (h, w) or (3, h, w) field: box-shrink and bicubic back up."""
    if radius < 1.0:
        return field
    h, w = field.shape[-2:]
    sw, sh = max(2, round(w / radius)), max(2, round(h / radius))
    if field.ndim == 2:
        return resize_field(resize_field(field, sw, sh, Image.BOX), w, h)
    return np.stack([blur(channel, radius) for channel in field])


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def smooth1d(values: np.ndarray, radius: float) -> np.ndarray:
    k = max(1, int(radius))
    kernel = np.ones(2 * k + 1, np.float32) / (2 * k + 1)
    return np.convolve(np.pad(values, k, mode="edge"), kernel, mode="valid").astype(np.float32)
