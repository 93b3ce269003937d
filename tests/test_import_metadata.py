import io

from PIL import Image

from kiln.importing.metadata import read_generation
from kiln.pngmeta import png_info

SPEC = {
    "prompt": "a red fox, oil",
    "negative_prompt": "blurry",
    "steps": 20,
    "sampler": None,
    "guidance": 4.5,
    "seed": 42,
    "width": 640,
    "height": 480,
    "model": "procedural-v1",
    "engine": "placeholder",
    "engine_type": "placeholder",
}


def _kiln_png() -> Image.Image:
    buffer = io.BytesIO()
    info = png_info("0123456789abcdef", "foxes", SPEC, "a {red|blue} fox, oil", {"x": 1})
    Image.new("RGB", (8, 8)).save(buffer, "PNG", pnginfo=info)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_kiln_png_keeps_spec_and_job_key():
    generation = read_generation(_kiln_png())
    assert generation.tool == "kiln"
    assert generation.kiln["job_key"] == "0123456789abcdef"
    assert generation.kiln["spec"] == SPEC
    assert (generation.prompt, generation.negative_prompt, generation.seed) == ("a red fox, oil", "blurry", 42)


def test_a1111_parameters_keep_quoted_commas():
    image = _kiln_png()
    del image.info["kiln"]
    generation = read_generation(image)
    assert generation.tool == "A1111"
    assert generation.params["Template"] == "a {red|blue} fox, oil"
    assert (generation.width, generation.height, generation.guidance) == (640, 480, 4.5)
