"""The ``placeholder`` engine: procedural pictures drawn from the prompt, no AI model.

It exists so that kiln works out of the box: recipes build, galleries fill and every part of
the pipeline can be tried without weights or a GPU. The pictures are meant to look like a
small, varied art gallery rather than test patterns, so the prompt's words drive them:

* colour and mood words (``crimson``, ``arctic``, ``sunset``, ``neon``, ``pastel``, ``noir``,
  ``dark``, ...) pick the palette; words it does not know still give a palette of their own,
  derived from their hash with a harmonious hue scheme;
* scene words pick the composition: landscapes (mountains, hills, dunes, fields, lakes, sea,
  forests, cities, a synthwave grid), space, abstract geometry, flowing marble, flowers, a koi
  pond; subject words (``portrait``, ``sailor``, ``fox``, ``owl``, ...) add a figure;
* style words (``oil``, ``watercolor``, ``ink``, ``chalk``, ``pixel``, ``film``, ``noir``,
  ``vaporwave``, ``minimal``, ``halftone``, ``mosaic``, ...) change how it is rendered;
* the negative prompt takes things away: a colour word steers the palette off that hue,
  ``blurry`` sharpens, ``dark`` lightens, ``fog``/``stars``/``sun``/... drop that motif;
* the seed moves everything that is not named: positions, ridge shapes, counts, tints;
  ``guidance`` scales contrast and saturation, ``steps`` adds detail (more noise octaves,
  more stars, a crisper finish) and the model name nudges hue and grain.

Rendering is plain numpy and Pillow. Every random choice comes from a
``numpy.random.Generator(PCG64(...))`` seeded with a SHA-256 of the request, one stream per
purpose, so the same request gives the same pixels (on the same numpy and Pillow) and adding
detail to one part of the picture never reshuffles another. Pictures are painted at a
reduced internal resolution (about 0.45 megapixels) and resampled to exactly the requested
size.

Progress is reported like a diffusion engine: ``conditioning`` (reading the prompt and
planning the picture), then ``sampling`` once per step 1..steps (each step paints the next
layers, back to front, and the last steps refine the image band by band), then ``saving``
(resampling to the output size and adding grain).

Requests are checked: width and height must be 64..4096 and steps 1..200, otherwise
:class:`EngineError` with code ``INVALID_REQUEST``. A prompt containing the word
``__fail__`` fails on purpose with code ``GENERATION_FAILED`` (not retryable), so tests of
the runner can simulate an engine failure.
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
FAIL_WORD = "__fail__"
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

_PALETTE_WORDS: dict[str, str] = {
    **dict.fromkeys(["sunset", "sundown"], "sunset"),
    **dict.fromkeys(["sunrise", "dawn", "morning"], "sunrise"),
    **dict.fromkeys(["dusk", "twilight", "evening"], "dusk"),
    **dict.fromkeys(["night", "midnight", "nocturne", "moonlit", "moonlight", "nighttime"], "night"),
    **dict.fromkeys(["noon", "day", "midday", "daylight", "sunny", "summer"], "day"),
    **dict.fromkeys(
        ["arctic", "polar", "ice", "icy", "glacier", "glacial", "frozen", "frost", "winter", "snow",
         "snowy", "snowstorm", "blizzard", "tundra"],
        "arctic",
    ),
    **dict.fromkeys(["ocean", "sea", "marine", "coastal", "seaside", "beach", "harbour", "harbor"], "ocean"),
    **dict.fromkeys(["forest", "woodland", "woods", "jungle", "moss"], "forest"),
    **dict.fromkeys(["autumn", "fall", "autumnal", "harvest"], "autumn"),
    **dict.fromkeys(["desert", "dune", "sahara", "sand", "arid", "canyon", "mesa"], "desert"),
    **dict.fromkeys(["neon", "cyberpunk", "cyber"], "neon"),
    **dict.fromkeys(["vaporwave", "synthwave", "retrowave", "outrun"], "vapor"),
    **dict.fromkeys(["pastel", "dreamy", "candy"], "pastel"),
    **dict.fromkeys(["noir", "monochrome", "grayscale", "greyscale"], "noir"),
    **dict.fromkeys(["storm", "stormy", "thunder", "tempest", "thunderstorm"], "storm"),
    **dict.fromkeys(["tropical", "paradise", "lagoon"], "tropical"),
    **dict.fromkeys(["volcano", "volcanic", "lava", "fire", "inferno", "molten", "ember"], "volcanic"),
    **dict.fromkeys(["sepia", "vintage", "antique"], "sepia"),
    **dict.fromkeys(["spring", "blossom", "sakura", "cherry", "meadow"], "spring"),
    **dict.fromkeys(["aurora", "boreal", "borealis"], "aurora"),
    **dict.fromkeys(
        ["space", "nebula", "galaxy", "cosmic", "cosmos", "universe", "starfield", "interstellar"], "cosmic"
    ),
    **dict.fromkeys(["underwater", "abyss"], "underwater"),
    **dict.fromkeys(["earthy", "terracotta", "clay", "rustic"], "earth"),
    **dict.fromkeys(["bauhaus", "mondrian", "primary"], "bauhaus"),
    **dict.fromkeys(["fog", "foggy", "mist", "misty", "haze", "hazy"], "fog"),
}

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
    "rust": "#a4462a", "chocolate": "#5a3525",
}  # fmt: skip

# Words that give the ground of a landscape.
_GROUND_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ["mountain", "peak", "alps", "alpine", "summit", "range", "ridge", "cliff", "highland", "volcano"],
        "mountains",
    ),
    **dict.fromkeys(
        ["hill", "valley", "countryside", "landscape", "plain", "meadow", "prairie", "tundra", "arctic",
         "snowfield", "steppe", "moor"],
        "hills",
    ),
    **dict.fromkeys(["dune", "desert", "sahara", "sand"], "dunes"),
    **dict.fromkeys(["field", "wheat", "farm", "farmland", "tulip", "vineyard", "crop"], "field"),
    **dict.fromkeys(["lake", "river", "reflection", "fjord", "loch"], "lake"),
    **dict.fromkeys(
        ["ocean", "sea", "wave", "beach", "coast", "shore", "seaside", "bay", "lagoon", "island"], "sea"
    ),
    **dict.fromkeys(
        ["city", "skyline", "cityscape", "metropolis", "downtown", "street", "urban", "skyscraper", "tower",
         "town", "rooftop", "harbour", "harbor"],
        "city",
    ),
    **dict.fromkeys(["forest", "wood", "woodland", "tree", "grove", "taiga", "pine", "jungle"], "forest"),
    **dict.fromkeys(["synthwave", "vaporwave", "retrowave", "outrun", "grid"], "grid"),
}

# Words that call for a whole-frame composition of their own.
_SCENE_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ["space", "nebula", "galaxy", "cosmos", "cosmic", "universe", "starfield", "planet", "interstellar"],
        "space",
    ),
    **dict.fromkeys(
        ["abstract", "geometric", "bauhaus", "shape", "mondrian", "composition", "constructivist", "suprematism",
         "cubist", "modernist", "pattern", "geometry"],
        "abstract",
    ),
    **dict.fromkeys(
        ["flow", "fluid", "marble", "marbling", "swirl", "liquid", "silk", "smoke", "organic", "psychedelic",
         "wind", "current"],
        "flow",
    ),
    **dict.fromkeys(
        ["flower", "floral", "botanical", "bloom", "petal", "bouquet", "lotus", "orchid", "daisy", "peony",
         "rose", "garden", "poppy", "wildflower"],
        "botanical",
    ),
    **dict.fromkeys(["koi", "pond", "lily", "lilies", "goldfish", "aquarium", "fish"], "pond"),
}

_PORTRAIT_WORDS = {"portrait", "face", "bust", "profile", "headshot"}
_PERSON_WORDS = {
    "man", "woman", "person", "sailor", "girl", "boy", "figure", "wanderer", "traveler", "traveller", "king",
    "queen", "knight", "monk", "child", "lady", "captain", "fisherman", "wizard", "witch", "stranger", "hiker",
}  # fmt: skip
_ANIMAL_WORDS: dict[str, str] = {
    **dict.fromkeys(["fox", "creature", "animal", "beast", "lynx", "deer"], "fox"),
    **dict.fromkeys(["wolf", "dog", "puppy", "hound", "coyote"], "wolf"),
    **dict.fromkeys(["cat", "kitten", "tiger", "lion", "leopard", "panther"], "cat"),
    **dict.fromkeys(["rabbit", "hare", "bunny"], "hare"),
    **dict.fromkeys(["owl", "bird", "raven", "crow", "eagle", "hawk"], "owl"),
}

_STYLE_WORDS: dict[str, str] = {
    **dict.fromkeys(["oil", "painting", "painted", "impasto", "acrylic", "impressionist", "gouache"], "oil"),
    **dict.fromkeys(["watercolor", "watercolour", "aquarelle", "wash"], "watercolor"),
    **dict.fromkeys(
        ["ink", "sketch", "pen", "drawing", "etching", "engraving", "woodcut", "linocut", "hatching", "lithograph"],
        "ink",
    ),
    **dict.fromkeys(["chalk", "crayon", "charcoal", "pastels", "chalkboard"], "chalk"),
    **dict.fromkeys(["pixel", "pixelart", "8bit", "16bit", "sprite", "pixelated"], "pixel"),
    **dict.fromkeys(
        ["film", "photo", "photograph", "photography", "analog", "35mm", "kodak", "polaroid", "cinematic",
         "grainy", "realistic", "photorealistic"],
        "film",
    ),
    **dict.fromkeys(["noir", "monochrome", "grayscale", "greyscale"], "noir"),
    **dict.fromkeys(["vaporwave", "synthwave", "retrowave", "outrun", "vhs", "glitch"], "vaporwave"),
    **dict.fromkeys(["minimal", "minimalist", "minimalism", "flat", "simple", "clean"], "minimal"),
    **dict.fromkeys(["halftone", "comic", "pop", "popart", "risograph", "riso", "screenprint", "print"], "halftone"),
    **dict.fromkeys(["mosaic", "stained", "tiles", "tile", "stainedglass"], "mosaic"),
    **dict.fromkeys(["illustration", "illustrated", "poster", "storybook", "lineart"], "illustration"),
}

_MOOD_WORDS: dict[str, str] = {
    **dict.fromkeys(["dark", "gloomy", "moody", "somber", "sombre", "sinister", "ominous", "shadowy"], "dark"),
    **dict.fromkeys(["bright", "cheerful", "vivid", "vibrant", "radiant", "luminous", "colorful"], "bright"),
    **dict.fromkeys(["muted", "faded", "dusty", "washed", "desaturated", "subdued"], "muted"),
    **dict.fromkeys(["quiet", "calm", "serene", "still", "peaceful", "tranquil", "silent", "lonely"], "calm"),
    **dict.fromkeys(["epic", "dramatic", "majestic", "towering", "vast", "grand"], "epic"),
}

_WEATHER_WORDS: dict[str, str] = {
    **dict.fromkeys(["fog", "foggy", "mist", "misty", "haze", "hazy"], "fog"),
    **dict.fromkeys(["rain", "rainy", "raining", "drizzle", "downpour"], "rain"),
    **dict.fromkeys(["snow", "snowy", "snowfall", "snowstorm", "blizzard", "snowing"], "snow"),
    **dict.fromkeys(["storm", "stormy", "thunder", "tempest", "thunderstorm", "snowstorm", "blizzard"], "storm"),
}

# Negative-prompt words that take a motif out of the picture.
_MOTIF_WORDS: dict[str, str] = {
    **dict.fromkeys(["sun", "sunlight"], "sun"),
    **dict.fromkeys(["moon"], "moon"),
    **dict.fromkeys(["star", "stars"], "stars"),
    **dict.fromkeys(["cloud", "clouds", "cloudy"], "clouds"),
    **dict.fromkeys(["water", "reflection", "lake", "sea", "ocean"], "water"),
    **dict.fromkeys(["fog", "foggy", "mist", "misty", "haze"], "fog"),
    **dict.fromkeys(["rain", "snow", "weather", "storm"], "weather"),
    **dict.fromkeys(["tree", "trees", "forest"], "trees"),
    **dict.fromkeys(["people", "person", "human", "figure", "animal", "animals", "creature"], "subject"),
    **dict.fromkeys(["grain", "noise", "noisy", "grainy"], "grain"),
    **dict.fromkeys(["vignette"], "vignette"),
}

_SKY_WORDS: dict[str, str] = {
    **dict.fromkeys(["nebula", "galaxy", "cosmic", "cosmos", "space", "starfield", "interstellar"], "nebula"),
    **dict.fromkeys(["aurora", "borealis", "boreal"], "aurora"),
    **dict.fromkeys(["night", "midnight", "moon", "moonlit", "moonlight", "starry", "stars", "nighttime"], "night"),
    **dict.fromkeys(["sunset", "sundown", "dusk", "sunrise", "dawn", "twilight", "golden", "evening"], "golden"),
    **dict.fromkeys(["noon", "midday", "day", "daylight", "sunny", "summer"], "day"),
}

_GROUNDS = ("mountains", "hills", "dunes", "field", "lake", "sea", "forest", "city")


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


def _from_hls(h: float, l: float, s: float) -> Color:  # noqa: E741 - the usual name
    return np.array(colorsys.hls_to_rgb(h % 1.0, min(max(l, 0.0), 1.0), min(max(s, 0.0), 1.0)), np.float32)


def _adjust(c: Color, *, hue: float = 0.0, light: float = 1.0, sat: float = 1.0, lift: float = 0.0) -> Color:
    h, l, s = _to_hls(c)
    return _from_hls(h + hue, l * light + (1 - l * light) * lift, s * sat)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)


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

    def ramp(self) -> np.ndarray:
        """The palette as a dark-to-light colour ramp, for mapping scalar fields to colour."""
        return np.stack([self.near, self.sky, self.far, self.accent, self.horizon, self.glow])


def _harmonic_palette(hue: float, rng: np.random.Generator) -> _Palette:
    """A palette around ``hue`` for prompts that name no palette: an analogous,
    complementary, triadic or split-complementary scheme with a sensible lightness ramp."""
    scheme = ((0.08, -0.08), (0.5, 0.04), (1 / 3, 2 / 3), (0.42, 0.58))[int(rng.integers(4))]
    a, b = scheme
    dark = rng.random() < 0.3
    sat = rng.uniform(0.45, 0.8)
    return _Palette(
        sky=_from_hls(hue + b * 0.3, 0.12 if dark else rng.uniform(0.32, 0.5), sat * 0.8),
        horizon=_from_hls(hue + a * 0.4, 0.38 if dark else rng.uniform(0.76, 0.86), sat),
        far=_from_hls(hue + 0.03, 0.3 if dark else 0.55, sat * 0.45),
        near=_from_hls(hue - 0.02, 0.07 if dark else 0.15, sat * 0.5),
        accent=_from_hls(hue + a, rng.uniform(0.5, 0.62), min(1.0, sat + 0.2)),
        glow=_from_hls(hue + b, 0.86, 0.85),
    )


# --- Reading the prompt ---------------------------------------------------------------------


@dataclass
class _Reading:
    """What the prompt asks for, in the engine's terms."""

    palettes: list[str]
    colours: list[str]
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
        if word in _COLOURS:
            return _hex(_COLOURS[word])
        if _lookup(word, _PALETTE_WORDS) in {"arctic"}:
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
    if subject in {"portrait", "person"}:
        person_kind = set(words) & {"sailor", "captain", "fisherman", "old", "bearded", "woman", "girl", "queen",
                                    "lady", "king", "wizard", "witch"}  # fmt: skip
        if subject == "person" and not (set(words) & (set(_GROUND_WORDS) | {"standing", "lone"})):
            subject = "portrait"
    # An adjective used for the subject ("arctic fox") does not also set the scene's palette.
    palette_words = [w for i, w in enumerate(words) if not (subject_colour is not None and subject_at - 2 <= i < subject_at)]

    grounds = _found(palette_words, _GROUND_WORDS)
    scenes = _found(words, _SCENE_WORDS)
    if grounds and scenes and scenes[0] == "space":
        scene = "vista"
    elif scenes:
        scene = scenes[0]
    elif grounds or subject not in {"portrait", None}:
        scene = "vista"
    elif subject == "portrait":
        scene = "portrait"
    else:
        scene = "vista"

    avoid = [_to_hls(_hex(_COLOURS[w]))[0] for w in neg if w in _COLOURS and w not in {"white", "black", "grey", "gray"}]
    suppress = {m for m in (_lookup(w, _MOTIF_WORDS) for w in neg) if m}
    return _Reading(
        palettes=[p for p in _found(palette_words, _PALETTE_WORDS) if p not in set(_found(neg, _PALETTE_WORDS))],
        colours=[w for w in palette_words if w in _COLOURS],
        scene=scene,
        ground=grounds[0] if grounds else None,
        sky=(_found(words, _SKY_WORDS) or [None])[0],
        subject=None if "subject" in suppress else subject,
        subject_colour=subject_colour,
        person_kind=person_kind,
        styles=styles,
        moods=set(_found(words, _MOOD_WORDS)),
        weather=set(_found(words, _WEATHER_WORDS)) - ({"fog"} if "fog" in suppress else set()) - (
            {"rain", "snow", "storm"} if "weather" in suppress else set()
        ),
        suppress=suppress,
        avoid_hues=avoid,
        negative_moods=set(_found(list(neg_set), _MOOD_WORDS)) | ({"blurry"} if neg_set & {"blurry", "blur", "soft", "out", "lowres"} else set()),
    )


def _build_palette(r: _Reading, prompt_key: _Streams, seed_key: _Streams, model: str) -> _Palette:
    if r.palettes:
        pal = _Palette.named(r.palettes[0])
        for weight, name in zip((0.3, 0.15), r.palettes[1:]):
            pal = pal.blend(_Palette.named(name), weight)
    else:
        rng = prompt_key("palette")
        hue = _to_hls(_hex(_COLOURS[r.colours[0]]))[0] if r.colours else float(rng.random())
        pal = _harmonic_palette(hue, rng)
    if r.colours:
        pal = replace(pal, accent=_hex(_COLOURS[r.colours[0]]))
    if len(r.colours) > 1:
        pal = replace(pal, glow=_mix(pal.glow, _hex(_COLOURS[r.colours[1]]), 0.7))
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
    h, l, s = _to_hls(c)
    gap = (h - avoided + 0.5) % 1.0 - 0.5
    if s < 0.12 or abs(gap) > 0.1:
        return c
    return _from_hls(avoided + math.copysign(0.19, gap or 1.0), l, s * 0.85)


# --- Noise ------------------------------------------------------------------------------


def _resize(field: np.ndarray, w: int, h: int, resample: int = Image.BICUBIC) -> np.ndarray:
    return np.asarray(Image.fromarray(np.ascontiguousarray(field, np.float32), "F").resize((w, h), resample))


def _fbm(
    rng: np.random.Generator, w: int, h: int, cells: float, octaves: int, *, gain: float = 0.5,
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
    """Stretch noise around its middle, so thresholds land on a usable spread."""
    return np.clip((n - 0.5) * k + 0.5, 0.0, 1.0)


def _noise1d(rng: np.random.Generator, n: int, cells: float, octaves: int, *, gain: float = 0.5, ridged: bool = False) -> np.ndarray:
    """Smooth 1-D fractal noise in 0..1 over ``n`` samples; ``ridged`` folds each octave
    into sharp crests, which is what mountain ridges look like."""
    x = np.linspace(0.0, 1.0, n, dtype=np.float64)
    total, norm, amp = np.zeros(n), 0.0, 1.0
    for octave in range(octaves):
        k = max(1, int(round(cells * 2**octave)))
        values = rng.random(k + 3)
        octave_values = _catmull_rom(values, x * k)
        if ridged:
            octave_values = (1.0 - np.abs(2.0 * octave_values - 1.0)) ** 1.5
        total += amp * octave_values
        norm += amp
        amp *= gain
    return (total / norm).astype(np.float32)


def _catmull_rom(values: np.ndarray, t: np.ndarray) -> np.ndarray:
    i = np.minimum(np.floor(t).astype(np.int64), len(values) - 4)
    f = t - i
    p0, p1, p2, p3 = values[i], values[i + 1], values[i + 2], values[i + 3]
    return p1 + 0.5 * f * (p2 - p0 + f * (2 * p0 - 5 * p1 + 4 * p2 - p3 + f * (3 * (p1 - p2) + p3 - p0)))


def _sample(field: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear lookup of ``field`` at fractional pixel positions (clamped to the edges)."""
    h, w = field.shape[:2]
    xs = np.clip(xs, 0, w - 1.001)
    ys = np.clip(ys, 0, h - 1.001)
    x0, y0 = xs.astype(np.int32), ys.astype(np.int32)
    fx, fy = xs - x0, ys - y0
    if field.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    top = field[y0, x0] * (1 - fx) + field[y0, x0 + 1] * fx
    bottom = field[y0 + 1, x0] * (1 - fx) + field[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _blur(field: np.ndarray, radius: float) -> np.ndarray:
    """A cheap soft blur: box-shrink by ``radius`` and bicubic back up."""
    if radius < 1.0:
        return field
    h, w = field.shape[:2]
    sw, sh = max(2, round(w / radius)), max(2, round(h / radius))
    if field.ndim == 2:
        return _resize(_resize(field, sw, sh, Image.BOX), w, h)
    return np.stack([_blur(field[..., c], radius) for c in range(field.shape[2])], axis=-1)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# --- The canvas -----------------------------------------------------------------------------


class _Canvas:
    """The picture being painted: float RGB plus what layers tell later layers (where the
    horizon is, where the ground is for a figure to stand on)."""

    def __init__(self, w: int, h: int, horizon: float, streams: _Streams, detail: float):
        self.w, self.h = w, h
        self.unit = float(min(w, h))
        self.rgb = np.zeros((h, w, 3), np.float32)
        self.x = np.arange(w, dtype=np.float32)[None, :]
        self.y = np.arange(h, dtype=np.float32)[:, None]
        self.horizon = horizon * h
        self.ground = np.full(w, float(h), np.float32)
        self.detail = detail
        self.streams = streams
        self._texture: np.ndarray | None = None

    def octaves(self, base: int) -> int:
        """More octaves of noise as the step count (``detail``) grows."""
        return base + int(round(3 * self.detail))

    def texture(self) -> np.ndarray:
        """A fine noise shared by the layers that want surface texture."""
        if self._texture is None:
            self._texture = _fbm(self.streams("texture"), self.w, self.h, 24, self.octaves(1))
        return self._texture

    def blend(self, alpha: np.ndarray, color: np.ndarray, top: int = 0, left: int = 0) -> None:
        """Paint ``color`` over the region at (top, left) with coverage ``alpha``."""
        region = self.rgb[top : top + alpha.shape[0], left : left + alpha.shape[1]]
        region += (np.asarray(color, np.float32) - region) * alpha[..., None]

    def screen(self, light: np.ndarray, color: np.ndarray, top: int = 0, left: int = 0) -> None:
        """Add light the way light adds: it brightens but never clips to a flat white."""
        region = self.rgb[top : top + light.shape[0], left : left + light.shape[1]]
        region[:] = 1.0 - (1.0 - region) * (1.0 - np.clip(light, 0, 1)[..., None] * np.asarray(color, np.float32))

    def radius(self, cx: float, cy: float) -> np.ndarray:
        return np.sqrt((self.x - cx) ** 2 + (self.y - cy) ** 2)


def _mask(w: int, h: int, draw: Callable[[ImageDraw.ImageDraw, int], None], supersample: int = 2) -> np.ndarray:
    """Coverage of shapes drawn with Pillow, anti-aliased by supersampling."""
    image = Image.new("L", (w * supersample, h * supersample), 0)
    draw(ImageDraw.Draw(image), supersample)
    return np.asarray(image.reduce(supersample), np.float32) / 255.0


def _closed_spline(points: list[tuple[float, float]], per_segment: int = 6) -> list[tuple[float, float]]:
    """A smooth closed outline through ``points`` (repeat a point to keep a corner sharp)."""
    p = np.asarray(points, np.float64)
    n = len(p)
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(n):
        p0, p1, p2, p3 = p[i - 1], p[i], p[(i + 1) % n], p[(i + 2) % n]
        out.append(p1 + 0.5 * t * (p2 - p0 + t * (2 * p0 - 5 * p1 + 4 * p2 - p3 + t * (3 * (p1 - p2) + p3 - p0))))
    return [tuple(q) for q in np.concatenate(out)]


def _smooth1d(values: np.ndarray, radius: float) -> np.ndarray:
    k = max(1, int(radius))
    padded = np.pad(values, k, mode="edge")
    kernel = np.ones(2 * k + 1, np.float32) / (2 * k + 1)
    return np.convolve(padded, kernel, mode="valid").astype(np.float32)


# --- Skies ----------------------------------------------------------------------------------


def _paint_sky(c: _Canvas, pal: _Palette) -> None:
    t = np.clip(c.y / max(c.horizon, 1.0), 0.0, 1.0) ** 1.5
    c.rgb[:] = _mix(pal.sky, pal.horizon, t[..., None])
    # A faint large-scale unevenness keeps a big sky from looking like a CSS gradient.
    n = _fbm(c.streams("sky"), c.w, c.h, 1.2, 3)
    c.rgb *= (0.93 + 0.14 * n)[..., None]


def _paint_sun(c: _Canvas, pal: _Palette, x: float, height: float, size: float, kind: str) -> None:
    """A sun, a moon or a striped synthwave sun, with its halo. ``height`` is the fraction
    of the way from the horizon to the top of the frame."""
    cx, cy = x * c.w, c.horizon * (1.0 - height)
    r = size * c.unit
    d = c.radius(cx, cy)
    if kind == "moon":
        c.screen(np.exp(-d / (r * 1.8)) * 0.45, _mix(pal.glow, pal.horizon, 0.3))
        surface = 0.82 + 0.18 * _fbm(c.streams("moon"), c.w, c.h, c.unit / r * 0.6, 3)
        disc = np.clip(r - d + 0.5, 0.0, 1.0)
        c.blend(disc, _mix(pal.glow, np.ones(3, np.float32), 0.4) * surface[..., None])
        return
    halo = np.exp(-d / (r * 2.2)) * 0.6
    band = np.exp(-(((c.x - cx) / (c.w * 0.55)) ** 2) - ((c.y - c.horizon) / (c.h * 0.22)) ** 2) * 0.35
    c.screen(halo + band, pal.glow)
    disc = np.clip(r - d + 0.5, 0.0, 1.0)
    if kind == "striped":
        v = np.clip((c.y - (cy - 0.1 * r)) / (1.1 * r), 0.0, 1.0)
        gap = ((c.y - cy) / (r * 0.17)) % 1.0 < v * 0.55
        disc = disc * ~gap
        colour = _mix(pal.glow, pal.accent, np.clip((c.y - cy + r) / (2 * r), 0, 1)[..., None])
    else:
        colour = _mix(pal.glow, np.ones(3, np.float32), 0.55)
    c.blend(disc, colour)


def _paint_clouds(c: _Canvas, pal: _Palette, cover: float, lit: Color, seed: int) -> None:
    rows = max(2, int(c.horizon))
    n = _fbm(c.streams("clouds", seed), c.w, rows, 2.2, c.octaves(3), stretch=(3.5, 0.8))
    n = _contrast(n, 2.2)
    y = c.y[:rows] / rows
    density = _smoothstep(1.0 - cover, 1.05 - cover * 0.6, n) * _smoothstep(1.0, 0.55, y)
    # Light comes from below (the sky's bright horizon): thinner cloud just above the base of
    # each puff catches it, so compare the noise with itself a few rows lower.
    shift = max(1, int(c.unit * 0.015))
    underside = np.clip((n - np.roll(n, -shift, axis=0)) * 8.0, 0.0, 1.0)
    body = _mix(_mix(pal.sky, pal.far, 0.5), pal.horizon, 0.35 + 0.3 * y[..., None])
    colour = _mix(body, lit, underside[..., None] * 0.8)
    c.blend(density * 0.92, colour)


def _paint_stars(c: _Canvas, pal: _Palette, density: float, bottom: float) -> None:
    rng = c.streams("stars")
    area = c.w * c.h / c.unit**2
    count = int(density * area * (600 + 1400 * c.detail))
    ys = rng.random(count) ** 1.3 * bottom * c.h
    xs = rng.random(count) * c.w
    bright = rng.random(count) ** 4 * np.clip((bottom * c.h - ys) / (0.35 * bottom * c.h), 0.0, 1.0)
    light = np.zeros((c.h, c.w), np.float32)
    np.maximum.at(light, (ys.astype(np.int64), xs.astype(np.int64)), bright.astype(np.float32))
    glow = _blur(light, c.unit * 0.004) * 3.0
    c.screen(light + glow, _mix(pal.glow, np.ones(3, np.float32), 0.6))


def _paint_nebula(c: _Canvas, pal: _Palette, bottom: float) -> None:
    """Glowing gas: domain-warped noise through the palette, cut by dark dust lanes."""
    rows = max(2, int(bottom * c.h))
    rng = c.streams("nebula")
    warp_x = _fbm(rng, c.w, rows, 1.5, 3)
    warp_y = _fbm(rng, c.w, rows, 1.5, 3)
    base = _fbm(rng, c.w, rows, 2.0, c.octaves(4), gain=0.55)
    shift = c.unit * 0.25
    gas = _contrast(_sample(base, c.y[:rows] + (warp_y - 0.5) * shift, c.x + (warp_x - 0.5) * shift), 2.4)
    dust = _smoothstep(0.5, 0.7, _contrast(_fbm(rng, c.w, rows, 3.0, c.octaves(3)), 2.0))
    veil = _smoothstep(0.35, 0.95, gas) * (1.0 - 0.75 * dust)
    fade = _smoothstep(1.0, 0.55, c.y[:rows] / rows)
    ramp = np.stack([pal.far, pal.accent, pal.horizon, pal.glow])
    colour = _ramp(ramp, gas)
    c.screen(veil * fade * 0.95, colour)


def _ramp(stops: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Colours along ``stops`` (a (n, 3) array) for values ``t`` in 0..1."""
    pos = np.clip(t, 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(pos.astype(np.int32), len(stops) - 2)
    f = (pos - i)[..., None]
    return stops[i] * (1 - f) + stops[i + 1] * f


def _paint_aurora(c: _Canvas, pal: _Palette) -> None:
    rows = max(2, int(c.horizon))
    rng = c.streams("aurora")
    centre = (0.25 + 0.35 * _noise1d(rng, c.w, 1.5 * c.w / c.unit, 3)) * rows
    curtain = _fbm(rng, c.w, rows, 3.0, c.octaves(2), stretch=(0.12, 6.0))
    above = (centre[None, :] - c.y[:rows]) / (rows * 0.35)
    shape = np.where(above > 0, np.exp(-above * 2.0), np.exp(-((above * 8.0) ** 2)))
    light = shape * _contrast(curtain, 2.0) * 0.9
    colour = _mix(pal.accent, pal.glow, np.clip(above, 0, 1)[..., None])
    c.screen(light, colour)


# --- Ground ---------------------------------------------------------------------------------


def _ridge_profile(rng: np.random.Generator, c: _Canvas, kind: str, base: float, amp: float) -> np.ndarray:
    """The skyline of one layer of land, as a y coordinate per column."""
    across = c.w / c.unit
    if kind == "mountains":
        envelope = _noise1d(rng, c.w, 0.8 * across, 2)
        n = _noise1d(rng, c.w, 2.2 * across, c.octaves(3), ridged=True) * (0.35 + 0.9 * envelope)
    elif kind == "dunes":
        n = 1.0 - np.abs(2.0 * _noise1d(rng, c.w, 1.3 * across, 2, gain=0.3) - 1.0) ** 1.4
        n = n * 0.85 + 0.15 * _noise1d(rng, c.w, 4 * across, c.octaves(1), gain=0.4)
    else:
        n = _noise1d(rng, c.w, 1.1 * across, c.octaves(2), gain=0.3)
    return (base - amp * n).astype(np.float32)


def _paint_ridge(
    c: _Canvas, top: np.ndarray, colour: Color, mist_colour: Color, mist: float, *,
    extra: np.ndarray | None = None, shade: float = 0.0, sun_side: float = 1.0, texture: float = 0.0,
    fade: float = 0.22,
) -> None:
    """Fill below ``top``: a band of land whose colour melts into mist further down, lit on
    the slopes that face the sun."""
    y0 = max(0, int(np.floor(top.min())) - 1)
    if extra is not None:
        rows = np.flatnonzero(extra.max(axis=1) > 0.0)
        y0 = min(y0, int(rows[0])) if rows.size else y0
    below = c.y[y0:] - top[None, :]
    alpha = np.clip(below + 0.5, 0.0, 1.0)
    if extra is not None:
        alpha = np.maximum(alpha, extra[y0:])
    t = np.sqrt(np.clip(below / (c.unit * fade), 0.0, 1.0))
    col = _mix(colour, mist_colour, (mist * t)[..., None])
    if shade:
        slope = np.gradient(_smooth1d(top, c.unit * 0.006))
        facing = np.clip(slope * sun_side * 1.2, -1.0, 1.0)
        light = facing[None, :] * np.exp(-np.maximum(below, 0.0) / (c.unit * 0.1))
        col = col * (1.0 + shade * light)[..., None]
    if texture:
        col = col * (1.0 + texture * (c.texture()[y0:] - 0.5))[..., None]
    c.blend(alpha, col, y0)
    c.ground = np.minimum(top, c.h).astype(np.float32)


def _land_colours(pal: _Palette, depth: float, fog: bool) -> tuple[Color, Color, float]:
    """Atmospheric perspective: far land takes the colour of the air in front of it."""
    haze = _mix(pal.horizon, pal.far, 0.45)
    colour = _mix(haze, pal.near, depth**0.85)
    mist_colour = _mix(pal.horizon, haze, 0.35)
    mist = (0.75 if fog else 0.55) * (1.0 - depth) + 0.12
    return colour, mist_colour, mist


def _paint_fog(c: _Canvas, pal: _Palette, level: float, thickness: float, density: float, seed: int) -> None:
    """A bank of fog lying at ``level`` (a fraction of the height), thinning upwards."""
    n = _fbm(c.streams("fog", seed), c.w, c.h, 1.5, 3, stretch=(4.0, 0.6))
    rise = _smoothstep(level - thickness, level + thickness * 0.5, c.y / c.h)
    c.blend(np.clip(density * rise * (0.55 + 0.9 * (n - 0.5) + 0.45), 0.0, 1.0) * 0.85, _mix(pal.horizon, pal.glow, 0.15))


def _conifer(x: float, base: float, height: float, width: float, tiers: int) -> list[tuple[float, float]]:
    """A pine outline: tiers of branches that widen towards the ground."""
    left, right = [], []
    for k in range(1, tiers + 1):
        y = base - height + height * k / tiers
        half = width * (0.25 + 0.75 * k / tiers)
        left += [(x - half, y), (x - half * 0.45, y - height * 0.05)]
        right += [(x + half, y), (x + half * 0.45, y - height * 0.05)]
    return [(x, base - height), *right, (x + width * 0.08, base + height * 0.2), (x - width * 0.08, base + height * 0.2), *reversed(left)]


def _tree_mask(c: _Canvas, rng: np.random.Generator, top: np.ndarray, spacing: float, height: float, kind: str) -> np.ndarray:
    def draw(d: ImageDraw.ImageDraw, ss: int) -> None:
        x = float(rng.uniform(0, spacing))
        while x < c.w + spacing:
            h = height * float(rng.uniform(0.55, 1.35))
            base = float(top[min(c.w - 1, max(0, int(x)))]) + h * 0.08
            if kind == "pine":
                points = _conifer(x, base, h, h * float(rng.uniform(0.2, 0.3)), int(rng.integers(4, 7)))
                d.polygon([(px * ss, py * ss) for px, py in points], fill=255)
            else:
                d.line([(x * ss, base * ss), (x * ss, (base - h * 0.6) * ss)], fill=255, width=max(1, int(h * 0.06 * ss)))
                for _ in range(4):
                    rx = h * float(rng.uniform(0.18, 0.32))
                    cx = x + float(rng.uniform(-0.18, 0.18)) * h
                    cy = base - h * float(rng.uniform(0.55, 0.85))
                    d.ellipse([(cx - rx) * ss, (cy - rx * 0.85) * ss, (cx + rx) * ss, (cy + rx * 0.85) * ss], fill=255)
            x += spacing * float(rng.uniform(0.45, 1.4))

    return _mask(c.w, c.h, draw)


def _paint_water(c: _Canvas, pal: _Palette, line: float, calm: float, sun_x: float | None) -> None:
    """Water below ``line`` (a fraction of the height) mirroring what is above it, broken
    up by ripples that grow towards the viewer."""
    top = int(line * c.h)
    if top >= c.h - 1:
        return
    rows = c.h - top
    ys = c.y[top:]
    dist = (ys - top) / rows
    rng = c.streams("water")
    ripples = _fbm(rng, c.w, rows, 3.0, c.octaves(3), stretch=(5.0, 0.22))
    amp = (1.0 - calm) * (1.5 + c.unit * 0.06 * dist) + 0.6
    src_y = np.clip(2.0 * top - ys - 1.0 + (ripples - 0.5) * amp * 0.6, 0, top - 1)
    src_x = c.x + (ripples - 0.5) * amp * 2.0
    reflection = _sample(c.rgb, src_y, src_x)
    deep = _mix(pal.near, pal.sky, 0.35)
    strength = (0.88 - 0.45 * dist) * (0.75 + 0.25 * calm)
    water = _mix(deep, reflection * 0.92, strength[..., None])
    sparkle = _smoothstep(0.6, 0.72, _contrast(ripples, 2.0)) * (0.15 + 0.2 * (1 - calm))
    if sun_x is not None:
        spread = c.w * (0.03 + 0.1 * dist)
        sparkle = sparkle + _smoothstep(0.55, 0.64, _contrast(ripples, 2.5)) * np.exp(-(((c.x - sun_x * c.w) / spread) ** 2)) * 0.9
    c.rgb[top:] = water
    c.screen(sparkle, _mix(pal.glow, pal.horizon, 0.3), top)
    c.ground = np.full(c.w, float(c.h), np.float32)


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


def _paint_city(c: _Canvas, pal: _Palette, base: float, depth: float, lights: float, neon: bool, fog: bool, seed: int) -> None:
    rng = c.streams("city", seed)
    scale = c.unit * (0.45 + 0.75 * depth)
    base_y = base * c.h
    buildings = _skyline(rng, c, base_y, scale)
    tops = [(float(rng.random()), float(rng.random())) for _ in buildings]

    def draw(d: ImageDraw.ImageDraw, ss: int) -> None:
        d.rectangle([0, base_y * ss, c.w * ss, c.h * ss], fill=255)
        for (x0, x1, roof), (kind, where) in zip(buildings, tops):
            d.rectangle([x0 * ss, roof * ss, x1 * ss, c.h * ss], fill=255)
            w = x1 - x0
            if kind < 0.3:  # a setback tower
                d.rectangle([(x0 + w * 0.2) * ss, (roof - w * 0.5) * ss, (x1 - w * 0.2) * ss, roof * ss], fill=255)
            elif kind < 0.45:  # an antenna
                ax = x0 + w * (0.3 + 0.4 * where)
                d.line([ax * ss, roof * ss, ax * ss, (roof - scale * 0.08) * ss], fill=255, width=max(1, ss))
            elif kind < 0.55:  # a spire
                d.polygon([(x0 * ss, roof * ss), ((x0 + w / 2) * ss, (roof - w * 0.9) * ss), (x1 * ss, roof * ss)], fill=255)

    mask = _mask(c.w, c.h, draw)
    colour, mist_colour, mist = _land_colours(pal, depth, fog)
    below = np.clip((c.y - (base_y - scale * 0.35)) / (scale * 0.5), 0.0, 1.0)
    col = _mix(colour, mist_colour, (below * mist * 0.8)[..., None] * np.ones((1, c.w, 1), np.float32))
    c.blend(mask, col)
    if lights > 0:
        _paint_windows(c, rng, buildings, base_y, scale, lights, pal, neon)
    c.ground = np.full(c.w, base_y, np.float32)


def _paint_windows(c: _Canvas, rng: np.random.Generator, buildings: list[tuple[float, float, float]], base_y: float,
                   scale: float, lights: float, pal: _Palette, neon: bool) -> None:  # fmt: skip
    emission = np.zeros((c.h, c.w), np.float32)
    pitch = max(3.0, scale * 0.016)
    for x0, x1, roof in buildings:
        l, r, t, b = max(0, int(x0 + pitch)), min(c.w, int(x1 - pitch * 0.5)), max(0, int(roof + pitch)), min(c.h, int(base_y))
        if r - l < 2 or b - t < 2:
            continue
        lx = np.arange(l, r, dtype=np.float32)[None, :] - l
        ly = np.arange(t, b, dtype=np.float32)[:, None] - t
        cells = rng.random((int((b - t) / pitch) + 2, int((r - l) / pitch) + 2)) < lights * float(rng.uniform(0.3, 1.0))
        window = ((lx % pitch) < pitch * 0.55) & ((ly % (pitch * 1.3)) < pitch * 0.7)
        lit = cells[(ly / (pitch * 1.3)).astype(np.int32), (lx / pitch).astype(np.int32)]
        emission[t:b, l:r] = np.maximum(emission[t:b, l:r], (window & lit) * 0.85)
        if neon and rng.random() < 0.25:
            sx = int(l + (r - l) * float(rng.uniform(0.1, 0.8)))
            sy0, sy1 = t + int((b - t) * 0.1), t + int((b - t) * float(rng.uniform(0.3, 0.6)))
            emission[sy0:sy1, sx : sx + max(2, int(pitch * 0.6))] = 1.0
    light_colour = pal.accent if neon else _mix(pal.glow, _hex("#ffc46b"), 0.5)
    c.screen(emission, light_colour)
    c.screen(_blur(emission, c.unit * 0.012) * (1.6 if neon else 0.9), light_colour)


def _paint_field(c: _Canvas, pal: _Palette, start: float, vanish_x: float) -> None:
    """Rows of flowers or crops running to a vanishing point on the horizon."""
    top = int(start * c.h)
    ys = c.y[top:]
    depth = np.maximum(ys - c.horizon, 1.0)
    across = (c.x - vanish_x * c.w) / depth
    rows_per = 0.55
    phase = (across * rows_per) % 1.0
    tufts = _fbm(c.streams("field"), c.w, c.h - top, 8.0, c.octaves(2), stretch=(0.4, 1.0))
    nearness = np.clip((ys - top) / (c.h - top), 0.0, 1.0)
    row = _smoothstep(0.5, 0.2, np.abs(phase - 0.5) + (tufts - 0.5) * 0.35 * nearness)
    row = _mix(np.full_like(row, 0.6), row, np.clip(nearness * 3.0, 0.0, 1.0))
    bloom = _mix(pal.accent, pal.glow, 0.15 * (1.0 - nearness))
    soil = _mix(pal.near, pal.far, 0.25)
    colour = _mix(soil, bloom, row[..., None])
    colour = _mix(colour, pal.horizon, (0.55 * (1.0 - nearness) ** 4)[..., None])
    colour = colour * (0.8 + 0.4 * tufts)[..., None]
    c.blend(np.clip(ys - top + 0.5, 0.0, 1.0) * np.ones((1, c.w), np.float32), colour, top)
    c.ground = np.full(c.w, float(c.h) * 0.97, np.float32)


def _paint_grid(c: _Canvas, pal: _Palette) -> None:
    """A glowing perspective grid to the horizon, synthwave style."""
    top = int(c.horizon)
    ys = c.y[top:]
    depth = np.maximum(ys - c.horizon, 0.5)
    ground = _mix(pal.near, pal.sky, (0.6 * np.exp(-depth / (c.h * 0.05)))[..., None]) * np.ones((1, c.w, 1), np.float32)
    c.rgb[top:] = ground
    spacing = c.unit * 0.16
    u = (c.x - c.w / 2) / depth * (c.h * 0.5) / spacing
    du = (c.h * 0.5) / spacing / depth
    v = c.h * 0.5 / depth
    dv = c.h * 0.5 / depth**2
    line_u = np.clip(1.2 - np.abs(u - np.round(u)) / du, 0.0, 1.0)
    line_v = np.clip(1.2 - np.abs(v - np.round(v)) / dv, 0.0, 1.0)
    fade = np.clip(depth / (c.h * 0.12), 0.0, 1.0)
    lines = np.maximum(line_u, line_v) * fade
    c.screen(lines, pal.accent, top)
    c.screen(_blur(lines, c.unit * 0.01) * 1.5, pal.accent, top)
    c.ground = np.full(c.w, float(c.h) * 0.95, np.float32)


def _paint_rain(c: _Canvas, pal: _Palette, snow: bool) -> None:
    rng = c.streams("weather")
    area = c.w * c.h / c.unit**2
    layer = np.zeros((c.h, c.w), np.float32)
    count = int(area * (500 if snow else 900))
    image = Image.new("L", (c.w, c.h), 0)
    d = ImageDraw.Draw(image)
    xs, ys = rng.random(count) * c.w, rng.random(count) * c.h
    sizes = rng.random(count) ** 3 * c.unit * (0.008 if snow else 0.04) + 1.0
    levels = (rng.uniform(0.35, 1.0, count) * 255).astype(int)
    for x, y, s, v in zip(xs, ys, sizes, levels):
        if snow:
            d.ellipse([x - s / 2, y - s / 2, x + s / 2, y + s / 2], fill=int(v))
        else:
            d.line([x, y, x - s * 0.25, y + s * 1.6], fill=int(v * 0.6), width=1)
    layer = np.asarray(image, np.float32) / 255.0
    if snow:
        layer = np.maximum(layer, _blur(layer, 2.0))
    c.screen(layer * 0.9, _mix(pal.glow, np.ones(3, np.float32), 0.6))
