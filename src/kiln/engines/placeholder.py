"""The ``placeholder`` engine: procedural pictures drawn from the prompt, no AI model.

It exists so that kiln works out of the box: recipes build, galleries fill and every part of
the pipeline can be tried without weights or a GPU. The pictures are meant to look like a
small, varied art gallery rather than test patterns, so the prompt's words drive them:

* colour and mood words (``crimson``, ``arctic``, ``sunset``, ``neon``, ``pastel``, ``noir``,
  ``dark``, ...) pick the palette; a prompt that names none still gets a palette of its own,
  derived from its hash with a harmonious hue scheme;
* scene words pick the composition: landscapes (mountains, hills, dunes, fields, lakes, sea,
  forests, cities, a synthwave grid), space, abstract geometry, marbling and silk, flowers,
  a koi pond; subject words (``portrait``, ``sailor``, ``fox``, ``cat``, ``owl``, ...) add a
  figure;
* style words (``oil``, ``watercolor``, ``ink``, ``etching``, ``chalk``, ``pixel``,
  ``film``, ``noir``, ``vaporwave``, ``minimal``, ``halftone``, ``mosaic``,
  ``illustration``) change how it is rendered;
* the negative prompt takes things away: a colour word steers the palette off that hue,
  ``blurry`` sharpens, ``dark`` lightens, ``fog``/``stars``/``sun``/``clouds``/... drop that
  motif, a style word drops that style;
* the seed moves everything that is not named: positions, ridge shapes, counts, tints;
  ``guidance`` scales contrast and saturation (5 is neutral), ``steps`` adds detail (more
  noise octaves, more stars, a crisper finish; very few steps give a soft picture), the
  model name nudges hue and grain, and the sampler changes the grain.

Rendering is plain numpy and Pillow. Every random choice comes from a
``numpy.random.Generator(PCG64(...))`` seeded with a SHA-256 of the request (never
``hash()``, which varies with PYTHONHASHSEED), one stream per purpose, so the same request
gives the same pixels and adding detail to one part of the picture never reshuffles another.
"The same pixels" holds for one installation: a different numpy or Pillow version, or a CPU
with different SIMD paths, may round a few values differently. Pictures are painted at a
reduced internal resolution (about 0.45 megapixels) and resampled to exactly the requested
size.

Progress is reported like a diffusion engine: ``conditioning`` (reading the prompt and
planning the picture), then ``sampling`` once per step 1..steps (each step paints the next
layers, back to front; the steps left over refine the picture, one band of rows each), then
``saving`` (resampling to the output size, pixelating for pixel art, adding grain).

Requests are checked: width and height must be 64..4096, steps 1..200 and guidance a finite
number, otherwise :class:`EngineError` with code ``INVALID_REQUEST``. A prompt containing the
word ``_fail_`` fails on purpose with code ``GENERATION_FAILED`` (not retryable), so tests
of the runner can simulate an engine failure.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from kiln.engines.base import (
    Engine,
    EngineError,
    GenerateRequest,
    GenerateResult,
    Progress,
    ProgressFn,
    no_progress,
)

MIN_SIDE, MAX_SIDE = 64, 4096
MAX_STEPS = 200
FAIL_WORD = "_fail_"
# Internal canvas budget: big enough that hard edges survive the final resample, small
# enough that a 1024x1024 picture takes a few tenths of a second.
_INTERNAL_PIXELS = 450_000

Color = np.ndarray  # float32 RGB in 0..1, shape (3,)


# --- Vocabulary -------------------------------------------------------------------------

# Named palettes, as (sky, horizon, far, near, accent, glow): the sky's zenith, the light
# low in the sky, distant land, the darkest foreground, the subject/lights colour and the
# sun/moon colour.
_PALETTES: dict[str, tuple[str, ...]] = {
    "sunset": ("#2d1e4f", "#ff9a5a", "#9c4a6b", "#1e1030", "#ff6b4a", "#ffd58a"),
    "sunrise": ("#6d7fb8", "#ffc9a3", "#a08aa8", "#2f2b47", "#f7a072", "#fff0c2"),
    "dusk": ("#1b2150", "#d9788f", "#5b4a7d", "#151330", "#f2a2a0", "#ffd9c4"),
    "night": ("#060a1a", "#1f3155", "#1c2947", "#05070f", "#e8c872", "#f2f4ff"),
    "day": ("#3f83d6", "#cfe9f7", "#7aa3bf", "#2c4a33", "#e9c46a", "#fffbe8"),
    "arctic": ("#6d95c2", "#eaf2f8", "#b8cde2", "#3a5878", "#9ad1ea", "#fff6e0"),
    "ocean": ("#1d5b8f", "#b4e1ea", "#4a8fac", "#0a2a45", "#f4d58d", "#fffbe6"),
    "forest": ("#3b5a48", "#c9d8b0", "#5d7d57", "#14261b", "#e9c46a", "#f7f3dc"),
    "autumn": ("#5e4a6b", "#f2c38b", "#b7602f", "#3a1b12", "#e8772e", "#ffe7c2"),
    "desert": ("#3c7dc4", "#f8dcae", "#dca26a", "#9a5530", "#e07a3f", "#fff5d6"),
    "neon": ("#10052c", "#ff3f8e", "#3c1a73", "#08021a", "#26e7ff", "#ffb3f0"),
    "vapor": ("#2e1a66", "#ff9ccf", "#7b5cc9", "#170b38", "#48f0ff", "#fff3a6"),
    "pastel": ("#a8c5ee", "#ffe3ec", "#c9b9ea", "#8c9fcc", "#f6a5c0", "#fffaf0"),
    "noir": ("#111111", "#bcbcbc", "#5d5d5d", "#0a0a0a", "#d9d9d9", "#ffffff"),
    "storm": ("#2b3340", "#8c96a1", "#4d5866", "#151a21", "#d6dee6", "#eef3f8"),
    "tropical": ("#1b9ccc", "#cff3e8", "#2fb39b", "#0d4a3a", "#ff8c5a", "#fffbe6"),
    "volcanic": ("#1c0b0b", "#ff5b1f", "#5c1c14", "#0d0505", "#ffa21f", "#fff0bd"),
    "sepia": ("#5a4636", "#ead9b8", "#a88d6d", "#2f241c", "#b5613a", "#fff6e4"),
    "spring": ("#8dc5ea", "#fde4ea", "#9cc58b", "#3e6b3b", "#f49ab6", "#fffaf4"),
    "aurora": ("#041224", "#1a5a5c", "#1f3950", "#03090f", "#5effb2", "#d3b2ff"),
    "cosmic": ("#06040f", "#2b1458", "#3d2070", "#020108", "#ff5fa2", "#a8ecff"),
    "underwater": ("#031c30", "#13708f", "#0c4262", "#010e1a", "#5ef0d6", "#dcfff8"),
    "earth": ("#8b5d46", "#ebcba1", "#b47d55", "#3d2a1f", "#d0603a", "#fff3df"),
    "bauhaus": ("#1f4e9c", "#efe4cf", "#e38b2c", "#1b1b1b", "#d33a2c", "#f2c12e"),
    "fog": ("#8f9aa0", "#e2e5e1", "#b1b8b6", "#48534f", "#e8d9b5", "#fbf8ef"),
}


def _vocabulary(**meanings: str) -> dict[str, str]:
    """A word -> meaning table, written as one space-separated list of words per meaning."""
    return {word: meaning for meaning, words in meanings.items() for word in words.split()}


_PALETTE_WORDS = _vocabulary(
    sunset="sunset sundown",
    sunrise="sunrise dawn morning",
    dusk="dusk twilight evening",
    night="night midnight nocturne moonlit moonlight nighttime",
    day="noon day midday daylight sunny summer",
    arctic="arctic polar ice icy glacier glacial frozen frost winter snow snowy snowstorm blizzard tundra",
    ocean="ocean sea marine coastal seaside beach harbour harbor",
    forest="forest woodland woods jungle moss",
    autumn="autumn fall autumnal harvest",
    desert="desert dune sahara sand arid canyon mesa",
    neon="neon cyberpunk cyber",
    vapor="vaporwave synthwave retrowave outrun",
    pastel="pastel dreamy candy",
    noir="noir monochrome grayscale greyscale",
    storm="storm stormy thunder tempest thunderstorm",
    tropical="tropical paradise lagoon",
    volcanic="volcano volcanic lava fire inferno molten ember",
    sepia="sepia vintage antique",
    spring="spring blossom sakura cherry meadow",
    aurora="aurora boreal borealis",
    cosmic="space nebula galaxy cosmic cosmos universe starfield interstellar",
    underwater="underwater abyss",
    earth="earthy terracotta clay rustic",
    bauhaus="bauhaus mondrian primary",
    fog="fog foggy mist misty haze hazy",
)

# fmt: off
_COLOURS: dict[str, str] = {
    "red": "#d62f3a", "crimson": "#b0173a", "scarlet": "#e8342a", "ruby": "#a3123a",
    "orange": "#f2862b", "amber": "#f0a22e", "gold": "#e8b53a", "golden": "#e8b53a",
    "yellow": "#f4d03f", "lemon": "#f7e463", "honey": "#e9a93c",
    "green": "#3fa45b", "emerald": "#1f9e6e", "jade": "#3fae8a", "lime": "#a4d13f",
    "mint": "#8fe0bd", "olive": "#7d8a3a", "sage": "#9bb08c",
    "teal": "#1c9a9a", "cyan": "#2ed3e6", "turquoise": "#3fd1c6", "aqua": "#4fe0d8",
    "blue": "#2f6ad8", "azure": "#3a8ff0", "cobalt": "#1f4fc2", "sapphire": "#1d3fa8",
    "navy": "#1f2b6b", "indigo": "#3b2f8f", "cerulean": "#2a7fc2",
    "purple": "#7b3fb5", "violet": "#8c55d9", "lavender": "#a98fe0", "lilac": "#c7a3dd",
    "plum": "#7a2f63", "amethyst": "#9a5fc7",
    "pink": "#f28db2", "rose": "#e0637f", "magenta": "#d6339c", "fuchsia": "#e040b8",
    "coral": "#ff7b63", "peach": "#ffb38a", "salmon": "#f58f7c",
    "white": "#f3efe6", "ivory": "#f4edd8", "silver": "#c5ccd6", "pearl": "#ece6dc",
    "black": "#17161c", "obsidian": "#14121a", "grey": "#8a9099", "gray": "#8a9099",
    "slate": "#5f6b7a", "brown": "#7a4e32", "copper": "#c26a3a", "bronze": "#a8753a",
    "rust": "#a4462a", "chocolate": "#5a3525", "sunflower": "#f2c12e", "orchid": "#c45fb0",
}
# fmt: on

# Words that give the ground of a landscape.
_GROUND_WORDS = _vocabulary(
    mountains="mountain peak alps alpine summit range ridge cliff highland volcano",
    hills="hill valley countryside landscape plain meadow prairie tundra arctic snowfield steppe moor",
    dunes="dune desert sahara sand",
    field="field wheat farm farmland vineyard crop",
    lake="lake river reflection fjord loch",
    sea="ocean sea wave beach coast shore seaside bay lagoon island",
    city=(
        "city skyline cityscape metropolis downtown street urban skyscraper tower town rooftop harbour "
        "harbor cyberpunk alley building architecture"
    ),
    forest="forest wood woodland tree grove taiga pine jungle",
    grid="synthwave vaporwave retrowave outrun grid",
)

# Words that call for a whole-frame composition of their own.
_SCENE_WORDS = _vocabulary(
    space="space nebula galaxy cosmos cosmic universe starfield planet interstellar",
    abstract=(
        "abstract geometric bauhaus shape mondrian composition constructivist suprematism cubist "
        "modernist pattern geometry"
    ),
    flow="flow fluid marble marbling swirl liquid silk smoke organic psychedelic wind current",
    botanical=(
        "flower floral botanical bloom petal bouquet lotus orchid daisy peony rose garden poppy "
        "wildflower sunflower vase tulip iris"
    ),
    pond="koi pond lily lilies lilypad goldfish aquarium fish",
)

_PORTRAIT_WORDS = set("portrait face bust profile headshot".split())
_PERSON_WORDS = set(
    (
        "man woman person sailor girl boy figure wanderer traveler traveller king queen knight monk child "
        "lady captain fisherman wizard witch stranger hiker"
    ).split()
)

# Words that change what a portrait wears (see _bust_extras).
_PERSON_DETAILS = set("sailor captain fisherman old bearded woman girl queen lady king wizard witch".split())
_ANIMAL_WORDS = _vocabulary(
    fox="fox creature animal beast lynx deer",
    wolf="wolf dog puppy hound coyote",
    cat="cat kitten tiger lion leopard panther",
    hare="rabbit hare bunny",
    owl="owl bird raven crow eagle hawk",
)

_STYLE_WORDS = _vocabulary(
    oil="oil painting painted impasto acrylic impressionist gouache",
    watercolor="watercolor watercolour aquarelle wash",
    ink="ink sumi brush calligraphy inkwash",
    etching="sketch pen drawing etching engraving woodcut linocut hatching lithograph",
    chalk="chalk crayon charcoal pastels chalkboard",
    pixel="pixel pixelart 8bit 16bit sprite pixelated",
    film=("film photo photograph photography analog 35mm kodak polaroid cinematic grainy realistic photorealistic"),
    noir="noir monochrome grayscale greyscale",
    vaporwave="vaporwave synthwave retrowave outrun vhs glitch",
    minimal="minimal minimalist minimalism flat simple clean",
    halftone="halftone comic pop popart risograph riso screenprint print",
    mosaic="mosaic stained tiles tile stainedglass",
    illustration="illustration illustrated poster storybook lineart",
)

_MOOD_WORDS = _vocabulary(
    dark="dark gloomy moody somber sombre sinister ominous shadowy",
    bright="bright cheerful vivid vibrant radiant luminous colorful",
    muted="muted faded dusty washed desaturated subdued",
    calm="quiet calm serene still peaceful tranquil silent lonely",
    epic="epic dramatic majestic towering vast grand",
)

_WEATHER_WORDS = _vocabulary(
    fog="fog foggy mist misty haze hazy",
    rain="rain rainy raining drizzle downpour",
    snow="snow snowy snowfall snowing",
    storm="snowstorm blizzard storm stormy thunder tempest thunderstorm",
)

# Negative-prompt words that take a motif out of the picture.
_MOTIF_WORDS = _vocabulary(
    sun="sun sunlight",
    moon="moon",
    stars="star stars",
    clouds="cloud clouds cloudy",
    water="water reflection lake sea ocean",
    fog="fog foggy mist misty haze",
    weather="rain snow weather storm",
    trees="tree trees forest",
    subject="people person human figure animal animals creature",
    grain="grain noise noisy grainy",
    vignette="vignette",
)

_SKY_WORDS = _vocabulary(
    nebula="nebula galaxy cosmic cosmos space starfield interstellar",
    aurora="aurora borealis boreal",
    night="night midnight moon moonlit moonlight starry stars nighttime",
    golden="sunset sundown dusk sunrise dawn twilight golden evening",
    day="noon midday day daylight sunny summer",
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def _lookup(word: str, table: dict[str, str]) -> str | None:
    """``table[word]``, also trying the word without a plural ending."""
    for candidate in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        if candidate and candidate in table:
            return table[candidate]
    return None


def _found(words: list[str], table: dict[str, str]) -> list[str]:
    """The table's values for the words that are in it, in prompt order, without repeats."""
    hits = [_lookup(w, table) for w in words]
    return list(dict.fromkeys(h for h in hits if h))


# --- Seeding ----------------------------------------------------------------------------


def _digest(*parts: object) -> bytes:
    # repr() of str/int/float is stable across runs, unlike hash() under PYTHONHASHSEED.
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\x1f")
    return h.digest()


def _unit_float(*parts: object) -> float:
    return int.from_bytes(_digest(*parts)[:8], "little") / 2.0**64


class _Streams:
    """Independent random streams, one per purpose, all derived from one key."""

    def __init__(self, *key: object):
        self._key = _digest(*key)

    def __call__(self, *label: object) -> np.random.Generator:
        seed = int.from_bytes(_digest(self._key, *label)[:16], "little")
        return np.random.Generator(np.random.PCG64(seed))


# --- Colour -----------------------------------------------------------------------------


def _hex(code: str) -> Color:
    return np.array([int(code[i : i + 2], 16) for i in (1, 3, 5)], np.float32) / 255


def _mix(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    return a + (b - a) * t


def _to_hls(c: Color) -> tuple[float, float, float]:
    return colorsys.rgb_to_hls(*(float(v) for v in np.clip(c, 0, 1)))


def _from_hls(h: float, lightness: float, s: float) -> Color:
    return np.array(colorsys.hls_to_rgb(h % 1.0, min(max(lightness, 0.0), 1.0), min(max(s, 0.0), 1.0)), np.float32)


def _adjust(c: Color, *, hue: float = 0.0, light: float = 1.0, sat: float = 1.0, lift: float = 0.0) -> Color:
    h, lightness, s = _to_hls(c)
    lightness *= light
    return _from_hls(h + hue, lightness + (1 - lightness) * lift, s * sat)


_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance of a colour (3,) or a channel-first picture (3, h, w)."""
    return np.tensordot(_LUMA, rgb, axes=1)


@dataclass(frozen=True)
class _Palette:
    sky: Color
    horizon: Color
    far: Color
    near: Color
    accent: Color
    glow: Color

    ROLES = ("sky", "horizon", "far", "near", "accent", "glow")

    @classmethod
    def named(cls, name: str) -> _Palette:
        return cls(*(_hex(code) for code in _PALETTES[name]))

    def map(self, fn: Callable[[Color], Color]) -> _Palette:
        return _Palette(*(fn(getattr(self, role)) for role in self.ROLES))

    def blend(self, other: _Palette, t: float) -> _Palette:
        return _Palette(*(_mix(getattr(self, r), getattr(other, r), t) for r in self.ROLES))

    @property
    def is_dark(self) -> bool:
        return float(_luma(self.horizon)) < 0.35


def _harmonic_palette(hue: float, rng: np.random.Generator) -> _Palette:
    """A palette around ``hue`` for prompts that name no palette: an analogous,
    complementary, triadic or split-complementary scheme with a sensible lightness ramp.
    The sky keeps to hues skies have (cyan through blue and violet to rose)."""
    accent_turn, glow_turn = ((0.08, 0.16), (0.5, 0.1), (1 / 3, 2 / 3), (0.42, 0.58))[int(rng.integers(4))]
    dark = rng.random() < 0.3
    sat = float(rng.uniform(0.4, 0.65))
    sky_hue = 0.5 + 0.4 * hue
    glow_hue = sky_hue + glow_turn
    return _Palette(
        sky=_from_hls(sky_hue, 0.12 if dark else float(rng.uniform(0.32, 0.45)), sat),
        horizon=_from_hls(
            glow_hue, 0.35 if dark else float(rng.uniform(0.76, 0.85)), sat * 0.8 if dark else sat + 0.15
        ),
        far=_from_hls(sky_hue + glow_turn * 0.4, 0.3 if dark else 0.52, sat * 0.5),
        near=_from_hls(sky_hue, 0.07 if dark else 0.13, sat * 0.6),
        accent=_from_hls(hue + accent_turn, float(rng.uniform(0.5, 0.6)), float(rng.uniform(0.6, 0.78))),
        glow=_from_hls(glow_hue, 0.88, 0.85),
    )


# --- Reading the prompt ---------------------------------------------------------------------


@dataclass
class _Reading:
    """What the prompt asks for, in the engine's terms."""

    words: set[str]
    palettes: list[str]
    colours: list[Color]
    scene: str
    ground: str | None
    sky: str | None
    subject: str | None
    subject_colour: Color | None
    person_kind: set[str]
    styles: set[str]
    moods: set[str]
    weather: set[str]
    suppress: set[str]
    avoid_hues: list[float]
    negative_moods: set[str]


def _subject_adjective(words: list[str], index: int) -> Color | None:
    """The colour named right before the subject ("red fox", "arctic fox"), if any."""
    for word in words[max(0, index - 2) : index]:
        code = _lookup(word, _COLOURS)
        if code:
            return _hex(code)
        if _lookup(word, _PALETTE_WORDS) == "arctic":
            return _hex("#eef2f5")
    return None


def _read(prompt: str, negative: str) -> _Reading:
    words = _words(prompt)
    neg = _words(negative)
    neg_set = set(neg)
    styles = set(_found(words, _STYLE_WORDS)) - set(_found(neg, _STYLE_WORDS))

    subject, subject_colour, person_kind, subject_at = None, None, set(), -1
    for i, word in enumerate(words):
        animal = _lookup(word, _ANIMAL_WORDS)
        if animal or word in _PORTRAIT_WORDS or word in _PERSON_WORDS:
            subject = animal or ("portrait" if word in _PORTRAIT_WORDS else "person")
            subject_colour, subject_at = _subject_adjective(words, i), i
            break
    # An adjective used for the subject ("arctic fox") does not also set the scene's palette.
    palette_words = [
        w for i, w in enumerate(words) if not (subject_colour is not None and subject_at - 2 <= i < subject_at)
    ]
    grounds = _found(palette_words, _GROUND_WORDS)
    scenes = _found(words, _SCENE_WORDS)
    if subject in {"portrait", "person"}:
        person_kind = set(words) & _PERSON_DETAILS
        # A person with somewhere to be is a figure in a landscape; otherwise, a portrait.
        subject = "person" if grounds or set(words) & {"standing", "lone", "walking"} else "portrait"
    if scenes and not (grounds and scenes[0] == "space"):
        scene = scenes[0]
    elif subject == "portrait":
        scene = "portrait"
    else:
        scene = "vista"

    neutral = {"white", "black", "grey", "gray", "silver", "ivory", "pearl"}
    avoid = [_to_hls(_hex(code))[0] for code in (_lookup(w, _COLOURS) for w in neg if w not in neutral) if code]
    suppress = {m for m in (_lookup(w, _MOTIF_WORDS) for w in neg) if m}
    return _Reading(
        words=set(words),
        palettes=[p for p in _found(palette_words, _PALETTE_WORDS) if p not in set(_found(neg, _PALETTE_WORDS))],
        colours=[_hex(code) for code in (_lookup(w, _COLOURS) for w in palette_words) if code],
        scene=scene,
        ground=grounds[0] if grounds else None,
        sky=(_found(words, _SKY_WORDS) or [None])[0],
        subject=None if "subject" in suppress else subject,
        subject_colour=subject_colour,
        person_kind=person_kind,
        styles=styles,
        moods=set(_found(words, _MOOD_WORDS)),
        weather=set(_found(words, _WEATHER_WORDS))
        - ({"fog"} if "fog" in suppress else set())
        - ({"rain", "snow", "storm"} if "weather" in suppress else set()),
        suppress=suppress,
        avoid_hues=avoid,
        negative_moods=set(_found(neg, _MOOD_WORDS))
        | ({"blurry"} if neg_set & {"blurry", "blur", "soft", "unfocused", "lowres"} else set()),
    )


# Style palettes set the whole look ("neon", "noir"); time-of-day palettes colour the sky
# and places colour the land, so "desert dunes at noon" gets a noon sky over desert sand;
# weather only leads when nothing else names the colours ("misty mountains at sunset" is a
# sunset seen through mist).
_STYLE_PALETTES = {"neon", "vapor", "pastel", "noir", "sepia", "bauhaus", "cosmic"}
_TIME_PALETTES = {"sunset", "sunrise", "dusk", "night", "day", "aurora"}
_WEAK_PALETTES = {"fog", "storm"}


def _palette_order(names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: (name not in _STYLE_PALETTES, name in _WEAK_PALETTES))


def _named_palette(names: list[str]) -> _Palette:
    """The palette for the palette words of a prompt, most telling first."""
    names = _palette_order(names)
    times = [n for n in names if n in _TIME_PALETTES]
    places = [n for n in names if n not in _TIME_PALETTES | _WEAK_PALETTES | _STYLE_PALETTES]
    if names[0] not in _STYLE_PALETTES and times and places:
        sky, land = _Palette.named(times[0]), _Palette.named(places[0])
        # The land's own light tints the haze too, or distant sand would turn sky-blue.
        pal = replace(
            sky,
            horizon=_mix(sky.horizon, land.horizon, 0.45),
            far=_mix(land.far, sky.far, 0.25),
            near=_mix(land.near, sky.near, 0.35),
            accent=land.accent,
        )
        rest = [n for n in names if n not in (times[0], places[0])]
    else:
        pal, rest = _Palette.named(names[0]), names[1:]
    for weight, name in zip((0.3, 0.15), rest[:2], strict=False):
        pal = pal.blend(_Palette.named(name), weight)
    return pal


def _build_palette(r: _Reading, prompt_key: _Streams, seed_key: _Streams, model: str) -> _Palette:
    if r.palettes:
        pal = _named_palette(r.palettes)
    else:
        rng = prompt_key("palette")
        hue = _to_hls(r.colours[0])[0] if r.colours else float(rng.random())
        pal = _harmonic_palette(hue, rng)
    if r.colours:
        pal = replace(pal, accent=r.colours[0])
    if len(r.colours) > 1:
        pal = replace(pal, glow=_mix(pal.glow, r.colours[1], 0.7))
    if "storm" in r.weather:
        pal = pal.blend(_Palette.named("storm"), 0.45)
    pal = _apply_moods(pal, r.moods, r.negative_moods)
    for avoided in r.avoid_hues:
        pal = pal.map(partial(_steer_off_hue, avoided=avoided))
    # Each seed tints the palette a little, so a batch of one prompt is not monotonous; the
    # model name shifts it a little more, as different checkpoints would.
    jitter = float(seed_key("tint").uniform(-0.015, 0.015)) + (_unit_float("model", model) - 0.5) * 0.04
    return pal.map(lambda c: _adjust(c, hue=jitter))


def _apply_moods(pal: _Palette, moods: set[str], negative: set[str]) -> _Palette:
    if "dark" in moods or "bright" in negative:
        pal = replace(pal, **{r: _adjust(getattr(pal, r), light=0.62) for r in ("sky", "horizon", "far", "near")})
    if "bright" in moods or "dark" in negative:
        pal = pal.map(lambda c: _adjust(c, lift=0.18, sat=1.1))
    if "muted" in moods or "bright" in negative:
        pal = pal.map(lambda c: _adjust(c, sat=0.6))
    if "muted" in negative:
        pal = pal.map(lambda c: _adjust(c, sat=1.25))
    return pal


def _steer_off_hue(c: Color, avoided: float) -> Color:
    h, lightness, s = _to_hls(c)
    gap = (h - avoided + 0.5) % 1.0 - 0.5
    if s < 0.12 or abs(gap) > 0.1:
        return c
    return _from_hls(avoided + math.copysign(0.19, gap or 1.0), lightness, s * 0.85)


# --- Noise ------------------------------------------------------------------------------


def _resize(field: np.ndarray, w: int, h: int, resample: int = Image.BICUBIC) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(field, np.float32), "F").resize((w, h), resample))


def _fbm(
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
        grid = _resize(grid, gw, gh) + amp * rng.random((gh, gw), dtype=np.float32)
        total += amp
    return _resize(grid, w, h) / total


def _contrast(n: np.ndarray, k: float) -> np.ndarray:
    """Stretch noise around its middle: summed octaves bunch up near 0.5."""
    return np.clip((n - 0.5) * k + 0.5, 0.0, 1.0)


def _noise1d(
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


def _sample(field: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
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


def _warped_noise(
    rng: np.random.Generator, w: int, h: int, cells: float, octaves: int, warp: float, folds: int = 1
) -> np.ndarray:
    """Noise pushed around by noise (domain warping), ``folds`` times over, which turns
    blobs into filaments and swirls. ``warp`` is the push as a fraction of the shorter
    side. Worked at half size: the result is smooth, so enlarging it loses nothing."""
    hw, hh = max(2, (w + 1) // 2), max(2, (h + 1) // 2)
    ys, xs = np.arange(hh, dtype=np.float32)[:, None], np.arange(hw, dtype=np.float32)[None, :]
    shift = min(hw, hh) * warp
    warp_x, warp_y = _fbm(rng, hw, hh, cells * 0.7, 3), _fbm(rng, hw, hh, cells * 0.7, 3)
    base = _fbm(rng, hw, hh, cells, octaves, gain=0.55)
    field = _sample(base, ys + (warp_y - 0.5) * shift, xs + (warp_x - 0.5) * shift)
    for _ in range(folds - 1):
        field = _sample(base, ys + (field - 0.5) * shift * 1.5 + hh * 0.3, xs + (field - 0.5) * shift)
    return _resize(field, w, h)


def _blur(field: np.ndarray, radius: float) -> np.ndarray:
    """A cheap soft blur of a (h, w) or (3, h, w) field: box-shrink and bicubic back up."""
    if radius < 1.0:
        return field
    h, w = field.shape[-2:]
    sw, sh = max(2, round(w / radius)), max(2, round(h / radius))
    if field.ndim == 2:
        return _resize(_resize(field, sw, sh, Image.BOX), w, h)
    return np.stack([_blur(channel, radius) for channel in field])


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _smooth1d(values: np.ndarray, radius: float) -> np.ndarray:
    k = max(1, int(radius))
    kernel = np.ones(2 * k + 1, np.float32) / (2 * k + 1)
    return np.convolve(np.pad(values, k, mode="edge"), kernel, mode="valid").astype(np.float32)


# --- The canvas ---------------------------------------------------------------------------
# Pictures are channel-first (3, h, w): numpy broadcasts a (h, w) coverage over the leading
# axis several times faster than over a trailing axis of size 1, and blending is most of
# the work.


def _col(c: Color) -> np.ndarray:
    return np.asarray(c, np.float32).reshape(3, 1, 1)


def _field(a: Color, b: Color, t: np.ndarray) -> np.ndarray:
    """Colours from ``a`` to ``b`` for the values of a 2-D ``t``, channel-first."""
    return _col(a) + _col(b - a) * t


def _ramp(stops: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Colours along ``stops`` ((n, 3), dark to light) for values ``t`` in 0..1."""
    pos = np.clip(t, 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(pos.astype(np.int32), len(stops) - 2)
    f = (pos - i).astype(np.float32)
    columns = stops.T.astype(np.float32)
    return columns[:, i] * (1 - f) + columns[:, i + 1] * f


class _Canvas:
    """The picture being painted, plus what layers tell later layers: where the horizon
    is, and where the ground is for a figure to stand on."""

    def __init__(self, w: int, h: int, horizon: float, streams: _Streams, detail: float):
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
            self._texture = _contrast(_fbm(self.streams("texture"), self.w, self.h, 24, self.octaves(1)), 1.8)
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


def _mask(w: int, h: int, draw: Callable[[ImageDraw.ImageDraw, int], None], supersample: int = 2) -> np.ndarray:
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


def _shape_mask(c: _Canvas, *polygons: list[tuple[float, float]], pad: int = 2) -> tuple[np.ndarray, int, int]:
    """Coverage of polygons within their bounding box (plus ``pad``), clipped to the
    canvas: (mask, top, left). Small shapes cost only their own area."""
    points = np.concatenate([np.asarray(p, np.float64) for p in polygons])
    left, top = max(0, int(points[:, 0].min()) - pad), max(0, int(points[:, 1].min()) - pad)
    right, bottom = min(c.w, int(points[:, 0].max()) + pad + 2), min(c.h, int(points[:, 1].max()) + pad + 2)
    if right <= left or bottom <= top:
        return np.zeros((0, 0), np.float32), 0, 0
    moved = [[(x - left, y - top) for x, y in p] for p in polygons]
    return _mask(right - left, bottom - top, _polygon_drawer(*moved)), top, left


def _closed_spline(points: list[tuple[float, float]], per_segment: int = 6) -> list[tuple[float, float]]:
    """A smooth closed outline through ``points`` (repeat a point to keep a corner sharp)."""
    p = np.asarray(points, np.float64)
    n = len(p)
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(n):
        p0, p1, p2, p3 = p[i - 1], p[i], p[(i + 1) % n], p[(i + 2) % n]
        out.append(p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0))))
    return [(float(x), float(y)) for x, y in np.concatenate(out)]


_WHITE = np.ones(3, np.float32)


# --- Skies --------------------------------------------------------------------------------


def _paint_sky(c: _Canvas, pal: _Palette) -> None:
    t = np.clip(c.y / max(c.horizon, 1.0), 0.0, 1.0) ** 1.5
    c.rgb[:] = _field(pal.sky, pal.horizon, t)
    # A faint large-scale unevenness keeps a big sky from looking like a CSS gradient.
    c.rgb *= 0.93 + 0.14 * _fbm(c.streams("sky"), c.w, c.h, 1.2, 3)


def _paint_sun(c: _Canvas, pal: _Palette, x: float, height: float, size: float, kind: str) -> None:
    """A sun, a moon or a striped synthwave sun, with its halo. ``height`` is the fraction
    of the way from the horizon to the top of the frame."""
    cx, cy = x * c.w, c.horizon * (1.0 - height)
    r = size * c.unit
    d = c.radius(cx, cy)
    if kind == "moon":
        c.screen(np.exp(-d / (r * 1.6)) * 0.4 + np.exp(-d / (r * 6)) * 0.15, _mix(pal.glow, pal.horizon, 0.3))
        top, bottom, left, right = c.box(cx, cy, r + 2)
        face = _fbm(c.streams("moon"), right - left, bottom - top, 2.5, 3) if bottom > top and right > left else 0.5
        disc = np.clip(r - d[top:bottom, left:right] + 0.5, 0.0, 1.0)
        c.blend(disc, _col(_mix(pal.glow, _WHITE, 0.45)) * (0.8 + 0.3 * face), top, left)
        return
    halo = np.exp(-d / (r * 2.4)) * 0.5 + np.exp(-d / (r * 9)) * 0.22
    band = np.exp(-(((c.x - cx) / (c.w * 0.6)) ** 2) - ((c.y - c.horizon) / (c.h * 0.2)) ** 2) * 0.3
    c.screen(halo + band, pal.glow)
    disc = np.clip((r - d) / 1.5 + 0.5, 0.0, 1.0)
    if kind == "striped":
        v = np.clip((c.y - (cy - 0.1 * r)) / (1.1 * r), 0.0, 1.0)
        disc = disc * ~(((c.y - cy) / (r * 0.17)) % 1.0 < v * 0.55)
        c.blend(disc, _field(pal.glow, pal.accent, np.clip((c.y - cy + r) / (2 * r), 0.0, 1.0)))
    else:
        c.blend(disc, _mix(pal.glow, _WHITE, 0.5))


def _paint_clouds(c: _Canvas, pal: _Palette, cover: float, body: Color, lit: Color, seed: int) -> None:
    rows = max(2, int(c.horizon))
    n = _contrast(_fbm(c.streams("clouds", seed), c.w, rows, 2.2, c.octaves(3), stretch=(3.5, 0.8)), 2.2)
    y = c.y[:rows] / rows
    density = _smoothstep(1.0 - cover, 1.05 - cover * 0.6, n) * _smoothstep(1.0, 0.55, y)
    # The light is low, so the undersides glow: compare the noise with itself a few rows
    # lower, and where the cloud thins downwards, it is lit.
    shift = max(1, int(c.unit * 0.015))
    underside = np.clip((n - np.roll(n, -shift, axis=0)) * 8.0, 0.0, 1.0)
    shade = _field(body, pal.horizon, 0.35 + 0.3 * y)
    c.blend(density * 0.92, shade + (_col(lit) - shade) * (underside * 0.8))


def _paint_stars(c: _Canvas, pal: _Palette, density: float, bottom: float) -> None:
    rng = c.streams("stars")
    count = int(density * c.w * c.h / c.unit**2 * (600 + 1400 * c.detail))
    ys = rng.random(count) ** 1.3 * bottom * c.h
    xs = rng.random(count) * c.w
    bright = rng.random(count) ** 4 * np.clip((bottom * c.h - ys) / (0.35 * bottom * c.h), 0.0, 1.0)
    light = np.zeros((c.h, c.w), np.float32)
    np.maximum.at(light, (ys.astype(np.int64), xs.astype(np.int64)), bright.astype(np.float32))
    c.screen(light + _blur(light, c.unit * 0.004) * 3.0, _mix(pal.glow, _WHITE, 0.6))


def _paint_nebula(c: _Canvas, pal: _Palette, bottom: float) -> None:
    """Glowing gas: domain-warped noise through the palette, cut by dark dust lanes."""
    rows = max(2, int(bottom * c.h))
    rng = c.streams("nebula")
    gas = _contrast(_warped_noise(rng, c.w, rows, 2.0, c.octaves(4), 0.3 * c.unit / min(c.w, rows)), 2.6)
    dust = _smoothstep(0.5, 0.72, _contrast(_fbm(rng, c.w, rows, 3.0, c.octaves(3)), 2.0))
    veil = _smoothstep(0.2, 0.9, gas) * (1.0 - 0.7 * dust) * _smoothstep(1.0, 0.5, c.y[:rows] / rows)
    colour = _ramp(np.stack([pal.horizon, pal.far, pal.accent, pal.glow]), gas**1.4)
    c.screen(_blur(veil, c.unit * 0.05) * 0.45, pal.far)
    c.screen(veil, colour)


def _paint_aurora(c: _Canvas, pal: _Palette) -> None:
    """Curtains of light: a bright wavy hem with rays fading upwards."""
    rows = max(2, int(c.horizon))
    rng = c.streams("aurora")
    hem = (0.3 + 0.35 * _noise1d(rng, c.w, 1.2 * c.w / c.unit, 4)) * rows
    strength = _smoothstep(0.25, 0.7, _noise1d(rng, c.w, 1.5 * c.w / c.unit, 3))
    rays = _contrast(_fbm(rng, c.w, rows, 4.0, c.octaves(2), stretch=(0.3, 3.0)), 1.6)
    above = (hem[None, :] - c.y[:rows]) / (rows * 0.4)
    shape = np.where(above > 0, np.exp(-above * 2.2), np.exp(-((above * 10.0) ** 2)))
    light = shape * (0.35 + 0.65 * rays) * strength[None, :]
    c.screen(_blur(light, c.unit * 0.01) * 0.95, _field(pal.accent, pal.glow, np.clip(above * 1.2, 0.0, 1.0)))


# --- Ground -------------------------------------------------------------------------------


def _ridge_profile(rng: np.random.Generator, c: _Canvas, kind: str, base: float, amp: float) -> np.ndarray:
    """The skyline of one layer of land, as a y coordinate per column."""
    across = c.w / c.unit
    if kind == "mountains":
        envelope = _noise1d(rng, c.w, 0.8 * across, 2)
        n = _noise1d(rng, c.w, 1.8 * across, c.octaves(3), gain=0.42, ridged=True) * (0.3 + 0.9 * envelope)
    elif kind == "dunes":
        n = 1.0 - np.abs(2.0 * _noise1d(rng, c.w, 1.3 * across, 2, gain=0.3) - 1.0) ** 1.4
        n = n * 0.9 + 0.1 * _noise1d(rng, c.w, 4 * across, c.octaves(1), gain=0.4)
    else:
        n = _noise1d(rng, c.w, 1.1 * across, c.octaves(2), gain=0.3)
    return (base - amp * n).astype(np.float32)


@dataclass(frozen=True)
class _Land:
    """How one band of land is coloured and lit."""

    colour: Color
    mist_colour: Color
    mist: float
    shade: float = 0.0
    sun_side: float = 1.0
    texture: float = 0.0
    glow: Color | None = None
    snow: Color | None = None


def _paint_ridge(c: _Canvas, top: np.ndarray, land: _Land, extra: np.ndarray | None = None) -> None:
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
    colour = _field(land.colour, land.mist_colour, land.mist * np.sqrt(np.clip(below / (c.unit * 0.22), 0.0, 1.0)))
    near_top = np.exp(-np.maximum(below, 0.0) / (c.unit * 0.05))
    facing = np.clip(np.gradient(_smooth1d(top, c.unit * 0.012)) * land.sun_side * 1.5, -1.0, 1.0)[None, :]
    if land.snow is not None:
        height = np.clip((top.max() - top) / max(1.0, float(top.max() - top.min())), 0.0, 1.0)[None, :]
        depth = c.unit * 0.07 * np.clip(height - 0.3, 0.0, 1.0) * (0.5 + c.texture()[y0:])
        snow = _smoothstep(1.0, -1.0, below - depth) * (below > -1)
        lit = _field(_mix(land.snow, land.mist_colour, 0.35), land.snow, np.clip(0.5 + facing, 0.0, 1.0))
        colour = colour + (lit - colour) * snow
    if land.shade:
        colour = colour * (1.0 + land.shade * facing * near_top)
    if land.glow is not None:
        colour = colour + (_col(land.glow) - colour) * (0.3 * near_top * np.clip(facing + 0.6, 0.0, 1.0))
    if land.texture:
        colour = colour * (1.0 + land.texture * (c.texture()[y0:] - 0.5))
    c.blend(alpha, colour, y0)
    c.ground = np.minimum(top, c.h).astype(np.float32)


def _land_colours(pal: _Palette, depth: float, fog: bool) -> tuple[Color, Color, float]:
    """Atmospheric perspective: far land takes the colour of the air in front of it."""
    haze = _mix(pal.horizon, pal.far, 0.45)
    colour = _mix(haze, pal.near, depth**0.85)
    mist_colour = _mix(pal.horizon, haze, 0.35)
    mist = (0.8 if fog else 0.55) * (1.0 - depth) + 0.12
    return colour, mist_colour, mist


def _paint_fog(c: _Canvas, pal: _Palette, level: float, thickness: float, density: float, seed: int) -> None:
    """A bank of fog lying at ``level`` (a fraction of the height), thinning upwards."""
    top = max(0, int((level - thickness) * c.h))
    n = _fbm(c.streams("fog", seed), c.w, c.h - top, 1.5, 3, stretch=(4.0, 0.6))
    rise = _smoothstep(level - thickness, level + thickness * 0.5, c.y[top:] / c.h)
    alpha = np.clip(density * rise * (0.6 + 0.9 * (n - 0.5)), 0.0, 0.95)
    c.blend(alpha, _mix(pal.horizon, pal.glow, 0.15), top)


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


def _tree_mask(
    c: _Canvas, rng: np.random.Generator, top: np.ndarray, spacing: float, height: float, kind: str
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

    return _mask(c.w, c.h, draw)


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


def _paint_water(c: _Canvas, pal: _Palette, line: float, calm: float, sun_x: float | None) -> None:
    """Water below ``line`` (a fraction of the height) mirroring what is above it, broken
    up by ripples that grow towards the viewer."""
    top = int(line * c.h)
    if top >= c.h - 1 or top < 2:
        return
    rows = c.h - top
    ys = c.y[top:]
    dist = (ys - top) / rows
    ripples = _fbm(c.streams("water"), c.w, rows, 3.0, c.octaves(3), stretch=(5.0, 0.22))
    amp = (1.0 - calm) * (1.5 + c.unit * 0.06 * dist) + 0.6
    src_y = np.clip(2.0 * top - ys - 1.0 + (ripples - 0.5) * amp * 0.6, 0, top - 1)
    # A reflection is never as sharp as what it reflects.
    reflection = _blur(_sample(c.rgb, src_y, c.x + (ripples - 0.5) * amp * 2.0), c.unit * 0.006)
    strength = (0.88 - 0.45 * dist) * (0.75 + 0.25 * calm)
    deep = _col(_mix(pal.near, pal.sky, 0.35))
    c.rgb[:, top:] = deep + (reflection * 0.92 - deep) * strength
    crest = _contrast(_fbm(c.streams("crests"), c.w, rows, 4.0, c.octaves(2), stretch=(10.0, 0.12)), 2.0)
    sparkle = (_smoothstep(0.64, 0.68, crest) - _smoothstep(0.7, 0.76, crest)) * (0.08 + 0.25 * (1 - calm))
    if sun_x is not None:
        spread = c.w * (0.03 + 0.1 * dist)
        path = np.exp(-(((c.x - sun_x * c.w) / spread) ** 2))
        sparkle = sparkle + _smoothstep(0.55, 0.64, crest) * path * 0.9
    c.screen(sparkle, _mix(pal.glow, pal.horizon, 0.3), top)
    c.ground = np.full(c.w, float(c.h), np.float32)


def _paint_waves(c: _Canvas, pal: _Palette, seed: int) -> None:
    """Swells rolling in towards the viewer: sharp crests capped with foam, dark troughs."""
    rng = c.streams("waves", seed)
    foam_colour = _mix(pal.glow, _WHITE, 0.6)
    for i in range(5):
        t = i / 4
        base = c.horizon + (c.h - c.horizon) * (0.12 + 0.85 * t**1.3)
        height = c.unit * (0.01 + 0.07 * t**1.2)
        crest = _noise1d(rng, c.w, (5.0 - 2.5 * t) * c.w / c.unit, c.octaves(2), gain=0.4, ridged=True)
        top = base - height * crest
        y0 = max(0, int(top.min()) - 2)
        below = c.y[y0:] - top[None, :]
        body = _field(
            _mix(pal.sky, pal.near, 0.35 + 0.4 * t),
            _mix(pal.near, pal.sky, 0.1),
            np.clip(below / (height * 2.5 + 1), 0, 1),
        )
        foam = np.exp(-np.maximum(below, 0.0) / (c.unit * (0.004 + 0.01 * t))) * _smoothstep(0.3, 0.8, crest)[None, :]
        foam = foam * (0.6 + 0.6 * c.texture()[y0:])
        # Far swells are only a ruffle on the reflecting water; near ones are solid.
        cover = np.clip(below + 0.5, 0.0, 1.0) * (0.3 + 0.7 * t)
        c.blend(cover, body + (_col(foam_colour) - body) * np.clip(foam, 0.0, 1.0), y0)


def _skyline(rng: np.random.Generator, c: _Canvas, base: float, scale: float) -> list[tuple[float, float, float]]:
    """Buildings as (left, right, roof) from edge to edge."""
    buildings = []
    x = -float(rng.uniform(0, 0.05)) * scale
    while x < c.w:
        width = scale * float(rng.uniform(0.045, 0.12))
        height = scale * (0.1 + 0.5 * float(rng.random()) ** 1.7)
        buildings.append((x, x + width, base - height))
        x += width + (0 if rng.random() < 0.6 else scale * float(rng.uniform(0.005, 0.02)))
    return buildings


def _paint_city(
    c: _Canvas, pal: _Palette, base: float, depth: float, lights: float, neon: bool, fog: bool, seed: int
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

    colour, mist_colour, mist = _land_colours(pal, depth, fog)
    mistiness = np.clip((c.y - (base_y - scale * 0.35)) / (scale * 0.5), 0.0, 1.0) * mist * 0.8
    c.blend(_mask(c.w, c.h, draw), _field(colour, mist_colour, mistiness))
    if lights > 0:
        _paint_windows(c, rng, buildings, base_y, scale, lights, pal, neon)
    c.ground = np.full(c.w, base_y, np.float32)


def _paint_windows(
    c: _Canvas,
    rng: np.random.Generator,
    buildings: list[tuple[float, float, float]],
    base_y: float,
    scale: float,
    lights: float,
    pal: _Palette,
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
    colour = pal.accent if neon else _mix(pal.glow, _hex("#ffc46b"), 0.5)
    c.screen(emission, colour)
    c.screen(_blur(emission, c.unit * 0.012) * (1.6 if neon else 0.9), colour)


def _paint_field(c: _Canvas, pal: _Palette, start: float, vanish_x: float) -> None:
    """Rows of flowers or crops running to a vanishing point on the horizon, textured in
    ground-plane coordinates so the clumps shrink with distance."""
    top = int(start * c.h)
    rows = c.h - top
    depth = np.maximum(c.y[top:] - c.horizon, 1.0)
    frequency = 9.0 * (c.h - c.horizon) / c.w
    across = (c.x - vanish_x * c.w) / depth * frequency
    distance = (c.h - c.horizon) / depth
    clumps = _fbm(c.streams("field"), 256, 256, 12.0, c.octaves(2))
    tufts = _sample(clumps, (distance * 40.0) % 255, (across * 25.0) % 255)
    nearness = np.clip((c.y[top:] - top) / rows, 0.0, 1.0)
    # Rows thinner than a few pixels would alias into moire: fade them into their average.
    pixels_per_row = depth / frequency / np.sqrt(1.0 + ((c.x - vanish_x * c.w) / depth) ** 2)
    resolved = np.clip((pixels_per_row - 4.0) / 10.0, 0.0, 1.0)
    ridge = np.abs((across % 1.0) - 0.5) * 2.0
    tufts = 0.5 + (tufts - 0.5) * resolved
    bush = _smoothstep(0.9, 0.25, ridge + (tufts - 0.5) * 0.9)
    bush = 0.6 + (bush - 0.6) * resolved
    soil = _mix(_adjust(pal.accent, light=0.35), _hex("#2f4a2a"), 0.4)
    colour = _field(soil, _adjust(pal.accent, light=0.75), np.clip(bush * 1.4, 0.0, 1.0))
    lit = np.clip((bush - 0.5) * 2.0, 0.0, 1.0) * (0.5 + 0.5 * tufts)
    colour = colour + (_col(_mix(pal.accent, pal.glow, 0.4)) - colour) * (lit * 0.6)
    haze = _mix(pal.horizon, pal.accent, 0.35)
    colour = colour + (_col(haze) - colour) * (0.75 * (1.0 - nearness) ** 4)
    c.blend(np.clip(c.y[top:] - top + 0.5, 0.0, 1.0) * np.ones((1, c.w), np.float32), colour, top)
    c.ground = np.full(c.w, float(c.h) * 0.97, np.float32)


def _paint_meadow(c: _Canvas, pal: _Palette) -> None:
    """Wildflowers dotted over the slopes, larger towards the viewer."""
    rng = c.streams("meadow")
    count = int(c.w * c.h / c.unit**2 * 1500)
    xs = rng.random(count) * c.w
    nearness = rng.random(count) ** 0.7
    ys = c.horizon + 0.05 * c.h + (0.95 * c.h - c.horizon) * nearness
    sizes = 0.6 + nearness**2 * c.unit * 0.01 * rng.uniform(0.5, 1.5, count)
    inks = [_rgb255(k) for k in (pal.accent, _hex("#f2d14b"), _mix(pal.glow, _WHITE, 0.7), _hex("#e889b0"))]
    picks = rng.integers(len(inks), size=count)
    colours = Image.new("RGB", (c.w, c.h))
    cover = Image.new("L", (c.w, c.h))
    paint, mark = ImageDraw.Draw(colours), ImageDraw.Draw(cover)
    for x, y, r, pick in zip(xs, ys, sizes, picks, strict=True):
        box = [x - r, y - r * 0.8, x + r, y + r * 0.8]
        paint.ellipse(box, fill=inks[pick])
        mark.ellipse(box, fill=230)
    c.blend(np.asarray(cover, np.float32) / 255.0, np.asarray(colours, np.float32).transpose(2, 0, 1) / 255.0)


def _paint_grid(c: _Canvas, pal: _Palette) -> None:
    """A glowing perspective grid to the horizon, synthwave style."""
    top = int(c.horizon)
    depth = np.maximum(c.y[top:] - c.horizon, 0.5)
    c.rgb[:, top:] = _field(pal.near, pal.sky, 0.6 * np.exp(-depth / (c.h * 0.05)))
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
    c.screen(_blur(lines, c.unit * 0.01) * 1.5, pal.accent, top)
    c.ground = np.full(c.w, float(c.h) * 0.95, np.float32)


def _paint_precipitation(c: _Canvas, pal: _Palette, snow: bool) -> None:
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
        layer = np.maximum(layer, _blur(layer, 2.0))
    c.screen(layer * 0.9, _mix(pal.glow, _WHITE, 0.6))


# --- Figures ------------------------------------------------------------------------------

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
_ANIMALS: dict[str, tuple[list[tuple[float, float]], tuple[float, float], float]] = {
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
    return [(cx + facing * x * size, top + y * size) for x, y in _closed_spline(outline)]


def _shade_shape(c: _Canvas, shape: tuple[np.ndarray, int, int], body: Color, rim: Color, light_x: float) -> None:
    """Model a flat silhouette: lighter in its thick middle, with a rim of light on the
    edge facing the light, found from the slope of the blurred mask."""
    mask, top, left = shape
    if not mask.size:
        return
    # Blurring twice keeps the slope free of the blur's own blockiness.
    soft = _blur(_blur(mask, c.unit * 0.008), c.unit * 0.008)
    gy, gx = np.gradient(soft)
    cols = np.flatnonzero(mask.max(axis=0) > 0)
    side = 1.0 if cols.size == 0 or light_x * c.w > left + cols.mean() else -1.0
    edge = np.clip((-gx * side + gy * 0.5) * c.unit * 0.06, 0.0, 1.0) * mask
    c.blend(mask, _col(body) * (0.72 + 0.4 * soft), top, left)
    c.screen(edge * 0.9, rim, top, left)


def _light_shape(c: _Canvas, shape: tuple[np.ndarray, int, int], shadow: Color, lit: Color, light_x: float) -> None:
    """A figure lit from one side, chiaroscuro: light falls off across the form into shadow."""
    mask, top, left = shape
    if not mask.size:
        return
    soft = _blur(_blur(mask, c.unit * 0.015), c.unit * 0.015)
    gx = np.gradient(soft, axis=1)
    cols = np.flatnonzero(mask.max(axis=0) > 0)
    centre = left + (cols.mean() if cols.size else mask.shape[1] / 2)
    side = 1.0 if light_x * c.w > centre else -1.0
    across = np.clip(0.5 + (c.x[:, left : left + mask.shape[1]] - centre) * side / (c.unit * 0.35), 0.0, 1.0)
    facing = np.clip(0.55 * across - gx * side * c.unit * 0.08 + 0.15 * soft, 0.0, 1.0)
    c.blend(mask, _field(shadow, lit, facing**1.2), top, left)


def _ground_at(c: _Canvas, x: float, lowest: float) -> float:
    """Where a figure at column ``x`` stands: on the nearest ground, but never floating
    above ``lowest`` (a fraction of the height below the horizon) or off the frame."""
    y = float(c.ground[int(np.clip(x, 0, c.w - 1))])
    return min(max(y, c.horizon + lowest * c.h), c.h * 0.99)


def _paint_animal(
    c: _Canvas, pal: _Palette, species: str, colour: Color | None, x: float, facing: float, size: float, light_x: float
) -> None:
    outline, eye, ears = _ANIMALS[species]
    body = colour if colour is not None else _mix(pal.near, pal.far, 0.15)
    scale = size * c.unit
    cx = x * c.w
    top = _ground_at(c, cx, 0.12) + scale * 0.02 - scale
    shape = _shape_mask(c, _place(_stretch_ears(outline, ears), cx, top, scale, facing), pad=int(c.unit * 0.04))
    _shade_shape(c, shape, body, _mix(pal.glow, pal.horizon, 0.3), light_x)
    eyes = [eye, (-eye[0], eye[1])] if species == "owl" else [eye]
    for ex, ey in eyes:
        ex, ey = cx + facing * ex * scale, top + ey * scale
        t, b, left, r = c.box(ex, ey, scale * 0.1)
        glint = np.exp(-c.radius(ex, ey)[t:b, left:r] / (scale * (0.025 if species == "owl" else 0.01)))
        c.screen(glint * 0.9, pal.glow, t, left)


def _paint_walker(c: _Canvas, pal: _Palette, x: float, size: float, light_x: float) -> None:
    scale = size * c.unit
    cx = x * c.w
    top = _ground_at(c, cx, 0.0) + scale * 0.03 - scale
    body = _mix(pal.near, pal.sky, 0.1)
    head = [
        (cx + scale * 0.075 * math.cos(a), top + scale * (0.08 + 0.075 * math.sin(a)))
        for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)
    ]
    shape = _shape_mask(c, _place(_WALKER, cx, top, scale, 1.0), head, pad=int(c.unit * 0.04))
    _shade_shape(c, shape, body, pal.glow, light_x)


def _paint_backdrop(c: _Canvas, pal: _Palette, light_x: float, light_y: float, dark: bool) -> None:
    """A studio backdrop: a pool of light behind the subject fading to the edges."""
    d = c.radius(light_x * c.w, light_y * c.h) / (c.unit * 0.95)
    centre = _mix(pal.horizon, pal.glow, 0.2) if not dark else _mix(pal.far, pal.accent, 0.25)
    edge = pal.sky if not dark else _mix(pal.near, pal.sky, 0.4)
    c.rgb[:] = _field(centre, edge, np.clip(d, 0.0, 1.0) ** 0.8)
    c.rgb *= 0.94 + 0.12 * _fbm(c.streams("backdrop"), c.w, c.h, 2.0, c.octaves(2))


def _paint_bokeh(c: _Canvas, pal: _Palette, count: int) -> None:
    """Out-of-focus lights: soft discs, a few bright, most faint."""
    rng = c.streams("bokeh")
    light = np.zeros((2, c.h, c.w), np.float32)
    for _ in range(count):
        cx, cy = float(rng.random()) * c.w, float(rng.random()) * c.h
        r = c.unit * float(rng.uniform(0.02, 0.08))
        t, b, left, rr = c.box(cx, cy, r + 2)
        disc = np.clip((r - c.radius(cx, cy)[t:b, left:rr]) / 2.0 + 0.5, 0.0, 1.0)
        light[int(rng.integers(2)), t:b, left:rr] += disc * float(rng.uniform(0.08, 0.4)) * (0.8 + 0.2 * disc)
    c.screen(_blur(light[0], 2.0), pal.glow)
    c.screen(_blur(light[1], 2.0), pal.accent)


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


def _paint_bust(
    c: _Canvas, pal: _Palette, cx: float, facing: float, kinds: set[str], lit: bool, light_x: float
) -> None:
    """A head-and-shoulders profile, like a cameo or a lit studio portrait."""
    head = c.h * 0.4 if c.h <= c.w * 1.2 else c.w * 0.55
    top = c.h * 0.26 if c.h <= c.w * 1.2 else c.h * 0.28
    x = cx * c.w
    outlines = [_place(_PROFILE, x, top, head, facing)]
    outlines += [_place(shape, x, top, head, facing) for shape, accent in _bust_extras(kinds) if not accent]
    pad = int(c.unit * 0.04)
    shape = _shape_mask(c, *outlines, pad=pad)
    if lit:
        _light_shape(
            c, shape, _mix(pal.near, pal.sky, 0.3), _mix(_mix(pal.accent, pal.glow, 0.5), _WHITE, 0.2), light_x
        )
    else:
        _shade_shape(c, shape, _mix(pal.near, pal.sky, 0.15), _mix(pal.glow, _WHITE, 0.3), light_x)
    for shape, accent in _bust_extras(kinds):
        if accent:
            colour = _hex("#d9a93a") if shape is _CROWN else _mix(pal.accent, pal.near, 0.35)
            _shade_shape(c, _shape_mask(c, _place(shape, x, top, head, facing), pad=pad), colour, pal.glow, light_x)


# --- Space --------------------------------------------------------------------------------


def _paint_void(c: _Canvas, pal: _Palette) -> None:
    d = c.radius(c.w * 0.5, c.h * 0.5) / (c.unit * 0.9)
    c.rgb[:] = _field(_mix(pal.sky, pal.far, 0.3), pal.sky * 0.6, np.clip(d, 0.0, 1.0))


def _paint_planet(
    c: _Canvas, pal: _Palette, x: float, y: float, size: float, light: tuple[float, float], rings: bool
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
    swirl = _fbm(rng, rr - left, b - t, 3.0, c.octaves(2))
    bands = _noise1d(rng, 256, 6.0, 3)[np.clip(((latitude + 1) * 127.5 + (swirl - 0.5) * 30).astype(np.int32), 0, 255)]
    surface = _ramp(np.stack([pal.near, pal.far, pal.accent, pal.glow]), _contrast(bands, 1.6))
    disc = np.clip((1.0 - np.sqrt(d2)) * r / 1.2 + 0.5, 0.0, 1.0)
    c.blend(disc, surface * (0.08 + 0.92 * lambert), t, left)
    atmosphere = np.exp(-np.abs(np.sqrt(d2) - 1.0) * r / (r * 0.04)) * np.clip(dx * lx + dy * ly + 0.3, 0.0, 1.0)
    c.screen(atmosphere * 0.8, _mix(pal.glow, pal.accent, 0.3), t, left)
    if rings:
        _paint_rings(c, pal, cx, cy, r, tilt, front=True)


def _paint_rings(c: _Canvas, pal: _Palette, cx: float, cy: float, r: float, tilt: float, front: bool) -> None:
    t, b, left, rr = c.box(cx, cy, r * 2.3)
    dx, dy = c.x[:, left:rr] - cx, c.y[t:b] - cy
    u = (dx * math.cos(tilt) + dy * math.sin(tilt)) / (r * 2.2)
    v = (-dx * math.sin(tilt) + dy * math.cos(tilt)) / (r * 0.45)
    q = np.sqrt(u * u + v * v)
    grooves = _noise1d(c.streams("rings"), 512, 40.0, 2)[np.clip((q * 255).astype(np.int32), 0, 511)]
    band = _smoothstep(0.55, 0.6, q) * _smoothstep(1.0, 0.95, q) * (0.4 + 0.6 * grooves)
    side = (v > 0) if front else (v <= 0)
    c.blend(band * side * 0.85, _mix(pal.glow, pal.horizon, 0.4), t, left)


def _paint_galaxy(c: _Canvas, pal: _Palette, x: float, y: float, size: float, arms: int) -> None:
    """A spiral galaxy seen at a slant: logarithmic arms of gas round a bright core."""
    cx, cy, r = x * c.w, y * c.h, size * c.unit
    t, b, left, rr = c.box(cx, cy, r * 1.6)
    rng = c.streams("galaxy")
    dx, dy = (c.x[:, left:rr] - cx) / r, (c.y[t:b] - cy) / (r * 0.55)
    dist = np.sqrt(dx * dx + dy * dy) + 1e-4
    angle = np.arctan2(dy, dx)
    spiral = 0.5 + 0.5 * np.cos(arms * (angle - 2.8 * np.log(dist)))
    clumps = _contrast(_fbm(rng, rr - left, b - t, 6.0, c.octaves(3)), 2.0)
    light = spiral**1.5 * np.exp(-dist * 1.2) * (0.5 + 1.1 * clumps) * 1.3 + np.exp(-dist * 6.0) * 1.5
    light = light * np.clip(1.0 - dist / 1.55, 0.0, 1.0) ** 2
    c.screen(light, _field(_mix(pal.glow, _WHITE, 0.4), pal.accent, np.clip(dist * 1.4, 0.0, 1.0)), t, left)


# --- Abstract -----------------------------------------------------------------------------

_Box = tuple[float, float, float, float]


def _draw_disc(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    inset = (x1 - x0) * 0.1
    d.ellipse([x0 + inset, y0 + inset, x1 - inset, y1 - inset], fill=ink)


def _draw_half(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    start = 90 * int(rng.integers(4))
    d.pieslice(list(box), start, start + 180, fill=ink)


def _draw_quarter(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    s = x1 - x0
    corner = int(rng.integers(4))
    cx, cy = (x0, x1)[corner % 2], (y0, y1)[corner // 2]
    start = (0, 90, 270, 180)[corner]
    d.pieslice([cx - s, cy - s, cx + s, cy + s], start, start + 90, fill=ink)


def _draw_stripes(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    n = int(rng.integers(3, 7))
    step = (x1 - x0) / (2 * n)
    for i in range(n):
        if rng.random() < 0.5:
            d.rectangle([x0, y0 + (2 * i + 0.5) * step, x1, y0 + (2 * i + 1.5) * step], fill=ink)
        else:
            d.rectangle([x0 + (2 * i + 0.5) * step, y0, x0 + (2 * i + 1.5) * step, y1], fill=ink)


def _draw_triangle(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    skip = int(rng.integers(4))
    d.polygon([p for i, p in enumerate(corners) if i != skip], fill=ink)


def _draw_rings(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    s = x1 - x0
    for k in range(int(rng.integers(1, 4))):
        inset = s * (0.1 + 0.13 * k)
        d.ellipse([x0 + inset, y0 + inset, x1 - inset, y1 - inset], outline=ink, width=max(1, int(s * 0.05)))


def _draw_block(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    d.rectangle(list(box), fill=ink)


def _draw_dots(d: ImageDraw.ImageDraw, box: _Box, ink: tuple[int, ...], rng: np.random.Generator) -> None:
    x0, y0, x1, _ = box
    s = (x1 - x0) / 3
    for i in range(3):
        for j in range(3):
            cx, cy, r = x0 + (i + 0.5) * s, y0 + (j + 0.5) * s, s * 0.18
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)


_MOTIFS = (_draw_disc, _draw_half, _draw_quarter, _draw_stripes, _draw_triangle, _draw_rings, _draw_block, _draw_dots)
_MOTIF_WEIGHTS = np.array([3, 4, 4, 2, 2, 2, 1, 1], np.float64)


def _rgb255(c: Color) -> tuple[int, int, int]:
    r, g, b = (round(float(v) * 255) for v in np.clip(c, 0, 1))
    return r, g, b


def _paint_bauhaus(c: _Canvas, pal: _Palette) -> None:
    """A Bauhaus poster: a grid of cells, each with a bold flat shape, over a few large
    shapes that span the grid."""
    rng = c.streams("bauhaus")
    ss = 2
    paper = _mix(pal.horizon, _WHITE, 0.5) if not pal.is_dark else _mix(pal.near, pal.sky, 0.5)
    inks = [
        _rgb255(k)
        for k in (pal.accent, pal.sky, pal.glow, pal.near, pal.far)
        if abs(float(_luma(k) - _luma(paper))) > 0.12
    ]
    inks = inks or [_rgb255(pal.near), _rgb255(pal.accent)]
    image = Image.new("RGB", (c.w * ss, c.h * ss), _rgb255(paper))
    d = ImageDraw.Draw(image)
    cell = c.unit * ss / int(rng.choice([2, 3, 3, 4]))
    cols, rows = math.ceil(c.w * ss / cell), math.ceil(c.h * ss / cell)
    ox, oy = (c.w * ss - cols * cell) / 2, (c.h * ss - rows * cell) / 2

    def ink() -> tuple[int, ...]:
        return inks[int(rng.integers(len(inks)))]

    big = cell * float(rng.uniform(1.2, 2.2))
    bx, by = ox + cell * float(rng.uniform(0.5, cols - 0.5)), oy + cell * float(rng.uniform(0.5, rows - 0.5))
    d.ellipse([bx - big, by - big, bx + big, by + big], fill=ink())
    for i in range(cols):
        for j in range(rows):
            if rng.random() < 0.12:
                continue
            box = (ox + i * cell, oy + j * cell, ox + (i + 1) * cell, oy + (j + 1) * cell)
            motif = _MOTIFS[int(rng.choice(len(_MOTIFS), p=_MOTIF_WEIGHTS / _MOTIF_WEIGHTS.sum()))]
            motif(d, box, ink(), rng)
    if rng.random() < 0.6:
        y = oy + cell * float(rng.uniform(0.3, rows - 0.3))
        d.line([0, y - cell * 0.6, c.w * ss, y + cell * 0.6], fill=ink(), width=max(2, int(cell * 0.06)))
    c.rgb[:] = np.asarray(image.reduce(ss), np.float32).transpose(2, 0, 1) / 255.0
    c.rgb *= 0.97 + 0.04 * c.texture()


# --- Flow ---------------------------------------------------------------------------------


def _paint_marble(c: _Canvas, pal: _Palette) -> None:
    """Marbled paper: bands of the palette combed through a twice-folded noise, with fine
    light veins where the bands meet."""
    rng = c.streams("marble")
    t = _contrast(_warped_noise(rng, c.w, c.h, 1.6, c.octaves(3), 0.5, folds=2), 2.0) * 3.0 + (c.x + c.y) / c.unit * 0.8
    stops = np.stack([pal.near, pal.sky, pal.accent, pal.horizon, pal.far, pal.glow])
    stops = stops + (np.array([0.95, 0.93, 0.88], np.float32) - stops) * 0.2
    band = np.floor(t).astype(np.int32)
    f = t - band
    columns = stops.T.astype(np.float32)
    here, after = columns[:, band % len(stops)], columns[:, (band + 1) % len(stops)]
    c.rgb[:] = here + (after - here) * _smoothstep(0.15, 0.85, f)
    c.rgb *= 0.94 + 0.12 * _fbm(rng, c.w, c.h, 5.0, c.octaves(2))
    c.screen(np.exp(-np.minimum(f, 1.0 - f) * 40.0) * 0.6, _mix(pal.glow, _WHITE, 0.5))


def _paint_streamlines(c: _Canvas, pal: _Palette) -> None:
    """Silk: thousands of threads drawn along a smooth flow field."""
    rng = c.streams("streamlines")
    angle = _fbm(rng, c.w, c.h, 1.3, 3) * (4.0 * math.pi)
    c.rgb[:] = _field(pal.near, _mix(pal.sky, pal.near, 0.3), c.y / c.h)
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
    shade = _blur(shade, 1.5) / np.maximum(_blur(density, 1.5), 1e-3)
    cover = 1.0 - np.exp(-_blur(density, 1.2) * 0.9)
    c.blend(cover, _ramp(np.stack([pal.sky, pal.far, pal.accent, pal.horizon, pal.glow]), shade))


# --- Flowers and ponds ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Flower:
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


def _paint_paper(c: _Canvas, pal: _Palette, dark: bool) -> None:
    colour = _mix(pal.near, pal.sky, 0.25) if dark else _mix(pal.horizon, _WHITE, 0.6)
    d = c.radius(c.w * 0.5, c.h * 0.45) / c.unit
    c.rgb[:] = _field(colour, colour * 0.85, np.clip(d, 0.0, 1.0))
    c.rgb *= 0.95 + 0.08 * _fbm(c.streams("paper"), c.w, c.h, 3.0, c.octaves(2))


def _leaf(base: tuple[float, float], angle: float, length: float, width: float) -> list[tuple[float, float]]:
    """A pointed leaf outline from its base along ``angle``."""
    s = np.linspace(0.0, 1.0, 9)
    along = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-along[1], along[0]])
    spine = np.asarray(base) + s[:, None] * along * length
    half = (np.sin(np.pi * s) ** 0.8 * width)[:, None]
    outline = np.concatenate([spine + normal * half, (spine - normal * half)[::-1]])
    return [(float(x), float(y)) for x, y in outline]


def _paint_stems(c: _Canvas, pal: _Palette, flowers: list[_Flower]) -> None:
    """Stems curving down out of the frame, with leaves, in one green wash."""
    rng = c.streams("stems")
    green = _mix(pal.far, _hex("#4f7a4a"), 0.6)
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

    mask = _mask(c.w, c.h, draw)
    c.blend(mask, _field(_mix(green, pal.glow, 0.2), green * 0.6, c.y / c.h))


def _paint_flower(c: _Canvas, pal: _Palette, f: _Flower, outline: bool) -> None:
    """A bloom in polar form: layers of petals, darker at the base and veined, round a
    stippled heart."""
    cx, cy, radius = f.x * c.w, f.y * c.h, f.size * c.unit
    t, b, left, r = c.box(cx, cy, radius * 1.05)
    if b <= t or r <= left:
        return
    dx, dy = c.x[:, left:r] - cx, c.y[t:b] - cy
    dist = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    petal = _adjust(pal.accent if f.colour is None else f.colour, hue=f.tint)
    ink = _mix(pal.near, np.zeros(3, np.float32), 0.5)
    for layer in range(f.layers):
        scale = radius * (1.0 - 0.3 * layer)
        wave = np.abs(np.cos(f.petals * (theta - f.turn - layer * math.pi / f.petals) / 2.0))
        edge = scale * (0.22 + 0.78 * wave**f.roundness)
        cover = np.clip((edge - dist) / 1.2 + 0.5, 0.0, 1.0)
        base_colour = _adjust(petal, light=0.55 + 0.15 * layer)
        tip_colour = _mix(_adjust(petal, lift=0.12 * layer), pal.glow, 0.3)
        colour = _field(base_colour, tip_colour, np.clip(dist / scale, 0.0, 1.0) ** 0.7)
        colour = colour * (0.88 + 0.18 * wave**6)
        c.blend(cover, colour, t, left)
        if outline:
            c.blend(np.exp(-np.abs(edge - dist) / 0.9) * 0.55 * (dist < edge + 2), ink, t, left)
    heart = radius * 0.16
    stipple = _smoothstep(0.45, 0.6, c.texture()[t:b, left:r])
    centre = _field(_mix(pal.glow, _hex("#f2c14e"), 0.5), _mix(pal.near, _hex("#5a3a1a"), 0.5), stipple)
    c.blend(np.clip(heart - dist + 0.5, 0.0, 1.0), centre, t, left)


def _plan_flowers(rng: np.random.Generator, aspect: float, count: int) -> list[_Flower]:
    """Blooms spread over the frame without piling up, largest first so small ones sit on top."""
    flowers: list[_Flower] = []
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
                _Flower(
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


def _paint_pond_water(c: _Canvas, pal: _Palette) -> None:
    """Deep green water, lighter where it is shallow, with glints of the sky on its surface."""
    rng = c.streams("pond")
    depth = _fbm(rng, c.w, c.h, 1.5, 3)
    water_deep = _mix(pal.near, _hex("#0d2b2a"), 0.5)
    water_light = _mix(_mix(pal.sky, pal.far, 0.5), _hex("#3f7f73"), 0.5)
    c.rgb[:] = _field(water_deep, water_light, _contrast(depth, 1.6))
    glints = _smoothstep(0.62, 0.8, _contrast(_fbm(rng, c.w, c.h, 3.0, c.octaves(2), stretch=(2.0, 0.6)), 1.8))
    c.screen(glints * 0.25, _mix(pal.horizon, pal.glow, 0.5))


def _shadow(c: _Canvas, shape: tuple[np.ndarray, int, int], strength: float) -> None:
    """Darken the water under a floating or swimming shape, offset down and to the right."""
    mask, top, left = shape
    shift = max(1, int(c.unit * 0.025))
    soft = _blur(mask, c.unit * 0.015)
    y0, x0 = top + shift, left + shift
    y1, x1 = min(c.h, y0 + soft.shape[0]), min(c.w, x0 + soft.shape[1])
    if y1 > y0 and x1 > x0:
        c.rgb[:, y0:y1, x0:x1] *= 1.0 - strength * soft[: y1 - y0, : x1 - x0]


def _paint_koi(c: _Canvas, pal: _Palette, fish: list[tuple[float, float, float, float, float]]) -> None:
    """Koi: round-headed bodies tapering along a swimming curve, veil tails, white with
    orange and black patches."""
    rng = c.streams("koi")
    patches = _fbm(rng, c.w, c.h, 14.0, c.octaves(2))
    spots = _fbm(rng, c.w, c.h, 22.0, c.octaves(1))
    base = _mix(_hex("#f4eee4"), pal.glow, 0.15)
    orange = _mix(_hex("#ef6a1f"), pal.accent, 0.2)
    pad = int(c.unit * 0.05)
    for x, y, heading, bend, length in fish:
        body, fins = _koi_outline(x * c.w, y * c.h, heading, bend, length * c.unit)
        whole = _shape_mask(c, body, *fins, pad=pad)
        _shadow(c, whole, 0.35)
        fin_mask, top, left = _shape_mask(c, *fins, pad=pad)
        c.blend(fin_mask * 0.55, _mix(base, orange, 0.35), top, left)
        mask, top, left = _shape_mask(c, body, pad=pad)
        if not mask.size:
            continue
        rows, cols = slice(top, top + mask.shape[0]), slice(left, left + mask.shape[1])
        threshold = float(rng.uniform(0.35, 0.62))
        colour = _field(base, orange, _smoothstep(threshold, threshold + 0.04, patches[rows, cols]))
        colour = colour + (_col(_hex("#1b1a1f")) - colour) * _smoothstep(0.68, 0.7, spots[rows, cols])
        c.blend(mask, colour * (0.68 + 0.38 * _blur(mask, c.unit * 0.008)), top, left)


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


def _paint_pads(
    c: _Canvas, pal: _Palette, pads: list[tuple[float, float, float, float]], blooms: list[_Flower]
) -> None:
    """Lily pads (discs with a notch and faint veins) and, on some, a water lily."""
    green = _mix(_hex("#4c8a3f"), pal.far, 0.25)
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
        c.blend(mask, _col(green) * (0.85 + 0.15 * c.texture()[t:b, left:rr] + veins + rim), t, left)
    for bloom in blooms:
        _paint_flower(c, pal, bloom, outline=False)


def _paint_ripples(c: _Canvas, pal: _Palette, rings: list[tuple[float, float, float]]) -> None:
    for x, y, size in rings:
        cx, cy, r = x * c.w, y * c.h, size * c.unit
        t, b, left, rr = c.box(cx, cy, r)
        d = c.radius(cx, cy)[t:b, left:rr]
        wave = np.maximum(np.sin(d / (c.unit * 0.012)), 0.0) ** 6 * np.clip(1.0 - d / r, 0.0, 1.0)
        c.screen(wave * 0.35, pal.horizon, t, left)


# --- Styles -------------------------------------------------------------------------------

_PAPER = np.array([0.96, 0.93, 0.86], np.float32)
_INK = np.array([0.1, 0.09, 0.1], np.float32)


def _paint_oil(c: _Canvas, pal: _Palette) -> None:
    """Oil paint: detail simplified into dabs of colour (a Kuwahara filter) that vary a
    little in tone, on the weave of the canvas."""
    rng = c.streams("oil")
    c.rgb[:] = _kuwahara(c.rgb, max(2, int(c.unit * 0.008)))
    c.rgb *= 0.96 + 0.08 * _kuwahara(_fbm(rng, c.w, c.h, 40.0, 2)[None].repeat(3, axis=0), 2)[0]
    weave = max(2.0, c.unit * 0.004)
    c.rgb *= 0.97 + 0.03 * np.sin(c.x * (math.pi / weave)) * np.sin(c.y * (math.pi / weave))


def _kuwahara(rgb: np.ndarray, k: int) -> np.ndarray:
    """Each pixel takes the mean colour of its four k x k neighbourhoods, the most uniform
    counting most: edges stay, texture turns into flat dabs of paint."""
    lum = _luma(rgb)
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


def _paint_watercolor(c: _Canvas, pal: _Palette) -> None:
    """Watercolour: colours bleed and soften, pigment pools at the edges of washes and
    settles unevenly, and the paper shows through."""
    rng = c.streams("watercolor")
    bleed = c.unit * 0.015
    dx, dy = (_fbm(rng, c.w, c.h, 5.0, 3) - 0.5) * bleed, (_fbm(rng, c.w, c.h, 5.0, 3) - 0.5) * bleed
    soft = _blur(_sample(c.rgb, c.y + dy, c.x + dx), c.unit * 0.006)
    pigment = np.clip(1.0 - soft / _col(_PAPER), 0.0, 1.0)
    edges = np.abs(soft - _blur(soft, c.unit * 0.025)).sum(axis=0)
    density = 0.72 + 0.4 * _contrast(_fbm(rng, c.w, c.h, 3.0, c.octaves(3)), 1.6) + np.clip(edges * 2.5, 0.0, 0.5)
    granules = 0.92 + 0.14 * c.texture()
    c.rgb[:] = _col(_PAPER) * (1.0 - np.clip(pigment * density * granules, 0.0, 1.0))


def _paint_ink(c: _Canvas, pal: _Palette) -> None:
    """Ink wash (sumi-e): the picture's tones laid in as a few grey washes on paper, each
    with a wobbly wet edge where the pigment pools, and a hint of the original colour."""
    rng = c.streams("ink")
    tone = 1.0 - _levels(_blur(_luma(c.rgb), c.unit * 0.004))
    wobble = (_fbm(rng, c.w, c.h, 8.0, c.octaves(2)) - 0.5) * 0.12
    amount = np.zeros((c.h, c.w), np.float32)
    for threshold, strength in ((0.22, 0.28), (0.5, 0.3), (0.78, 0.32)):
        wash = _smoothstep(threshold - 0.03, threshold + 0.03, tone + wobble)
        pooled = np.clip((wash - _blur(wash, c.unit * 0.008)) * 2.0, 0.0, 1.0)
        amount += strength * wash + 0.3 * pooled
    amount *= 0.85 + 0.3 * c.texture()
    tint = _col(_PAPER) * (1.0 - 0.25 * (1.0 - _blur(c.rgb, c.unit * 0.01)))
    c.rgb[:] = tint + (_col(_INK) - tint) * np.clip(amount, 0.0, 1.0)


def _paint_etching(c: _Canvas, pal: _Palette) -> None:
    """Pen and ink: the picture's broad tones become cross-hatching over a pale wash of its
    colours, with outlines where tones meet."""
    rng = c.streams("etching")
    tone = np.clip((1.0 - _levels(_blur(_luma(c.rgb), c.unit * 0.006))) * 0.95 - 0.1, 0.0, 1.0)
    period = max(3.0, c.unit * 0.009)
    wobble = (_fbm(rng, c.w, c.h, 10.0, 2) - 0.5) * period
    ink = np.zeros((c.h, c.w), np.float32)
    for direction, start in (((1.0, 1.0), 0.1), ((1.0, -1.0), 0.45), ((0.0, 1.0), 0.75)):
        coord = (c.x * direction[0] + c.y * direction[1]) / math.hypot(*direction) + wobble
        distance = np.abs((coord / period) % 1.0 - 0.5) * period
        width = np.clip((tone - start) / (1.0 - start), 0.0, 1.0) * period * 0.45
        ink = np.maximum(ink, np.clip(width - distance + 0.5, 0.0, 1.0) * (tone > start))
    ink = np.maximum(ink, _edges(c, 0.25, softness=0.008))
    wash = _col(_PAPER) * (1.0 - 0.45 * (1.0 - _blur(c.rgb, c.unit * 0.01)))
    c.rgb[:] = wash + (_col(_INK) - wash) * ink


def _edges(c: _Canvas, threshold: float, softness: float = 0.004) -> np.ndarray:
    """Outlines where the picture's luminance changes sharply; ``softness`` (of the
    shorter side) sets how small a feature still gets one."""
    lum = _blur(_luma(c.rgb), max(1.5, c.unit * softness))
    gy, gx = np.gradient(lum)
    return np.clip((np.hypot(gx, gy) * c.unit * 0.05 - threshold) * 3.0, 0.0, 1.0)


def _paint_chalk(c: _Canvas, pal: _Palette) -> None:
    """Chalk on a dark board: pastel colour laid down in strokes that change direction
    from patch to patch, broken up by the grain of the board."""
    rng = c.streams("chalk")
    board = np.array([0.16, 0.18, 0.18], np.float32) * 0.7 + pal.near * 0.3
    level = _levels(_luma(c.rgb)) ** 0.7
    wobble = _fbm(rng, c.w, c.h, 5.0, 2) * 6.0
    period = max(3.0, c.unit * 0.011)
    one = np.sin((c.x * 0.8 + c.y * 0.6) / period * 2.0 * math.pi + wobble)
    other = np.sin((c.x * 0.3 - c.y * 0.95) / period * 2.0 * math.pi + wobble)
    which = _smoothstep(0.45, 0.55, _fbm(rng, c.w, c.h, 3.0, 2))
    streaks = 0.5 + 0.5 * (one + (other - one) * which)
    grain = 0.4 * streaks + 0.6 * c.texture()
    cover = _smoothstep(0.0, 0.25, level * 1.15 - grain * 0.6 + 0.08)
    chalk = np.clip(0.3 + c.rgb * 0.9, 0.0, 1.0)
    chalk = _luma(chalk) + (chalk - _luma(chalk)) * 1.3
    c.rgb[:] = _col(board) + (chalk - _col(board)) * cover
    c.screen(_blur(cover, c.unit * 0.015) * 0.12, _WHITE)


def _levels(lum: np.ndarray) -> np.ndarray:
    """Luminance stretched to fill 0..1 (ignoring the extreme few percent) with its median
    moved to mid-grey, so a style that works from tone reads as well on a night scene as
    on a bright one."""
    low, median, high = np.percentile(lum[::4, ::4], [3, 50, 98])
    level = np.clip((lum - float(low)) / max(float(high - low), 0.05), 0.0, 1.0)
    middle = min(max((float(median) - float(low)) / max(float(high - low), 0.05), 0.05), 0.95)
    return level ** (math.log(0.5) / math.log(middle))


def _paint_noir(c: _Canvas, pal: _Palette) -> None:
    lum = _smoothstep(0.04, 0.92, _luma(c.rgb))
    c.rgb[:] = lum * _col(np.array([0.98, 0.99, 1.02], np.float32))


def _paint_vaporwave(c: _Canvas, pal: _Palette) -> None:
    """A VHS look: colour channels out of register and scanlines."""
    shift = max(1, int(c.unit * 0.004))
    c.rgb[0] = np.roll(c.rgb[0], shift, axis=1)
    c.rgb[2] = np.roll(c.rgb[2], -shift, axis=1)
    c.rgb *= 1.0 - 0.12 * ((c.y // max(1, int(c.unit * 0.004))) % 2)


def _paint_halftone(c: _Canvas, pal: _Palette) -> None:
    """Pop-art print: a few flat inks, a screen of dots in the shadows, bold outlines."""
    tone = 1.0 - _luma(c.rgb)
    outline = _edges(c, 0.2)
    pixels = Image.fromarray((np.clip(c.rgb, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
    flat = pixels.quantize(6, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    c.rgb[:] = np.asarray(flat, np.float32).transpose(2, 0, 1) / 255.0
    c.rgb[:] = _luma(c.rgb) + (c.rgb - _luma(c.rgb)) * 1.25
    cell = max(4.0, c.unit * 0.014)
    u, v = (c.x + c.y) / math.sqrt(2) / cell, (c.x - c.y) / math.sqrt(2) / cell
    dist = np.hypot(u % 1.0 - 0.5, v % 1.0 - 0.5) * cell
    dots = np.clip(np.sqrt(np.clip(tone - 0.3, 0.0, 1.0)) * cell * 0.75 - dist + 0.5, 0.0, 1.0)
    c.blend(np.maximum(dots * 0.75, outline), _mix(pal.near, _INK, 0.6))


def _paint_mosaic(c: _Canvas, pal: _Palette) -> None:
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
    tiles = np.stack([_resize(channel, c.w, c.h, Image.NEAREST) for channel in tiles])
    tiles = np.clip(_luma(tiles) + (tiles - _luma(tiles)) * 1.3, 0.0, 1.0)
    grout = _smoothstep(0.0, 0.12, _resize(np.sqrt(second) - np.sqrt(best), c.w, c.h, Image.BILINEAR))
    dark = _col(_mix(pal.near, _INK, 0.5))
    c.rgb[:] = dark + (tiles - dark) * grout


def _paint_illustration(c: _Canvas, pal: _Palette) -> None:
    """A printed illustration: slightly flattened colour, inked outlines, paper grain."""
    flat = np.round(c.rgb * 6.0) / 6.0
    c.rgb[:] = c.rgb * 0.5 + flat * 0.5
    c.blend(_edges(c, 0.35) * 0.85, _mix(pal.near, _INK, 0.6))
    c.rgb *= 0.95 + 0.07 * c.texture()


def _paint_film(c: _Canvas, pal: _Palette) -> None:
    """Film: lifted blacks, warm highlights over teal shadows, halation round the lights."""
    lum = _luma(c.rgb)
    tint = _field(np.array([0.0, 0.04, 0.05], np.float32), np.array([0.05, 0.02, -0.03], np.float32), lum)
    c.rgb[:] = np.clip(0.06 + c.rgb * 0.9 + tint, 0.0, 1.0)
    c.screen(_blur(np.clip(lum - 0.72, 0.0, 1.0), c.unit * 0.02) * 1.6, np.array([1.0, 0.45, 0.25], np.float32))


_STYLE_PAINTERS: dict[str, Callable[[_Canvas, _Palette], None]] = {
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


def _paint_grade(c: _Canvas, saturation: float, contrast: float, vignette: float) -> None:
    """Guidance-driven saturation and contrast, and a vignette to hold the eye in."""
    lum = _luma(c.rgb)
    mid = float(lum.mean())
    c.rgb[:] = np.clip((lum + (c.rgb - lum) * saturation - mid) * contrast + mid, 0.0, 1.0)
    if vignette:
        r2 = ((c.x - c.w / 2) / (c.w / 2)) ** 2 * 0.6 + ((c.y - c.h / 2) / (c.h / 2)) ** 2 * 0.6
        c.rgb *= 1.0 - vignette * np.clip(r2, 0.0, 1.5) ** 1.3


# --- Planning -----------------------------------------------------------------------------

Layer = tuple[str, Callable[[_Canvas], None]]
_Planner = Callable[["_Reading", _Palette, str, np.random.Generator, float], tuple[float, list[Layer]]]

_GOLDEN_PALETTES = {"sunset", "sunrise", "dusk", "volcanic"}
_NIGHT_PALETTES = {"night", "neon", "vapor", "cosmic", "aurora", "underwater"}
_HORIZONS = {
    "mountains": (0.56, 0.68),
    "hills": (0.55, 0.66),
    "dunes": (0.48, 0.6),
    "field": (0.42, 0.52),
    "lake": (0.44, 0.54),
    "sea": (0.5, 0.62),
    "forest": (0.5, 0.62),
    "city": (0.6, 0.7),
    "grid": (0.52, 0.58),
}


@dataclass
class _Setting:
    """Choices shared by the layers of one landscape."""

    pal: _Palette
    sky: str
    light_x: float
    fog: bool
    calm: bool
    minimal: bool
    epic: bool
    snow: bool
    layers: list[Layer] = field(default_factory=list)

    def add(self, name: str, fn: Callable[..., None], **kwargs: object) -> None:
        self.layers.append((name, partial(fn, **kwargs)))


def _sky_kind(r: _Reading, palette_name: str, pal: _Palette, rng: np.random.Generator) -> str:
    if "storm" in r.weather:
        return "storm"
    if r.sky:
        return r.sky
    if palette_name in _GOLDEN_PALETTES:
        return "golden"
    if palette_name in _NIGHT_PALETTES or pal.is_dark:
        return "night"
    return "day" if rng.random() < 0.55 else "golden"


def _plan_vista(
    r: _Reading, pal: _Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    ground = r.ground or _fallback_ground(r, palette_name, rng)
    low, high = _HORIZONS[ground]
    horizon = float(rng.uniform(low, high))
    st = _Setting(
        pal=pal,
        sky=_sky_kind(r, palette_name, pal, rng),
        light_x=float(rng.uniform(0.22, 0.78)),
        fog="fog" in r.weather,
        calm="calm" in r.moods,
        minimal="minimal" in r.styles,
        epic="epic" in r.moods,
        snow="arctic" in r.palettes or "snow" in r.weather,
    )
    _plan_sky(st, r, rng, horizon, ground)
    _GROUND_PLANNERS[ground](st, r, rng, horizon)
    _plan_subject(st, r, rng)
    if {"snow", "rain", "storm"} & r.weather:
        st.add("weather", _paint_precipitation, pal=pal, snow=st.snow)
    return horizon, st.layers


def _fallback_ground(r: _Reading, palette_name: str, rng: np.random.Generator) -> str:
    """A ground for prompts that name none, in keeping with the palette."""
    if "vaporwave" in r.styles:
        return "grid"
    if palette_name == "desert":
        return "dunes"
    choices = ("mountains", "hills", "lake", "forest", "sea")
    return choices[int(rng.integers(len(choices)))]


def _plan_sky(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float, ground: str) -> None:
    pal = st.pal
    st.add("sky", _paint_sky, pal=pal)
    if st.sky == "nebula":
        st.add("nebula", _paint_nebula, pal=pal, bottom=horizon)
    if st.sky == "aurora":
        st.add("aurora", _paint_aurora, pal=pal)
    if st.sky in {"night", "nebula", "aurora"} and "stars" not in r.suppress:
        st.add("stars", _paint_stars, pal=pal, density=1.6 if st.sky == "nebula" else 1.0, bottom=horizon)
    if ground == "grid" and "sun" not in r.suppress:
        st.light_x = 0.5
        size = float(rng.uniform(0.17, 0.23))
        st.add("sun", _paint_sun, pal=pal, x=0.5, height=float(rng.uniform(0.12, 0.3)), size=size, kind="striped")
    elif st.sky in {"day", "golden"} and "sun" not in r.suppress:
        golden = st.sky == "golden"
        height = float(rng.uniform(0.03, 0.2) if golden else rng.uniform(0.45, 0.75))
        size = float(rng.uniform(0.05, 0.08) if golden else rng.uniform(0.03, 0.05))
        st.add("sun", _paint_sun, pal=pal, x=st.light_x, height=height, size=size, kind="sun")
    elif st.sky in {"night", "aurora"} and "moon" not in r.suppress and rng.random() < 0.8:
        size = float(rng.uniform(0.03, 0.055))
        st.add("moon", _paint_sun, pal=pal, x=st.light_x, height=float(rng.uniform(0.45, 0.8)), size=size, kind="moon")
    cover = {"day": (0.3, 0.55), "golden": (0.25, 0.5), "storm": (0.85, 0.95), "night": (0.0, 0.25)}.get(st.sky)
    if cover and not st.minimal and "clouds" not in r.suppress:
        lit = {"golden": _mix(pal.glow, pal.accent, 0.35), "day": _mix(pal.glow, _WHITE, 0.7)}.get(st.sky, pal.horizon)
        body = _mix(pal.near, pal.far, 0.45) if st.sky == "storm" else _mix(pal.sky, pal.far, 0.5)
        st.add("clouds", _paint_clouds, pal=pal, cover=float(rng.uniform(*cover)), body=body, lit=lit, seed=0)


def _plan_ridges(
    st: _Setting,
    rng: np.random.Generator,
    kind: str,
    count: int,
    start: float,
    end: float,
    depths: tuple[float, float] = (0.0, 1.0),
    trees: str | None = None,
    sparse: bool = False,
    foliage: Color | None = None,
) -> None:
    """Layers of land from the horizon forwards, with fog between them if the air is thick.
    ``foliage`` tints the middle distance (autumn leaves, green pines)."""
    amps = {"mountains": (0.36, 0.14), "hills": (0.11, 0.06), "dunes": (0.14, 0.07)}[kind]
    for i in range(count):
        t = i / max(1, count - 1)
        depth = depths[0] + (depths[1] - depths[0]) * t
        base = start + (end - start) * t**1.4
        amp = (amps[0] + (amps[1] - amps[0]) * t) * float(rng.uniform(0.75, 1.2)) * (1.3 if st.epic else 1.0)
        colour, mist_colour, mist = _land_colours(st.pal, depth, st.fog)
        if foliage is not None:
            colour = _mix(colour, foliage, 0.6 * (1.0 - depth) ** 0.7 * (1.0 - 0.5 * depth))
        land = _Land(
            colour=colour,
            mist_colour=mist_colour,
            mist=mist,
            shade=0.0 if st.minimal else {"mountains": 0.25, "dunes": 0.4}.get(kind, 0.12),
            sun_side=1.0 if st.light_x > 0.5 else -1.0,
            texture=0.0 if st.minimal else 0.06 + 0.1 * depth,
            glow=_mix(st.pal.glow, st.pal.accent, 0.3) if st.sky == "golden" and depth < 0.6 else None,
            snow=_mix(st.pal.glow, _WHITE, 0.6) if st.snow and kind == "mountains" and depth < 0.7 else None,
        )
        # Each layer draws from its own random stream, named by its place in the picture.
        st.add(
            f"{kind}-{i}",
            _paint_land,
            kind=kind,
            index=len(st.layers),
            base=base,
            amp=amp,
            depth=depth,
            land=land,
            trees=trees,
            sparse=sparse,
        )
        if st.fog and i < count - 1:
            next_base = start + (end - start) * ((i + 1) / max(1, count - 1)) ** 1.4
            level = next_base - 0.02
            st.add(f"fog-{i}", _paint_fog, pal=st.pal, level=level, thickness=0.1, density=0.75, seed=len(st.layers))


def _paint_land(
    c: _Canvas,
    kind: str,
    index: int,
    base: float,
    amp: float,
    depth: float,
    land: _Land,
    trees: str | None,
    sparse: bool,
) -> None:
    top = _ridge_profile(c.streams("ridge", index), c, kind, base * c.h, amp * c.unit)
    extra = None
    if trees:
        height = c.unit * (0.05 + 0.17 * depth**1.3)
        spacing = height * (0.32 if trees == "pine" else 0.38) * (12.0 if sparse else 1.0)
        extra = _tree_mask(c, c.streams("trees", index), top, spacing, height, trees)
    _paint_ridge(c, top, land, extra)


def _plan_mountains(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "mountains", 3 if st.minimal else int(rng.integers(4, 6)), horizon + 0.02, 0.97)


def _plan_hills(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "hills", 2 if st.minimal else int(rng.integers(3, 5)), horizon + 0.01, 0.93)
    if r.words & {"meadow", "meadows", "wildflower", "wildflowers", "flowers", "flowery", "blooming", "spring"}:
        st.add("wildflowers", _paint_meadow, pal=st.pal)


def _plan_dunes(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "dunes", 2 if st.minimal else int(rng.integers(3, 5)), horizon + 0.02, 0.95)


def _plan_lake(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    count = 2 if st.minimal else int(rng.integers(3, 5))
    _plan_ridges(st, rng, "mountains", count, horizon, horizon + 0.02, depths=(0.0, 0.55))
    if "water" not in r.suppress:
        st.add("water", _paint_water, pal=st.pal, line=horizon + 0.02, calm=0.85 if st.calm else 0.55, sun_x=None)
    if not st.minimal and rng.random() < 0.6:
        trees = "pine" if "trees" not in r.suppress else None
        _plan_ridges(st, rng, "hills", 1, 0.93, 0.93, depths=(1.0, 1.0), trees=trees)


def _plan_sea(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    if not st.minimal and rng.random() < 0.5:
        _plan_ridges(st, rng, "hills", 1, horizon + 0.005, horizon, depths=(0.15, 0.15))
    if "water" not in r.suppress:
        sun_x = st.light_x if st.sky in {"day", "golden"} and "sun" not in r.suppress else None
        st.add("sea", _paint_water, pal=st.pal, line=horizon, calm=0.7 if st.calm else 0.15, sun_x=sun_x)
        if "storm" in r.weather or (not st.calm and rng.random() < 0.35):
            st.add("waves", _paint_waves, pal=st.pal, seed=0)


def _plan_forest(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    round_trees = bool(set(r.palettes) & {"autumn", "spring", "tropical"}) or rng.random() < 0.3
    trees = None if "trees" in r.suppress else ("round" if round_trees else "pine")
    foliage = st.pal.accent if round_trees else _mix(st.pal.far, _hex("#2f5a3a"), 0.5)
    count = 3 if st.minimal else int(rng.integers(4, 6))
    _plan_ridges(st, rng, "hills", count, horizon + 0.02, 0.95, trees=trees, foliage=foliage)


def _plan_field(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    trees = None if "trees" in r.suppress or st.minimal else "round"
    _plan_ridges(
        st, rng, "hills", 1 if st.minimal else 2, horizon, horizon + 0.01, depths=(0.1, 0.45), trees=trees, sparse=True
    )
    st.add("field", _paint_field, pal=st.pal, start=horizon + 0.012, vanish_x=float(rng.uniform(0.3, 0.7)))


def _plan_city(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    night = st.sky in {"night", "nebula", "aurora", "storm"} or st.pal.is_dark
    neon = bool(set(r.palettes) & {"neon", "vapor"}) or "vaporwave" in r.styles
    water = "water" not in r.suppress and (bool(set(r.palettes) & {"ocean"}) or rng.random() < 0.5)
    base = horizon if water else horizon + 0.15
    for i, depth in enumerate((0.1, 0.45, 0.85)):
        lights = (0.15 + 0.25 * depth) if night else 0.0
        st.add(
            f"city-{i}",
            _paint_city,
            pal=st.pal,
            base=base + 0.03 * i,
            depth=depth,
            lights=lights,
            neon=neon and i > 0,
            fog=st.fog,
            seed=i,
        )
        if st.fog and i < 2:
            st.add(
                f"fog-{i}", _paint_fog, pal=st.pal, level=base + 0.03 * i - 0.04, thickness=0.12, density=0.6, seed=i
            )
    if water:
        st.add("harbour", _paint_water, pal=st.pal, line=base + 0.06, calm=0.7, sun_x=None)


def _plan_grid(st: _Setting, r: _Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "mountains", 2, horizon + 0.005, horizon + 0.005, depths=(0.35, 0.75))
    st.add("grid", _paint_grid, pal=st.pal)


_GROUND_PLANNERS: dict[str, Callable[[_Setting, _Reading, np.random.Generator, float], None]] = {
    "mountains": _plan_mountains,
    "hills": _plan_hills,
    "dunes": _plan_dunes,
    "lake": _plan_lake,
    "sea": _plan_sea,
    "forest": _plan_forest,
    "field": _plan_field,
    "city": _plan_city,
    "grid": _plan_grid,
}


def _plan_subject(st: _Setting, r: _Reading, rng: np.random.Generator) -> None:
    if r.subject is None:
        return
    x = float(rng.uniform(0.3, 0.7))
    if r.subject in _ANIMALS:
        size = float(rng.uniform(0.3, 0.4)) * (0.85 if r.subject == "owl" else 1.0)
        st.add(
            "subject",
            _paint_animal,
            pal=st.pal,
            species=r.subject,
            colour=r.subject_colour,
            x=x,
            facing=1.0 if x < 0.5 else -1.0,
            size=size,
            light_x=st.light_x,
        )
    else:
        st.add("subject", _paint_walker, pal=st.pal, x=x, size=float(rng.uniform(0.1, 0.15)), light_x=st.light_x)


def _plan_portrait(
    r: _Reading, pal: _Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    facing = 1.0 if rng.random() < 0.5 else -1.0
    cx = 0.5 - facing * (0.1 if aspect < 1.2 else 0.18)
    light_x = cx + facing * 0.35
    lit = rng.random() < 0.4
    layers: list[Layer] = [
        ("backdrop", partial(_paint_backdrop, pal=pal, light_x=light_x, light_y=0.35, dark=lit or pal.is_dark))
    ]
    if "minimal" not in r.styles and rng.random() < 0.6:
        layers.append(("bokeh", partial(_paint_bokeh, pal=pal, count=int(rng.integers(10, 26)))))
    layers.append(
        ("figure", partial(_paint_bust, pal=pal, cx=cx, facing=facing, kinds=r.person_kind, lit=lit, light_x=light_x))
    )
    return 0.6, layers


def _plan_space(
    r: _Reading, pal: _Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    galaxy = "galaxy" in r.words or rng.random() < 0.2
    layers: list[Layer] = [("void", partial(_paint_void, pal=pal))]
    if not galaxy or rng.random() < 0.5:
        layers.append(("nebula", partial(_paint_nebula, pal=pal, bottom=1.0)))
    if "stars" not in r.suppress:
        layers.append(("stars", partial(_paint_stars, pal=pal, density=1.4, bottom=1.0)))
    if galaxy:
        layers.append(
            (
                "galaxy",
                partial(
                    _paint_galaxy,
                    pal=pal,
                    x=float(rng.uniform(0.35, 0.65)),
                    y=float(rng.uniform(0.35, 0.65)),
                    size=float(rng.uniform(0.35, 0.5)),
                    arms=int(rng.integers(2, 4)),
                ),
            )
        )
    if r.words & {"planet", "moon", "world", "saturn", "jupiter"} or (not galaxy and rng.random() < 0.45):
        angle = float(rng.uniform(0, 2 * math.pi))
        layers.append(
            (
                "planet",
                partial(
                    _paint_planet,
                    pal=pal,
                    x=float(rng.uniform(0.25, 0.75)),
                    y=float(rng.uniform(0.35, 0.75)),
                    size=float(rng.uniform(0.12, 0.28)),
                    light=(0.8 * math.cos(angle), 0.8 * math.sin(angle)),
                    rings=bool(r.words & {"ring", "ringed", "rings", "saturn"}) or rng.random() < 0.4,
                ),
            )
        )
    return 0.5, layers


def _plan_abstract(
    r: _Reading, pal: _Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    return 0.5, [("shapes", partial(_paint_bauhaus, pal=pal))]


def _plan_flow(
    r: _Reading, pal: _Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    marble = bool(r.words & {"marble", "marbling", "fluid", "liquid", "psychedelic"}) or (
        not r.words & {"silk", "wind", "flow", "current", "smoke"} and rng.random() < 0.5
    )
    return 0.5, [
        ("marble", partial(_paint_marble, pal=pal)) if marble else ("threads", partial(_paint_streamlines, pal=pal))
    ]


def _plan_botanical(
    r: _Reading, pal: _Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    dark = pal.is_dark or rng.random() < 0.3
    flowers = _plan_flowers(rng, aspect, int(rng.integers(3, 7)))
    outline = bool(r.styles & {"illustration", "ink"}) or "botanical" in r.words
    layers: list[Layer] = [
        ("paper", partial(_paint_paper, pal=pal, dark=dark)),
        ("stems", partial(_paint_stems, pal=pal, flowers=flowers)),
    ]
    layers += [(f"flower-{i}", partial(_paint_flower, pal=pal, f=f, outline=outline)) for i, f in enumerate(flowers)]
    return 0.5, layers


def _plan_pond(
    r: _Reading, pal: _Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    fish = [
        (
            float(rng.uniform(0.15, 0.85)),
            float(rng.uniform(0.15, 0.85)),
            float(rng.uniform(0, 2 * math.pi)),
            float(rng.uniform(-0.9, 0.9)),
            float(rng.uniform(0.3, 0.45)),
        )
        for _ in range(int(rng.integers(3, 7)))
    ]
    pads = [
        (
            float(rng.uniform(0.0, 1.0)),
            float(rng.uniform(0.0, 1.0)),
            float(rng.uniform(0.06, 0.13)),
            float(rng.uniform(0, 2 * math.pi)),
        )
        for _ in range(int(rng.integers(4, 9)))
    ]
    blooms = [
        _Flower(
            x=x + 0.01,
            y=y - 0.01,
            size=s * 0.6,
            petals=int(rng.choice([8, 12])),
            layers=3,
            roundness=1.6,
            turn=float(rng.uniform(0, math.pi)),
            tint=float(rng.uniform(-0.03, 0.03)),
            colour=_mix(_hex("#f4a6c0"), pal.glow, 0.25),
        )
        for x, y, s, _ in pads
        if rng.random() < 0.35
    ]
    rings = [(x, y, length * 0.8) for x, y, _, _, length in fish[:2]]
    return 0.5, [
        ("water", partial(_paint_pond_water, pal=pal)),
        ("koi", partial(_paint_koi, pal=pal, fish=fish)),
        ("ripples", partial(_paint_ripples, pal=pal, rings=rings)),
        ("pads", partial(_paint_pads, pal=pal, pads=pads, blooms=blooms)),
    ]


_SCENES: dict[str, _Planner] = {
    "vista": _plan_vista,
    "portrait": _plan_portrait,
    "space": _plan_space,
    "abstract": _plan_abstract,
    "flow": _plan_flow,
    "botanical": _plan_botanical,
    "pond": _plan_pond,
}
# Styles that rebuild the picture (tiles, paint, washes, lines) go first, colour grades last.
_STYLE_ORDER = tuple("mosaic oil watercolor chalk ink etching halftone illustration noir film vaporwave".split())


@dataclass
class _Plan:
    """Everything decided before painting starts."""

    scene: str
    palette: str
    horizon: float
    layers: list[Layer]
    streams: _Streams
    sharpen: float
    grain: float
    pixel: bool
    styles: list[str]


def _detail(steps: int) -> float:
    """How finished the picture is after ``steps``: quickly at first, then levelling
    off, as a sampler converges."""
    return 1.0 - math.exp(-steps / 12.0)


def _plan(request: GenerateRequest) -> _Plan:
    r = _read(request.prompt, request.negative_prompt)
    prompt_words = " ".join(_words(request.prompt))
    seed_key = _Streams("seed", request.seed, prompt_words)
    pal = _build_palette(r, _Streams("prompt", prompt_words), seed_key, request.model)
    palette_name = _palette_order(r.palettes)[0] if r.palettes else ("colour" if r.colours else "harmonic")
    horizon, layers = _SCENES[r.scene](r, pal, palette_name, seed_key("layout"), request.width / request.height)
    layers = layers + _plan_styles(r, pal, request.guidance)
    sharpen = (_detail(request.steps) - 0.45) * 1.6 + (0.3 if "blurry" in r.negative_moods else 0.0)
    if r.styles & {"watercolor", "chalk"}:
        sharpen = min(sharpen, 0.2)
    grain = 0.0 if "grain" in r.suppress or "pixel" in r.styles else _grain_amount(r.styles, request.model)
    return _Plan(
        scene="landscape" if r.scene == "vista" else r.scene,
        palette=palette_name,
        horizon=horizon,
        layers=layers,
        streams=seed_key,
        sharpen=sharpen,
        grain=grain,
        pixel="pixel" in r.styles,
        styles=sorted(r.styles),
    )


def _grain_amount(styles: set[str], model: str) -> float:
    base = 0.06 if styles & {"film", "noir"} else 0.008 if "minimal" in styles else 0.022
    return base * (0.75 + 0.5 * _unit_float("grain", model))


def _plan_styles(r: _Reading, pal: _Palette, guidance: float) -> list[Layer]:
    g = min(max(guidance, 0.0), 30.0)
    saturation = min(max(1.0 + (g - 5.0) * 0.045, 0.55), 1.5)
    contrast = min(max(1.0 + (g - 5.0) * 0.025, 0.75), 1.3)
    vignette = (
        0.0 if "vignette" in r.suppress or "minimal" in r.styles else (0.4 if r.styles & {"film", "noir"} else 0.22)
    )
    layers: list[Layer] = [
        (style, partial(_STYLE_PAINTERS[style], pal=pal)) for style in _STYLE_ORDER if style in r.styles
    ]
    layers.append(("grade", partial(_paint_grade, saturation=saturation, contrast=contrast, vignette=vignette)))
    return layers


# --- Sampling and saving ----------------------------------------------------------------------


class _Refiner:
    """The closing steps: sharpen the picture (or, after very few steps, soften it, as an
    under-sampled diffusion image is soft), one band of rows per step."""

    def __init__(self, amount: float, bands: int):
        self.bands = bands
        self.filter: ImageFilter.Filter | None = None
        if amount > 0.02:
            self.filter = ImageFilter.UnsharpMask(radius=1.2, percent=int(amount * 70), threshold=2)
        elif amount < -0.02:
            self.filter = ImageFilter.GaussianBlur(-amount * 2.2)
        self.source: np.ndarray | None = None
        self.result: np.ndarray | None = None

    def unit(self, index: int) -> Callable[[_Canvas], None]:
        return partial(self._band, index=index)

    def _band(self, c: _Canvas, index: int) -> None:
        if self.source is None:
            pixels = (np.clip(c.rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            self.source = np.ascontiguousarray(pixels.transpose(1, 2, 0))
            self.result = self.source.copy()
        assert self.result is not None
        if self.filter is None:
            return
        r0, r1 = index * c.h // self.bands, (index + 1) * c.h // self.bands
        a, b = max(0, r0 - 8), min(c.h, r1 + 8)
        band = np.asarray(Image.fromarray(self.source[a:b]).filter(self.filter))
        self.result[r0:r1] = band[r0 - a : r1 - a]


def _pixelate(image: Image.Image, w: int, h: int) -> Image.Image:
    """Pixel art: a coarse grid of a few colours, enlarged with hard edges."""
    scale = 96 / max(image.size)
    small = image.resize((max(4, round(image.width * scale)), max(4, round(image.height * scale))), Image.BOX)
    small = small.quantize(20, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    return small.resize((w, h), Image.NEAREST)


def _add_grain(image: Image.Image, rng: np.random.Generator, amount: float) -> Image.Image:
    pixels = np.asarray(image, np.float32)
    noise = (rng.random(pixels.shape[:2], dtype=np.float32) - 0.5) * (amount * 2 * 255)
    return Image.fromarray(np.clip(pixels + noise[..., None], 0, 255).astype(np.uint8))


def _save(pixels: np.ndarray, plan: _Plan, request: GenerateRequest) -> Image.Image:
    """The painted pixels at exactly the requested size, pixelated or grained as asked."""
    image = Image.fromarray(pixels)
    if plan.pixel:
        image = _pixelate(image, request.width, request.height)
    elif image.size != (request.width, request.height):
        image = image.resize((request.width, request.height), Image.LANCZOS)
    if plan.grain:
        image = _add_grain(image, plan.streams("grain", request.sampler, request.model), plan.grain)
    return image


def _internal_size(w: int, h: int) -> tuple[int, int]:
    scale = min(1.0, math.sqrt(_INTERNAL_PIXELS / (w * h)))
    return max(16, round(w * scale)), max(16, round(h * scale))


def _schedule(units: list[Callable[[_Canvas], None]], steps: int) -> list[list[Callable[[_Canvas], None]]]:
    """Share the work out over the steps, in order, at least one unit per step."""
    n = len(units)
    return [units[i * n // steps : (i + 1) * n // steps] for i in range(steps)]


def _validate(request: GenerateRequest) -> None:
    for name in ("width", "height"):
        value = getattr(request, name)
        if not isinstance(value, int) or not MIN_SIDE <= value <= MAX_SIDE:
            raise EngineError(
                f"{name} must be an integer from {MIN_SIDE} to {MAX_SIDE}, got {value!r}", code="INVALID_REQUEST"
            )
    if not isinstance(request.steps, int) or not 1 <= request.steps <= MAX_STEPS:
        raise EngineError(
            f"steps must be an integer from 1 to {MAX_STEPS}, got {request.steps!r}", code="INVALID_REQUEST"
        )
    if not math.isfinite(request.guidance):
        raise EngineError(f"guidance must be a finite number, got {request.guidance!r}", code="INVALID_REQUEST")
    if FAIL_WORD in _words(request.prompt):
        raise EngineError("requested failure", code="GENERATION_FAILED", retryable=False)


class PlaceholderEngine(Engine):
    """Procedural pictures from the prompt's words and the seed; needs no model."""

    type = "placeholder"
    description = (
        "Procedural placeholder engine: no AI model; images are drawn from the prompt's words and the seed, "
        "deterministically."
    )
    cpu_cores = 1  # it draws on one core of this machine

    def _load(self, model: str, progress: ProgressFn) -> float:
        start = time.perf_counter()
        progress(Progress("loading", message=f"placeholder engine: no weights to load for {model!r}"))
        return (time.perf_counter() - start) * 1000.0

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        _validate(request)
        start = time.perf_counter()
        progress(Progress("conditioning", message="reading the prompt and planning the picture"))
        plan = _plan(request)
        iw, ih = _internal_size(request.width, request.height)
        canvas = _Canvas(iw, ih, plan.horizon, plan.streams, _detail(request.steps))
        refiner = _Refiner(plan.sharpen, max(1, request.steps - len(plan.layers)))
        units = [fn for _, fn in plan.layers] + [refiner.unit(i) for i in range(refiner.bands)]
        conditioned = time.perf_counter()

        for step, batch in enumerate(_schedule(units, request.steps), start=1):
            for unit in batch:
                unit(canvas)
            progress(Progress("sampling", step=step, total=request.steps))
        sampled = time.perf_counter()

        progress(Progress("saving", message=f"resampling to {request.width}x{request.height}"))
        assert refiner.result is not None
        image = _save(refiner.result, plan, request)
        end = time.perf_counter()
        return GenerateResult(
            image=image,
            seed=request.seed,
            timings_ms={
                "conditioning": (conditioned - start) * 1000.0,
                "sampling": (sampled - conditioned) * 1000.0,
                "total": (end - start) * 1000.0,
            },
            response_id=None,
            info={
                "engine": "placeholder",
                "procedural": True,
                "scene": plan.scene,
                "palette": plan.palette,
                "styles": plan.styles,
                "internal_size": [iw, ih],
            },
        )
