"""Engines by type, and the factory that builds one from its ``[engines.NAME]`` settings."""

from __future__ import annotations

import importlib
from pathlib import Path

from kiln.engines.base import Engine, EngineError, GenerateRequest, GenerateResult, Progress, Restarted
from kiln.errors import KilnError
from kiln.project import EngineConfig, Project

# Built-in types, imported only when a project uses one: most runs need one adapter, and
# importing them all (httpx, numpy, ...) would cost every command half a second.
BUILTIN_TYPES = {
    "placeholder": "kiln.engines.placeholder:PlaceholderEngine",
    "ndjson": "kiln.engines.ndjson:NdjsonEngine",
    "openai": "kiln.engines.openai:OpenAIEngine",
    "a1111": "kiln.engines.a1111:A1111Engine",
    "comfyui": "kiln.engines.comfyui:ComfyUIEngine",
    "gemini": "kiln.engines.gemini:GeminiEngine",
    "diffusers": "kiln.engines.diffusers:DiffusersEngine",
}


def _load(reference: str) -> object:
    module_name, _, class_name = reference.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def engine_types() -> dict[str, type[Engine]]:
    """Every built-in engine type by name (this imports them all)."""
    return {name: _load(reference) for name, reference in BUILTIN_TYPES.items()}  # type: ignore[misc]


def engine_class(config: EngineConfig) -> type[Engine]:
    """The class for ``config.type``: a built-in type, or ``"module:Class"`` naming your own
    :class:`Engine` subclass in an importable module."""
    if config.type in BUILTIN_TYPES:
        return _load(BUILTIN_TYPES[config.type])  # type: ignore[return-value]
    where = f"kiln.toml: engines.{config.name}.type"
    if ":" not in config.type:
        raise KilnError(
            f"{where}: unknown engine type {config.type!r}; expected one of {', '.join(sorted(BUILTIN_TYPES))}"
            " or \"module:Class\""
        )
    try:
        found = _load(config.type)
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
    "Restarted",
    "create_engine",
    "engine_class",
    "open_engine",
    "engine_types",
]
