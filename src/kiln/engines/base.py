"""The interface every engine implements.

An engine turns one :class:`GenerateRequest` into pixels. The runner calls ``load`` once per
model and keeps the engine loaded across jobs; ``generate`` reports progress through a
callback as it goes and fails with :class:`EngineError`, whose ``retryable`` flag tells the
runner whether trying again may help.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from kiln.errors import Problem, ProjectNotFound
from kiln.project import find_root


@dataclass(frozen=True)
class Progress:
    """One progress report: a phase (``loading``, ``conditioning``, ``sampling``, ``saving``)
    and, while sampling, the step reached out of the total."""

    phase: str
    step: int = 0
    total: int = 0
    message: str = ""


@dataclass(frozen=True)
class Restarted(Progress):
    """The engine recovered from a failed call by restarting and is trying it again: a call
    the runner records as retried, with ``code`` (``ENGINE_CRASHED``, ``ENGINE_STALLED``) and
    ``message``. A type of its own, so no progress an engine sends can pass for one."""

    code: str = ""


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    return None


@dataclass(frozen=True)
class GenerateRequest:
    """What one job asks of an engine."""

    model: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    seed: int
    steps: int
    guidance: float
    sampler: str | None = None
    references: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: dict[str, Any], references: tuple[str, ...] = ()) -> GenerateRequest:
        """The request for a job spec; ``references`` are the prepared files' paths."""
        return cls(
            model=spec["model"],
            prompt=spec["prompt"],
            negative_prompt=spec["negative_prompt"],
            width=spec["width"],
            height=spec["height"],
            seed=spec["seed"],
            steps=spec["steps"],
            guidance=spec["guidance"],
            sampler=spec.get("sampler"),
            references=references,
            params=spec.get("params", {}),
        )


@dataclass
class GenerateResult:
    """What came back: the image, the seed actually used, and how long each phase took.

    ``encoded`` is the file the engine made (PNG, JPEG or WebP bytes), when it made one: kiln
    then keeps those bytes as the original, with its provenance spliced in, instead of
    encoding ``image`` again, and ``image`` may be opened lazily (its size read, its pixels
    not decoded: see :meth:`from_file`).
    """

    image: Image.Image
    seed: int
    timings_ms: dict[str, float] = field(default_factory=dict)
    response_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    encoded: bytes | None = None

    @classmethod
    def from_file(cls, data: bytes, seed: int, **fields: Any) -> GenerateResult:
        """A result for the file ``data``, whose header is read here (its size, checked by the
        runner) and whose pixels are decoded once, by the finishing worker.

        Raises what ``Image.open`` raises for bytes that are no image."""
        image = Image.open(io.BytesIO(data))
        # Cheap checks of the whole file (chunk checksums for a PNG), not a decode.
        Image.open(io.BytesIO(data)).verify()
        return cls(image=image, seed=seed, encoded=data, **fields)


class EngineError(Exception):
    """A failed engine call. ``code`` is the engine's own error code where it has one."""

    def __init__(self, message: str, *, code: str = "ENGINE_ERROR", retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.code}: {self.args[0]}"


class Engine(ABC):
    """An image engine. Subclasses set ``type`` and ``description``.

    ``local`` engines own the machine's accelerator and run one job at a time; the others
    (remote APIs) take up to ``concurrency`` jobs at once, from several threads. An engine that
    draws on this machine's CPU says how many cores it takes in ``cpu_cores``.
    """

    type: str = ""
    description: str = ""
    local: bool = True
    concurrency: int = 1
    # The cores of this machine the engine keeps busy while it generates: none for a GPU or a
    # remote service. Finishing workers get the rest (kiln.finishing.finishing_workers).
    cpu_cores: int = 0

    @classmethod
    def cores_taken(cls, options: dict[str, Any]) -> int:
        """The cores an engine with ``options`` keeps busy (:attr:`cpu_cores` unless its options
        say otherwise, as a device does); asked before the engine starts."""
        return cls.cpu_cores

    def __init__(self, name: str, options: dict[str, Any] | None = None, *, root: Path | None = None):
        self.name = name
        self.options = dict(options or {})
        self.loaded_model: str | None = None
        self._root = root

    @property
    def root(self) -> Path:
        """The folder relative paths in the engine's options are read from: the project's root."""
        if self._root is None:
            try:
                self._root = find_root()
            except ProjectNotFound:
                self._root = Path.cwd()
        return self._root

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], root: Path) -> list[Problem]:
        """What is wrong with ``options`` (each problem named ``engines.NAME.KEY``), found by the
        same code that reads them when the engine starts, but starting nothing. An engine that
        does not declare its options, as your own ``"module:Class"`` may not, accepts any."""
        return []

    def start(self) -> None:
        """Set off the engine's own start-up (an engine process booting) without waiting for
        it, so it overlaps kiln's planning; the first :meth:`load` finds it under way. Nothing
        by default: most engines have nothing to start, or start within :meth:`load`."""

    def load(self, model: str, progress: ProgressFn = no_progress) -> float:
        """Make ``model`` ready; returns the milliseconds it took (0 if it was loaded)."""
        if self.loaded_model == model:
            return 0.0
        elapsed = self._load(model, progress)
        self.loaded_model = model
        return elapsed

    @abstractmethod
    def _load(self, model: str, progress: ProgressFn) -> float: ...

    @abstractmethod
    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        """Generate one image. The model named in ``request`` must have been loaded."""

    def close(self) -> None:
        """Release the engine's resources (processes, connections, memory)."""
        self.loaded_model = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
