"""Engines by type, and the factory that builds one from its ``[engines.NAME]`` settings."""

from __future__ import annotations

from kiln.engines.base import Engine, EngineError, GenerateRequest, GenerateResult, Progress
from kiln.errors import KilnError
from kiln.project import EngineConfig


def engine_types() -> dict[str, type[Engine]]:
    from kiln.engines.placeholder import PlaceholderEngine

    return {PlaceholderEngine.type: PlaceholderEngine}


def create_engine(config: EngineConfig) -> Engine:
    types = engine_types()
    if config.type not in types:
        raise KilnError(
            f"kiln.toml: engines.{config.name}.type: unknown engine type {config.type!r}; "
            f"expected one of {', '.join(sorted(types))}"
        )
    return types[config.type](config.name, config.options)


__all__ = [
    "Engine",
    "EngineError",
    "GenerateRequest",
    "GenerateResult",
    "Progress",
    "create_engine",
    "engine_types",
]
