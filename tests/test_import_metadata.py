import io
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import toolimages as tools
from kiln.importing.infotext import parse_infotext
from kiln.importing.metadata import Generation, read_generation

FIELDS = ("tool", "prompt", "negative_prompt", "model", "seed", "steps", "guidance", "sampler", "width", "height")


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def read(data: bytes) -> Generation:
    return read_generation(opened(data))


def fields(generation: Generation) -> dict:
    return {name: getattr(generation, name) for name in FIELDS}


@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        (tools.a1111_png, tools.A1111_EXPECTED),
        (tools.a1111_jpeg, tools.A1111_EXPECTED),
        (tools.a1111_webp, tools.A1111_EXPECTED),
        (tools.comfyui_png, tools.COMFYUI_EXPECTED),
        (tools.comfyui_webp, tools.COMFYUI_EXPECTED),
        (tools.invokeai_png, tools.INVOKEAI_EXPECTED),
        (tools.fooocus_png, tools.FOOOCUS_EXPECTED),
        (tools.fooocus_jpeg, tools.FOOOCUS_EXPECTED),
        (tools.swarmui_png, tools.SWARMUI_EXPECTED),
        (tools.swarmui_jpeg, tools.SWARMUI_EXPECTED),
        (tools.novelai_png, tools.NOVELAI_EXPECTED),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_tool_is_read_into_the_generation_fields(writer, expected):
    generation = read(writer())
    assert fields(generation) == {name: expected[name] for name in FIELDS}
    assert json.loads(json.dumps(generation.params)) == generation.params
    assert generation.kiln is None


def test_a1111_params_hold_the_rest_and_raw_holds_the_text_whole():
    generation = read(tools.a1111_png())
    assert generation.params == tools.A1111_EXPECTED["params"]
    assert generation.raw == {"parameters": tools.A1111_PARAMETERS}
    assert read(tools.a1111_jpeg()).raw["exif:UserComment"] == tools.A1111_PARAMETERS


def test_quoted_values_keep_their_commas_and_colons():
    # sd-parsers 0.6 cuts these at the first comma ("Template" becomes '"masterpiece') and
    # drops "Lora hashes", whose value holds colons; kiln reads them by A1111's own rule.
    generation = read(tools.a1111_png())
    assert generation.params["Template"] == "masterpiece, a {red|grey} fox in the snow"
    assert generation.params["Lora hashes"] == "foxfur: 1a2b3c4d5e6f, snow: 0f9e8d7c6b5a"
    assert "snow" not in generation.params


def test_a_hashes_object_is_read_whole():
    text = ('a fox\nSteps: 4, Sampler: Euler, CFG scale: 7, Hashes: {"vae": "c6a580b13a", "lora:fur": "1a2b"}, '
            "Tiling: {red|blue}, Version: v1.9.4")
    assert read(tools.png({"parameters": text})).params == {
        "Hashes": {"vae": "c6a580b13a", "lora:fur": "1a2b"}, "Tiling": "{red|blue}", "Version": "v1.9.4",
    }


def test_a_quoted_value_keeps_escaped_quotes_and_line_breaks():
    text = 'a fox\nSteps: 4, Sampler: Euler, Seed: 1, Note: "she said \\"hi\\", then:\\nleft"'
    assert read(tools.png({"parameters": text})).params == {"Note": 'she said "hi", then:\nleft'}


def test_kiln_image_keeps_its_whole_spec_and_job_key():
    generation = read(tools.kiln_png())
    assert fields(generation) == {
        "tool": "kiln", "prompt": "a red fox, oil", "negative_prompt": "blurry", "model": "procedural-v1", "seed": 42,
        "steps": 20, "guidance": 4.5, "sampler": None, "width": 640, "height": 480,
    }
    assert generation.kiln == {
        "job_key": tools.KILN_JOB_KEY, "recipe": "foxes", "template": "a {red|blue} fox, oil",
        "spec": tools.KILN_SPEC, "response_id": None,
    }
    assert generation.params == {"engine": "placeholder", "engine_type": "placeholder"}
    assert set(generation.raw) == {"parameters", "kiln"}


def test_kiln_infotext_without_its_chunk_is_still_kiln_with_the_template_whole():
    image = opened(tools.kiln_png())
    del image.info["kiln"]
    generation = read_generation(image)
    assert (generation.tool, generation.kiln, generation.sampler) == ("kiln", None, "default")
    assert generation.params == {
        "Template": "a {red|blue} fox, oil",
        "Version": "kiln 0.1.0",
        "Engine": "kiln placeholder (procedural - no AI model)",
    }


def test_a_broken_kiln_chunk_falls_back_to_the_parameters():
    image = opened(tools.kiln_png())
    image.info["kiln"] = "{not json"
    generation = read_generation(image)
    assert (generation.tool, generation.kiln, generation.seed) == ("kiln", None, 42)
    assert generation.raw["kiln"] == "{not json"


def test_forge_and_fooocus_infotext_name_their_tool():
    assert read(tools.png({"parameters": tools.FORGE_PARAMETERS})).tool == "Forge"
    assert read(tools.png({"parameters": tools.FORGE_PARAMETERS})).params["Distilled CFG Scale"] == "3.5"
    fooocus = tools.png({"parameters": tools.A1111_PARAMETERS, "fooocus_scheme": "a1111"})
    assert read(fooocus).tool == "Fooocus"
    fooocus_jpeg = read(tools.fooocus_jpeg(tools.A1111_PARAMETERS, scheme="a1111"))
    assert fields(fooocus_jpeg) == {name: tools.A1111_EXPECTED[name] for name in FIELDS} | {"tool": "Fooocus"}


def test_parameters_without_a_negative_prompt():
    text = "a lighthouse,\nat dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512"
    generation = read(tools.png({"parameters": text}))
    assert (generation.prompt, generation.negative_prompt) == ("a lighthouse,\nat dusk", "")
    assert (generation.steps, generation.sampler, generation.guidance, generation.seed) == (20, "Euler a", 7.0, 5)
    assert generation.params == {}


def test_a_negative_prompt_over_several_lines():
    text = "a fox\nNegative prompt: blurry,\nlowres\nSteps: 20, Sampler: Euler, CFG scale: 7"
    assert read(tools.png({"parameters": text})).negative_prompt == "blurry,\nlowres"


def test_a_prompt_starting_with_a_brace_is_still_infotext():
    text = "{red|blue} fox\nSteps: 20, Sampler: Euler, CFG scale: 7"
    assert read(tools.png({"parameters": text})).prompt == "{red|blue} fox"


def test_text_without_a_parameter_line_is_not_infotext():
    assert parse_infotext("just a caption, with: a colon") is None
    generation = read(tools.png({"parameters": "just a caption"}))
    assert (generation.tool, generation.raw) == (None, {"parameters": "just a caption"})


@pytest.mark.parametrize(
    "writer",
    [
        lambda text: tools.png({"parameters": text}),
        lambda text: tools.png(ztxt={"parameters": text}),
        lambda text: tools.png(itxt={"parameters": text}),
        tools.a1111_jpeg,
        tools.a1111_webp,
        lambda text: tools.jpeg(tools.exif_block(exif_ifd={0x9286: tools.ascii_user_comment(text)})),
        lambda text: tools.jpeg(tools.exif_block(exif_ifd={0x9286: tools.unicode_user_comment(text, "<")}, order="<")),
        lambda text: tools.avif(tools.exif_block(exif_ifd={0x9286: tools.unicode_user_comment(text)})),
    ],
    ids=["png-text", "png-ztxt", "png-itxt", "jpeg", "webp", "jpeg-ascii-utf8", "jpeg-unicode-le", "avif"],
)
def test_non_ascii_prompts_in_every_container(writer):
    text = "狐が雪の中に, ein Fuchs im Schnee 🦊\nNegative prompt: ぼやけ\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1"
    generation = read(writer(text))
    assert (generation.prompt, generation.negative_prompt) == ("狐が雪の中に, ein Fuchs im Schnee 🦊", "ぼやけ")


def test_comfyui_params_and_the_graphs_kept_whole():
    generation = read(tools.comfyui_png())
    assert generation.params["scheduler"] == "normal"
    assert generation.params["denoise"] == 1.0
    assert generation.params["loras"] == [{"name": "glass.safetensors", "strength_model": 0.8, "strength_clip": 1.0}]
    assert json.loads(generation.raw["prompt"]) == tools.COMFYUI_PROMPT
    assert json.loads(generation.raw["workflow"]) == tools.COMFYUI_WORKFLOW
    assert json.loads(read(tools.comfyui_webp()).raw["exif:Model"].removeprefix("prompt:")) == tools.COMFYUI_PROMPT


def test_comfyui_without_the_ui_workflow():
    # Saved through the API, or by nodes that leave the workflow out: sd-parsers needs it.
    generation = read(tools.comfyui_png(workflow=None))
    assert fields(generation) == tools.COMFYUI_EXPECTED


def test_comfyui_values_given_by_primitive_nodes_and_a_unet_loader():
    graph = json.loads(json.dumps(tools.COMFYUI_PROMPT))
    graph["3"]["inputs"]["seed"] = ["20", 0]
    graph["20"] = {"inputs": {"seed": 987654321}, "class_type": "Seed (rgthree)"}
    graph["5"]["inputs"]["width"] = ["21", 0]
    graph["21"] = {"inputs": {"value": 1024}, "class_type": "PrimitiveInt"}
    graph["10"]["inputs"]["model"] = ["22", 0]
    graph["22"] = {"inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}, "class_type": "UNETLoader"}
    generation = read(tools.comfyui_png(graph, workflow=None))
    assert (generation.seed, generation.width, generation.height) == (987654321, 1024, 768)
    assert generation.model == "flux1-dev.safetensors"


def test_comfyui_flux_custom_sampler():
    generation = read(tools.comfyui_png(tools.COMFYUI_FLUX_PROMPT, workflow=None))
    assert fields(generation) == tools.COMFYUI_FLUX_EXPECTED
    assert generation.params == {"scheduler": "simple", "denoise": 1.0, "flux_guidance": 3.5}


def test_comfyui_sdxl_text_encoder():
    graph = json.loads(json.dumps(tools.COMFYUI_PROMPT))
    graph["6"] = {"inputs": {"text_g": "a castle, dawn", "text_l": "a castle", "width": 4096, "height": 4096,
                             "crop_w": 0, "crop_h": 0, "target_width": 4096, "target_height": 4096,
                             "clip": ["10", 1]}, "class_type": "CLIPTextEncodeSDXL"}
    generation = read(tools.comfyui_png(graph))
    assert (generation.prompt, generation.negative_prompt) == ("a castle, dawn", "text, watermark")


def test_comfyui_graph_with_a_cycle_and_dangling_links():
    graph = json.loads(json.dumps(tools.COMFYUI_FLUX_PROMPT))
    graph["30"]["inputs"]["model"] = ["22", 0]  # BasicGuider <-> ModelSamplingFlux
    graph["26"]["inputs"]["conditioning"] = ["99", 0]
    generation = read(tools.comfyui_png(graph, workflow=None))
    assert (generation.tool, generation.model, generation.prompt, generation.seed) == ("ComfyUI", None, "", 219670278747233)


def test_comfyui_model_behind_a_long_lora_stack():
    graph = json.loads(json.dumps(tools.COMFYUI_PROMPT))
    previous = "4"
    for n in range(100, 200):
        graph[str(n)] = {"inputs": {"lora_name": f"style{n}.safetensors", "strength_model": 0.1, "model": [previous, 0]},
                         "class_type": "LoraModelLoader"}
        previous = str(n)
    graph["10"]["inputs"]["model"] = [previous, 0]
    generation = read(tools.comfyui_png(graph, workflow=None))
    assert generation.model == "v1-5-pruned-emaonly.safetensors"
    assert len(generation.params["loras"]) == 101


def test_comfyui_with_two_samplers_lists_both():
    graph = json.loads(json.dumps(tools.COMFYUI_PROMPT))
    graph["11"] = {"inputs": {**graph["3"]["inputs"], "denoise": 0.5, "steps": 10, "latent_image": ["3", 0]},
                   "class_type": "KSampler"}
    generation = read(tools.comfyui_png(graph))
    assert generation.steps == 20
    assert [(s["name"], s["steps"]) for s in generation.params["samplers"]] == [("euler", 20), ("euler", 10)]


def test_invokeai_params_and_legacy_dream():
    generation = read(tools.invokeai_png())
    assert generation.params["app_version"] == "5.4.3"
    assert generation.params["model"] == tools.INVOKEAI_METADATA["model"]
    assert generation.params["generation_mode"] == "sdxl_txt2img"
    assert "invokeai_graph" in generation.raw
    dream = read(tools.png({"Dream": '"a cat on a mat [blurry]" -s 50 -S 123 -W 512 -H 640 -C 7.5 -A k_lms'}))
    assert fields(dream) == {
        "tool": "InvokeAI", "prompt": "a cat on a mat", "negative_prompt": "blurry", "model": None, "seed": 123,
        "steps": 50, "guidance": 7.5, "sampler": "k_lms", "width": 512, "height": 640,
    }


def test_fooocus_params():
    generation = read(tools.fooocus_png())
    assert generation.params["model_hash"] == "aeb7e9e689"
    assert generation.params["styles"] == "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']"
    assert generation.params["full_prompt"] == ["a cat on a windowsill", "cinematic, intricate"]


def test_swarmui_params_and_date():
    generation = read(tools.swarmui_png())
    assert generation.params["scheduler"] == "karras"
    assert generation.params["sui_extra_data"]["generation_time"] == "4.82 sec"
    assert generation.created_at == "2025-02-14T00:00:00"
    older = json.loads(json.dumps(tools.SWARMUI_PARAMETERS))
    older["sui_image_params"]["comfyuisampler"] = older["sui_image_params"].pop("sampler")
    assert read(tools.swarmui_png(older)).sampler == "dpmpp_2m"


def test_novelai_params_and_without_a_source():
    generation = read(tools.novelai_png())
    assert generation.params["model_hash"] == "C1E1DE52"
    assert generation.params["noise_schedule"] == "native"
    assert generation.raw["Generation time"] == "5.31"
    bare = read(tools.novelai_png(source=None))
    assert fields(bare) == {**tools.NOVELAI_EXPECTED, "model": None}


def test_midjourney_description():
    generation = read(tools.midjourney_png())
    assert fields(generation) == {
        "tool": "Midjourney", "prompt": "a paper lantern festival over a river, ukiyo-e", "negative_prompt": "",
        "model": None, "seed": 4242, "steps": None, "guidance": None, "sampler": None, "width": None, "height": None,
    }
    assert generation.params == {
        "ar": "16:9", "v": "6.1", "stylize": "250", "job_id": tools.MIDJOURNEY_JOB, "author": "lanternfan",
    }
    assert generation.created_at == "2024-06-01T12:30:00+00:00"
    flagged = read(tools.midjourney_png(f"a fox --no snow, people --tile Job ID: {tools.MIDJOURNEY_JOB}"))
    assert (flagged.prompt, flagged.negative_prompt, flagged.params["tile"]) == ("a fox", "snow, people", True)


def test_midjourney_xmp_description():
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description><dc:description><rdf:Alt>'
        '<rdf:li xml:lang="x-default">a fox &amp; a hare --ar 3:2</rdf:li></rdf:Alt></dc:description>'
        '<xmp:CreatorTool>Midjourney</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>'
    )
    generation = read(tools.png(itxt={"XML:com.adobe.xmp": xmp}))
    assert (generation.tool, generation.prompt, generation.params) == ("Midjourney", "a fox & a hare", {"ar": "3:2"})
    assert list(generation.raw) == ["XML:com.adobe.xmp"]


def test_a_gif_comment_and_a_camera_photo():
    buffer = io.BytesIO()
    Image.new("P", tools.SIZE).save(buffer, "GIF", comment=tools.A1111_PARAMETERS.encode())
    assert fields(read(buffer.getvalue())) == {name: tools.A1111_EXPECTED[name] for name in FIELDS}
    camera = tools.exif_block(
        ifd0={0x010F: (2, b"Canon\0"), 0x0110: (2, b"Canon EOS R5\0")},
        exif_ifd={0x9003: (2, b"2023:07:01 09:15:00\0"), 0x927C: (7, bytes(range(256)))},
    )
    photo = read(tools.jpeg(camera))
    assert (photo.tool, photo.created_at) == (None, "2023-07-01T09:15:00")
    assert photo.raw == {"exif:Make": "Canon", "exif:Model": "Canon EOS R5", "exif:DateTimeOriginal": "2023:07:01 09:15:00"}


def test_exif_creation_time_with_its_offset():
    exif = tools.exif_block(exif_ifd={
        0x9003: (2, b"2024:03:09 18:04:05\0"),
        0x9011: (2, b"+01:00\0"),
        0x9286: tools.unicode_user_comment("a fox\nSteps: 1, Sampler: Euler, CFG scale: 7"),
    })
    assert read(tools.jpeg(exif)).created_at == "2024-03-09T18:04:05+01:00"


def test_an_image_without_metadata():
    assert read(tools.png()) == Generation(tool=None)
    assert read(tools.jpeg()) == Generation(tool=None)
    assert read(tools.webp()) == Generation(tool=None)


@pytest.mark.parametrize(
    "text",
    [
        {"parameters": ""},
        {"parameters": "{not json"},
        {"parameters": "[1, 2, 3]"},
        {"parameters": "null"},
        {"prompt": "{not json", "workflow": "{]"},
        {"prompt": "[]"},
        {"prompt": '{"3": {"class_type": "KSampler", "inputs": null}}'},
        {"prompt": '{"3": {"class_type": "KSampler", "inputs": {"seed": NaN, "steps": "x", "cfg": 1e999,'
                   ' "sampler_name": ["3", 0], "model": ["3", 0], "positive": ["3", 0], "latent_image": ["3", 0]}}}'},
        {"Software": "NovelAI", "Comment": "{oops"},
        {"kiln": '{"spec": []}'},
        {"Description": "Job ID: not-a-uuid"},
    ],
)
def test_odd_metadata_is_kept_and_never_raises(text):
    generation = read(tools.png(text))
    assert generation.raw == text
    assert generation.tool in (None, "ComfyUI", "NovelAI", "InvokeAI")
    json.dumps(generation.params, allow_nan=False)


def test_garbage_invokeai_metadata_names_the_tool_only():
    generation = read(tools.png({"invokeai_metadata": "{]"}))
    assert fields(generation) == {name: None for name in FIELDS} | {"tool": "InvokeAI", "prompt": "", "negative_prompt": ""}


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns of the corrupt EXIF it skips
def test_broken_exif_is_skipped():
    broken = b"Exif\0\0MM\0*\0\0\0\x08\0\x05\x92\x86\0\x07\xff\xff\xff\xff\0\0\0\0"
    assert read(tools.jpeg(broken)) == Generation(tool=None)


def test_text_after_the_image_data_is_read_without_decoding_pixels():
    data = tools.png_with_text_after_data({"parameters": tools.A1111_PARAMETERS})
    image = opened(data)
    tile = list(image.tile)
    generation = read_generation(image)
    assert fields(generation) == {name: tools.A1111_EXPECTED[name] for name in FIELDS}
    assert image.tile == tile  # not loaded: loading empties the tile list
    assert image.getpixel((0, 0)) == (0, 128, 128)  # and the file is still readable after


def test_a_file_closed_under_the_image_still_gives_what_was_read_at_opening():
    buffer = io.BytesIO(tools.png({"Software": "Paint"}))
    image = Image.open(buffer)
    buffer.close()
    assert read_generation(image) == Generation(tool=None, raw={"Software": "Paint"})


@pytest.mark.parametrize("writer", [tools.a1111_png, tools.comfyui_png, tools.a1111_jpeg, tools.comfyui_webp, tools.png])
def test_no_pixels_are_decoded(writer):
    image = opened(writer())
    tile = list(image.tile)
    read_generation(image)
    assert image.tile == tile


def test_an_inflating_text_chunk_after_the_data_is_not_inflated():
    bomb = zlib.compress(b"a" * (8 << 20))
    data = tools.png()
    end = data.rindex(b"IEND") - 4
    data = data[:end] + tools.png_chunk(b"zTXt", b"parameters\0\0" + bomb) + data[end:]
    assert read(data) == Generation(tool=None)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["parameters", "prompt", "workflow", "kiln", "invokeai_metadata", "sd-metadata", "Dream",
                        "Comment", "Description", "Software", "Source", "fooocus_scheme", "Creation Time"])
VALUES = st.one_of(
    st.text(max_size=80),
    JSONISH.map(json.dumps),
    st.builds(lambda graph: json.dumps({"1": {"class_type": "KSampler", "inputs": graph}}), JSONISH),
    st.builds(lambda text: text + "\nSteps: 1, Sampler: a, CFG scale: x, Seed: y, Size: 9x", st.text(max_size=40)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=4))
def test_any_text_metadata_reads_without_raising(text):
    image = opened(tools.png(size=(1, 1)))
    image.info.update(text)
    generation = read_generation(image)
    assert generation.raw == text
    json.dumps(generation.params, allow_nan=False)
    assert generation.seed is None or isinstance(generation.seed, int)
