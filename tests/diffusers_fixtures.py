"""A tiny, randomly initialised Stable Diffusion pipeline, built offline for the engine's tests.

Real checkpoints are gigabytes and live on a model hub the tests must not need, so this
builds every part from a config (a UNet, a VAE and a CLIP text encoder a few hundred
kilobytes each) and writes it with ``save_pretrained``, exactly as a real folder would be.
Its pictures are noise, but they go through the same code: tokenizer, text encoder, scheduler
steps, VAE decode. The tokenizer normally comes from the hub too; this one is a byte-level
CLIP BPE vocabulary of the printable ASCII characters, written here.
"""

from __future__ import annotations

import json
from pathlib import Path

# The text encoder's width is the UNet's cross-attention width; small so the model loads fast.
WIDTH = 32
# Each printable ASCII character (bytes 33-126 map to themselves in CLIP's byte-level BPE),
# alone and at the end of a word.
CHARACTERS = [chr(code) for code in range(33, 127)]


def write_tokenizer(folder: Path) -> None:
    """A CLIP tokenizer's vocab.json and merges.txt, with no merges: one token per character."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = CHARACTERS + [c + "</w>" for c in CHARACTERS] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def build_tiny_pipeline(folder: Path) -> None:
    """Write a tiny StableDiffusionPipeline to ``folder``; it makes 64x64 pictures in milliseconds."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    write_tokenizer(folder.parent / f"{folder.name}-tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(folder.parent / f"{folder.name}-tokenizer", model_max_length=77)
    torch.manual_seed(0)  # the same weights every session, so a failure can be reproduced
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=WIDTH,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=WIDTH,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=1000,
            projection_dim=WIDTH,
            bos_token_id=len(CHARACTERS) * 2,
            eos_token_id=len(CHARACTERS) * 2 + 1,
            pad_token_id=len(CHARACTERS) * 2 + 1,
        )
    )
    # Stable Diffusion 1.5's own scheduler settings (which the pipeline checks for).
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
