"""The ``diffusers`` engine: Hugging Face diffusers pipelines, run in kiln's own process.

It loads a pipeline folder written by ``save_pretrained`` (or a model snapshot in that
layout) from inside the project, never from a model hub, keeps it loaded across jobs, and
runs one job at a time on the GPU or the CPU. It needs the optional extra
(``pip install 'kiln[diffusers]'``: PyTorch, diffusers, transformers, accelerate); kiln
imports them only when the engine loads its first model. A project declares one in
``kiln.toml``::

    [engines.sd]
    type = "diffusers"
    path = "models/sd15"                   # a pipeline folder, relative to the project root
    device = "auto"                        # cuda if there is one, then mps, else cpu
    dtype = "auto"                         # float16 on a GPU, float32 on the CPU
    attention_slicing = true               # less memory, a little slower

    [engines.sd.models]                    # or: recipe model name → its folder
    sd15 = "models/sd15"
    dreamshaper = "models/dreamshaper-8"

Options:

``path``
    The pipeline folder (it holds ``model_index.json``) that every recipe model name loads;
    the recipe's model is then only a label.
``models``
    Recipe model name → its pipeline folder. A name not listed loads ``path``, or fails with
    ``UNKNOWN_MODEL`` when there is no ``path``. At least one of the two is required.
    Folders must lie inside the project (a symlink is followed to where it points); a
    folder that does not exist, or holds no ``model_index.json``, fails the job with
    ``MODEL_NOT_FOUND``.
``pipeline``
    The diffusers class that loads the folder, e.g. ``"StableDiffusionXLPipeline"``. By
    default ``AutoPipelineForText2Image`` picks the text-to-image pipeline of the folder's
    family (so an image-to-image folder still makes pictures from prompts), and a pipeline
    it does not know loads as the class ``model_index.json`` names (``DiffusionPipeline``).
``device`` (``"auto"``)
    ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"xpu"``, ``"xpu:N"`` or ``"cpu"``. A device this
    machine does not have fails with ``DEVICE_UNAVAILABLE``.
``dtype`` (``"auto"``)
    ``"float16"``, ``"bfloat16"`` or ``"float32"``; ``"auto"`` is float16 on a GPU and
    float32 on the CPU, where half precision is slow or unsupported.
``variant``
    The weights variant to read, e.g. ``"fp16"`` for ``*.fp16.safetensors`` files.
``attention_slicing``, ``vae_tiling``, ``cpu_offload`` (all ``false``)
    Memory savers: the pipeline's ``enable_attention_slicing()``, its VAE's
    ``enable_tiling()`` (large pictures) and ``enable_model_cpu_offload()`` (accelerate),
    which keeps each part of the model in main memory until it runs (GPU only; ignored on
    the CPU).
``generate``
    Arguments added to every pipeline call (``eta``, ``clip_skip``, ...); a job's ``params``
    win over them, and both must be arguments the pipeline takes (``INVALID_REQUEST``).

Each job calls the pipeline with ``prompt``, ``negative_prompt``, ``width``, ``height``,
``num_inference_steps`` (steps), ``guidance_scale`` (guidance) and a CPU ``torch.Generator``
seeded with the job's seed, whatever the device: diffusers then draws the starting noise on
the CPU, so a seed starts from the same noise on every machine (diffusers' advice for
reproducible pipelines). The same seed gives the same pixels on the same device, dtype and
library versions, and close ones elsewhere. A request field the pipeline does not take (a
model trained without a negative prompt, say) is left out and listed in the image's
``info`` as ``ignored``. The recipe's ``sampler``
picks the scheduler: ``euler``, ``euler_a``, ``heun``, ``dpm2``, ``dpm2_a``, ``dpm++2m``,
``dpm++2m_karras``, ``dpm++2m_sde``, ``dpm++2m_sde_karras``, ``ddim``, ``ddpm``, ``pndm``,
``unipc``, ``deis``, ``lcm`` (case, spaces, ``-`` and ``_`` do not matter, so
A1111's ``"DPM++ 2M Karras"`` works), or a diffusers scheduler class name; a scheduler the
model's own does not list as compatible fails with ``INVALID_REQUEST``. Without a sampler
the model's own scheduler runs.

With one reference image the job is image-to-image: the reference is cropped and resized to
the job's size and passed as ``image``, to the pipeline itself when it takes one (FLUX
Kontext, Qwen-Image-Edit) and otherwise to its image-to-image sibling
(``AutoPipelineForImage2Image.from_pipe``, sharing the loaded weights); ``params = {
strength = 0.6 }`` says how far to move from it. A pipeline with no such sibling, or more
than one reference, fails with ``REFERENCES_UNSUPPORTED``.

Progress: ``loading`` while a model loads, ``conditioning`` before the pipeline runs (it
encodes the prompt first), ``sampling`` after each denoising step 1..N (through the
pipeline's ``callback_on_step_end``; N is the steps actually run, fewer than ``steps`` in
image-to-image), then ``saving`` while the VAE decodes. ``timings_ms`` holds ``setup``,
``sampling`` (prompt encoding included), ``decoding`` and ``total``; ``info`` holds the
pipeline class, device, dtype, scheduler, the relative model folder and the library versions.

Errors: running out of memory (on a GPU or the CPU) raises ``OUT_OF_MEMORY``; a folder that
cannot be loaded, ``LOAD_FAILED``; any other failure inside the pipeline,
``GENERATION_FAILED``. None is retryable: the same job on the same machine would fail again.

Switching to a model in another folder unloads the previous one first, so two never share
the GPU; :meth:`DiffusersEngine.close` releases the model. While the engine holds a log
(``kiln run`` sets :attr:`DiffusersEngine.log_path` to ``art/logs/run-N-NAME.log``), the
libraries' log messages go there instead of the terminal, and their progress bars are off.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from kiln.engines.base import (
    Engine,
    EngineError,
    GenerateRequest,
    GenerateResult,
    Progress,
    ProgressFn,
    no_progress,
)
from kiln.errors import InputError, KilnError, Problem
from kiln.paths import inside, unusable_path
from kiln.project import CONFIG_NAME
from kiln.tomlfile import show

INSTALL_HINT = "pip install 'kiln[diffusers]'"
EXTRA_MODULES = ("torch", "diffusers", "transformers")
DEVICES = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d+)?")
DTYPES = ("auto", "float16", "bfloat16", "float32")
SWITCHES = ("attention_slicing", "vae_tiling", "cpu_offload")
# Sampler name (lower case, without spaces, "-" or "_") → scheduler class and config changes.
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "eulera": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm2": ("KDPM2DiscreteScheduler", {}),
    "dpm2a": ("KDPM2AncestralDiscreteScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {}),
    "dpm++2mkarras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "dpm++2msde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "dpm++2msdekarras": (
        "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}
    ),
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    # Stable Diffusion's own PNDM setting; the Runge-Kutta warm-up fails below about 10 steps.
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "deis": ("DEISMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}
# The libraries whose loggers write to the engine's log while it holds one.
LIBRARY_LOGGERS = ("diffusers", "transformers")
# Text of out-of-memory errors that torch raises as plain RuntimeError (the CPU allocator, mps).
_OOM_TEXT = re.compile(r"out of memory|can't allocate memory|not enough memory", re.IGNORECASE)


class _Settings:
    """The ``[engines.NAME]`` options, checked; every problem is reported at once."""

    def __init__(self, name: str, options: dict[str, Any], root: Path):
        self.problems: list[Problem] = []
        self._name = name
        self._root = root
        known = {"path", "models", "pipeline", "device", "dtype", "variant", "generate", *SWITCHES}
        for key in options:
            if key not in known:
                self._problem(key, f"unknown option; expected one of {', '.join(sorted(known))}")

        self.path = self._folder("path", options["path"]) if "path" in options else None
        self.models: dict[str, str] = {}
        models = options.get("models", {})
        if isinstance(models, dict):
            for model, folder in models.items():
                checked = self._folder(f"models.{model}", folder)
                if checked is not None:
                    self.models[model] = checked
        else:
            self._problem("models", f"expected a table of model name = folder, got {show(models)}")
        if "path" not in options and not models:
            self._problem("path", 'required (or "models"): the pipeline folder, e.g. "models/sd15"')

        self.pipeline = self._string(options, "pipeline")
        if self.pipeline is not None and not self.pipeline.isidentifier():
            example = '"StableDiffusionPipeline"'
            self._problem("pipeline", f"expected a diffusers class name such as {example}, got {show(self.pipeline)}")
        self.device = self._string(options, "device") or "auto"
        if not DEVICES.fullmatch(self.device):
            self._problem(
                "device", f'expected "auto", "cpu", "cuda", "cuda:N", "mps", "xpu" or "xpu:N", got {show(self.device)}'
            )
        self.dtype = self._string(options, "dtype") or "auto"
        if self.dtype not in DTYPES:
            self._problem("dtype", f"expected one of {', '.join(map(show, DTYPES))}, got {show(self.dtype)}")
        self.variant = self._string(options, "variant")
        self.switches: dict[str, bool] = {}
        for key in SWITCHES:
            value = options.get(key, False)
            if not isinstance(value, bool):
                self._problem(key, f"expected true or false, got {show(value)}")
            self.switches[key] = value is True
        self.generate = options.get("generate", {})
        if not isinstance(self.generate, dict):
            self._problem("generate", f"expected a table of pipeline arguments, got {show(self.generate)}")
            self.generate = {}
        if self.problems:
            raise InputError(self.problems)

    def _problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(CONFIG_NAME, None, f"engines.{self._name}.{key}", message))

    def _string(self, options: dict[str, Any], key: str) -> str | None:
        value = options.get(key)
        if value is None or (isinstance(value, str) and value):
            return value
        self._problem(key, f"expected a non-empty string, got {show(value)}")
        return None

    def _folder(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            self._problem(key, f"expected a folder path, got {show(value)}")
            return None
        unusable = unusable_path(value)
        if unusable:
            self._problem(key, f"{show(value)} {unusable}")
            return None
        if not inside(self._root, self._root / value):
            self._problem(key, f"{show(value)} points outside the project")
            return None
        return value


def _libraries() -> tuple[Any, Any]:
    """torch and diffusers, imported on first use: together they take seconds to import."""
    import diffusers
    import torch

    return torch, diffusers


def _version_at_least(version: str, wanted: tuple[int, int]) -> bool:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2]) >= wanted


def _is_out_of_memory(torch: Any, error: BaseException) -> bool:
    if isinstance(error, MemoryError | torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and bool(_OOM_TEXT.search(str(error)))


def _parameters(function: Any) -> set[str] | None:
    """The keyword arguments ``function`` takes, or None if it takes any (``**kwargs``).

    A ``**kwargs`` that only swallows deprecated arguments (diffusers' ``callback``) would
    make every name look accepted, so only named parameters count when there are some."""
    parameters = inspect.signature(function).parameters.values()
    named = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named or None


def _sampler_key(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name).lower()


class DiffusersEngine(Engine):
    """A diffusers pipeline loaded from a folder in the project, run in process."""

    type = "diffusers"
    description = "Hugging Face diffusers pipeline from a local folder, run in kiln's process (GPU or CPU)"
    local = True

    @classmethod
    def cores_taken(cls, options: dict[str, Any]) -> int:
        # On the CPU, torch keeps every core busy; on an accelerator, next to none.
        return (os.cpu_count() or 1) if options.get("device") == "cpu" else 0

    def __init__(self, name: str, options: dict[str, Any] | None = None, *, root: Path | None = None):
        super().__init__(name, options, root=root)
        self.settings = _Settings(name, self.options, self.root)
        missing = [module for module in EXTRA_MODULES if importlib.util.find_spec(module) is None]
        if missing:
            raise KilnError(
                f"{CONFIG_NAME}: engines.{name}: the diffusers engine needs the optional extra "
                f"(missing: {', '.join(missing)}): {INSTALL_HINT}"
            )
        # Set by `kiln run` (see kiln.engines.open_engine): where the libraries' messages go.
        self.log_path: Path | None = None
        self._log_handler: logging.Handler | None = None
        self._pipe: Any = None
        self._image_pipe: Any = None  # the image-to-image sibling, made on first use
        self._folder: str | None = None
        self._scheduler: Any = None  # the model's own, restored for jobs without a sampler
        self._device = "cpu"
        self._dtype: Any = None

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], root: Path) -> list[Problem]:
        try:
            _Settings(name, options, root)
        except InputError as error:
            return error.problems
        return []

    # --- Loading ---------------------------------------------------------------------------

    def _folder_for(self, model: str) -> str:
        folder = self.settings.models.get(model, self.settings.path)
        if folder is None:
            raise EngineError(
                f"model {model!r} is not in engines.{self.name}.models "
                f"(it has {', '.join(sorted(self.settings.models))}) and there is no path",
                code="UNKNOWN_MODEL",
            )
        return folder

    def _load(self, model: str, progress: ProgressFn) -> float:
        started = time.perf_counter()
        folder = self._folder_for(model)
        if self._pipe is not None and folder == self._folder:
            return 0.0  # another recipe name for the folder already loaded
        where = self.root / folder
        if not where.is_dir():
            raise EngineError(f"engines.{self.name}: model folder {folder} does not exist", code="MODEL_NOT_FOUND")
        if not (where / "model_index.json").is_file():
            raise EngineError(
                f"engines.{self.name}: {folder} holds no model_index.json: it is not a diffusers pipeline folder "
                "(write one with save_pretrained)",
                code="MODEL_NOT_FOUND",
            )
        torch, diffusers = _libraries()
        self._open_log()
        device = self._pick_device(torch)
        dtype = self._pick_dtype(torch, device)
        load = self._loader(diffusers, dtype)
        self._unload()
        dtype_name = str(dtype).removeprefix("torch.")
        progress(Progress("loading", message=f"{self.name}: loading {folder} on {device} ({dtype_name})"))
        try:
            pipe = load(where)
            pipe.set_progress_bar_config(disable=True)
            if self.settings.switches["attention_slicing"]:
                pipe.enable_attention_slicing()
            if self.settings.switches["vae_tiling"]:
                pipe.vae.enable_tiling()  # the pipeline-level shortcut is gone from newer diffusers
            if self.settings.switches["cpu_offload"] and device != "cpu":
                pipe.enable_model_cpu_offload(device=device)
            else:
                pipe.to(device)
        except Exception as error:
            gc.collect()
            if _is_out_of_memory(torch, error):
                self._empty_cache(torch, device)
                raise EngineError(
                    f"out of memory loading {folder} on {device}: {error}", code="OUT_OF_MEMORY"
                ) from error
            raise EngineError(f"cannot load {folder}: {type(error).__name__}: {error}", code="LOAD_FAILED") from error
        self._pipe, self._folder, self._device, self._dtype = pipe, folder, device, dtype
        self._scheduler = pipe.scheduler
        return (time.perf_counter() - started) * 1000.0

    def _pick_device(self, torch: Any) -> str:
        device = self.settings.device
        if device == "auto":
            if torch.cuda.is_available():
                return "cuda"
            return "mps" if torch.backends.mps.is_available() else "cpu"
        kind = device.partition(":")[0]
        available = {
            "cpu": lambda: True,
            "cuda": torch.cuda.is_available,
            "mps": torch.backends.mps.is_available,
            "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
        }[kind]()
        if not available:
            raise EngineError(
                f"engines.{self.name}.device: this machine has no {kind} device", code="DEVICE_UNAVAILABLE"
            )
        return device

    def _pick_dtype(self, torch: Any, device: str) -> Any:
        if self.settings.dtype == "auto":
            return torch.float32 if device == "cpu" else torch.float16
        return getattr(torch, self.settings.dtype)

    def _loader(self, diffusers: Any, dtype: Any) -> Callable[[Path], Any]:
        """The function that loads a pipeline folder, as the options say."""
        # diffusers 0.40 renamed torch_dtype to dtype, and warns about the old name.
        dtype_key = "dtype" if _version_at_least(diffusers.__version__, (0, 40)) else "torch_dtype"
        kwargs: dict[str, Any] = {dtype_key: dtype, "local_files_only": True}
        if self.settings.variant:
            kwargs["variant"] = self.settings.variant
        if self.settings.pipeline:
            cls = getattr(diffusers, self.settings.pipeline, None)
            if not hasattr(cls, "from_pretrained"):
                raise EngineError(
                    f"engines.{self.name}.pipeline: diffusers {diffusers.__version__} has no pipeline class "
                    f"{self.settings.pipeline!r}",
                    code="LOAD_FAILED",
                )
            return lambda where: cls.from_pretrained(where, **kwargs)

        def load(where: Path) -> Any:
            try:
                return diffusers.AutoPipelineForText2Image.from_pretrained(where, **kwargs)
            except ValueError:
                # AutoPipeline knows only the families in its table and says so before reading
                # any weights; any other pipeline loads as the class its model_index.json names.
                return diffusers.DiffusionPipeline.from_pretrained(where, **kwargs)

        return load

    def _unload(self) -> None:
        if self._pipe is None:
            return
        self._pipe = self._image_pipe = self._scheduler = self._folder = None
        self.loaded_model = None  # so a failed switch leaves no stale name behind
        # Drop the references before collecting, so the GPU memory is free for the next model.
        gc.collect()
        torch, _ = _libraries()
        self._empty_cache(torch, self._device)

    @staticmethod
    def _empty_cache(torch: Any, device: str) -> None:
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        elif device == "mps":
            torch.mps.empty_cache()
        elif device.startswith("xpu"):
            torch.xpu.empty_cache()

    # --- Logging ---------------------------------------------------------------------------

    def _open_log(self) -> None:
        """Send the libraries' messages to the engine's log, away from kiln's progress display."""
        if self.log_path is None or self._log_handler is not None:
            return
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("[%(name)s] %(asctime)s %(levelname)s %(message)s"))
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).addHandler(handler)
        for library in (diffusers_logging, transformers_logging):
            library.disable_default_handler()
            library.disable_progress_bar()
        self._log_handler = handler

    def _close_log(self) -> None:
        if self._log_handler is None:
            return
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).removeHandler(self._log_handler)
        for library in (diffusers_logging, transformers_logging):
            library.enable_default_handler()
            library.enable_progress_bar()
        self._log_handler.close()
        self._log_handler = None

    # --- Jobs ------------------------------------------------------------------------------

    def generate(self, request: GenerateRequest, progress: ProgressFn = no_progress) -> GenerateResult:
        started = time.perf_counter()
        self.load(request.model, progress)
        torch, diffusers = _libraries()
        pipe = self._pipe_for(request, diffusers)
        pipe.scheduler = self._scheduler_for(request.sampler, diffusers)
        accepted = _parameters(pipe.__call__)

        # On the CPU whatever the device: the same seed then starts from the same noise everywhere.
        generator = torch.Generator(device="cpu").manual_seed(request.seed)
        wanted: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "width": request.width,
            "height": request.height,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
        }
        if request.references:
            wanted["image"] = self._reference(request)
            # The pipeline takes the size from the reference, already fitted to it.
            if accepted is not None and "width" not in accepted:
                del wanted["width"], wanted["height"]
        extra = {**self.settings.generate, **request.params}
        unknown = sorted(key for key in extra if accepted is not None and key not in accepted)
        if unknown:
            raise EngineError(
                f"{type(pipe).__name__} takes no argument {', '.join(map(repr, unknown))} "
                f"(from engines.{self.name}.generate or the recipe's params)",
                code="INVALID_REQUEST",
            )
        call = {
            key: value for key, value in wanted.items() if value is not None and (accepted is None or key in accepted)
        }
        ignored = sorted(key for key, value in wanted.items() if value is not None and key not in call)
        call.update(extra, generator=generator, output_type="pil")

        marks: dict[str, float] = {}
        if accepted is None or "callback_on_step_end" in accepted:
            call["callback_on_step_end"] = self._step_reporter(progress, request.steps, marks)
        setup_done = time.perf_counter()
        progress(Progress("conditioning", message="encoding the prompt"))
        try:
            output = pipe(**call)
        except Exception as error:
            if _is_out_of_memory(torch, error):
                gc.collect()
                self._empty_cache(torch, self._device)
                raise EngineError(
                    f"out of memory on {self._device} at {request.width}x{request.height}: {error}",
                    code="OUT_OF_MEMORY",
                ) from error
            raise EngineError(f"{type(error).__name__}: {error}", code="GENERATION_FAILED") from error
        done = time.perf_counter()
        image = output.images[0]
        if not isinstance(image, Image.Image):
            raise EngineError(
                f"{type(pipe).__name__} returned {type(image).__name__}, not a picture", code="GENERATION_FAILED"
            )

        sampled = marks.get("sampled", done)
        info: dict[str, Any] = {
            "engine": self.type,
            "pipeline": type(pipe).__name__,
            "model_path": self._folder,
            "device": self._device,
            "dtype": str(self._dtype).removeprefix("torch."),
            "scheduler": type(pipe.scheduler).__name__,
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
        }
        if ignored:
            info["ignored"] = ignored
        if request.references:
            info["mode"] = "image-to-image"
        return GenerateResult(
            image=image.convert("RGB"),
            seed=request.seed,
            timings_ms={
                "setup": (setup_done - started) * 1000.0,
                "sampling": (sampled - setup_done) * 1000.0,
                "decoding": (done - sampled) * 1000.0,
                "total": (done - started) * 1000.0,
            },
            info=info,
        )

    @staticmethod
    def _step_reporter(progress: ProgressFn, steps: int, marks: dict[str, float]) -> Callable[..., dict[str, Any]]:
        def on_step_end(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            # num_timesteps is what the pipeline really runs: fewer than steps in image-to-image.
            total = getattr(pipe, "num_timesteps", None) or steps
            progress(Progress("sampling", step=index + 1, total=total))
            if index + 1 >= total:
                marks["sampled"] = time.perf_counter()
                progress(Progress("saving", message="decoding the picture"))
            return tensors

        return on_step_end

    def _pipe_for(self, request: GenerateRequest, diffusers: Any) -> Any:
        if not request.references:
            return self._pipe
        if len(request.references) > 1:
            raise EngineError(
                f"the diffusers engine takes one reference image, got {len(request.references)}",
                code="REFERENCES_UNSUPPORTED",
            )
        accepted = _parameters(self._pipe.__call__)
        if accepted is None or "image" in accepted:
            return self._pipe
        if self._image_pipe is None:
            try:
                # Shares the loaded modules: no second copy of the weights.
                self._image_pipe = diffusers.AutoPipelineForImage2Image.from_pipe(self._pipe)
            except ValueError:
                raise EngineError(
                    f"{type(self._pipe).__name__} has no image-to-image pipeline to use the reference with",
                    code="REFERENCES_UNSUPPORTED",
                ) from None
            self._image_pipe.set_progress_bar_config(disable=True)
        return self._image_pipe

    def _reference(self, request: GenerateRequest) -> Image.Image:
        path = Path(request.references[0])
        try:
            with Image.open(path if path.is_absolute() else self.root / path) as opened:
                picture = opened.convert("RGB")
        except OSError as error:
            raise EngineError(f"cannot read reference {path}: {error}", code="INVALID_REQUEST") from error
        # Cropped, not stretched, to the job's size: the output takes the reference's size.
        return ImageOps.fit(picture, (request.width, request.height), Image.Resampling.LANCZOS)

    def _scheduler_for(self, sampler: str | None, diffusers: Any) -> Any:
        own = self._scheduler
        if not sampler:
            return own
        class_name, changes = SAMPLERS.get(_sampler_key(sampler), (sampler, {}))
        cls = getattr(diffusers, class_name, None) if class_name.endswith("Scheduler") else None
        if cls is None:
            raise EngineError(
                f"unknown sampler {sampler!r}; expected a diffusers scheduler class name or one of "
                f"{', '.join(sorted(SAMPLERS))}",
                code="INVALID_REQUEST",
            )
        compatible = {c.__name__ for c in own.compatibles} | {type(own).__name__}
        if cls.__name__ not in compatible:
            raise EngineError(
                f"sampler {sampler!r} ({cls.__name__}) does not suit this model's {type(own).__name__}; "
                f"it takes {', '.join(sorted(compatible))}",
                code="INVALID_REQUEST",
            )
        try:
            return cls.from_config(own.config, **changes)
        except Exception as error:  # e.g. LMSDiscreteScheduler without scipy
            raise EngineError(
                f"sampler {sampler!r}: {type(error).__name__}: {error}", code="INVALID_REQUEST"
            ) from error

    def close(self) -> None:
        """Release the model (and the GPU memory it held) and the log."""
        self._unload()
        self._close_log()
        super().close()
