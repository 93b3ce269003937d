"""The ``diffusers`` engine, for real on the CPU, with a tiny pipeline built offline.

The pipeline (``tests/diffusers_fixtures.py``) is built and loaded once for the module; each
picture is 64x64 in a few steps, so the whole module runs in seconds. The tests of the
options and of a missing extra run without PyTorch; the rest skip when the ``diffusers``
extra is not installed.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from kiln.cli import cli
from kiln.engines import EngineError, GenerateRequest, Progress, engine_types
from kiln.engines.diffusers import INSTALL_HINT, SAMPLERS, DiffusersEngine
from kiln.errors import InputError, KilnError

MODEL = "models/tiny-sd"

# diffusers' schedulers hand torch tensors to numpy, which numpy 2 warns about; harmless.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers"),
    pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning"),
]


def job(**changes: Any) -> GenerateRequest:
    fields: dict[str, Any] = {
        "model": "tiny-sd",
        "prompt": "a red fox in the snow",
        "negative_prompt": "",
        "width": 64,
        "height": 64,
        "seed": 7,
        "steps": 3,
        "guidance": 5.0,
    }
    return GenerateRequest(**{**fields, **changes})


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder holding the tiny pipeline at models/tiny-sd, built once for the module."""
    with pytest.MonkeyPatch.context() as patch:
        # Nothing may reach a model hub: set before huggingface_hub is imported, which reads it.
        patch.setenv("HF_HUB_OFFLINE", "1")
        pytest.importorskip("diffusers")
        import torch
        from diffusers_fixtures import build_tiny_pipeline

        # One thread: a 64x64 picture gains nothing from more, and torch's worker threads
        # spin for cores another busy process holds, which made each picture take seconds.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        root = tmp_path_factory.mktemp("diffusers")
        build_tiny_pipeline(root / MODEL)
        yield root
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def engine(root: Path) -> Iterator[DiffusersEngine]:
    """One engine with the tiny pipeline loaded, shared: loading is the slow part."""
    with DiffusersEngine("tiny", {"path": MODEL}, root=root) as engine:
        engine.load("tiny-sd")
        yield engine


# --- Without the extra -------------------------------------------------------------------


def test_the_type_is_listed_and_importing_engines_imports_no_torch():
    assert engine_types()["diffusers"] is DiffusersEngine
    code = (
        "import sys, kiln.engines; kiln.engines.engine_types(); "
        "print('torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_missing_extra_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    real = importlib.util.find_spec
    hidden = {"torch", "transformers"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    with pytest.raises(KilnError) as caught:
        DiffusersEngine("sd", {"path": MODEL}, root=tmp_path)
    message = str(caught.value)
    assert message.startswith("kiln.toml: engines.sd: the diffusers engine needs the optional extra (missing: torch, ")
    assert message.endswith("transformers): pip install 'kiln[diffusers]'")
    assert INSTALL_HINT == "pip install 'kiln[diffusers]'"


def test_bad_options_name_their_kiln_toml_keys(tmp_path: Path):
    options = {
        "path": "../elsewhere",
        "models": {"ok": "models/a", "bad": 3},
        "device": "gpu",
        "dtype": "half",
        "pipeline": "not a class",
        "attention_slicing": "yes",
        "generate": [1],
        "steps": 4,
    }
    with pytest.raises(InputError) as caught:
        DiffusersEngine("sd", options, root=tmp_path)
    assert [str(problem) for problem in caught.value.problems] == [
        "kiln.toml: engines.sd.steps: unknown option; expected one of attention_slicing, cpu_offload, device, "
        "dtype, generate, models, path, pipeline, vae_tiling, variant",
        'kiln.toml: engines.sd.path: "../elsewhere" points outside the project',
        "kiln.toml: engines.sd.models.bad: expected a folder path, got 3",
        'kiln.toml: engines.sd.pipeline: expected a diffusers class name such as "StableDiffusionPipeline", '
        'got "not a class"',
        'kiln.toml: engines.sd.device: expected "auto", "cpu", "cuda", "cuda:N", "mps", "xpu" or "xpu:N", got "gpu"',
        'kiln.toml: engines.sd.dtype: expected one of "auto", "float16", "bfloat16", "float32", got "half"',
        'kiln.toml: engines.sd.attention_slicing: expected true or false, got "yes"',
        "kiln.toml: engines.sd.generate: expected a table of pipeline arguments, got [1]",
    ]


def test_a_model_folder_is_required(tmp_path: Path):
    with pytest.raises(InputError, match='engines.sd.path: required \\(or "models"\\)'):
        DiffusersEngine("sd", {"device": "cpu"}, root=tmp_path)


# --- Generating ----------------------------------------------------------------------------


def test_a_picture_of_the_exact_size_with_its_provenance(engine: DiffusersEngine):
    result = engine.generate(job(width=96, height=64))
    assert result.image.size == (96, 64)
    assert result.image.mode == "RGB"
    assert result.seed == 7
    assert pixels(result.image).std() > 0  # a picture, not a blank
    assert result.info | {"diffusers": "-", "torch": "-"} == {
        "engine": "diffusers",
        "pipeline": "StableDiffusionPipeline",
        "model_path": MODEL,
        "device": "cpu",
        "dtype": "float32",
        "scheduler": "DDIMScheduler",
        "diffusers": "-",
        "torch": "-",
    }
    assert set(result.timings_ms) == {"setup", "sampling", "decoding", "total"}
    assert result.timings_ms["total"] >= result.timings_ms["sampling"] > 0


def test_the_same_seed_repeats_and_another_seed_does_not(engine: DiffusersEngine):
    first = pixels(engine.generate(job(seed=11)).image)
    assert np.array_equal(first, pixels(engine.generate(job(seed=11)).image))
    assert not np.array_equal(first, pixels(engine.generate(job(seed=12)).image))


def test_progress_reports_every_step_between_conditioning_and_saving(engine: DiffusersEngine):
    seen: list[Progress] = []
    engine.generate(job(steps=5), seen.append)
    assert [(p.phase, p.step, p.total) for p in seen] == [
        ("conditioning", 0, 0),
        *[("sampling", step, 5) for step in range(1, 6)],
        ("saving", 0, 0),
    ]


def test_the_negative_prompt_is_used(engine: DiffusersEngine):
    plain = pixels(engine.generate(job()).image)
    negative = engine.generate(job(negative_prompt="blurry, dark"))
    assert not np.array_equal(plain, pixels(negative.image))
    assert "ignored" not in negative.info


@pytest.mark.parametrize(
    ("sampler", "scheduler"),
    [
        *[(name, SAMPLERS[name][0]) for name in sorted(SAMPLERS) if name != "lcm"],  # lcm needs an LCM model
        ("Euler a", "EulerAncestralDiscreteScheduler"),
        ("DPM++ 2M Karras", "DPMSolverMultistepScheduler"),
        ("dpm++2m_sde", "DPMSolverMultistepScheduler"),
        ("EulerDiscreteScheduler", "EulerDiscreteScheduler"),
    ],
)
def test_the_sampler_picks_the_scheduler(engine: DiffusersEngine, sampler: str, scheduler: str):
    result = engine.generate(job(sampler=sampler))
    assert result.info["scheduler"] == scheduler
    assert result.image.size == (64, 64)


def test_without_a_sampler_the_model_s_own_scheduler_runs_again(engine: DiffusersEngine):
    assert engine.generate(job(sampler="euler")).info["scheduler"] == "EulerDiscreteScheduler"
    assert engine.generate(job()).info["scheduler"] == "DDIMScheduler"


@pytest.mark.parametrize(
    ("sampler", "message"),
    [
        ("warp-drive", "unknown sampler 'warp-drive'; expected a diffusers scheduler class name or one of ddim, "),
        (
            "FlowMatchEulerDiscreteScheduler",
            "sampler 'FlowMatchEulerDiscreteScheduler' (FlowMatchEulerDiscreteScheduler) "
            "does not suit this model's DDIMScheduler; it takes DDIMScheduler, DDPMScheduler, ",
        ),
    ],
)
def test_an_unusable_sampler_is_an_invalid_request(engine: DiffusersEngine, sampler: str, message: str):
    with pytest.raises(EngineError) as caught:
        engine.generate(job(sampler=sampler))
    assert caught.value.code == "INVALID_REQUEST"
    assert str(caught.value.args[0]).startswith(message)


def test_params_reach_the_pipeline_and_unknown_ones_are_refused(engine: DiffusersEngine):
    # eta only changes DDIM's result when it is not 0, its default.
    plain = pixels(engine.generate(job()).image)
    assert not np.array_equal(plain, pixels(engine.generate(job(params={"eta": 1.0})).image))
    with pytest.raises(EngineError) as caught:
        engine.generate(job(params={"denoise": 0.5}))
    assert caught.value.code == "INVALID_REQUEST"
    assert caught.value.args[0] == (
        "StableDiffusionPipeline takes no argument 'denoise' (from engines.tiny.generate or the recipe's params)"
    )


def test_a_reference_makes_it_image_to_image(engine: DiffusersEngine, tmp_path: Path):
    reference = tmp_path / "fox.png"
    Image.new("RGB", (120, 80), (200, 80, 20)).save(reference)
    seen: list[Progress] = []
    result = engine.generate(job(references=(str(reference),), steps=4, params={"strength": 0.5}), seen.append)
    assert result.image.size == (64, 64)
    assert result.info["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert result.info["mode"] == "image-to-image"
    # strength 0.5 runs half the steps, and progress counts those.
    assert [(p.step, p.total) for p in seen if p.phase == "sampling"] == [(1, 2), (2, 2)]
    # Shares the text-to-image pipeline's weights: no second copy.
    assert engine._image_pipe.unet is engine._pipe.unet
    assert engine.generate(job()).info["pipeline"] == "StableDiffusionPipeline"


def test_more_than_one_reference_is_unsupported(engine: DiffusersEngine):
    with pytest.raises(EngineError) as caught:
        engine.generate(job(references=("a.png", "b.png")))
    assert caught.value.code == "REFERENCES_UNSUPPORTED"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("cuda", "OUT_OF_MEMORY"),
        (RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory"), "OUT_OF_MEMORY"),
        (RuntimeError("shapes cannot be multiplied"), "GENERATION_FAILED"),
    ],
)
def test_failures_inside_the_pipeline(engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch, error: Any, code: str):
    import torch

    if error == "cuda":
        error = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    def failing_pipeline(**kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(engine, "_pipe_for", lambda request, diffusers: failing_pipeline)
    with pytest.raises(EngineError) as caught:
        engine.generate(job())
    assert caught.value.code == code
    assert caught.value.retryable is False
    assert str(error) in caught.value.args[0]


# --- Loading -------------------------------------------------------------------------------


def test_a_missing_or_unusable_folder_is_model_not_found(root: Path):
    (root / "models" / "empty").mkdir(exist_ok=True)
    with DiffusersEngine("sd", {"models": {"gone": "models/gone", "empty": "models/empty"}}, root=root) as engine:
        for model, message in [
            ("gone", "engines.sd: model folder models/gone does not exist"),
            ("empty", "engines.sd: models/empty holds no model_index.json: it is not a diffusers pipeline folder"),
        ]:
            with pytest.raises(EngineError) as caught:
                engine.generate(job(model=model))
            assert caught.value.code == "MODEL_NOT_FOUND"
            assert caught.value.retryable is False
            assert caught.value.args[0].startswith(message)
        with pytest.raises(EngineError) as caught:
            engine.load("other")
        assert caught.value.code == "UNKNOWN_MODEL"


def test_models_share_a_folder_and_switching_folders_unloads(root: Path):
    shutil.copytree(root / MODEL, root / "models" / "copy", dirs_exist_ok=True)
    models = {"a": MODEL, "b": MODEL, "c": "models/copy", "gone": "models/gone"}
    with DiffusersEngine("sd", {"models": models}, root=root) as engine:
        seen: list[Progress] = []
        assert engine.load("a", seen.append) > 0
        assert [p.phase for p in seen] == ["loading"]
        assert seen[0].message == f"sd: loading {MODEL} on cpu (float32)"
        first = engine._pipe
        assert engine.load("b") == 0.0  # another name for the loaded folder
        assert engine._pipe is first
        engine.load("c")
        assert engine._pipe is not first
        assert engine.generate(job(model="c")).info["model_path"] == "models/copy"
        loaded = engine._pipe
        # A folder that is not there is found out before the loaded model is let go.
        with pytest.raises(EngineError, match="MODEL_NOT_FOUND"):
            engine.load("gone")
        assert engine.loaded_model == "c"
        assert engine.generate(job(model="c")).image.size == (64, 64)
        assert engine._pipe is loaded
    assert engine._pipe is None


def test_a_folder_that_does_not_load_is_load_failed(root: Path):
    broken = root / "models" / "broken"
    shutil.copytree(root / MODEL, broken, dirs_exist_ok=True)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.unlink()
    with DiffusersEngine("sd", {"models": {"a": MODEL, "broken": "models/broken"}}, root=root) as engine:
        engine.load("a")
        with pytest.raises(EngineError) as caught:
            engine.load("broken")
        assert caught.value.code == "LOAD_FAILED"
        assert caught.value.args[0].startswith("cannot load models/broken: ")
        # The previous model was let go first; nothing stale claims to be loaded.
        assert engine.loaded_model is None
        assert engine.generate(job(model="a")).image.size == (64, 64)


def test_an_unknown_pipeline_class_or_device_fails_to_load(root: Path):
    with DiffusersEngine("sd", {"path": MODEL, "pipeline": "NoSuchPipeline"}, root=root) as engine:
        with pytest.raises(EngineError) as caught:
            engine.load("tiny-sd")
        assert caught.value.code == "LOAD_FAILED"
        assert caught.value.args[0].startswith("engines.sd.pipeline: diffusers ")
        assert caught.value.args[0].endswith(" has no pipeline class 'NoSuchPipeline'")
    import torch

    if not torch.cuda.is_available():
        with DiffusersEngine("sd", {"path": MODEL, "device": "cuda"}, root=root) as engine:
            with pytest.raises(EngineError) as caught:
                engine.load("tiny-sd")
            assert (caught.value.code, caught.value.args[0]) == (
                "DEVICE_UNAVAILABLE", "engines.sd.device: this machine has no cuda device"
            )


def test_a_named_pipeline_class_loads_the_folder(root: Path):
    options = {"path": MODEL, "pipeline": "StableDiffusionPipeline", "dtype": "float32", "vae_tiling": True}
    with DiffusersEngine("sd", options, root=root) as engine:
        assert engine.generate(job()).info["pipeline"] == "StableDiffusionPipeline"


def test_the_libraries_log_to_the_engine_log_while_it_is_open(root: Path, tmp_path: Path):
    from diffusers.utils import logging as diffusers_logging

    engine = DiffusersEngine("sd", {"path": MODEL, "attention_slicing": True}, root=root)
    engine.log_path = tmp_path / "logs" / "run-1-sd.log"
    with engine:
        engine.load("tiny-sd")
        assert not diffusers_logging.is_progress_bar_enabled()
        logging.getLogger("diffusers.pipelines").warning("a note from diffusers")
        assert engine.generate(job()).image.size == (64, 64)
    assert "[diffusers.pipelines]" in engine.log_path.read_text()
    assert "a note from diffusers" in engine.log_path.read_text()
    assert diffusers_logging.is_progress_bar_enabled()


# --- End to end ----------------------------------------------------------------------------


def test_kiln_run_makes_and_records_the_images(root: Path, tmp_path: Path):
    project = tmp_path / "project"
    shutil.copytree(root / MODEL, project / MODEL)
    (project / "kiln.toml").write_text(
        textwrap.dedent(
            f"""
            [project]
            title = "Tiny diffusion"

            [engines.tiny]
            type = "diffusers"
            path = "{MODEL}"
            """
        ),
        encoding="utf-8",
    )
    (project / "recipes").mkdir()
    (project / "recipes" / "foxes.toml").write_text(
        textwrap.dedent(
            """
            engine = "tiny"
            model = "tiny-sd"
            prompt = "a {red|white} fox"
            negative_prompt = "blurry"
            size = "64x64"
            seeds = [1, 2]
            steps = 3
            sampler = "euler"
            """
        ),
        encoding="utf-8",
    )
    (project / "references").mkdir()
    Image.new("RGB", (96, 96), (30, 90, 160)).save(project / "references" / "sky.png")
    (project / "recipes" / "sky.toml").write_text(
        'engine = "tiny"\nmodel = "tiny-sd"\nprompt = "a sky"\nsize = "64x64"\nseeds = [3]\nsteps = 4\n'
        'references = ["sky.png"]\nparams = { strength = 0.75 }\n',
        encoding="utf-8",
    )

    result = CliRunner().invoke(cli, ["run", "-C", str(project)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(project / "art" / "kiln.db") as db:
        rows = db.execute(
            "SELECT recipe, prompt, seed, width, height, engine, path, params FROM images ORDER BY recipe, prompt, seed"
        ).fetchall()
        statuses = db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    assert statuses == [("succeeded", 5)]
    assert [row[:6] for row in rows] == [
        ("foxes", "a red fox", 1, 64, 64, "tiny"),
        ("foxes", "a red fox", 2, 64, 64, "tiny"),
        ("foxes", "a white fox", 1, 64, 64, "tiny"),
        ("foxes", "a white fox", 2, 64, 64, "tiny"),
        ("sky", "a sky", 3, 64, 64, "tiny"),
    ]
    for row in rows:
        with Image.open(project / "art" / row[6]) as image:
            assert image.size == (64, 64)
    infos = [json.loads(row[7])["engine_info"] for row in rows]
    assert {info["scheduler"] for info in infos[:4]} == {"EulerDiscreteScheduler"}
    assert infos[4]["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert len({row[6] for row in rows}) == 5  # five different pictures

    again = CliRunner().invoke(cli, ["run", "-C", str(project)], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    with sqlite3.connect(project / "art" / "kiln.db") as db:
        assert db.execute("SELECT count(*) FROM images").fetchone() == (5,)
