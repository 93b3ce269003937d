"""Synthetic stores of any size for the benchmarks: ``python bench/stores.py --images N DEST``.

DEST becomes a kiln project whose store holds N images, made cheaply and the same way every
time:

1. ``kiln run`` makes a few real images with the placeholder engine at small sizes, so the
   store has real rows and real files (originals, thumbnails, web copies);
2. rows are added for the rest, consistent with each other the way ``kiln run`` writes them:
   runs, each making a block of one recipe's jobs (recipes of very different sizes, one of them
   archived, i.e. its file gone), jobs with keys and specs, recipe_jobs positions, attempts, a
   few failed jobs, images with distinct ids and paths, prompts drawn from word lists (common
   words in most prompts, rare ones in a handful, so full-text search meets both), several
   engines, models and samplers, seeds, dates spread over ten months, ratings, picks, rejects,
   tags and notes with their curation history, a derivative row per stage; the full-text index
   follows through the store's own triggers;
3. unless ``--no-files``, every added image's files are hard links to one real image's files
   (so ids do not match contents: ``kiln doctor`` would call them mismatched).

Importable as well: ``from stores import make_store`` (bench/ is not a package; put it on
``sys.path``). The same N gives the same synthetic rows; only the real images' timestamps vary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20261129
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPAN_S = 300 * 86400  # the synthetic images' dates spread over ten months
REAL_SIZES = ("256x256", "192x288", "288x192")  # square, portrait, landscape
REAL_SEEDS = 2  # per prompt variant and size: 4 variants x 3 sizes x 2 seeds = 24 real images

BASE_RECIPE = """
    title = "Base"
    engine = "placeholder"
    model = "procedural-v1"
    prompt = "a {{red|arctic}} fox in {{a snowstorm|an autumn forest}}, oil painting"
    size = "{size}"
    seeds = {seeds}
    steps = 4
"""

ENGINES = {  # engine name -> its models
    "placeholder": ("procedural-v1",),
    "comfy": ("sdxl-base-1.0", "juggernaut-xl-v9", "pony-diffusion-v6"),
    "forge": ("flux1-dev", "flux1-schnell", "sd15-dreamshaper-8"),
    "api": ("imagen-4", "gpt-image-1"),
}
SAMPLERS = ("euler", "euler_a", "dpmpp_2m", "dpmpp_2m_sde", "ddim", None)

# Prompt words: the first of each list is drawn far more often than the rest, so some words
# are in a large share of all prompts ("after", "light", "fox") and others in few.
SUBJECTS = (
    "fox", "lighthouse", "harbour town", "tram", "heron", "old oak", "paper lantern", "glass city",
    "moth", "snow leopard", "cathedral", "orchard", "street market", "robot gardener", "koi pond",
    "windmill", "observatory", "library", "tea house", "mountain pass", "train station", "owl",
)
ADJECTIVES = (
    "quiet", "ancient", "tiny", "golden", "misty", "ruined", "neon", "wooden", "floating",
    "overgrown", "crystal", "sleepy", "stormy", "painted", "hidden", "forgotten",
)
PLACES = (
    "after the rain", "in a snowstorm", "at dusk", "under a full moon", "in an autumn forest",
    "by the sea", "in a summer meadow", "on a rooftop", "in the fog", "at dawn", "in a desert",
)
STYLES = (
    "soft light", "oil painting", "watercolour", "ink wash", "35mm photo", "studio ghibli style",
    "isometric", "linocut", "cinematic lighting", "pastel colours", "charcoal sketch", "woodblock print",
)
RARE = (
    "zeppelin", "axolotl", "quokka", "ouroboros", "gramophone", "narwhal", "sextant", "chimera",
    "astrolabe", "pangolin", "metronome", "kraken", "mandolin", "tapir", "origami", "cassowary",
)
NEGATIVES = ("", "", "blurry, text", "lowres, watermark", "extra fingers, deformed hands")
TAGS = ("keeper", "print", "wallpaper", "series", "redo", "portfolio", "draft")
NOTES = ("crop tighter", "print at A3", "colours off", "best of the batch", "send to client", "try again later")


def stamp(seconds: float) -> str:
    moment = START + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hex16(n: int, salt: int) -> str:
    """Distinct 16-hex-digit names: an odd multiplier is a bijection modulo 2**64."""
    return f"{(n * 0x9E3779B97F4A7C15 + salt) % 2**64:016x}"


def pick(rng: random.Random, words: tuple[str, ...]) -> str:
    """A word from the list, the first ones far more often: a skewed, Zipf-like choice."""
    return words[min(len(words) - 1, int(rng.expovariate(1.0) * len(words) / 4))]


def make_prompt(rng: random.Random) -> str:
    prompt = f"{pick(rng, ADJECTIVES)} {pick(rng, SUBJECTS)} {pick(rng, PLACES)}, {pick(rng, STYLES)}"
    if rng.random() < 0.002:
        prompt = f"{prompt}, {rng.choice(RARE)}"
    return prompt


def make_base(dest: Path) -> None:
    """A project with a few real images: one recipe per size, made by ``kiln run``."""
    dest.mkdir(parents=True, exist_ok=True)
    engines = "".join(f'\n[engines.{name}]\ntype = "placeholder"\n' for name in ENGINES)
    (dest / "kiln.toml").write_text(f'[project]\ntitle = "Synthetic store"\n{engines}')
    (dest / "recipes").mkdir(exist_ok=True)
    for size in REAL_SIZES:
        recipe = textwrap.dedent(BASE_RECIPE.format(size=size, seeds=REAL_SEEDS))
        (dest / "recipes" / f"base-{size}.toml").write_text(recipe.replace('"Base"', f'"Base {size}"'))
    result = subprocess.run(
        [sys.executable, "-m", "kiln", "run", "-C", str(dest)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"kiln run failed in {dest}:\n{result.stdout}{result.stderr}")


def recipe_sizes(rng: random.Random, total: int) -> list[int]:
    """How many images each synthetic recipe holds: a few large recipes and many small ones."""
    count = max(3, min(400, round(total**0.5 / 4)))
    weights = [1 / (r + 1) ** 0.9 for r in range(count)]
    scale = total / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[0] += total - sum(sizes)
    rng.shuffle(sizes)
    return sizes


def make_store(dest: Path, images: int, files: bool = True) -> Path:
    """Make a project at ``dest`` whose store holds ``images`` images; return its store's path."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    make_base(dest)
    art = dest / "art"
    conn = sqlite3.connect(art / "kiln.db", isolation_level=None)
    real = conn.execute(
        "SELECT id, path, width, height, bytes, format FROM images ORDER BY id"
    ).fetchall()
    if images < len(real):
        raise ValueError(f"a store needs at least {len(real)} images (the real ones), got {images}")
    stages: dict[str, list[tuple[str, str, int, int, int, str]]] = {}
    for image_id, stage, path, width, height, size, fmt in conn.execute(
        "SELECT image_id, stage, path, width, height, bytes, format FROM derivatives ORDER BY stage"
    ):
        stages.setdefault(image_id, []).append((stage, path, width, height, size, fmt))
    # One big transaction without a journal on disk: a failed fill leaves a store to throw away.
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -500000")
    conn.execute("BEGIN")
    fill(conn, dest, real, stages, images - len(real), files)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("ANALYZE")
    conn.close()
    return art / "kiln.db"


def fill(
    conn: sqlite3.Connection,
    dest: Path,
    real: list[tuple[str, str, int, int, int, str]],
    stages: dict[str, list[tuple[str, str, int, int, int, str]]],
    count: int,
    files: bool,
) -> None:
    rng = random.Random(SEED)
    art = dest / "art"
    sizes = recipe_sizes(rng, count) if count else []
    names = [f"set-{r:03d}" for r in range(len(sizes))]
    archived = names[len(names) // 2] if len(names) > 3 else None
    engines = list(ENGINES)
    recipe_engine = {name: engines[r % len(engines)] for r, name in enumerate(names)}
    for name, size in zip(names, sizes):
        path = f"recipes/{name}.toml"
        if name != archived:
            engine = recipe_engine[name]
            (dest / path).write_text(
                f'title = "Set {name[4:]}"\nengine = "{engine}"\nmodel = "{ENGINES[engine][0]}"\n'
                f'prompt = "a quiet fox after the rain"\nsize = "256x256"\nseeds = {size}\n'
            )
        conn.execute(
            "INSERT INTO recipes (name, path, title, description, source_sha256, job_count, gallery, updated_at)"
            " VALUES (?, ?, ?, '', ?, ?, '{}', ?)",
            [name, path, f"Set {name[4:]}", hashlib.sha256(name.encode()).hexdigest(), size, stamp(0)],
        )
    conn.executemany(
        "INSERT INTO prompts (name, path, bytes, words, has_wildcards, sha256, use_count, last_used_at, updated_at)"
        " VALUES (?, ?, 100, 20, ?, ?, ?, ?, ?)",
        [(f"library/p{n}", f"prompts/library/p{n}.txt", n % 2, f"{n:064x}", n * 3, stamp(n * 86400), stamp(n * 86400))
         for n in range(20)],
    )
    # Runs: each makes a block of one recipe's images, in order, the dates increasing.
    remaining = dict(zip(names, sizes))
    position = dict.fromkeys(names, 0)
    run_id = conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
    attempt_id = conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0]
    history_id = conn.execute("SELECT coalesce(max(id), 0) FROM history").fetchone()[0]
    step = SPAN_S / max(1, count)
    made = 0
    n = 0
    batch = 0
    pending = [name for name in names if remaining[name]]
    while pending:
        name = pending[rng.randrange(len(pending))]
        block = min(remaining[name], rng.randint(20, 2000))
        run_id += 1
        engine = recipe_engine[name]
        models = ENGINES[engine]
        run_start = made * step
        jobs, links, image_rows, derivative_rows, attempt_rows, history_rows = [], [], [], [], [], []
        failed = 0
        produced = 0
        while produced < block:
            at = made * step
            key = hex16(n, 0x51ED)
            image_id = hex16(n, 0xC0FFEE)
            source = real[n % len(real)]
            n += 1
            model = models[rng.randrange(len(models))]
            sampler = SAMPLERS[rng.randrange(len(SAMPLERS))]
            seed = rng.randrange(2**32)
            steps = rng.choice((4, 20, 28, 30, 40))
            guidance = rng.choice((1.0, 3.5, 5.0, 7.0))
            prompt = make_prompt(rng)
            negative = rng.choice(NEGATIVES)
            width, height = source[2], source[3]
            spec = json.dumps(
                {"engine": engine, "guidance": guidance, "height": height, "model": model,
                 "negative_prompt": negative, "prompt": prompt, "references": [], "sampler": sampler,
                 "seed": seed, "steps": steps, "width": width},
                sort_keys=True,
            )
            duration = round(rng.uniform(300, 9000), 1)
            links.append((name, key, position[name], json.dumps({"prompt": prompt, "seed": seed})))
            position[name] += 1
            queued, started, finished = stamp(run_start), stamp(at), stamp(at + duration / 1000)
            attempt_id += 1
            if rng.random() < 0.01:  # a failed job: no image
                failed += 1
                jobs.append((key, spec, name, engine, model, "failed", 1, "engine timed out", "TIMEOUT",
                             run_id, queued, started, finished, duration, None))
                attempt_rows.append((attempt_id, key, run_id, engine, 1, started, duration, "failed",
                                     "TIMEOUT", "engine timed out"))
                continue
            produced += 1
            made += 1
            jobs.append((key, spec, name, engine, model, "succeeded", 1, None, None,
                         run_id, queued, started, finished, duration, image_id))
            attempt_rows.append((attempt_id, key, run_id, engine, 1, started, duration, "succeeded", None, None))
            rating = rng.choice((1, 2, 3, 3, 4, 4, 5)) if rng.random() < 0.2 else 0
            roll = rng.random()
            status = "selected" if roll < 0.05 else "rejected" if roll < 0.08 else None
            tags = json.dumps(rng.sample(TAGS, rng.randint(1, 2))) if rng.random() < 0.02 else "[]"
            notes = rng.choice(NOTES) if rng.random() < 0.01 else ""
            path = f"original/{image_id}.{source[5]}"
            image_rows.append((
                image_id, path, width, height, source[4], f"{image_id}{'0' * 48}", source[5], key, name,
                prompt, negative, model, engine, seed, steps, guidance, sampler,
                json.dumps({"axes": {"prompt": prompt, "seed": seed}}),
                json.dumps({"engine_ms": duration}), finished, rating, status, tags, notes,
            ))
            for stage, stage_path, w, h, size, fmt in stages.get(source[0], ()):
                derivative_rows.append((image_id, stage, f"{stage}/{image_id}.{fmt}", w, h, size, fmt, finished))
            if files:
                os.link(art / source[1], art / path)
                for stage, stage_path, *_, fmt in stages.get(source[0], ()):
                    os.link(art / stage_path, art / stage / f"{image_id}.{fmt}")
            changes = [("rating", "0", str(rating))] if rating else []
            if status:
                changes.append(("status", "null", json.dumps(status)))
            if tags != "[]":
                changes.append(("tags", "[]", tags))
            if notes:
                changes.append(("notes", '""', json.dumps(notes)))
            for field, old, new in changes:
                history_id += 1
                batch += 1
                history_rows.append((history_id, batch, stamp(at + 86400), image_id, key, field, old, new, "cli"))
        remaining[name] -= block
        if not remaining[name]:
            pending.remove(name)
        conn.execute(
            "INSERT INTO runs (id, started_at, finished_at, status, recipes, planned, generated, skipped, failed,"
            " pid, host, kiln_version, heartbeat_at) VALUES (?, ?, ?, 'finished', ?, ?, ?, 0, ?, 4242, 'bench',"
            " '0.1.0', ?)",
            [run_id, stamp(run_start), stamp(made * step), json.dumps([name]), block + failed, block, failed,
             stamp(made * step)],
        )
        conn.executemany(
            "INSERT INTO jobs (key, spec, recipe, engine, model, status, attempts, error, error_code, run_id,"
            " queued_at, started_at, finished_at, duration_ms, image_id) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            jobs,
        )
        conn.executemany("INSERT INTO recipe_jobs (recipe, job_key, position, axes) VALUES (?, ?, ?, ?)", links)
        conn.executemany(
            "INSERT INTO images (id, path, width, height, bytes, sha256, format, job_key, recipe, prompt,"
            " negative_prompt, model, engine, seed, steps, guidance, sampler, params, timings, created_at,"
            " rating, status, tags, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?)",
            image_rows,
        )
        conn.executemany(
            "INSERT INTO derivatives (image_id, stage, path, width, height, bytes, format, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            derivative_rows,
        )
        conn.executemany(
            "INSERT INTO attempts (id, job_key, run_id, engine, attempt, started_at, duration_ms, outcome,"
            " error_code, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attempt_rows,
        )
        conn.executemany(
            "INSERT INTO history (id, batch, at, image_id, job_key, field, old, new, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            history_rows,
        )
    # A recipe expands to its failed jobs too: they hold their places in its gallery order.
    conn.executemany("UPDATE recipes SET job_count = ? WHERE name = ?", [(position[name], name) for name in names])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="the project folder to make (must not exist, or be empty)")
    parser.add_argument("--images", type=int, required=True, help="how many images the store holds")
    parser.add_argument("--no-files", action="store_true", help="rows only: no files for the added images")
    args = parser.parse_args()
    started = time.perf_counter()
    db = make_store(args.dest, args.images, files=not args.no_files)
    size = db.stat().st_size / 1e6
    print(f"{args.images:,} images in {db} ({size:,.0f} MB) made in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
