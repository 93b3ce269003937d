"""The placeholder engine: exact sizes, determinism, sensitivity to its inputs, progress
reports and errors. Pictures are kept small so the whole file runs in a few seconds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from kiln.engines.base import EngineError, GenerateRequest, Progress
from kiln.engines.placeholder import PlaceholderEngine


def request(prompt: str = "misty mountains at sunset", **overrides: object) -> GenerateRequest:
    fields: dict[str, object] = {
        "model": "procedural-v1",
        "prompt": prompt,
        "negative_prompt": "",
        "width": 160,
        "height": 120,
        "seed": 7,
        "steps": 6,
        "guidance": 5.0,
    }
    fields.update(overrides)
    return GenerateRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engine() -> PlaceholderEngine:
    return PlaceholderEngine("placeholder")


def pixels(engine: PlaceholderEngine, req: GenerateRequest) -> np.ndarray:
    return np.asarray(engine.generate(req).image, np.float32)


def test_type_and_description() -> None:
    assert PlaceholderEngine.type == "placeholder"
    assert "procedural" in PlaceholderEngine.description.lower()
    assert "no ai model" in PlaceholderEngine.description.lower()


def test_load_accepts_any_model_and_reports_loading() -> None:
    engine = PlaceholderEngine("placeholder")
    seen: list[Progress] = []
    elapsed = engine.load("any-model-name", seen.append)
    assert elapsed >= 0.0
    assert [p.phase for p in seen] == ["loading"]
    assert seen[0].message
    assert engine.loaded_model == "any-model-name"


@pytest.mark.parametrize("size", [(64, 64), (97, 131), (320, 180), (64, 400), (1000, 563)])
def test_image_is_exactly_the_requested_size(engine: PlaceholderEngine, size: tuple[int, int]) -> None:
    width, height = size
    result = engine.generate(request(width=width, height=height, steps=3))
    assert result.image.size == (width, height)
    assert result.image.mode == "RGB"


def test_result_fields(engine: PlaceholderEngine) -> None:
    result = engine.generate(request(seed=1234))
    assert result.seed == 1234
    assert result.response_id is None
    assert set(result.timings_ms) == {"conditioning", "sampling", "total"}
    assert all(v >= 0 for v in result.timings_ms.values())
    assert result.timings_ms["total"] >= result.timings_ms["sampling"]
    assert result.info["engine"] == "placeholder"
    assert result.info["procedural"] is True


def test_same_request_gives_identical_pixels(engine: PlaceholderEngine) -> None:
    req = request("a red fox in an arctic storm, oil painting", negative_prompt="blurry", sampler="euler")
    first = engine.generate(req).image.tobytes()
    second = PlaceholderEngine("another").generate(req).image.tobytes()
    assert first == second


def test_pixels_do_not_depend_on_the_hash_seed(engine: PlaceholderEngine) -> None:
    req = request("neon city skyline at night")
    script = (
        "import hashlib\n"
        "from kiln.engines.base import GenerateRequest\n"
        "from kiln.engines.placeholder import PlaceholderEngine\n"
        f"req = GenerateRequest(**{req.__dict__!r})\n"
        "print(hashlib.sha256(PlaceholderEngine('p').generate(req).image.tobytes()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == hashlib.sha256(engine.generate(req).image.tobytes()).hexdigest()


def test_different_seeds_give_visibly_different_pictures(engine: PlaceholderEngine) -> None:
    a = pixels(engine, request(seed=1))
    b = pixels(engine, request(seed=2))
    assert np.abs(a - b).mean() > 5.0


def test_different_prompts_give_different_palettes(engine: PlaceholderEngine) -> None:
    warm = pixels(engine, request("desert dunes at noon"))
    cold = pixels(engine, request("arctic glacier at night"))
    assert np.abs(warm.mean(axis=(0, 1)) - cold.mean(axis=(0, 1))).max() > 20.0


def test_steps_refine_the_picture(engine: PlaceholderEngine) -> None:
    few = pixels(engine, request(steps=2))
    many = pixels(engine, request(steps=30))
    assert not np.array_equal(few, many)
    # More steps means crisper detail: more energy in neighbouring-pixel differences.
    assert np.abs(np.diff(many, axis=1)).mean() > np.abs(np.diff(few, axis=1)).mean()


def test_guidance_scales_saturation(engine: PlaceholderEngine) -> None:
    def saturation(image: np.ndarray) -> float:
        return float((image.max(axis=2) - image.min(axis=2)).mean())

    low = pixels(engine, request("lavender field at sunset", guidance=1.0))
    high = pixels(engine, request("lavender field at sunset", guidance=12.0))
    assert saturation(high) > saturation(low)


def test_negative_colour_steers_the_palette_away(engine: PlaceholderEngine) -> None:
    def redness(image: np.ndarray) -> float:
        r, g, b = image[..., 0], image[..., 1], image[..., 2]
        return float(((r > g + 40) & (r > b + 40)).mean())

    plain = pixels(engine, request("crimson abstract shapes"))
    steered = pixels(engine, request("crimson abstract shapes", negative_prompt="red, crimson"))
    assert redness(steered) < redness(plain)


def test_model_name_changes_the_picture_subtly(engine: PlaceholderEngine) -> None:
    a = pixels(engine, request(model="procedural-v1"))
    b = pixels(engine, request(model="procedural-v2"))
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    "prompt",
    [
        "portrait of an old sailor, ink",
        "bauhaus poster, geometric shapes",
        "koi pond, botanical illustration",
        "wild orchids, watercolor",
        "spiral galaxy and a ringed planet",
        "marble swirls",
        "silk flow",
        "neon city skyline at night, vaporwave",
        "lavender field at sunset, chalk",
        "a lone wanderer in the mountains, halftone",
        "a black cat in a foggy forest, pixel art",
        "an owl by a lake, stained glass mosaic",
        "stormy sea, film photo",
        "aurora over the tundra, noir",
        "synthwave grid, minimal",
        "a hare in a wheat field, oil painting",
    ],
)
def test_every_kind_of_picture_renders(engine: PlaceholderEngine, prompt: str) -> None:
    result = engine.generate(request(prompt, width=96, height=72, steps=2))
    image = np.asarray(result.image)
    assert result.image.size == (96, 72)
    assert image.std() > 3.0, "the picture should not be a flat colour"


@pytest.mark.parametrize("steps", [1, 3, 40])
def test_progress_reports_conditioning_each_step_then_saving(engine: PlaceholderEngine, steps: int) -> None:
    seen: list[Progress] = []
    engine.generate(request(steps=steps), seen.append)
    assert seen[0].phase == "conditioning"
    sampling = [p for p in seen if p.phase == "sampling"]
    assert [p.step for p in sampling] == list(range(1, steps + 1))
    assert {p.total for p in sampling} == {steps}
    assert seen[-1].phase == "saving"
    assert [p.phase for p in seen] == ["conditioning", *["sampling"] * steps, "saving"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"width": 63},
        {"width": 4097},
        {"height": 0},
        {"height": 5000},
        {"steps": 0},
        {"steps": 201},
        {"guidance": float("nan")},
    ],
)
def test_invalid_requests_are_refused(engine: PlaceholderEngine, overrides: dict[str, object]) -> None:
    with pytest.raises(EngineError) as caught:
        engine.generate(request(**overrides))
    assert caught.value.code == "INVALID_REQUEST"
    assert not caught.value.retryable


def test_fail_word_simulates_an_engine_failure(engine: PlaceholderEngine) -> None:
    seen: list[Progress] = []
    with pytest.raises(EngineError) as caught:
        engine.generate(request("a quiet lake, _fail_ please"), seen.append)
    assert caught.value.code == "GENERATION_FAILED"
    assert caught.value.retryable is False
    assert "requested failure" in str(caught.value)


def test_fail_word_must_be_a_whole_word(engine: PlaceholderEngine) -> None:
    assert engine.generate(request("not_fail_ing")).image.size == (160, 120)
