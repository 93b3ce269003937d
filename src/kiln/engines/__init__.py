"""Engines by type, and the factory that builds one from its ``[engines.NAME]`` settings."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from pathlib import Path

from kiln.engines.base import (
    Engine,
    EngineError,
    GenerateRequest,
    GenerateResult,
    Progress,
    Restarted,
)
from kiln.errors import KilnError, Problem
from kiln.project import BUILTIN_TYPES, CONFIG_NAME, EngineConfig, Project


def _load(reference: str) -> object:
    module_name, _, class_name = reference.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def engine_types() -> dict[str, type[Engine]]:
    """Every built-in engine type by name (this imports them all)."""
    return {name: _load(reference) for name, reference in BUILTIN_TYPES.items()}  # type: ignore[misc]


def engine_class(config: EngineConfig) -> type[Engine]:
    """The class for ``config.type``: a built-in type, or ``"module:Class"`` naming your own
    :class:`Engine` subclass in an importable module."""
    found = _resolve(config)
    if isinstance(found, str):
        raise KilnError(f"{CONFIG_NAME}: engines.{config.name}.type: {found}")
    return found


def _resolve(config: EngineConfig) -> type[Engine] | str:
    """The class for ``config.type``, or what is wrong with it."""
    if config.type in BUILTIN_TYPES:
        return _load(BUILTIN_TYPES[config.type])  # type: ignore[return-value]
    if ":" not in config.type:
        return (f"unknown engine type {config.type!r}; expected one of {', '.join(sorted(BUILTIN_TYPES))}"
                " or \"module:Class\"")
    try:
        found = _load(config.type)
    except Exception as error:  # the module is the user's: any error of its import is theirs to see
        return f"cannot load {config.type!r}: {type(error).__name__}: {error}"
    if not (isinstance(found, type) and issubclass(found, Engine)):
        return f"{config.type!r} is not a kiln Engine subclass"
    if inspect.isabstract(found):
        return f"{config.type!r} is abstract: it does not implement {', '.join(sorted(found.__abstractmethods__))}"
    return found


def check_engines(project: Project, names: Iterable[str] | None = None) -> list[Problem]:
    """Every problem of the engines' settings in kiln.toml (all, or those named), each at its
    line: the type must name an :class:`Engine` subclass, the options must be the adapter's.

    Built-in adapters are imported, and so is a ``"module:Class"`` (that is how it is checked);
    no engine is started.
    """
    problems: list[Problem] = []
    wanted = None if names is None else set(names)
    for name, config in project.engines.items():
        if wanted is not None and name not in wanted:
            continue
        found = _resolve(config)
        if isinstance(found, str):
            problems.append(project.config_problem(f"engines.{name}.type", found))
            continue
        for problem in found.check_options(name, config.options, project.root):
            key = problem.key or f"engines.{name}"
            problems.append(project.config_problem(key, problem.message))
    return problems


def create_engine(config: EngineConfig, root: Path | None = None) -> Engine:
    """The engine ``config`` describes; relative paths in its options are read from ``root``."""
    return engine_class(config)(config.name, config.options, root=root)


def open_engine(project: Project, name: str, *, log_name: str | None) -> Engine:
    """The project's engine ``name``, reading paths from the project and logging into art/logs.

    Engines that run a process keep its stderr in ``art/logs/<log_name>.log``; with no
    ``log_name`` yet, :func:`name_log` gives it one before the engine's first call.
    """
    engine = create_engine(project.engine(name), project.root)
    if log_name is not None:
        name_log(engine, project, log_name)
    return engine


def name_log(engine: Engine, project: Project, log_name: str) -> None:
    """Log ``engine``'s process into ``art/logs/<log_name>.log``, unless its options say where."""
    if getattr(engine, "log_path", False) is None:
        engine.log_path = project.art_dir / "logs" / f"{log_name}.log"  # type: ignore[attr-defined]


__all__ = [
    "Engine",
    "EngineError",
    "GenerateRequest",
    "GenerateResult",
    "Progress",
    "Restarted",
    "check_engines",
    "create_engine",
    "engine_class",
    "name_log",
    "open_engine",
    "engine_types",
]
