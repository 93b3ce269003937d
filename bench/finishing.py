"""Finishing one image, step by step: CPU milliseconds in this process (``time.process_time``).

``python bench/finishing.py`` draws a 1024x1024 and a 1024x1536 picture with the placeholder
engine and times each step of finishing them, the way kiln did it before (the engine's PNG
decoded, a PNG encoded again at zlib level 1 with the text chunks, WebP web copy at quality 85,
method 2, one thumbnail) and the way it does now (the text chunks spliced into the engine's PNG,
one decode, WebP at quality 80, method 0, two thumbnail widths), then decoded pixels made a
PNG by Pillow at zlib level 1 and by kiln's encoder (:mod:`kiln.pngencode`), on the placeholder's
picture and on a grainy one, and the whole of ``write_image_files`` for an engine PNG, an engine
JPEG and decoded pixels. Medians of ``--repeat`` runs. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from kiln.engines import GenerateRequest
from kiln.engines.placeholder import PlaceholderEngine
from kiln.finishing import write_image_files
from kiln.pngencode import encode_png
from kiln.pngmeta import png_info, provenance_texts, splice_png
from kiln.stages import blurhash_of, encode_webp, small_thumbnail, thumbnail, web_copy

SPEC: dict[str, Any] = {
    "prompt": "a lighthouse in a storm, oil painting", "negative_prompt": "blurry", "model": "m", "engine": "e",
    "engine_type": "remote", "seed": 1, "steps": 20, "guidance": 7.0, "sampler": None, "references": [],
}


def cpu_ms(step: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        step()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def engine_picture(width: int, height: int) -> tuple[Image.Image, bytes, bytes]:
    """The placeholder's picture, and the PNG (zlib level 4, as ComfyUI writes) and JPEG
    (quality 90) an engine would hand over."""
    spec = {**SPEC, "width": width, "height": height}
    image = PlaceholderEngine("p").generate(GenerateRequest.from_spec(spec)).image.convert("RGB")
    png, jpeg = io.BytesIO(), io.BytesIO()
    image.save(png, "PNG", compress_level=4)
    image.save(jpeg, "JPEG", quality=90)
    return image, png.getvalue(), jpeg.getvalue()


def grainy(width: int, height: int) -> Image.Image:
    """Gradients and grain, as bench/imports.py draws its library."""
    base = Image.linear_gradient("L").resize((width, height)).rotate(37)
    grain = Image.effect_noise((width, height), 10)
    return Image.merge("RGB", (base, Image.blend(base, grain, 0.2), Image.blend(grain, base, 0.8)))


def bench_png(width: int, height: int, texts: dict[str, str], repeat: int) -> None:
    print(f"  decoded pixels made a PNG, CPU ms (median of {repeat}) and bytes")
    for label, picture in (("placeholder", engine_picture(width, height)[0]), ("grainy", grainy(width, height))):
        def pillow(picture: Image.Image = picture) -> bytes:
            buffer = io.BytesIO()
            picture.save(buffer, "PNG", pnginfo=png_info("key", "recipe", {**SPEC, "width": width, "height": height},
                                                         SPEC["prompt"], {}), compress_level=1)
            return buffer.getvalue()

        for name, encode in (("Pillow, zlib level 1", pillow),
                             ("kiln: Up filter, libdeflate 1", lambda picture=picture: encode_png(picture, texts))):
            print(f"    {label:12} {name:30} {cpu_ms(encode, repeat):7.1f} {len(encode()):>11,}")


def bench(width: int, height: int, repeat: int) -> None:
    image, png, jpeg = engine_picture(width, height)
    spec = {**SPEC, "width": width, "height": height}
    texts = provenance_texts("key", "recipe", spec, spec["prompt"], {})

    def decode() -> Image.Image:
        opened = Image.open(io.BytesIO(png))
        opened.load()
        return opened

    def png_again() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", pnginfo=png_info("key", "recipe", spec, spec["prompt"], {}), compress_level=1)
        return buffer.getvalue()

    def old_thumbnail() -> Image.Image:
        side = min(image.size)
        box = ((image.width - side) // 2, (image.height - side) // 2, (image.width + side) // 2, (image.height + side) // 2)
        return image.resize((400, 400), Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)

    web = web_copy(image)
    before = {
        "decode the engine's PNG": cpu_ms(decode, repeat),
        "PNG again, level 1, with the chunks": cpu_ms(png_again, repeat),
        "sha256 of the original": cpu_ms(lambda: hashlib.sha256(png).digest(), repeat),
        "web copy: resize + WebP q85 m2": cpu_ms(lambda: encode_webp(web_copy(image), 85, 2), repeat),
        "thumbnail 400: resize (gap 2.0) + WebP q80 m2": cpu_ms(lambda: encode_webp(old_thumbnail(), 80, 2), repeat),
        "blurhash": cpu_ms(lambda: blurhash_of(image), repeat),
    }
    after = {
        "splice the chunks into the engine's PNG": cpu_ms(lambda: splice_png(png, texts), repeat),
        "decode the engine's PNG (once)": before["decode the engine's PNG"],
        "sha256 of the original": before["sha256 of the original"],
        "web copy: resize + WebP q80 m0": cpu_ms(lambda: encode_webp(web_copy(image), 80, 0), repeat),
        "thumbnail 400: resize (gap 1.0) + WebP q80 m0": cpu_ms(lambda: encode_webp(thumbnail(image), 80, 0), repeat),
        "thumbnail 256: resize + WebP": cpu_ms(lambda: encode_webp(small_thumbnail(image), 80, 0), repeat),
        "blurhash": before["blurhash"],
    }
    print(f"\nfinishing a {width}x{height} picture, CPU ms per step (median of {repeat})")
    for title, steps in (("before", before), ("now", after)):
        print(f"  {title}")
        for name, ms in steps.items():
            print(f"    {name:44} {ms:7.1f}")
        print(f"    {'sum':44} {sum(steps.values()):7.1f}")
    sizes = (len(encode_webp(web, 85, 2)), len(encode_webp(web, 80, 0)))
    print(f"  web copy bytes: q85 m2 {sizes[0]:,}, q80 m0 {sizes[1]:,} ({sizes[1] / sizes[0] - 1:+.1%})")
    bench_png(width, height, texts, repeat)
    with tempfile.TemporaryDirectory() as temp:
        for label, picture in (("engine PNG", png), ("engine JPEG", jpeg), ("decoded pixels", image)):
            ms = cpu_ms(lambda picture=picture: write_image_files(
                picture, Path(temp), "t", "key", "recipe", spec, spec["prompt"], {}), repeat)
            print(f"  whole write_image_files, {label:15} {ms:7.1f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench(1024, 1024, args.repeat)
    bench(1024, 1536, args.repeat)


if __name__ == "__main__":
    main()
