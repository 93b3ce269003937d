"""Reading the prompt: what it names (palette, ground, scene, subject, styles, moods, weather,
motifs taken out by the negative prompt), and the palette that follows from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

from kiln.engines.placeholder.colour import (
    Color,
    Palette,
    adjust,
    from_hls,
    harmonic_palette,
    hex_colour,
    mix,
    to_hls,
)
from kiln.engines.placeholder.seeding import Streams, unit_float
from kiln.engines.placeholder.vocabulary import (
    ANIMAL_WORDS,
    COLOURS,
    GROUND_WORDS,
    MOOD_WORDS,
    MOTIF_WORDS,
    PALETTE_WORDS,
    PERSON_DETAILS,
    PERSON_WORDS,
    PORTRAIT_WORDS,
    SCENE_WORDS,
    SKY_WORDS,
    STYLE_WORDS,
    WEATHER_WORDS,
    found,
    lookup,
    words_of,
)


@dataclass
class Reading:
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
        code = lookup(word, COLOURS)
        if code:
            return hex_colour(code)
        if lookup(word, PALETTE_WORDS) == "arctic":
            return hex_colour("#eef2f5")
    return None


def read(prompt: str, negative: str) -> Reading:
    words = words_of(prompt)
    neg = words_of(negative)
    neg_set = set(neg)
    styles = set(found(words, STYLE_WORDS)) - set(found(neg, STYLE_WORDS))

    subject, subject_colour, person_kind, subject_at = None, None, set(), -1
    for i, word in enumerate(words):
        animal = lookup(word, ANIMAL_WORDS)
        if animal or word in PORTRAIT_WORDS or word in PERSON_WORDS:
            subject = animal or ("portrait" if word in PORTRAIT_WORDS else "person")
            subject_colour, subject_at = _subject_adjective(words, i), i
            break
    # An adjective used for the subject ("arctic fox") does not also set the scene's palette.
    palette_words = [
        w for i, w in enumerate(words) if not (subject_colour is not None and subject_at - 2 <= i < subject_at)
    ]
    grounds = found(palette_words, GROUND_WORDS)
    scenes = found(words, SCENE_WORDS)
    if subject in {"portrait", "person"}:
        person_kind = set(words) & PERSON_DETAILS
        # A person with somewhere to be is a figure in a landscape; otherwise, a portrait.
        subject = "person" if grounds or set(words) & {"standing", "lone", "walking"} else "portrait"
    if scenes and not (grounds and scenes[0] == "space"):
        scene = scenes[0]
    elif subject == "portrait":
        scene = "portrait"
    else:
        scene = "vista"

    neutral = {"white", "black", "grey", "gray", "silver", "ivory", "pearl"}
    avoid = [to_hls(hex_colour(code))[0] for code in (lookup(w, COLOURS) for w in neg if w not in neutral) if code]
    suppress = {m for m in (lookup(w, MOTIF_WORDS) for w in neg) if m}
    return Reading(
        words=set(words),
        palettes=[p for p in found(palette_words, PALETTE_WORDS) if p not in set(found(neg, PALETTE_WORDS))],
        colours=[hex_colour(code) for code in (lookup(w, COLOURS) for w in palette_words) if code],
        scene=scene,
        ground=grounds[0] if grounds else None,
        sky=(found(words, SKY_WORDS) or [None])[0],
        subject=None if "subject" in suppress else subject,
        subject_colour=subject_colour,
        person_kind=person_kind,
        styles=styles,
        moods=set(found(words, MOOD_WORDS)),
        weather=set(found(words, WEATHER_WORDS))
        - ({"fog"} if "fog" in suppress else set())
        - ({"rain", "snow", "storm"} if "weather" in suppress else set()),
        suppress=suppress,
        avoid_hues=avoid,
        negative_moods=set(found(neg, MOOD_WORDS))
        | ({"blurry"} if neg_set & {"blurry", "blur", "soft", "unfocused", "lowres"} else set()),
    )


# Style palettes set the whole look ("neon", "noir"); time-of-day palettes colour the sky
# and places colour the land, so "desert dunes at noon" gets a noon sky over desert sand;
# weather only leads when nothing else names the colours ("misty mountains at sunset" is a
# sunset seen through mist).
_STYLE_PALETTES = {"neon", "vapor", "pastel", "noir", "sepia", "bauhaus", "cosmic"}
_TIME_PALETTES = {"sunset", "sunrise", "dusk", "night", "day", "aurora"}
_WEAK_PALETTES = {"fog", "storm"}


def palette_order(names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: (name not in _STYLE_PALETTES, name in _WEAK_PALETTES))


def _named_palette(names: list[str]) -> Palette:
    """The palette for the palette words of a prompt, most telling first."""
    names = palette_order(names)
    times = [n for n in names if n in _TIME_PALETTES]
    places = [n for n in names if n not in _TIME_PALETTES | _WEAK_PALETTES | _STYLE_PALETTES]
    if names[0] not in _STYLE_PALETTES and times and places:
        sky, land = Palette.named(times[0]), Palette.named(places[0])
        # The land's own light tints the haze too, or distant sand would turn sky-blue.
        pal = replace(
            sky,
            horizon=mix(sky.horizon, land.horizon, 0.45),
            far=mix(land.far, sky.far, 0.25),
            near=mix(land.near, sky.near, 0.35),
            accent=land.accent,
        )
        rest = [n for n in names if n not in (times[0], places[0])]
    else:
        pal, rest = Palette.named(names[0]), names[1:]
    for weight, name in zip((0.3, 0.15), rest[:2], strict=False):
        pal = pal.blend(Palette.named(name), weight)
    return pal


def build_palette(r: Reading, prompt_key: Streams, seed_key: Streams, model: str) -> Palette:
    if r.palettes:
        pal = _named_palette(r.palettes)
    else:
        rng = prompt_key("palette")
        hue = to_hls(r.colours[0])[0] if r.colours else float(rng.random())
        pal = harmonic_palette(hue, rng)
    if r.colours:
        pal = replace(pal, accent=r.colours[0])
    if len(r.colours) > 1:
        pal = replace(pal, glow=mix(pal.glow, r.colours[1], 0.7))
    if "storm" in r.weather:
        pal = pal.blend(Palette.named("storm"), 0.45)
    pal = _apply_moods(pal, r.moods, r.negative_moods)
    for avoided in r.avoid_hues:
        pal = pal.map(partial(_steer_off_hue, avoided=avoided))
    # Each seed tints the palette a little, so a batch of one prompt is not monotonous; the
    # model name shifts it a little more, as different checkpoints would.
    jitter = float(seed_key("tint").uniform(-0.015, 0.015)) + (unit_float("model", model) - 0.5) * 0.04
    return pal.map(lambda c: adjust(c, hue=jitter))


def _apply_moods(pal: Palette, moods: set[str], negative: set[str]) -> Palette:
    if "dark" in moods or "bright" in negative:
        pal = replace(pal, **{r: adjust(getattr(pal, r), light=0.62) for r in ("sky", "horizon", "far", "near")})
    if "bright" in moods or "dark" in negative:
        pal = pal.map(lambda c: adjust(c, lift=0.18, sat=1.1))
    if "muted" in moods or "bright" in negative:
        pal = pal.map(lambda c: adjust(c, sat=0.6))
    if "muted" in negative:
        pal = pal.map(lambda c: adjust(c, sat=1.25))
    return pal


def _steer_off_hue(c: Color, avoided: float) -> Color:
    h, lightness, s = to_hls(c)
    gap = (h - avoided + 0.5) % 1.0 - 0.5
    if s < 0.12 or abs(gap) > 0.1:
        return c
    return from_hls(avoided + math.copysign(0.19, gap or 1.0), lightness, s * 0.85)
