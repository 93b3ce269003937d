"""Walking ComfyUI's executed graph (the API-format ``prompt`` a ComfyUI image carries).

Each node is ``{"class_type": ..., "inputs": {...}}``; an input is a value or a link
``[node id, output slot]``. These functions follow links to what sd-parsers does not reach: values
set by primitive nodes, the checkpoint behind LoRA loaders and UNETLoader, SDXL and Flux text
encoders, and the custom sampler nodes Flux workflows use. Graphs are the user's: every step
tolerates missing nodes, odd types and cycles.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Graph = dict[str, Any]

_VALUE_KEYS = ("seed", "noise_seed", "value", "int", "number", "width", "height", "text", "string")
_TEXT_KEYS = ("text", "text_g", "t5xxl", "clip_l", "prompt", "string", "value")
_CHECKPOINT_KEYS = ("ckpt_name", "unet_name", "model_name", "gguf_name")
_CUSTOM_SAMPLERS = ("SamplerCustomAdvanced", "SamplerCustom")


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


def inputs_of(node: Any) -> dict[str, Any]:
    inputs = node.get("inputs") if isinstance(node, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def linked_node(graph: Graph, value: Any) -> dict[str, Any] | None:
    if not is_link(value):
        return None
    node = graph.get(str(value[0]))
    return node if isinstance(node, dict) else None


def links(graph: Graph) -> Iterator[list[Any]]:
    """The graph's links as a UI workflow lists them: [id, from, slot, to, slot, type]."""
    for node_id, node in graph.items():
        for name, value in inputs_of(node).items():
            if is_link(value):
                # The input's own name stands for the link's type: what sd-parsers checks is
                # only that prompt searches do not walk up "clip" links into the checkpoint.
                yield [0, str(value[0]), value[1], node_id, 0, name.upper()]


def resolve(graph: Graph, value: Any) -> Any:
    """An input's value, following links to the primitive node that holds it."""
    for _ in range(len(graph) + 1):  # a path longer than the graph runs in a cycle
        if not is_link(value):
            return value
        inputs = inputs_of(linked_node(graph, value))
        value = next((inputs[key] for key in _VALUE_KEYS if key in inputs), None)
    return None


def text(graph: Graph, value: Any) -> str:
    """The prompt text reached from a conditioning link (through FluxGuidance and the like)."""
    for _ in range(len(graph) + 1):
        node = linked_node(graph, value)
        if node is None:
            return ""
        inputs = inputs_of(node)
        for key in _TEXT_KEYS:
            found = resolve(graph, inputs.get(key))
            if isinstance(found, str) and found.strip():
                return found.strip()
        value = inputs.get("conditioning", inputs.get("conditioning_to"))
    return ""


def model_and_loras(graph: Graph, value: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """The checkpoint at the end of a model link, and the LoRAs passed on the way."""
    loras: list[dict[str, Any]] = []
    for _ in range(len(graph) + 1):
        node = linked_node(graph, value)
        if node is None:
            break
        inputs = inputs_of(node)
        for key in _CHECKPOINT_KEYS:
            if isinstance(inputs.get(key), str):
                return inputs[key], loras
        if isinstance(inputs.get("lora_name"), str):
            lora: dict[str, Any] = {"name": inputs["lora_name"]}
            lora.update({key: inputs[key] for key in ("strength_model", "strength_clip") if key in inputs})
            loras.append(lora)
        value = inputs.get("model")
    return None, loras


def latent_size(graph: Graph, value: Any) -> tuple[int, int] | None:
    """Width and height of the empty latent a sampler starts from."""
    inputs = inputs_of(linked_node(graph, value))
    size = resolve(graph, inputs.get("width")), resolve(graph, inputs.get("height"))
    if all(isinstance(side, int) and not isinstance(side, bool) for side in size):
        return size  # type: ignore[return-value]
    return None


def custom_sampler(graph: Graph) -> dict[str, Any] | None:
    """What a SamplerCustom(Advanced) node was given, read from the nodes plugged into it.

    Returns the generation fields and the links the caller follows further (``model``,
    ``positive``, ``negative``, ``latent_image``), or None without such a node.
    """
    node = next((n for n in graph.values() if isinstance(n, dict) and n.get("class_type") in _CUSTOM_SAMPLERS), None)
    if node is None:
        return None
    inputs = inputs_of(node)
    guider = inputs_of(linked_node(graph, inputs.get("guider"))) or inputs
    noise = inputs_of(linked_node(graph, inputs.get("noise"))) or inputs
    sampler = inputs_of(linked_node(graph, inputs.get("sampler")))
    sigmas = inputs_of(linked_node(graph, inputs.get("sigmas")))
    params = {key: resolve(graph, sigmas[key]) for key in ("scheduler", "denoise") if key in sigmas}
    flux_guidance = _flux_guidance(graph, guider.get("positive", guider.get("conditioning")))
    if flux_guidance is not None:
        params["flux_guidance"] = flux_guidance
    return {
        "seed": resolve(graph, noise.get("noise_seed")),
        "steps": resolve(graph, sigmas.get("steps")),
        "guidance": resolve(graph, guider.get("cfg")),
        "sampler": resolve(graph, sampler.get("sampler_name")),
        "params": params,
        "model": guider.get("model", inputs.get("model")),
        "positive": guider.get("positive", guider.get("conditioning")),
        "negative": guider.get("negative"),
        "latent_image": inputs.get("latent_image"),
    }


def _flux_guidance(graph: Graph, value: Any) -> Any:
    node = linked_node(graph, value)
    if node is not None and node.get("class_type") == "FluxGuidance":
        return resolve(graph, inputs_of(node).get("guidance"))
    return None
