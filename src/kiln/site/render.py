"""The Jinja2 environment: the theme's loader chain, autoescaping, and the filters templates use.

Everything is autoescaped, prompts included: they are user text. Markdown arrives already
rendered (with raw HTML off) as ``Markup``.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

import kiln
from kiln.site.blur import blur_tint
from kiln.site.collect import Entry, Grid, Media
from kiln.site.layout import gallery_path, grid_path, image_path, media_path
from kiln.site.markdown import render_markdown, render_summary
from kiln.site.sweep import grid_entries, sweep_data
from kiln.site.views import Gallery
from kiln.wording import plural


@functools.lru_cache(maxsize=4)
def environment(dirs: tuple[Path, ...], theme_digest: str) -> Environment:
    """The environment for a theme looked up in ``dirs``, first match winning.

    ``theme_digest`` is not read: it keys the cache, so a process that builds repeatedly
    (watch mode) compiles each template once, and any edit, or a new override that shadows a
    packaged template, gets a fresh environment.
    """
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(folder) for folder in dirs]),
        auto_reload=False,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Compiling every template costs each build (and each of its workers) about 0.1 s; the
        # compiled code is kept in the user's own temporary folder, keyed by each template's
        # source, so an edited template is compiled again.
        bytecode_cache=FileSystemBytecodeCache(),
    )
    env.filters.update(
        url=url,
        static=static,
        markdown=render_markdown,
        summary=render_summary,
        duration=duration,
        filesize=filesize,
        when=when,
        number=number,
        plural=plural,
        stars=stars,
        value=value,
        pretty=pretty,
        loupe=loupe,
        sweep=sweep_data,
        grid_entries=grid_entries,
        tint=blur_tint,
    )
    # Compact JSON for the data pages carry for their script; still escaped for HTML.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    env.globals["version"] = kiln.__version__
    return env


@pass_context
def url(context: Context, target: Any, page: int = 1) -> str:
    """The relative link from the page being rendered to a recipe's gallery (page ``page``),
    its grid, an image's page, a media file, or a path given relative to the build folder."""
    if isinstance(target, Gallery):
        path = gallery_path(target.name, page)
    elif isinstance(target, Grid):
        path = grid_path(target.recipe)
    elif isinstance(target, Entry):
        path = image_path(target.recipe, target.image.id)
    elif isinstance(target, Media):
        path = media_path(target.path)
    else:
        path = str(target)
    return context["root"] + path


@pass_context
def loupe(context: Context, entries: list[Entry]) -> list[dict[str, Any]]:
    """What the page script needs to show each of ``entries`` full size without leaving the
    page: its files (links relative to the page), the line under the image and its
    provenance. Empty values are left out: this goes into every gallery page, so the links
    are made here rather than through ``url``."""
    root = context["root"]
    records = []
    for entry in entries:
        image = entry.image
        large, original = image.large, image.original
        record: dict[str, Any] = {
            "id": image.id,
            "page": root + image_path(entry.recipe, image.id),
            "prompt": image.prompt,
            "seed": image.seed,
            "axes": [[key, value(v)] for key, v in entry.axes.items() if key not in ("prompt", "seed")],
            "size": [image.width, image.height],
        }
        if large is not None:
            record["web"] = [root + media_path(large.path), large.width, large.height]
        if original is not None:
            record["original"] = [root + media_path(original.path), original.width, original.height]
        facts = {
            "model": image.model,
            "engine": image.engine,
            "steps": image.steps,
            "guidance": image.guidance,
            "sampler": image.sampler,
            "negative": image.negative_prompt,
            "created": when(image.created_at),
            "job": entry.job_key,
            "params": image.params,
        }
        record["facts"] = {key: v for key, v in facts.items() if v not in (None, "", {})}
        records.append(record)
    return records


@pass_context
def static(context: Context, name: str) -> str:
    """The relative link to a theme static file under its content-hashed name."""
    assets = context["assets"]
    if name not in assets:
        raise LookupError(f"no static file {name!r} in the theme")
    return context["root"] + assets[name]


def duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return str(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def filesize(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"


def when(stamp: str) -> str:
    """An ISO 8601 time as ``2024-05-01 12:00 UTC``; anything unparseable as it is."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return str(stamp)
    offset = moment.utcoffset()
    zone = "" if offset is None else "UTC" if not offset else moment.strftime("UTC%z")
    return f"{moment:%Y-%m-%d %H:%M} {zone}".rstrip()


def number(n: int) -> str:
    return f"{n:,}"


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


def value(v: Any) -> str:
    """A parameter value as a person would write it: strings bare, the rest as JSON."""
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def pretty(data: Any) -> str:
    """JSON laid out for reading, keys sorted."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
