"""Reading generation metadata: ``python bench/import_metadata.py [REPEATS]`` (default 200).

Writes one full-size file per layout (1024×1536 PNGs, 1024² JPEG and WebP, noisy pixels so
the image data is as long as a real picture's) and prints, per file, how long opening it takes,
opening it and reading its metadata with kiln (``read_generation``), and opening it and
reading it with sd-parsers' own ``ParserManager`` as its README shows; and, for scale, hashing
the file's bytes (which an import does anyway). The files are in the
page cache; each figure is the mean of REPEATS runs. Nothing asserts a time; the figures go
into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sd_parsers import ParserManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import toolimages as tools  # noqa: E402

from kiln.importing.metadata import read_generation  # noqa: E402

PNG_SIZE = (1024, 1536)
SQUARE = (1024, 1024)


def noisy(size: tuple[int, int]) -> Image.Image:
    return Image.merge("RGB", [Image.effect_noise(size, 40 + 10 * band) for band in range(3)])


def save(image: Image.Image, path: Path, **options: object) -> Path:
    image.save(path, **options)
    return path


def files(folder: Path) -> dict[str, Path]:
    tall, square = noisy(PNG_SIZE), noisy(SQUARE)

    def png_with(data: bytes, name: str) -> Path:
        # The writers' chunks on full-size pixels: the same metadata, a real file's length.
        text = {key: value for key, value in Image.open(io.BytesIO(data)).info.items() if isinstance(value, str)}
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
        return save(tall, folder / name, format="PNG", pnginfo=info, compress_level=4)

    after = folder / "after.png"
    plain = save(tall, folder / "plain.png", format="PNG", compress_level=4).read_bytes()
    end = plain.rindex(b"IEND") - 4
    chunk = tools.png_chunk(b"tEXt", b"parameters\0" + tools.A1111_PARAMETERS.encode("latin-1"))
    after.write_bytes(plain[:end] + chunk + plain[end:])
    comfyui_exif = Image.open(io.BytesIO(tools.comfyui_webp())).info["exif"]
    webp = save(square, folder / "comfyui.webp", format="WEBP", quality=85, exif=comfyui_exif)
    a1111_exif = tools.exif_block(exif_ifd={0x9286: tools.unicode_user_comment(tools.A1111_PARAMETERS)})
    return {
        "PNG, A1111 parameters": png_with(tools.a1111_png(), "a1111.png"),
        "PNG, kiln chunk": png_with(tools.kiln_png(), "kiln.png"),
        "PNG, ComfyUI graphs": png_with(tools.comfyui_png(), "comfyui.png"),
        "PNG, InvokeAI": png_with(tools.invokeai_png(), "invokeai.png"),
        "PNG, no metadata": folder / "plain.png",
        "PNG, text after the data": after,
        "JPEG, A1111 UserComment": save(square, folder / "a1111.jpg", format="JPEG", quality=90, exif=a1111_exif),
        "WebP, ComfyUI EXIF": webp,
    }


def mean_ms(action: Callable[[], object], repeats: int) -> float:
    action()
    started = time.perf_counter()
    for _ in range(repeats):
        action()
    return (time.perf_counter() - started) * 1000 / repeats


def main(repeats: int) -> None:
    manager = ParserManager()

    def opening(path: Path) -> Callable[[], object]:
        def run() -> object:
            with Image.open(path) as image:
                return image.format

        return run

    def kiln(path: Path) -> Callable[[], object]:
        def run() -> object:
            with Image.open(path) as image:
                return read_generation(image).tool

        return run

    def sd_parsers(path: Path) -> Callable[[], object]:
        def run() -> object:
            with Image.open(path) as image:
                info = manager.parse(image)
                return info.generator.value if info else None

        return run

    def hashing(path: Path) -> Callable[[], object]:
        return lambda: hashlib.sha256(path.read_bytes()).digest()

    with tempfile.TemporaryDirectory() as tmp:
        layouts = files(Path(tmp))
        print(f"{'file':<28} {'MB':>5} {'open':>8} {'kiln':>8} {'sd-parsers':>11} {'sha256':>8}  read as (kiln / sd-parsers)")
        for label, path in layouts.items():
            times = [mean_ms(make(path), repeats) for make in (opening, kiln, sd_parsers, hashing)]
            tools_read = f"{kiln(path)()} / {sd_parsers(path)()}"
            megabytes = path.stat().st_size / 1e6
            print(f"{label:<28} {megabytes:5.2f} {times[0]:6.2f}ms {times[1]:6.2f}ms {times[2]:9.2f}ms "
                  f"{times[3]:6.2f}ms  {tools_read}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
