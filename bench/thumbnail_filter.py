"""The thumbnails' resampling filter: bicubic against Lanczos, in time and in pixels.

``python bench/thumbnail_filter.py [PICTURE ...]`` makes square thumbnails of each picture
(centre-cropped, as :func:`kiln.stages.square` does) with Lanczos and with cheaper filters,
and prints how far each is from the Lanczos one (PSNR over RGB, and a mean SSIM over 8×8
windows of the luma), before and after the WebP encoding at quality 80 that every thumbnail
gets, next to WebP's own distance from the Lanczos picture. Without pictures it draws its own:
the placeholder engine's, a grainy gradient like bench/imports.py's, and a page of text. CPU
times are medians of ``--repeat`` runs in this process. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from kiln.engines import GenerateRequest
from kiln.engines.placeholder import PlaceholderEngine

sys.path.insert(0, str(Path(__file__).parent))
from finishing import cpu_ms  # noqa: E402

FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "bilinear": Image.Resampling.BILINEAR,
}


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255 * 255 / max(np.mean(diff * diff), 1e-12)))


def _window_means(a: np.ndarray, k: int = 8) -> np.ndarray:
    total = np.cumsum(np.cumsum(np.pad(a, ((1, 0), (1, 0))), 0), 1)
    return (total[k:, k:] - total[:-k, k:] - total[k:, :-k] + total[:-k, :-k]) / (k * k)


def ssim(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("L"), dtype=np.float64)
    y = np.asarray(b.convert("L"), dtype=np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _window_means(x), _window_means(y)
    vx, vy = _window_means(x * x) - mx * mx, _window_means(y * y) - my * my
    cov = _window_means(x * y) - mx * my
    return float(np.mean((2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))))


def webp(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=80, method=0)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def square(image: Image.Image, side: int, resample: Image.Resampling) -> Image.Image:
    crop = min(image.size)
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    return image.resize((side, side), resample, box=(left, top, left + crop, top + crop), reducing_gap=1.0)


def drawn_pictures(side: int) -> dict[str, Image.Image]:
    spec = {"prompt": "a lighthouse in a storm, oil painting", "negative_prompt": "", "model": "m", "engine": "e",
            "engine_type": "remote", "seed": 1, "steps": 20, "guidance": 7.0, "sampler": None, "references": [],
            "width": side, "height": side}
    placeholder = PlaceholderEngine("p").generate(GenerateRequest.from_spec(spec)).image.convert("RGB")
    base = Image.linear_gradient("L").resize((side, side)).rotate(37)
    grain = Image.effect_noise((side, side), 10)
    grainy = Image.merge("RGB", (base, Image.blend(base, grain, 0.2), Image.blend(grain, base, 0.8)))
    text = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(text)
    for row in range(0, side, 14):
        draw.text((4, row), "kiln makes thumbnails of every image it keeps " * 3, fill=(20, 20, 20))
    return {"placeholder": placeholder, "grainy gradient": grainy, "text": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pictures", nargs="*", type=Path)
    parser.add_argument("--side", type=int, default=512, help="the drawn pictures' size")
    parser.add_argument("--thumb", type=int, default=400, help="the thumbnail's side")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    pictures = {path.name: Image.open(path).convert("RGB") for path in args.pictures} or drawn_pictures(args.side)
    print(f"square {args.thumb} px thumbnails; PSNR dB / SSIM against the Lanczos thumbnail; CPU ms")
    print(f"{'picture':24} {'ratio':>6} {'filter':9} {'CPU':>6} {'unencoded':>16} {'after WebP q80':>16}")
    for name, picture in pictures.items():
        reference = square(picture, args.thumb, FILTERS["lanczos"])
        ratio = min(picture.size) / args.thumb
        for label, resample in FILTERS.items():
            made = square(picture, args.thumb, resample)
            cpu = cpu_ms(lambda: square(picture, args.thumb, resample), args.repeat)  # noqa: B023
            encoded = webp(made)
            plain = "identical" if label == "lanczos" else f"{psnr(reference, made):.1f} / {ssim(reference, made):.4f}"
            print(f"{name[:24]:24} {ratio:6.2f} {label:9} {cpu:6.2f} {plain:>16}"
                  f" {psnr(reference, encoded):7.2f} / {ssim(reference, encoded):.4f}")


if __name__ == "__main__":
    main()
