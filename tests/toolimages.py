"""Image files written the way each image tool writes them, for import tests.

Every writer returns the file's bytes. The metadata layouts follow the tools' own code:
A1111 (``images.save_image_with_geninfo``: a PNG tEXt ``parameters``, or for JPEG and WebP a
piexif EXIF block whose UserComment is ``UNICODE\\0`` + UTF-16 big-endian), ComfyUI
(``SaveImage``: tEXt ``prompt`` and ``workflow``; ``SaveAnimatedWEBP``: EXIF Model
``prompt:{...}`` and Make ``workflow:{...}``), InvokeAI (tEXt ``invokeai_metadata`` and
``invokeai_graph``), Fooocus (``parameters`` JSON with ``fooocus_scheme``; for JPEG, Pillow EXIF
with UserComment, Software and MakerNote on the first IFD), SwarmUI (``parameters`` JSON with
``sui_image_params``), NovelAI (tEXt Software, Description, Source, Comment) and Midjourney
(tEXt Author, Description, Creation Time). Each ``*_EXPECTED`` dict is what kiln reads back.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from kiln.pngmeta import png_info

SIZE = (16, 12)


def png(text: dict[str, str] | None = None, *, itxt: dict[str, str] | None = None, ztxt: dict[str, str] | None = None,
        size: tuple[int, int] = SIZE, compress_level: int = 6) -> bytes:
    """A PNG with tEXt (iTXt where Pillow needs it for non-Latin-1 text), iTXt and zTXt chunks."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    for key, value in (itxt or {}).items():
        info.add_itxt(key, value, zip=True)
    for key, value in (ztxt or {}).items():
        info.add_text(key, value, zip=True)
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, "PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_text_after_data(text: dict[str, str], size: tuple[int, int] = SIZE) -> bytes:
    """A PNG whose tEXt chunks follow the image data (as some editors and exiftool write)."""
    data = png(size=size)
    end = data.rindex(b"IEND") - 4
    chunks = b"".join(png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")) for key, value in text.items())
    return data[:end] + chunks + data[end:]


def exif_block(ifd0: dict[int, tuple[int, bytes]] | None = None, exif_ifd: dict[int, tuple[int, bytes]] | None = None,
               order: str = ">") -> bytes:
    """A raw EXIF block (``Exif\\0\\0`` + TIFF) of (type, bytes) entries; ``>`` is piexif's byte order."""
    ifd0 = dict(ifd0 or {})
    exif_ifd = dict(exif_ifd or {})

    def ifd(entries: dict[int, tuple[int, bytes]], start: int) -> tuple[bytes, bytes]:
        table = struct.pack(order + "H", len(entries))
        heap = b""
        heap_start = start + 2 + 12 * len(entries) + 4
        for tag, (kind, value) in sorted(entries.items()):
            count = len(value) if kind in (2, 7) else len(value) // 4
            if len(value) <= 4:
                table += struct.pack(order + "HHI", tag, kind, count) + value.ljust(4, b"\0")
            else:
                table += struct.pack(order + "HHII", tag, kind, count, heap_start + len(heap))
                heap += value + b"\0" * (len(value) % 2)
        return table + b"\0\0\0\0", heap

    header = (b"MM" if order == ">" else b"II") + struct.pack(order + "HI", 42, 8)
    if exif_ifd:
        # The pointer's value is patched in once the first IFD's length is known.
        ifd0[0x8769] = (4, b"\0\0\0\0")
    table, heap = ifd(ifd0, 8)
    if exif_ifd:
        sub_start = 8 + len(table) + len(heap)
        ifd0[0x8769] = (4, struct.pack(order + "I", sub_start))
        table, heap = ifd(ifd0, 8)
        sub_table, sub_heap = ifd(exif_ifd, sub_start)
        return b"Exif\0\0" + header + table + heap + sub_table + sub_heap
    return b"Exif\0\0" + header + table + heap


def unicode_user_comment(text: str, order: str = ">") -> tuple[int, bytes]:
    """An EXIF UserComment entry as ``piexif.helper.UserComment.dump(text, encoding="unicode")``."""
    return 7, b"UNICODE\0" + text.encode("utf-16-be" if order == ">" else "utf-16-le")


def ascii_user_comment(text: str) -> tuple[int, bytes]:
    return 7, b"ASCII\0\0\0" + text.encode("utf-8")


def jpeg(exif: bytes | Image.Exif | None = None, size: tuple[int, int] = SIZE) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "olive").save(buffer, "JPEG", **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


def webp(exif: bytes | Image.Exif | None = None, size: tuple[int, int] = SIZE) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "navy").save(buffer, "WEBP", **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


def avif(exif: bytes | Image.Exif | None = None, size: tuple[int, int] = SIZE) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "maroon").save(buffer, "AVIF", **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


# --- A1111 ----------------------------------------------------------------------------------

A1111_PARAMETERS = (
    "masterpiece, a red fox in the snow, (detailed fur:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, "
    "Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.4, "
    'Hires upscale: 1.5, Hires upscaler: Latent, Lora hashes: "foxfur: 1a2b3c4d5e6f, snow: 0f9e8d7c6b5a", '
    'Template: "masterpiece, a {red|grey} fox in the snow", Version: v1.10.1'
)
A1111_EXPECTED: dict[str, Any] = {
    "tool": "A1111",
    "prompt": "masterpiece, a red fox in the snow, (detailed fur:1.2)",
    "negative_prompt": "blurry, lowres",
    "model": "sd_xl_base_1.0",
    "seed": 3141592653,
    "steps": 28,
    "guidance": 6.5,
    "sampler": "DPM++ 2M",
    "width": 832,
    "height": 1216,
    "params": {
        "Schedule type": "Karras",
        "Model hash": "31e35c80fc",
        "Denoising strength": "0.4",
        "Hires upscale": "1.5",
        "Hires upscaler": "Latent",
        "Lora hashes": "foxfur: 1a2b3c4d5e6f, snow: 0f9e8d7c6b5a",
        "Template": "masterpiece, a {red|grey} fox in the snow",
        "Version": "v1.10.1",
    },
}


def a1111_png(parameters: str = A1111_PARAMETERS) -> bytes:
    return png({"parameters": parameters})


def a1111_jpeg(parameters: str = A1111_PARAMETERS) -> bytes:
    return jpeg(exif_block(exif_ifd={0x9286: unicode_user_comment(parameters)}))


def a1111_webp(parameters: str = A1111_PARAMETERS) -> bytes:
    return webp(exif_block(exif_ifd={0x9286: unicode_user_comment(parameters)}))


FORGE_PARAMETERS = (
    "a lighthouse at dusk\n"
    "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 7, "
    "Size: 896x1152, Model hash: bea01d51bd, Model: flux1-dev-bnb-nf4-v2, Version: f2.0.1v1.10.1-previous-313-g8a042934"
)


# --- kiln ------------------------------------------------------------------------------------

KILN_SPEC: dict[str, Any] = {
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
KILN_JOB_KEY = "0123456789abcdef"


def kiln_png(spec: dict[str, Any] = KILN_SPEC, key: str = KILN_JOB_KEY) -> bytes:
    buffer = io.BytesIO()
    info = png_info(key, "foxes", spec, "a {red|blue} fox, oil", {"response_id": None})
    Image.new("RGB", SIZE).save(buffer, "PNG", pnginfo=info, compress_level=1)
    return buffer.getvalue()


# --- ComfyUI ---------------------------------------------------------------------------------

COMFYUI_PROMPT: dict[str, Any] = {
    "3": {"inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal",
                     "denoise": 1.0, "model": ["10", 0], "positive": ["6", 0], "negative": ["7", 0],
                     "latent_image": ["5", 0]}, "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    "4": {"inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}, "class_type": "CheckpointLoaderSimple",
          "_meta": {"title": "Load Checkpoint"}},
    "5": {"inputs": {"width": 512, "height": 768, "batch_size": 1}, "class_type": "EmptyLatentImage",
          "_meta": {"title": "Empty Latent Image"}},
    "6": {"inputs": {"text": "beautiful scenery, nature, glass bottle with a galaxy in it", "clip": ["10", 1]},
          "class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "7": {"inputs": {"text": "text, watermark", "clip": ["10", 1]}, "class_type": "CLIPTextEncode",
          "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode", "_meta": {"title": "VAE Decode"}},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage",
          "_meta": {"title": "Save Image"}},
    "10": {"inputs": {"lora_name": "glass.safetensors", "strength_model": 0.8, "strength_clip": 1.0,
                      "model": ["4", 0], "clip": ["4", 1]}, "class_type": "LoraLoader", "_meta": {"title": "Load LoRA"}},
}


def _ui_node(node_id: int, kind: str, widgets: list[Any]) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "pos": [0, 0], "size": [300, 100], "flags": {}, "order": 0, "mode": 0,
            "inputs": [], "outputs": [], "properties": {"Node name for S&R": kind}, "widgets_values": widgets}


COMFYUI_WORKFLOW: dict[str, Any] = {
    "last_node_id": 10,
    "last_link_id": 12,
    "nodes": [
        _ui_node(3, "KSampler", [156680208700286, "fixed", 20, 8.0, "euler", "normal", 1.0]),
        _ui_node(4, "CheckpointLoaderSimple", ["v1-5-pruned-emaonly.safetensors"]),
        _ui_node(5, "EmptyLatentImage", [512, 768, 1]),
        _ui_node(6, "CLIPTextEncode", ["beautiful scenery, nature, glass bottle with a galaxy in it"]),
        _ui_node(7, "CLIPTextEncode", ["text, watermark"]),
        _ui_node(8, "VAEDecode", []),
        _ui_node(9, "SaveImage", ["ComfyUI"]),
        _ui_node(10, "LoraLoader", ["glass.safetensors", 0.8, 1.0]),
    ],
    "links": [
        [1, 10, 0, 3, 0, "MODEL"], [4, 6, 0, 3, 1, "CONDITIONING"], [6, 7, 0, 3, 2, "CONDITIONING"],
        [2, 5, 0, 3, 3, "LATENT"], [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"],
        [10, 4, 0, 10, 0, "MODEL"], [11, 4, 1, 10, 1, "CLIP"], [3, 10, 1, 6, 0, "CLIP"], [5, 10, 1, 7, 0, "CLIP"],
    ],
    "groups": [],
    "config": {},
    "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
    "version": 0.4,
}
COMFYUI_EXPECTED: dict[str, Any] = {
    "tool": "ComfyUI",
    "prompt": "beautiful scenery, nature, glass bottle with a galaxy in it",
    "negative_prompt": "text, watermark",
    "model": "v1-5-pruned-emaonly.safetensors",
    "seed": 156680208700286,
    "steps": 20,
    "guidance": 8.0,
    "sampler": "euler",
    "width": 512,
    "height": 768,
}


# The Flux dev template: a sampler node fed by a guider, noise, sampler and scheduler nodes.
COMFYUI_FLUX_PROMPT: dict[str, Any] = {
    "6": {"inputs": {"text": "a neon sign reading OPEN, rain", "clip": ["11", 0]}, "class_type": "CLIPTextEncode"},
    "8": {"inputs": {"samples": ["13", 0], "vae": ["10", 0]}, "class_type": "VAEDecode"},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"},
    "10": {"inputs": {"vae_name": "ae.safetensors"}, "class_type": "VAELoader"},
    "11": {"inputs": {"clip_name1": "t5xxl_fp16.safetensors", "clip_name2": "clip_l.safetensors", "type": "flux"},
           "class_type": "DualCLIPLoader"},
    "12": {"inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}, "class_type": "UNETLoader"},
    "13": {"inputs": {"noise": ["25", 0], "guider": ["22", 0], "sampler": ["16", 0], "sigmas": ["17", 0],
                      "latent_image": ["27", 0]}, "class_type": "SamplerCustomAdvanced"},
    "16": {"inputs": {"sampler_name": "euler"}, "class_type": "KSamplerSelect"},
    "17": {"inputs": {"scheduler": "simple", "steps": 20, "denoise": 1.0, "model": ["30", 0]}, "class_type": "BasicScheduler"},
    "22": {"inputs": {"model": ["30", 0], "conditioning": ["26", 0]}, "class_type": "BasicGuider"},
    "25": {"inputs": {"noise_seed": 219670278747233}, "class_type": "RandomNoise"},
    "26": {"inputs": {"guidance": 3.5, "conditioning": ["6", 0]}, "class_type": "FluxGuidance"},
    "27": {"inputs": {"width": 1024, "height": 768, "batch_size": 1}, "class_type": "EmptySD3LatentImage"},
    "30": {"inputs": {"max_shift": 1.15, "base_shift": 0.5, "width": 1024, "height": 768, "model": ["12", 0]},
           "class_type": "ModelSamplingFlux"},
}
COMFYUI_FLUX_EXPECTED: dict[str, Any] = {
    "tool": "ComfyUI",
    "prompt": "a neon sign reading OPEN, rain",
    "negative_prompt": "",
    "model": "flux1-dev.safetensors",
    "seed": 219670278747233,
    "steps": 20,
    "guidance": None,
    "sampler": "euler",
    "width": 1024,
    "height": 768,
}


def comfyui_png(prompt: dict[str, Any] = COMFYUI_PROMPT, workflow: dict[str, Any] | None = COMFYUI_WORKFLOW) -> bytes:
    text = {"prompt": json.dumps(prompt)}
    if workflow is not None:
        text["workflow"] = json.dumps(workflow)
    return png(text, compress_level=4)


def comfyui_webp(prompt: dict[str, Any] = COMFYUI_PROMPT, workflow: dict[str, Any] = COMFYUI_WORKFLOW) -> bytes:
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(prompt)
    exif[0x010F] = "workflow:" + json.dumps(workflow)
    return webp(exif)


# --- InvokeAI --------------------------------------------------------------------------------

INVOKEAI_METADATA: dict[str, Any] = {
    "generation_mode": "sdxl_txt2img", "positive_prompt": "dark abstract colored painting",
    "negative_prompt": "image frame", "width": 832, "height": 1216, "seed": 1554095076, "rand_device": "cpu",
    "cfg_scale": 15.0, "cfg_rescale_multiplier": 0.0, "steps": 50, "scheduler": "euler", "seamless_x": False,
    "seamless_y": False,
    "model": {"key": "9f58a1c0-0b7e-4d4e-9f0e-2c1a3b4d5e6f", "hash": "blake3:6a22c0ffee", "name": "duchaitenRealnsfwXL_v10",
              "base": "sdxl", "type": "main"},
    "positive_style_prompt": "vivid", "negative_style_prompt": "dull", "regions": [], "app_version": "5.4.3",
}
INVOKEAI_EXPECTED: dict[str, Any] = {
    "tool": "InvokeAI",
    "prompt": "dark abstract colored painting",
    "negative_prompt": "image frame",
    "model": "duchaitenRealnsfwXL_v10",
    "seed": 1554095076,
    "steps": 50,
    "guidance": 15.0,
    "sampler": "euler",
    "width": 832,
    "height": 1216,
}


def invokeai_png(metadata: dict[str, Any] = INVOKEAI_METADATA) -> bytes:
    graph = {"id": "g", "nodes": {"noise": {"id": "noise", "type": "noise", "seed": metadata.get("seed")}}, "edges": []}
    return png({"invokeai_metadata": json.dumps(metadata), "invokeai_graph": json.dumps(graph)})


# --- Fooocus ---------------------------------------------------------------------------------

FOOOCUS_METADATA: dict[str, Any] = {
    "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "base_model_hash": "aeb7e9e689", "clip_skip": 2, "full_negative_prompt": ["(worst quality, low quality:1.4)"],
    "full_prompt": ["a cat on a windowsill", "cinematic, intricate"], "guidance_scale": 4,
    "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"]], "metadata_scheme": "fooocus",
    "negative_prompt": "", "performance": "Speed", "prompt": "a cat on a windowsill",
    "prompt_expansion": "a cat on a windowsill, cinematic, intricate", "refiner_model": "None",
    "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "seed": "8392174650918273",
    "sharpness": 2, "steps": 30, "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']",
    "vae": "Default (model)", "version": "Fooocus v2.5.5",
}
FOOOCUS_EXPECTED: dict[str, Any] = {
    "tool": "Fooocus",
    "prompt": "a cat on a windowsill",
    "negative_prompt": "",
    "model": "juggernautXL_v8Rundiffusion.safetensors",
    "seed": 8392174650918273,
    "steps": 30,
    "guidance": 4.0,
    "sampler": "dpmpp_2m_sde_gpu",
    "width": 1152,
    "height": 896,
}


def fooocus_png(metadata: dict[str, Any] = FOOOCUS_METADATA) -> bytes:
    return png({"parameters": json.dumps(metadata), "fooocus_scheme": "fooocus"})


def fooocus_jpeg(metadata: dict[str, Any] | str = FOOOCUS_METADATA, scheme: str = "fooocus") -> bytes:
    """Fooocus' private_logger.get_exif: Pillow tags on the first IFD, the text stored as is
    (its JSON, or under the "a1111" scheme an A1111 ``parameters`` text)."""
    exif = Image.Exif()
    exif[0x9286] = metadata if isinstance(metadata, str) else json.dumps(metadata)
    exif[0x0131] = "Fooocus v2.5.5"
    exif[0x927C] = scheme
    return jpeg(exif)


# --- SwarmUI ---------------------------------------------------------------------------------

SWARMUI_PARAMETERS: dict[str, Any] = {
    "sui_image_params": {
        "prompt": "a cozy cabin in the woods, snow, warm light", "negativeprompt": "people",
        "model": "OfficialStableDiffusion/sd_xl_base_1.0", "seed": 1893745, "steps": 30, "cfgscale": 7.5,
        "aspectratio": "3:2", "width": 1216, "height": 832, "sampler": "dpmpp_2m", "scheduler": "karras",
        "automaticvae": True, "swarm_version": "0.9.5.2",
    },
    "sui_extra_data": {"date": "2025-02-14", "prep_time": "0.01 sec", "generation_time": "4.82 sec"},
}
SWARMUI_EXPECTED: dict[str, Any] = {
    "tool": "SwarmUI",
    "prompt": "a cozy cabin in the woods, snow, warm light",
    "negative_prompt": "people",
    "model": "OfficialStableDiffusion/sd_xl_base_1.0",
    "seed": 1893745,
    "steps": 30,
    "guidance": 7.5,
    "sampler": "dpmpp_2m",
    "width": 1216,
    "height": 832,
}


def swarmui_png(parameters: dict[str, Any] = SWARMUI_PARAMETERS) -> bytes:
    return png({"parameters": json.dumps(parameters, indent=2)})


def swarmui_jpeg(parameters: dict[str, Any] = SWARMUI_PARAMETERS) -> bytes:
    # SwarmUI (ImageSharp) writes the same JSON into UserComment: the UNICODE code, then UTF-16
    # little-endian text, in a little-endian EXIF block.
    text = json.dumps(parameters, indent=2)
    return jpeg(exif_block(exif_ifd={0x9286: unicode_user_comment(text, "<")}, order="<"))


# --- NovelAI ---------------------------------------------------------------------------------

NOVELAI_COMMENT: dict[str, Any] = {
    "prompt": "1girl, silver hair, starry night, masterpiece", "steps": 28, "height": 1216, "width": 832,
    "scale": 5.0, "uncond_scale": 1.0, "cfg_rescale": 0.0, "seed": 2718281828, "n_samples": 1,
    "hide_debug_overlay": False, "noise_schedule": "native", "legacy_v3_extend": False,
    "sampler": "k_euler_ancestral", "controlnet_strength": 1.0, "dynamic_thresholding": False,
    "sm": False, "sm_dyn": False, "uc": "lowres, bad anatomy", "request_type": "PromptGenerateRequest",
    "signed_hash": "c2lnbmVk",
}
NOVELAI_EXPECTED: dict[str, Any] = {
    "tool": "NovelAI",
    "prompt": "1girl, silver hair, starry night, masterpiece",
    "negative_prompt": "lowres, bad anatomy",
    "model": "Stable Diffusion XL",
    "seed": 2718281828,
    "steps": 28,
    "guidance": 5.0,
    "sampler": "k_euler_ancestral",
    "width": 832,
    "height": 1216,
}


def novelai_png(comment: dict[str, Any] = NOVELAI_COMMENT, source: str | None = "Stable Diffusion XL C1E1DE52") -> bytes:
    text = {"Title": "NovelAI generated image", "Description": comment["prompt"], "Software": "NovelAI"}
    if source is not None:
        text["Source"] = source
    text.update({"Generation time": "5.31", "Comment": json.dumps(comment)})
    return png(text)


# --- Midjourney ------------------------------------------------------------------------------

MIDJOURNEY_JOB = "5d0f3c9e-8b1a-4c2d-9e7f-0a1b2c3d4e5f"
MIDJOURNEY_DESCRIPTION = f"a paper lantern festival over a river, ukiyo-e --ar 16:9 --v 6.1 --seed 4242 --stylize 250 Job ID: {MIDJOURNEY_JOB}"


def midjourney_png(description: str = MIDJOURNEY_DESCRIPTION) -> bytes:
    return png({"Author": "lanternfan", "Description": description, "Creation Time": "Sat, 01 Jun 2024 12:30:00 GMT"})
