"""Planning: the request read and turned into an ordered list of layers to paint, each drawing
its random choices from its own stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from kiln.engines.base import GenerateRequest
from kiln.engines.placeholder.abstract import paint_bauhaus
from kiln.engines.placeholder.canvas import WHITE, Canvas
from kiln.engines.placeholder.colour import Color, Palette, hex_colour, mix
from kiln.engines.placeholder.figures import (
    ANIMALS,
    paint_animal,
    paint_backdrop,
    paint_bokeh,
    paint_bust,
    paint_walker,
)
from kiln.engines.placeholder.flow import paint_marble, paint_streamlines
from kiln.engines.placeholder.flowers import (
    Flower,
    paint_flower,
    paint_koi,
    paint_pads,
    paint_paper,
    paint_pond_water,
    paint_ripples,
    paint_stems,
    plan_flowers,
)
from kiln.engines.placeholder.ground import (
    Land,
    land_colours,
    paint_city,
    paint_field,
    paint_fog,
    paint_grid,
    paint_meadow,
    paint_precipitation,
    paint_ridge,
    paint_water,
    paint_waves,
    ridge_profile,
    tree_mask,
)
from kiln.engines.placeholder.reading import Reading, build_palette, palette_order, read
from kiln.engines.placeholder.seeding import Streams, unit_float
from kiln.engines.placeholder.skies import (
    paint_aurora,
    paint_clouds,
    paint_nebula,
    paint_sky,
    paint_stars,
    paint_sun,
)
from kiln.engines.placeholder.space import paint_galaxy, paint_planet, paint_void
from kiln.engines.placeholder.styles import STYLE_PAINTERS, paint_grade
from kiln.engines.placeholder.vocabulary import words_of

Layer = tuple[str, Callable[[Canvas], None]]
_Planner = Callable[["Reading", Palette, str, np.random.Generator, float], tuple[float, list[Layer]]]

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

    pal: Palette
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


def _sky_kind(r: Reading, palette_name: str, pal: Palette, rng: np.random.Generator) -> str:
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
    r: Reading, pal: Palette, palette_name: str, rng: np.random.Generator, aspect: float
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
        st.add("weather", paint_precipitation, pal=pal, snow=st.snow)
    return horizon, st.layers


def _fallback_ground(r: Reading, palette_name: str, rng: np.random.Generator) -> str:
    """A ground for prompts that name none, in keeping with the palette."""
    if "vaporwave" in r.styles:
        return "grid"
    if palette_name == "desert":
        return "dunes"
    choices = ("mountains", "hills", "lake", "forest", "sea")
    return choices[int(rng.integers(len(choices)))]


def _plan_sky(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float, ground: str) -> None:
    pal = st.pal
    st.add("sky", paint_sky, pal=pal)
    if st.sky == "nebula":
        st.add("nebula", paint_nebula, pal=pal, bottom=horizon)
    if st.sky == "aurora":
        st.add("aurora", paint_aurora, pal=pal)
    if st.sky in {"night", "nebula", "aurora"} and "stars" not in r.suppress:
        st.add("stars", paint_stars, pal=pal, density=1.6 if st.sky == "nebula" else 1.0, bottom=horizon)
    if ground == "grid" and "sun" not in r.suppress:
        st.light_x = 0.5
        size = float(rng.uniform(0.17, 0.23))
        st.add("sun", paint_sun, pal=pal, x=0.5, height=float(rng.uniform(0.12, 0.3)), size=size, kind="striped")
    elif st.sky in {"day", "golden"} and "sun" not in r.suppress:
        golden = st.sky == "golden"
        height = float(rng.uniform(0.03, 0.2) if golden else rng.uniform(0.45, 0.75))
        size = float(rng.uniform(0.05, 0.08) if golden else rng.uniform(0.03, 0.05))
        st.add("sun", paint_sun, pal=pal, x=st.light_x, height=height, size=size, kind="sun")
    elif st.sky in {"night", "aurora"} and "moon" not in r.suppress and rng.random() < 0.8:
        size = float(rng.uniform(0.03, 0.055))
        st.add("moon", paint_sun, pal=pal, x=st.light_x, height=float(rng.uniform(0.45, 0.8)), size=size, kind="moon")
    cover = {"day": (0.3, 0.55), "golden": (0.25, 0.5), "storm": (0.85, 0.95), "night": (0.0, 0.25)}.get(st.sky)
    if cover and not st.minimal and "clouds" not in r.suppress:
        lit = {"golden": mix(pal.glow, pal.accent, 0.35), "day": mix(pal.glow, WHITE, 0.7)}.get(st.sky, pal.horizon)
        body = mix(pal.near, pal.far, 0.45) if st.sky == "storm" else mix(pal.sky, pal.far, 0.5)
        st.add("clouds", paint_clouds, pal=pal, cover=float(rng.uniform(*cover)), body=body, lit=lit, seed=0)


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
        colour, mist_colour, mist = land_colours(st.pal, depth, st.fog)
        if foliage is not None:
            colour = mix(colour, foliage, 0.6 * (1.0 - depth) ** 0.7 * (1.0 - 0.5 * depth))
        land = Land(
            colour=colour,
            mist_colour=mist_colour,
            mist=mist,
            shade=0.0 if st.minimal else {"mountains": 0.25, "dunes": 0.4}.get(kind, 0.12),
            sun_side=1.0 if st.light_x > 0.5 else -1.0,
            texture=0.0 if st.minimal else 0.06 + 0.1 * depth,
            glow=mix(st.pal.glow, st.pal.accent, 0.3) if st.sky == "golden" and depth < 0.6 else None,
            snow=mix(st.pal.glow, WHITE, 0.6) if st.snow and kind == "mountains" and depth < 0.7 else None,
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
            st.add(f"fog-{i}", paint_fog, pal=st.pal, level=level, thickness=0.1, density=0.75, seed=len(st.layers))


def _paint_land(
    c: Canvas,
    kind: str,
    index: int,
    base: float,
    amp: float,
    depth: float,
    land: Land,
    trees: str | None,
    sparse: bool,
) -> None:
    top = ridge_profile(c.streams("ridge", index), c, kind, base * c.h, amp * c.unit)
    extra = None
    if trees:
        height = c.unit * (0.05 + 0.17 * depth**1.3)
        spacing = height * (0.32 if trees == "pine" else 0.38) * (12.0 if sparse else 1.0)
        extra = tree_mask(c, c.streams("trees", index), top, spacing, height, trees)
    paint_ridge(c, top, land, extra)


def _plan_mountains(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "mountains", 3 if st.minimal else int(rng.integers(4, 6)), horizon + 0.02, 0.97)


def _plan_hills(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "hills", 2 if st.minimal else int(rng.integers(3, 5)), horizon + 0.01, 0.93)
    if r.words & {"meadow", "meadows", "wildflower", "wildflowers", "flowers", "flowery", "blooming", "spring"}:
        st.add("wildflowers", paint_meadow, pal=st.pal)


def _plan_dunes(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "dunes", 2 if st.minimal else int(rng.integers(3, 5)), horizon + 0.02, 0.95)


def _plan_lake(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    count = 2 if st.minimal else int(rng.integers(3, 5))
    _plan_ridges(st, rng, "mountains", count, horizon, horizon + 0.02, depths=(0.0, 0.55))
    if "water" not in r.suppress:
        st.add("water", paint_water, pal=st.pal, line=horizon + 0.02, calm=0.85 if st.calm else 0.55, sun_x=None)
    if not st.minimal and rng.random() < 0.6:
        trees = "pine" if "trees" not in r.suppress else None
        _plan_ridges(st, rng, "hills", 1, 0.93, 0.93, depths=(1.0, 1.0), trees=trees)


def _plan_sea(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    if not st.minimal and rng.random() < 0.5:
        _plan_ridges(st, rng, "hills", 1, horizon + 0.005, horizon, depths=(0.15, 0.15))
    if "water" not in r.suppress:
        sun_x = st.light_x if st.sky in {"day", "golden"} and "sun" not in r.suppress else None
        st.add("sea", paint_water, pal=st.pal, line=horizon, calm=0.7 if st.calm else 0.15, sun_x=sun_x)
        if "storm" in r.weather or (not st.calm and rng.random() < 0.35):
            st.add("waves", paint_waves, pal=st.pal, seed=0)


def _plan_forest(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    round_trees = bool(set(r.palettes) & {"autumn", "spring", "tropical"}) or rng.random() < 0.3
    trees = None if "trees" in r.suppress else ("round" if round_trees else "pine")
    foliage = st.pal.accent if round_trees else mix(st.pal.far, hex_colour("#2f5a3a"), 0.5)
    count = 3 if st.minimal else int(rng.integers(4, 6))
    _plan_ridges(st, rng, "hills", count, horizon + 0.02, 0.95, trees=trees, foliage=foliage)


def _plan_field(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    trees = None if "trees" in r.suppress or st.minimal else "round"
    _plan_ridges(
        st, rng, "hills", 1 if st.minimal else 2, horizon, horizon + 0.01, depths=(0.1, 0.45), trees=trees, sparse=True
    )
    st.add("field", paint_field, pal=st.pal, start=horizon + 0.012, vanish_x=float(rng.uniform(0.3, 0.7)))


def _plan_city(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    night = st.sky in {"night", "nebula", "aurora", "storm"} or st.pal.is_dark
    neon = bool(set(r.palettes) & {"neon", "vapor"}) or "vaporwave" in r.styles
    water = "water" not in r.suppress and (bool(set(r.palettes) & {"ocean"}) or rng.random() < 0.5)
    base = horizon if water else horizon + 0.15
    for i, depth in enumerate((0.1, 0.45, 0.85)):
        lights = (0.15 + 0.25 * depth) if night else 0.0
        st.add(
            f"city-{i}",
            paint_city,
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
                f"fog-{i}", paint_fog, pal=st.pal, level=base + 0.03 * i - 0.04, thickness=0.12, density=0.6, seed=i
            )
    if water:
        st.add("harbour", paint_water, pal=st.pal, line=base + 0.06, calm=0.7, sun_x=None)


def _plan_grid(st: _Setting, r: Reading, rng: np.random.Generator, horizon: float) -> None:
    _plan_ridges(st, rng, "mountains", 2, horizon + 0.005, horizon + 0.005, depths=(0.35, 0.75))
    st.add("grid", paint_grid, pal=st.pal)


_GROUND_PLANNERS: dict[str, Callable[[_Setting, Reading, np.random.Generator, float], None]] = {
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


def _plan_subject(st: _Setting, r: Reading, rng: np.random.Generator) -> None:
    if r.subject is None:
        return
    x = float(rng.uniform(0.3, 0.7))
    if r.subject in ANIMALS:
        size = float(rng.uniform(0.3, 0.4)) * (0.85 if r.subject == "owl" else 1.0)
        st.add(
            "subject",
            paint_animal,
            pal=st.pal,
            species=r.subject,
            colour=r.subject_colour,
            x=x,
            facing=1.0 if x < 0.5 else -1.0,
            size=size,
            light_x=st.light_x,
        )
    else:
        st.add("subject", paint_walker, pal=st.pal, x=x, size=float(rng.uniform(0.1, 0.15)), light_x=st.light_x)


def _plan_portrait(
    r: Reading, pal: Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    facing = 1.0 if rng.random() < 0.5 else -1.0
    cx = 0.5 - facing * (0.1 if aspect < 1.2 else 0.18)
    light_x = cx + facing * 0.35
    lit = rng.random() < 0.4
    layers: list[Layer] = [
        ("backdrop", partial(paint_backdrop, pal=pal, light_x=light_x, light_y=0.35, dark=lit or pal.is_dark))
    ]
    if "minimal" not in r.styles and rng.random() < 0.6:
        layers.append(("bokeh", partial(paint_bokeh, pal=pal, count=int(rng.integers(10, 26)))))
    layers.append(
        ("figure", partial(paint_bust, pal=pal, cx=cx, facing=facing, kinds=r.person_kind, lit=lit, light_x=light_x))
    )
    return 0.6, layers


def _plan_space(
    r: Reading, pal: Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    galaxy = "galaxy" in r.words or rng.random() < 0.2
    layers: list[Layer] = [("void", partial(paint_void, pal=pal))]
    if not galaxy or rng.random() < 0.5:
        layers.append(("nebula", partial(paint_nebula, pal=pal, bottom=1.0)))
    if "stars" not in r.suppress:
        layers.append(("stars", partial(paint_stars, pal=pal, density=1.4, bottom=1.0)))
    if galaxy:
        layers.append(
            (
                "galaxy",
                partial(
                    paint_galaxy,
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
                    paint_planet,
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
    r: Reading, pal: Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    return 0.5, [("shapes", partial(paint_bauhaus, pal=pal))]


def _plan_flow(
    r: Reading, pal: Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    marble = bool(r.words & {"marble", "marbling", "fluid", "liquid", "psychedelic"}) or (
        not r.words & {"silk", "wind", "flow", "current", "smoke"} and rng.random() < 0.5
    )
    return 0.5, [
        ("marble", partial(paint_marble, pal=pal)) if marble else ("threads", partial(paint_streamlines, pal=pal))
    ]


def _plan_botanical(
    r: Reading, pal: Palette, palette_name: str, rng: np.random.Generator, aspect: float
) -> tuple[float, list[Layer]]:
    dark = pal.is_dark or rng.random() < 0.3
    flowers = plan_flowers(rng, aspect, int(rng.integers(3, 7)))
    outline = bool(r.styles & {"illustration", "ink"}) or "botanical" in r.words
    layers: list[Layer] = [
        ("paper", partial(paint_paper, pal=pal, dark=dark)),
        ("stems", partial(paint_stems, pal=pal, flowers=flowers)),
    ]
    layers += [(f"flower-{i}", partial(paint_flower, pal=pal, f=f, outline=outline)) for i, f in enumerate(flowers)]
    return 0.5, layers


def _plan_pond(
    r: Reading, pal: Palette, palette_name: str, rng: np.random.Generator, aspect: float
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
        Flower(
            x=x + 0.01,
            y=y - 0.01,
            size=s * 0.6,
            petals=int(rng.choice([8, 12])),
            layers=3,
            roundness=1.6,
            turn=float(rng.uniform(0, math.pi)),
            tint=float(rng.uniform(-0.03, 0.03)),
            colour=mix(hex_colour("#f4a6c0"), pal.glow, 0.25),
        )
        for x, y, s, _ in pads
        if rng.random() < 0.35
    ]
    rings = [(x, y, length * 0.8) for x, y, _, _, length in fish[:2]]
    return 0.5, [
        ("water", partial(paint_pond_water, pal=pal)),
        ("koi", partial(paint_koi, pal=pal, fish=fish)),
        ("ripples", partial(paint_ripples, pal=pal, rings=rings)),
        ("pads", partial(paint_pads, pal=pal, pads=pads, blooms=blooms)),
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
class Plan:
    """Everything decided before painting starts."""

    scene: str
    palette: str
    horizon: float
    layers: list[Layer]
    streams: Streams
    sharpen: float
    grain: float
    pixel: bool
    styles: list[str]


def detail_for(steps: int) -> float:
    """How finished the picture is after ``steps``: quickly at first, then levelling
    off, as a sampler converges."""
    return 1.0 - math.exp(-steps / 12.0)


def plan_picture(request: GenerateRequest) -> Plan:
    r = read(request.prompt, request.negative_prompt)
    prompt_words = " ".join(words_of(request.prompt))
    seed_key = Streams("seed", request.seed, prompt_words)
    pal = build_palette(r, Streams("prompt", prompt_words), seed_key, request.model)
    palette_name = palette_order(r.palettes)[0] if r.palettes else ("colour" if r.colours else "harmonic")
    horizon, layers = _SCENES[r.scene](r, pal, palette_name, seed_key("layout"), request.width / request.height)
    layers = layers + _plan_styles(r, pal, request.guidance)
    sharpen = (detail_for(request.steps) - 0.45) * 1.6 + (0.3 if "blurry" in r.negative_moods else 0.0)
    if r.styles & {"watercolor", "chalk"}:
        sharpen = min(sharpen, 0.2)
    grain = 0.0 if "grain" in r.suppress or "pixel" in r.styles else _grain_amount(r.styles, request.model)
    return Plan(
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
    return base * (0.75 + 0.5 * unit_float("grain", model))


def _plan_styles(r: Reading, pal: Palette, guidance: float) -> list[Layer]:
    g = min(max(guidance, 0.0), 30.0)
    saturation = min(max(1.0 + (g - 5.0) * 0.045, 0.55), 1.5)
    contrast = min(max(1.0 + (g - 5.0) * 0.025, 0.75), 1.3)
    vignette = (
        0.0 if "vignette" in r.suppress or "minimal" in r.styles else (0.4 if r.styles & {"film", "noir"} else 0.22)
    )
    layers: list[Layer] = [
        (style, partial(STYLE_PAINTERS[style], pal=pal)) for style in _STYLE_ORDER if style in r.styles
    ]
    layers.append(("grade", partial(paint_grade, saturation=saturation, contrast=contrast, vignette=vignette)))
    return layers
