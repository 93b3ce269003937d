"""``kiln engine test``: start an engine, load a model, make one small image, time each phase."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from kiln.engines import GenerateRequest, open_engine
from kiln.errors import KilnError
from kiln.project import Project
from kiln.recipe.parse import PLACEHOLDER_MODEL


def check_engine(project: Project, name: str, *, model: str | None = None, size: str = "256x256") -> Iterator[tuple[str, float, str]]:
    """Yield ``(phase, seconds, detail)`` for create, ping (engines that run a process), load,
    generate and close.

    An engine failure propagates as the engine's own error, after the phases that worked
    have been reported.
    """
    match = re.fullmatch(r"(\d+)x(\d+)", size)
    if not match:
        raise KilnError(f'--size: expected "WIDTHxHEIGHT", got {size!r}')
    try:
        config = project.engine(name)
    except KeyError:
        raise KilnError(f"no engine named {name!r} in kiln.toml") from None
    model = model or _default_model(config.options, config.type)

    started = time.perf_counter()
    engine = open_engine(project, name, log_name=f"engine-test-{name}")
    yield "create", time.perf_counter() - started, f"{config.type} engine {name!r}"
    try:
        status = getattr(engine, "status", None)
        if callable(status):  # engines with a process: start it, and check it answers
            started = time.perf_counter()
            answer = status()
            yield "ping", time.perf_counter() - started, f"process answers: {answer}"
        started = time.perf_counter()
        engine.load(model)
        yield "load", time.perf_counter() - started, f"model {model!r}"
        width, height = int(match.group(1)), int(match.group(2))
        request = GenerateRequest(
            model=model, prompt="a lighthouse on a cliff at dusk", negative_prompt="",
            width=width, height=height, seed=1, steps=4, guidance=5.0,
        )
        started = time.perf_counter()
        result = engine.generate(request)
        detail = f"{result.image.width}x{result.image.height} image, seed {result.seed}"
        yield "generate", time.perf_counter() - started, detail
    finally:
        started = time.perf_counter()
        engine.close()
    yield "close", time.perf_counter() - started, "released"


def _default_model(options: dict[str, object], engine_type: str) -> str:
    models = options.get("models")
    if isinstance(models, dict) and models:
        return str(next(iter(models)))
    model = options.get("model")
    if isinstance(model, str):
        return model
    return PLACEHOLDER_MODEL if engine_type == "placeholder" else "default"
