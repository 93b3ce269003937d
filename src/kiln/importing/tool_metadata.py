"""Readers for the metadata each image tool writes, one function per tool.

Each reader takes the text fields of an image (see :func:`fields_view`) and returns the
generation fields it found (``tool``, ``prompt``, ``seed``, ... and ``params``), or None when
the image is not that tool's. The JSON formats go through sd-parsers, with its known slips
mended around it (each is named where it is mended); A1111's text is read by A1111's own rules
(:mod:`kiln.importing.infotext`), since sd-parsers splits that text at every comma.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sd_parsers.data import PromptInfo
from sd_parsers.exceptions import ParserError
from sd_parsers.parsers import (
    ComfyUIParser,
    FooocusParser,
    InvokeAIParser,
    NovelAIParser,
)

from kiln.importing import comfyui_graph
from kiln.importing.embedded import COMFY_EXIF_TAGS
from kiln.importing.infotext import parse_infotext

Fields = dict[str, Any]

_COMFYUI = ComfyUIParser()
_FOOOCUS = FooocusParser()
_INVOKEAI = InvokeAIParser()
_NOVELAI = NovelAIParser()

_SIZE = re.compile(r"^\s*\(?\s*(\d+)\s*[x,×]\s*(\d+)\s*\)?\s*$")


# EXIF fields standing in for PNG chunks; Fooocus keeps its metadata scheme in MakerNote.
_EXIF_AS_CHUNK = (
    ("UserComment", "parameters"),
    ("ImageDescription", "Description"),
    ("Software", "Software"),
    ("MakerNote", "fooocus_scheme"),
)


def fields_view(raw: dict[str, str]) -> dict[str, str]:
    """The fields as the tools' PNG chunks name them, wherever the file kept them.

    JPEG and WebP carry in EXIF what PNG carries in text chunks: A1111, Fooocus and SwarmUI
    write their ``parameters`` into UserComment, ComfyUI its graphs as ``prompt:{...}`` into
    Model, Make, ImageDescription. A1111 writes a GIF's into its comment.
    """
    view = {key: value for key, value in raw.items() if not key.startswith("exif:")}
    for tag in COMFY_EXIF_TAGS:
        value = raw.get(f"exif:{tag}", "")
        match = re.match(r"(\w+):\s*(?=[{\[])", value)
        if match:
            view.setdefault(match.group(1), value[match.end() :])
    if "XML:com.adobe.xmp" in raw:
        view.setdefault("xmp", raw["XML:com.adobe.xmp"])  # a PNG's XMP chunk
    if "comment" in raw:
        view.setdefault("parameters", raw["comment"])  # A1111's GIF, and JPEG comments
    maker = raw.get("exif:MakerNote")
    if isinstance((json_object(maker) or {}).get("spec"), dict):
        view.setdefault("kiln", maker)  # kiln's own JPEG and WebP: its JSON beside the infotext
        maker = None
    for tag, name in _EXIF_AS_CHUNK:
        value = raw.get(f"exif:{tag}") if tag != "MakerNote" else maker
        if value and not (tag == "ImageDescription" and re.match(r"\w+:\s*[{\[]", value)):
            view.setdefault(name, value)
    return view


def json_object(text: str | None) -> dict[str, Any] | None:
    if not text or text.lstrip()[:1] != "{":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- kiln -----------------------------------------------------------------------------------

_SPEC_FIELDS = {"prompt", "negative_prompt", "model", "seed", "steps", "guidance", "sampler", "width", "height"}


def read_kiln(view: dict[str, str]) -> Fields | None:
    """kiln's own ``kiln`` chunk: the job key, recipe and whole spec."""
    kiln = json_object(view.get("kiln"))
    if kiln is None or not isinstance(kiln.get("spec"), dict):
        return None
    spec = kiln["spec"]
    fields = {key: spec.get(key) for key in _SPEC_FIELDS}
    fields["params"] = {key: value for key, value in spec.items() if key not in _SPEC_FIELDS}
    return {**fields, "tool": "kiln", "kiln": kiln}


# --- InvokeAI -------------------------------------------------------------------------------


def read_invokeai(view: dict[str, str]) -> Fields | None:
    keys = ("invokeai_metadata", "sd-metadata", "Dream")
    parameters = {key: view[key] for key in keys if key in view}
    if not parameters:
        return None
    metadata = json_object(parameters.get("invokeai_metadata"))
    if metadata is not None:
        model = metadata.get("model")
        # sd-parsers 0.6 reads the model's name from "model_name" (InvokeAI 2); InvokeAI 3 and
        # later write "name", and sd-parsers then loses the model altogether.
        if isinstance(model, dict) and "name" in model and "model_name" not in model:
            metadata["model"] = {"model_name": model["name"], **model}
        parameters["invokeai_metadata"] = json.dumps(metadata)
    fields = _from_prompt_info(_parse(_INVOKEAI, parameters), "InvokeAI")
    extra = fields["params"]
    fields["width"], fields["height"] = extra.pop("width", None), extra.pop("height", None)
    if metadata is not None and isinstance(metadata.get("model"), dict):
        extra["model"] = {key: value for key, value in metadata["model"].items() if key != "model_name"}
    return fields


# --- ComfyUI --------------------------------------------------------------------------------


def read_comfyui(view: dict[str, str]) -> Fields | None:
    graph = json_object(view.get("prompt"))
    if not graph or not all(isinstance(node, dict) and "class_type" in node for node in graph.values()):
        return None
    graph = {str(node_id): node for node_id, node in graph.items()}
    # sd-parsers 0.6 follows the links of the UI graph (``workflow``), which is missing when
    # saved through the API and whose node ids differ from the executed graph's once a workflow
    # has subgraphs; the executed graph holds every link itself, so they are taken from there.
    info = _parse(_COMFYUI, {"prompt": graph, "workflow": {"links": list(comfyui_graph.links(graph))}})
    if info is not None and info.samplers:
        fields = _from_prompt_info(info, "ComfyUI")
        fields["params"].pop("cfg_scale", None)
        sampler = comfyui_graph.inputs_of(graph.get(info.samplers[0].sampler_id or ""))
        if len(info.samplers) > 1:
            fields["params"]["samplers"] = [{"name": s.name, **s.parameters} for s in info.samplers]
        if fields.get("seed") is None:
            # A seed given by a primitive node is a link, which sd-parsers leaves out.
            fields["seed"] = comfyui_graph.resolve(graph, sampler.get("seed", sampler.get("noise_seed")))
    else:
        # sd-parsers 0.6 knows samplers only by sampler_name, steps and cfg inputs; Flux
        # workflows plug those into SamplerCustomAdvanced through other nodes.
        custom = comfyui_graph.custom_sampler(graph)
        if custom is None:
            return {"tool": "ComfyUI", "params": {}}
        sampler = {key: custom.pop(key) for key in ("model", "positive", "negative", "latent_image")}
        fields = {"tool": "ComfyUI", **custom}
    if not fields.get("prompt"):
        # sd-parsers 0.6 reads only "text" inputs: not SDXL's text_g, Flux's t5xxl, or text
        # that a string node feeds in.
        fields["prompt"] = comfyui_graph.text(graph, sampler.get("positive"))
        fields["negative_prompt"] = comfyui_graph.text(graph, sampler.get("negative"))
    model, loras = comfyui_graph.model_and_loras(graph, sampler.get("model"))
    if not isinstance(fields.get("model"), str):
        # sd-parsers 0.6 takes a LoRA loader's "model" link for the model's name, and does not
        # know UNETLoader (Flux and other diffusion-only checkpoints).
        fields["model"] = model
    if loras:
        fields["params"]["loras"] = loras
    size = comfyui_graph.latent_size(graph, sampler.get("latent_image"))
    if size:
        fields["width"], fields["height"] = size
    return fields


# --- NovelAI --------------------------------------------------------------------------------


def read_novelai(view: dict[str, str]) -> Fields | None:
    comment = json_object(view.get("Comment"))
    if view.get("Software") != "NovelAI" and not (comment and "uc" in comment and "Description" in view):
        return None
    # sd-parsers 0.6 gives up on an image without a Source chunk (the model's name).
    parameters = {"Source": "", **view, "Description": view.get("Description", "")}
    fields = _from_prompt_info(_parse(_NOVELAI, parameters), "NovelAI")
    extra = fields["params"]
    fields["width"], fields["height"] = extra.pop("width", None), extra.pop("height", None)
    extra.pop("prompt", None)  # the same as Description, the prompt
    return fields


# --- JSON in ``parameters``: SwarmUI, Fooocus -----------------------------------------------


def read_swarmui(view: dict[str, str]) -> Fields | None:
    document = json_object(view.get("parameters"))
    if document is None or not isinstance(document.get("sui_image_params"), dict):
        return None
    # sd-parsers 0.6 does not know SwarmUI; its parameters are flat and named plainly.
    params = dict(document["sui_image_params"])
    extra = document.get("sui_extra_data")
    fields: Fields = {
        "tool": "SwarmUI",
        "prompt": params.pop("prompt", ""),
        "negative_prompt": params.pop("negativeprompt", ""),
        "model": params.pop("model", None),
        "seed": params.pop("seed", None),
        "steps": params.pop("steps", None),
        "guidance": params.pop("cfgscale", None),
        # Older SwarmUI names its ComfyUI backend's sampler "comfyuisampler".
        "sampler": params.pop("sampler", None) or params.pop("comfyuisampler", None),
        "width": params.pop("width", None),
        "height": params.pop("height", None),
        "params": params,
    }
    if isinstance(extra, dict):
        params["sui_extra_data"] = extra
        fields["created_at"] = extra.get("date")
    return fields


def read_fooocus_json(view: dict[str, str]) -> Fields | None:
    document = json_object(view.get("parameters"))
    if document is None or not (
        str(document.get("version", "")).startswith("Fooocus") or view.get("fooocus_scheme") == "fooocus"
    ):
        return None
    # sd-parsers 0.6 requires base_model_hash, which Fooocus leaves out for some models.
    document.setdefault("base_model_hash", None)
    document.setdefault("base_model", None)
    info = _parse(_FOOOCUS, {"parameters": json.dumps(document)})
    fields = _from_prompt_info(info, "Fooocus")
    extra = fields["params"]
    size = _SIZE.match(str(extra.get("resolution", "")))
    if size:
        fields["width"], fields["height"] = int(size.group(1)), int(size.group(2))
    return fields


# --- A1111 infotext -------------------------------------------------------------------------

_INFOTEXT_FIELDS = {"Model": "model", "Seed": "seed", "Steps": "steps", "CFG scale": "guidance", "Sampler": "sampler"}


def read_infotext(view: dict[str, str]) -> Fields | None:
    text = view.get("parameters")
    # A prompt may well begin with "{" (a dynamic prompt's choice); only JSON is not infotext.
    if not text or json_object(text) is not None:
        return None
    info = parse_infotext(text)
    if info is None:
        return None
    params: dict[str, Any] = dict(info.fields)
    fields: Fields = {"prompt": info.prompt, "negative_prompt": info.negative_prompt}
    for key, name in _INFOTEXT_FIELDS.items():
        fields[name] = params.pop(key, None)
    size = _SIZE.match(str(params.get("Size", "")))
    if size:
        del params["Size"]
        fields["width"], fields["height"] = int(size.group(1)), int(size.group(2))
    fields["params"] = params
    fields["tool"] = _infotext_tool(params.get("Version", ""), view)
    return fields


def _infotext_tool(version: str, view: dict[str, str]) -> str:
    if view.get("fooocus_scheme") == "a1111" or version.startswith("Fooocus"):
        return "Fooocus"
    if re.match(r"f\d", version):  # Forge writes f<its version>v<the A1111 version>
        return "Forge"
    if version.startswith("kiln "):
        return "kiln"
    return "A1111"


# --- Midjourney -----------------------------------------------------------------------------

_MJ_JOB = re.compile(r"\s*Job ID:\s*([0-9a-f-]{36})\s*$")
_MJ_FLAG = re.compile(r"\s--(\w+)((?:(?!\s--).)*)", re.S)


def read_midjourney(view: dict[str, str]) -> Fields | None:
    text = view.get("Description") or _xmp_description(view.get("xmp", ""))
    if not text:
        return None
    job = _MJ_JOB.search(text)
    if not job and "midjourney" not in view.get("xmp", "").lower():
        return None
    if job:
        text = text[: job.start()]
    start = text.find(" --")
    prompt = text if start < 0 else text[:start]
    # A flag without a value (--tile) is findall's empty string: it stands for True.
    flags = _MJ_FLAG.findall(text[start:]) if start >= 0 else []
    params: dict[str, Any] = {flag: value.strip() or True for flag, value in flags}
    negative = params.pop("no", "")
    if job:
        params["job_id"] = job.group(1)
    if "Author" in view:
        params["author"] = view["Author"]
    return {
        "tool": "Midjourney",
        "prompt": prompt.strip(),
        "negative_prompt": negative if isinstance(negative, str) else "",
        "seed": params.pop("seed", None),
        "params": params,
    }


def _xmp_description(xmp: str) -> str:
    match = re.search(r"<dc:description>.*?<rdf:li[^>]*>(.*?)</rdf:li>", xmp, re.S)
    if not match:
        return ""
    text = match.group(1)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


# --- from sd-parsers' result ----------------------------------------------------------------


def _parse(parser: Any, parameters: dict[str, Any]) -> PromptInfo | None:
    try:
        return parser.parse(parameters)
    except (ParserError, LookupError, TypeError, ValueError, AttributeError):
        return None


def _from_prompt_info(info: PromptInfo | None, tool: str) -> Fields:
    """The generation fields in what sd-parsers read (just the tool when it read nothing)."""
    if info is None:
        return {"tool": tool, "params": {}}
    params: dict[str, Any] = {}
    # Not full_prompt: Fooocus keeps its style-expanded prompt list there, not what was typed.
    prompt = ", ".join(str(p) for p in info.prompts)
    negative = ", ".join(str(p) for p in info.negative_prompts)
    fields: Fields = {"tool": tool, "prompt": prompt, "negative_prompt": negative}
    if info.samplers:
        sampler = info.samplers[0]
        sampler_params = dict(sampler.parameters)
        fields["sampler"] = sampler.name
        seed = sampler_params.pop("seed", None)
        noise_seed = sampler_params.pop("noise_seed", None)  # KSamplerAdvanced's name for it
        fields["seed"] = seed if seed is not None else noise_seed
        fields["steps"] = sampler_params.pop("steps", None)
        fields["guidance"] = sampler_params.pop("cfg_scale", None)
        fields["model"] = sampler.model.name if sampler.model else None
        if sampler.model and sampler.model.hash:
            params["model_hash"] = sampler.model.hash
        params.update(sampler_params)
    for key, value in info.metadata.items():
        params.setdefault(str(key), value)
    for name in ("seed", "steps"):
        # Where sd-parsers left them with the other metadata (NovelAI's steps).
        if fields.get(name) is None and name in params:
            fields[name] = params.pop(name)
    fields["params"] = params
    return fields


READERS: tuple[Callable[[dict[str, str]], Fields | None], ...] = (
    read_kiln,
    read_invokeai,
    read_comfyui,
    read_novelai,
    read_swarmui,
    read_fooocus_json,
    read_infotext,
    read_midjourney,
)
"""In the order tried: kiln's own chunk first, then the tools that also write ``parameters``
(ComfyUI nodes, InvokeAI) before the plain ``parameters`` readers."""
