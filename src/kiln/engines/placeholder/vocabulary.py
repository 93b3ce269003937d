"""The words the engine knows: palettes by name, and the words for ground, scenes, portraits,
animals, styles, moods, weather, motifs and skies.
"""

from __future__ import annotations

import re

# Named palettes, as (sky, horizon, far, near, accent, glow): the sky's zenith, the light
# low in the sky, distant land, the darkest foreground, the subject/lights colour and the
# sun/moon colour.
PALETTES: dict[str, tuple[str, ...]] = {
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


PALETTE_WORDS = _vocabulary(
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
COLOURS: dict[str, str] = {
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
GROUND_WORDS = _vocabulary(
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
SCENE_WORDS = _vocabulary(
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

PORTRAIT_WORDS = set("portrait face bust profile headshot".split())
PERSON_WORDS = set(
    (
        "man woman person sailor girl boy figure wanderer traveler traveller king queen knight monk child "
        "lady captain fisherman wizard witch stranger hiker"
    ).split()
)

# Words that change what a portrait wears (see _bust_extras).
PERSON_DETAILS = set("sailor captain fisherman old bearded woman girl queen lady king wizard witch".split())
ANIMAL_WORDS = _vocabulary(
    fox="fox creature animal beast lynx deer",
    wolf="wolf dog puppy hound coyote",
    cat="cat kitten tiger lion leopard panther",
    hare="rabbit hare bunny",
    owl="owl bird raven crow eagle hawk",
)

STYLE_WORDS = _vocabulary(
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

MOOD_WORDS = _vocabulary(
    dark="dark gloomy moody somber sombre sinister ominous shadowy",
    bright="bright cheerful vivid vibrant radiant luminous colorful",
    muted="muted faded dusty washed desaturated subdued",
    calm="quiet calm serene still peaceful tranquil silent lonely",
    epic="epic dramatic majestic towering vast grand",
)

WEATHER_WORDS = _vocabulary(
    fog="fog foggy mist misty haze hazy",
    rain="rain rainy raining drizzle downpour",
    snow="snow snowy snowfall snowing",
    storm="snowstorm blizzard storm stormy thunder tempest thunderstorm",
)

# Negative-prompt words that take a motif out of the picture.
MOTIF_WORDS = _vocabulary(
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

SKY_WORDS = _vocabulary(
    nebula="nebula galaxy cosmic cosmos space starfield interstellar",
    aurora="aurora borealis boreal",
    night="night midnight moon moonlit moonlight starry stars nighttime",
    golden="sunset sundown dusk sunrise dawn twilight golden evening",
    day="noon midday day daylight sunny summer",
)


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def lookup(word: str, table: dict[str, str]) -> str | None:
    """``table[word]``, also trying the word without a plural ending."""
    for candidate in (word, word[:-1] if word.endswith("s") else "", word[:-2] if word.endswith("es") else ""):
        if candidate and candidate in table:
            return table[candidate]
    return None


def found(words: list[str], table: dict[str, str]) -> list[str]:
    """The table's values for the words that are in it, in prompt order, without repeats."""
    hits = [lookup(w, table) for w in words]
    return list(dict.fromkeys(h for h in hits if h))
