"""Colours and palettes: conversions, mixing, luminance, and the harmonic palette a prompt that
names no colour gets.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiln.engines.placeholder.vocabulary import PALETTES

Color = np.ndarray  # float32 RGB in 0..1, shape (3,)


def hex_colour(code: str) -> Color:
    return np.array([int(code[i : i + 2], 16) for i in (1, 3, 5)], np.float32) / 255


def mix(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    return a + (b - a) * t


def to_hls(c: Color) -> tuple[float, float, float]:
    return colorsys.rgb_to_hls(*(float(v) for v in np.clip(c, 0, 1)))


def from_hls(h: float, lightness: float, s: float) -> Color:
    return np.array(colorsys.hls_to_rgb(h % 1.0, min(max(lightness, 0.0), 1.0), min(max(s, 0.0), 1.0)), np.float32)


def adjust(c: Color, *, hue: float = 0.0, light: float = 1.0, sat: float = 1.0, lift: float = 0.0) -> Color:
    h, lightness, s = to_hls(c)
    lightness *= light
    return from_hls(h + hue, lightness + (1 - lightness) * lift, s * sat)


_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance of a colour (3,) or a channel-first picture (3, h, w)."""
    return np.tensordot(_LUMA, rgb, axes=1)


@dataclass(frozen=True)
class Palette:
    sky: Color
    horizon: Color
    far: Color
    near: Color
    accent: Color
    glow: Color

    ROLES = ("sky", "horizon", "far", "near", "accent", "glow")

    @classmethod
    def named(cls, name: str) -> Palette:
        return cls(*(hex_colour(code) for code in PALETTES[name]))

    def map(self, fn: Callable[[Color], Color]) -> Palette:
        return Palette(*(fn(getattr(self, role)) for role in self.ROLES))

    def blend(self, other: Palette, t: float) -> Palette:
        return Palette(*(mix(getattr(self, r), getattr(other, r), t) for r in self.ROLES))

    @property
    def is_dark(self) -> bool:
        return float(luma(self.horizon)) < 0.35


def harmonic_palette(hue: float, rng: np.random.Generator) -> Palette:
    """A palette around ``hue`` for prompts that name no palette: an analogous,
    complementary, triadic or split-complementary scheme with a sensible lightness ramp.
    The sky keeps to hues skies have (cyan through blue and violet to rose)."""
    accent_turn, glow_turn = ((0.08, 0.16), (0.5, 0.1), (1 / 3, 2 / 3), (0.42, 0.58))[int(rng.integers(4))]
    dark = rng.random() < 0.3
    sat = float(rng.uniform(0.4, 0.65))
    sky_hue = 0.5 + 0.4 * hue
    glow_hue = sky_hue + glow_turn
    return Palette(
        sky=from_hls(sky_hue, 0.12 if dark else float(rng.uniform(0.32, 0.45)), sat),
        horizon=from_hls(
            glow_hue, 0.35 if dark else float(rng.uniform(0.76, 0.85)), sat * 0.8 if dark else sat + 0.15
        ),
        far=from_hls(sky_hue + glow_turn * 0.4, 0.3 if dark else 0.52, sat * 0.5),
        near=from_hls(sky_hue, 0.07 if dark else 0.13, sat * 0.6),
        accent=from_hls(hue + accent_turn, float(rng.uniform(0.5, 0.6)), float(rng.uniform(0.6, 0.78))),
        glow=from_hls(glow_hue, 0.88, 0.85),
    )


def rgb255(c: Color) -> tuple[int, int, int]:
    r, g, b = (round(float(v) * 255) for v in np.clip(c, 0, 1))
    return r, g, b
