"""Engines by type, and the factory that builds one from its ``[engines.NAME]`` settings."""

from __future__ import annotations

import importlib
from pathlib import Path

from kiln.engines.base import Engine, EngineError, GenerateRequest, GenerateResult, Progress
from kiln.errors import KilnError
from kiln.project import EngineConfig, Project


def engine_types() -> dict[str, type[Engine]]:
    from kiln.engines.a1111 import A1111Engine
    from kiln.engines.comfyui import ComfyUIEngine
    from kiln.engines.diffusers import DiffusersEngine
    from kiln.engines.gemini import GeminiEngine
    from kiln.engines.ndjson import NdjsonEngine
    from kiln.engines.openai import OpenAIEngine
    from kiln.engines.placeholder import PlaceholderEngine

    return {
        engine.type: engine
        for engine in (
            PlaceholderEngine, NdjsonEngine, OpenAIEngine, A1111Engine, ComfyUIEngine, GeminiEngine, DiffusersEngine
        )
    }


def engine_class(config: EngineConfig) -> type[Engine]:
    """The class for ``config.type``: a built-in type, or ``"module:Class"`` naming your own
    :class:`Engine` subclass in an importable module."""
    types = engine_types()
    if config.type in types:
        return types[config.type]
    where = f"kiln.toml: engines.{config.name}.type"
    if ":" not in config.type:
        raise KilnError(
            f"{where}: unknown engine type {config.type!r}; expected one of {', '.join(sorted(types))}"
            " or \"module:Class\""
        )
    module_name, _, class_name = config.type.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise KilnError(f"{where}: cannot load {config.type!r}: {error}") from None
    if not (isinstance(found, type) and issubclass(found, Engine)):
        raise KilnError(f"{where}: {config.type!r} is not a kiln Engine subclass")
    return found


def create_engine(config: EngineConfig, root: Path | None = None) -> Engine:
    """The engine ``config`` describes; relative paths in its options are read from ``root``."""
    return engine_class(config)(config.name, config.options, root=root)


def open_engine(project: Project, name: str, *, log_name: str) -> Engine:
    """The project's engine ``name``, reading paths from the project and logging into art/logs.

    Engines that run a process keep its stderr in ``art/logs/<log_name>.log``.
    """
    engine = create_engine(project.engine(name), project.root)
    if getattr(engine, "log_path", False) is None:
        engine.log_path = project.art_dir / "logs" / f"{log_name}.log"  # type: ignore[attr-defined]
    return engine


__all__ = [
    "Engine",
    "EngineError",
    "GenerateRequest",
    "GenerateResult",
    "Progress",
    "create_engine",
    "engine_class",
    "open_engine",
    "engine_types",
]
