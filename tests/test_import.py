"""``kiln import``: a library of files as other tools write them goes into the store with its
metadata, statuses from folders, duplicates and bad files reported, and a second import
changes nothing."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from import_library import (
    A1111_PARAMETERS,
    COMFY_PROMPT,
    KILN_KEY,
    KILN_SPEC,
    MTIME,
    a1111_png,
    library,
    write,
)
from PIL import Image

from kiln.cli import cli
from kiln.importing.progress import ImportLines
from kiln.importing.records import import_key
from kiln.importing.sources import collection_name
from kiln.stages import STAGES


def kiln(project: Path, *args: str) -> tuple[int, str]:
    """Run kiln; its exit code and what it printed on stdout, with the time taken as ``T``."""
    result = CliRunner().invoke(cli, [*args, "-C", str(project)], catch_exceptions=False)
    return result.exit_code, re.sub(r" in \d+\.\d s\.", " in T s.", result.stdout)


def rows(project: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(project / "art" / "kiln.db") as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "kiln.toml").write_text('[project]\ntitle = "Imports"\n[import]\npicked = ["yes"]\nrejected = ["no"]\n')
    lib = library(tmp_path)
    monkeypatch.chdir(tmp_path)
    return project, lib


FIRST_REPORT = """\
Imported 8 images into lib in T s.
Status from folders: 2 picked, 1 rejected.
2 duplicates skipped:
  lib/img/copy-of-a1111.png: same as image {a1111}
  lib/no/renamed.jpg: same as image {photo}
1 file skipped:
  lib/img/readme.txt: not an image
3 files failed:
  lib/img/bomb.png: decompression bomb: Image size (900000000 pixels) exceeds limit of 178956970 pixels, could be decompression bomb DOS attack.
  lib/img/broken.png: does not decode: broken data stream when reading image file
  lib/img/cut.png: does not decode: image file is truncated
"""


def _id(project: Path, origin: str) -> str:
    for image_id, params in rows(project, "SELECT id, params FROM images"):
        if json.loads(params)["import"]["from"] == origin:
            return image_id
    raise AssertionError(f"no image from {origin}")


def _project(tmp_path: Path, monkeypatch, settings: str) -> Path:
    """A project at ``tmp_path/proj`` with ``settings`` as its kiln.toml, run from ``tmp_path``."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "kiln.toml").write_text(settings)
    monkeypatch.chdir(tmp_path)
    return project

def test_a_library_goes_in_with_its_metadata_and_bad_files_are_named(setup):
    project, _ = setup
    code, output = kiln(project, "import", "lib")
    assert code == 1  # some files failed; the others went in
    a1111, photo = _id(project, "lib/img/a1111.png"), _id(project, "lib/img/photo.jpg")
    assert output == FIRST_REPORT.format(a1111=a1111, photo=photo)

    columns = "prompt, negative_prompt, model, seed, steps, guidance, sampler, width, height, format, created_at, recipe"
    assert rows(project, f"SELECT {columns} FROM images WHERE id = ?", (a1111,)) == [
        ("a lighthouse at dusk, oil painting", "blurry, text", "sd_xl_base_1.0", 1234567, 28, 6.5,
         "DPM++ 2M Karras", 96, 64, "png", "2024-03-01T12:00:00.000Z", "lib")
    ]
    params, raw = rows(project, "SELECT params, source_metadata FROM images WHERE id = ?", (a1111,))[0]
    assert json.loads(params)["Template"] == "a {lighthouse|harbour}, oil"  # quoted commas kept
    assert json.loads(params)["import"] == {"from": "lib/img/a1111.png", "tool": "A1111"}
    assert json.loads(raw) == {"parameters": A1111_PARAMETERS}
    itxt = _id(project, "lib/img/a1111-itxt.png")
    assert rows(project, "SELECT prompt FROM images WHERE id = ?", (itxt,)) == [("灯台 a lighthouse at dusk, oil painting",)]
    # A name in another script comes in like any other.
    assert _id(project, "lib/img/夜の海.png")
    # ComfyUI's graphs are kept whole.
    comfy = _id(project, "lib/img/comfy.png")
    kept = json.loads(rows(project, "SELECT source_metadata FROM images WHERE id = ?", (comfy,))[0][0])
    assert json.loads(kept["prompt"]) == COMFY_PROMPT and "workflow" in kept
    # Every image has its original, both derivatives, a blurhash, a job and a place in the collection.
    assert rows(project, "SELECT count(*), count(blurhash) FROM images") == [(8, 8)]
    for image_id, path in rows(project, "SELECT id, path FROM images"):
        assert (project / "art" / path).is_file()
        assert path.startswith(f"original/{image_id}.")
    assert rows(project, "SELECT stage, count(*) FROM derivatives GROUP BY stage") == sorted((s.name, 8) for s in STAGES)
    assert rows(project, "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND engine IN ('import', 'placeholder')") == [(8,)]
    assert rows(project, "SELECT count(*), count(DISTINCT position), min(position), max(position) FROM recipe_jobs"
                         " WHERE recipe = 'lib'") == [(8, 8, 0, 7)]
    assert rows(project, "SELECT name, kind, title, job_count FROM recipes") == [("lib", "import", "lib", 8)]
    assert rows(project, "SELECT key FROM jobs WHERE image_id = ?", (a1111,)) == [(import_key(a1111),)]


def test_kiln_images_keep_their_spec_and_job_key(setup):
    project, _ = setup
    kiln(project, "import", "lib")
    image_id = _id(project, "lib/img/kiln.png")
    key, spec, engine = rows(project, "SELECT key, spec, engine FROM jobs WHERE image_id = ?", (image_id,))[0]
    assert (key, json.loads(spec), engine) == (KILN_KEY, KILN_SPEC, "placeholder")
    assert rows(project, "SELECT job_key, prompt, seed, engine FROM images WHERE id = ?", (image_id,)) == [
        (KILN_KEY, "a red fox, oil", 42, "placeholder")
    ]


def test_statuses_come_from_the_folders_by_name_and_by_content(setup):
    project, _ = setup
    kiln(project, "import", "lib")
    status = {origin: _status(project, origin) for origin in ("lib/img/comfy.png", "lib/img/photo.jpg",
                                                               "lib/yes/only-here.png", "lib/img/a1111.png")}
    assert status == {"lib/img/comfy.png": "selected", "lib/img/photo.jpg": "rejected",
                      "lib/yes/only-here.png": "selected", "lib/img/a1111.png": None}
    # Statuses given to images already taken in are curation, with history (so undo works).
    assert {row[0] for row in rows(project, "SELECT source FROM history")} == {"import"}


@pytest.mark.parametrize("form", ["from here", "absolute"])
def test_a_status_folder_may_be_named_by_its_path(tmp_path, monkeypatch, form):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "kiln.toml").write_text('[project]\ntitle = "Imports"\n')
    lib = library(tmp_path)
    monkeypatch.chdir(tmp_path)
    yes = lib / "yes" if form == "absolute" else Path("lib/yes")
    kiln(project, "import", "lib", "--picked-dir", str(yes))
    assert _status(project, "lib/yes/only-here.png") == "selected"
    assert _status(project, "lib/img/a1111.png") is None


def _status(project: Path, origin: str) -> str | None:
    return rows(project, "SELECT status FROM images WHERE id = ?", (_id(project, origin),))[0][0]


def test_importing_again_changes_nothing(setup):
    project, _ = setup
    kiln(project, "import", "lib")
    before = [rows(project, f"SELECT * FROM {table} ORDER BY 1, 2") for table in ("images", "jobs", "recipe_jobs", "derivatives", "history")]
    code, output = kiln(project, "import", "lib")
    assert code == 1
    assert output == (
        "Imported 0 images in T s.\n"
        "11 files imported before and unchanged since: not read again.\n"
        "1 file skipped:\n  lib/img/readme.txt: not an image\n"
        "3 files failed:\n"
        "  lib/img/bomb.png: decompression bomb: Image size (900000000 pixels) exceeds limit of 178956970 pixels,"
        " could be decompression bomb DOS attack.\n"
        "  lib/img/broken.png: does not decode: broken data stream when reading image file\n"
        "  lib/img/cut.png: does not decode: image file is truncated\n"
    )
    after = [rows(project, f"SELECT * FROM {table} ORDER BY 1, 2") for table in ("images", "jobs", "recipe_jobs", "derivatives", "history")]
    assert after == before


def test_a_file_already_in_the_store_is_a_duplicate(setup, tmp_path):
    project, _ = setup
    kiln(project, "import", "lib/img/a1111.png")
    write(tmp_path / "other" / "same.png", a1111_png())
    code, output = kiln(project, "import", "other", "--collection", "Other things")
    image_id = rows(project, "SELECT id FROM images")[0][0]
    assert (code, output) == (0, f"Imported 0 images in T s.\n1 duplicate skipped:\n  other/same.png: same as image {image_id}\n")
    assert rows(project, "SELECT name FROM recipes") == [("img",)]


def test_copy_and_link_leave_the_source_alone_and_move_takes_it(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Modes"\n')
    sources = {mode: write(tmp_path / mode / "a.png", a1111_png((i, 0, 0))) for i, mode in enumerate(("copy", "link", "move"))}
    data = {mode: path.read_bytes() for mode, path in sources.items()}
    for mode in ("copy", "link", "move"):
        assert kiln(project, "import", mode, f"--{mode}")[0] == 0
    for mode, path in sources.items():
        (stored,) = rows(project, "SELECT path FROM images WHERE recipe = ?", (mode,))[0]
        original = project / "art" / stored
        assert original.read_bytes() == data[mode]
        # A copy is kiln's, read-only; a link is the user's file, whose mode kiln never changes.
        assert original.stat().st_mode & 0o777 == (0o644 if mode == "link" else 0o444)
        if mode == "move":
            assert not path.exists()
            continue
        assert path.read_bytes() == data[mode] and path.stat().st_mtime == MTIME
        assert os.path.samefile(path, original) == (mode == "link")


def test_a_deleted_collection_goes_and_run_does_not_take_it_for_a_recipe(setup):
    project, _ = setup
    kiln(project, "import", "lib")
    assert kiln(project, "run", "lib") == (1, "")
    assert kiln(project, "status")[1].splitlines()[:4] == [
        "images    8: 2 picked, 1 rejected, 0 rated, 8 unrated",
        "jobs      8: 8 succeeded",
        kiln(project, "status")[1].splitlines()[2],
        "imported  8 images in 1 collection",
    ]
    image_id = _id(project, "lib/img/comfy.png")
    assert "imported   from lib/img/comfy.png; made by ComfyUI" in kiln(project, "show", image_id)[1].splitlines()
    code, output = kiln(project, "rm", "--recipe", "lib", "--yes")
    assert code == 0
    assert re.fullmatch(r"Deleted 8 images \(.* KB\)\nForgot the imported collection lib\n", output)
    assert rows(project, "SELECT count(*) FROM images") == [(0,)]
    assert rows(project, "SELECT count(*) FROM recipes") == [(0,)]


def test_a_lost_imported_original_is_said_to_be_lost_and_comes_back_by_importing_again(setup):
    project, _ = setup
    kiln(project, "import", "lib")
    image_id = _id(project, "lib/img/a1111.png")
    (project / "art" / "original" / f"{image_id}.png").unlink()
    code, output = kiln(project, "doctor", "--fix")
    assert code == 1
    assert f"{image_id}: it was imported (from {Path('lib/img/a1111.png').resolve()}), so nothing can make it again" in output
    assert "1 lost original put back into art/." in kiln(project, "import", "lib")[1]
    assert kiln(project, "doctor")[0] == 0


def test_a_collection_name_from_any_folder_name():
    assert collection_name("My Renders 2024") == "my-renders-2024"
    assert collection_name("Café_art") == "cafe_art"
    assert collection_name("夜の海") == "imported"


def test_a_recipe_name_is_not_taken_for_a_collection(setup):
    project, _ = setup
    (project / "recipes").mkdir()
    (project / "recipes" / "lib.toml").write_text('prompt = "a fox"\nseeds = 1\nsize = "64x64"\nsteps = 1\n')
    assert kiln(project, "run")[0] == 0
    result = CliRunner().invoke(cli, ["import", "lib", "-C", str(project)])
    assert result.exit_code == 1
    assert "error: 'lib' is a recipe's name; give the collection another one with --collection" in result.output


def test_a_deleted_imported_image_cannot_be_requeued(setup):
    project, _ = setup
    kiln(project, "import", "lib")
    image_id = _id(project, "lib/img/a1111.png")
    assert kiln(project, "rm", image_id, "--yes")[0] == 0
    result = CliRunner().invoke(cli, ["requeue", image_id, "-C", str(project)])
    assert result.exit_code == 1
    assert result.output == (
        f"error: imported, not generated here, so nothing can make them again: job {import_key(image_id)};"
        " import the files again\n"
    )
    # Nor does importing it again bring back what was deleted on purpose.
    os.utime(Path("lib/img/a1111.png"), (MTIME + 60, MTIME + 60))
    code, output = kiln(project, "import", "lib/img/a1111.png", "--collection", "lib")
    assert output == (
        "Imported 0 images in T s.\n1 file deleted from the store on purpose; not imported again:\n"
        f"  lib/img/a1111.png: was image {image_id}\n"
    )


def test_a_line_every_so_many_files_when_not_a_terminal(capsys):
    lines = ImportLines(every=2)
    lines.started(5)
    for _ in range(5):
        lines.advanced("imported")
    shown = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in shown] == ["import: 2/5 files", "import: 4/5 files", "import: 5/5 files"]
    assert all(re.fullmatch(r"import: \d/5 files, [\d,]+ files/s, [\d,]+ s left", line) for line in shown)


TOOL_FILES = {
    "a1111.png": ("a1111_png", "A1111_EXPECTED"),
    "a1111.jpg": ("a1111_jpeg", "A1111_EXPECTED"),
    "a1111.webp": ("a1111_webp", "A1111_EXPECTED"),
    "comfyui.png": ("comfyui_png", "COMFYUI_EXPECTED"),
    "comfyui.webp": ("comfyui_webp", "COMFYUI_EXPECTED"),
    "invokeai.png": ("invokeai_png", "INVOKEAI_EXPECTED"),
    "fooocus.png": ("fooocus_png", "FOOOCUS_EXPECTED"),
    "fooocus.jpg": ("fooocus_jpeg", "FOOOCUS_EXPECTED"),
    "swarmui.png": ("swarmui_png", "SWARMUI_EXPECTED"),
    "swarmui.jpg": ("swarmui_jpeg", "SWARMUI_EXPECTED"),
    "novelai.png": ("novelai_png", "NOVELAI_EXPECTED"),
}


def test_every_tool_s_fields_land_in_the_images_columns(tmp_path, monkeypatch):
    import toolimages

    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Tools"\n')
    for name, (writer, _) in TOOL_FILES.items():
        write(tmp_path / "tools" / name, getattr(toolimages, writer)())
    code, output = kiln(project, "import", "tools")
    assert (code, output) == (0, f"Imported {len(TOOL_FILES)} images into tools in T s.\n")
    columns = ("prompt", "negative_prompt", "model", "seed", "steps", "guidance", "sampler")
    for name, (_, expected_name) in TOOL_FILES.items():
        expected = getattr(toolimages, expected_name)
        row = rows(project, f"SELECT {', '.join(columns)}, params, source_metadata FROM images WHERE id = ?",
                   (_id(project, f"tools/{name}"),))[0]
        assert dict(zip(columns, row[:-2], strict=True)) == {key: expected[key] for key in columns}, name
        params = json.loads(row[-2])
        assert params.pop("import") == {"from": f"tools/{name}", "tool": expected["tool"]}, name
        assert params == expected.get("params", params), name
        assert json.loads(row[-1]), name  # the metadata as the file had it, kept whole


def test_move_takes_the_images_but_never_a_file_that_only_gave_its_status(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Move"\n')
    image = write(tmp_path / "m" / "img" / "a.png", a1111_png((9, 9, 9)))
    marker = write(tmp_path / "m" / "yes" / "a.png", a1111_png((8, 8, 8)))  # a re-encode, say
    for _ in range(2):
        code, output = kiln(project, "import", "m", "--move", "--picked-dir", "yes")
        assert code == 0
    assert not image.exists() and marker.exists()
    assert rows(project, "SELECT status FROM images") == [("selected",)]


def test_a_thumbnail_folder_s_own_thumbnails_are_adopted_when_they_fit(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Thumbs"\n[import]\nthumbs = ["thumbs", "t2"]\n')
    for name, colour in (("fits", (1, 2, 3)), ("too-big", (4, 5, 6)), ("none", (7, 8, 9))):
        buffer = io.BytesIO()
        Image.new("RGB", (512, 768), colour).save(buffer, "PNG")
        write(tmp_path / "p" / "img" / f"{name}.png", buffer.getvalue())
    for name, size in (("fits", (128, 192)), ("too-big", (1024, 1536))):
        buffer = io.BytesIO()
        Image.new("RGB", size).save(buffer, "JPEG")
        write(tmp_path / "p" / "thumbs" / f"{name}.jpg", buffer.getvalue())
    assert kiln(project, "import", "p") == (0, "Imported 3 images into p in T s.\n")
    thumbs = rows(project, "SELECT i.params, d.path, d.width, d.height FROM derivatives d JOIN images i ON i.id = d.image_id"
                           " WHERE d.stage = 'thumb'")
    found = {json.loads(params)["import"]["from"]: (path.rsplit(".", 1)[1], width, height) for params, path, width, height in thumbs}
    assert found == {"p/img/fits.png": ("jpg", 128, 192), "p/img/too-big.png": ("webp", 400, 400),
                     "p/img/none.png": ("webp", 400, 400)}


def test_a_batch_s_files_are_flushed_to_disk_at_once_before_its_rows(setup, monkeypatch):
    """No fsync per file: each batch's files go to disk together, then its rows are committed."""
    from kiln import art
    from kiln.importing import pipeline

    project, _ = setup
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # in this process, where the calls can be seen
    events: list[tuple[str, object]] = []
    real_durable, real_record, real_fsync = pipeline.make_durable, pipeline.record, os.fsync
    monkeypatch.setattr(pipeline, "make_durable", lambda art_dir, paths: (
        events.append(("durable", {path.relative_to(art_dir).as_posix() for path in paths})),
        real_durable(art_dir, paths))[1])
    monkeypatch.setattr(pipeline, "record", lambda store, items, *rest: (
        events.append(("record", items)), real_record(store, items, *rest))[1])
    monkeypatch.setattr(art.os, "fsync", lambda fd: (events.append(("fsync", fd)), real_fsync(fd))[1])
    code, _ = kiln(project, "import", "lib")
    assert code == 1  # the library's bad files
    assert [kind for kind, _ in events] == ["durable", "record"]
    flushed, items = events[0][1], events[1][1]
    expected = set()
    for item in items:
        expected.add(item.outcome.image["path"])
        expected.update(row["path"] for row in item.outcome.derivatives)
    assert expected and expected <= flushed
    recorded = {path for (path,) in rows(project, "SELECT path FROM images UNION SELECT path FROM derivatives")}
    assert recorded <= flushed


def test_without_syncfs_each_file_is_fsynced(tmp_path, monkeypatch):
    from kiln import art

    paths = [tmp_path / "a" / "1.webp", tmp_path / "b" / "2.webp"]
    for path in paths:
        art.write_atomic(path, b"x", sync=False)
    synced: list[int] = []
    monkeypatch.setattr(art, "_SYNCFS", None)
    monkeypatch.setattr(art.os, "fsync", synced.append)
    art.make_durable(tmp_path, [*paths, tmp_path / "gone.webp"])
    assert len(synced) == 2


def test_a_large_jpeg_is_decoded_reduced_and_its_derivatives_have_their_sizes(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Big"\n')
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((3400, 2200)).convert("RGB").save(buffer, "JPEG")
    write(tmp_path / "big" / "photo.jpg", buffer.getvalue())
    decoded: list[tuple[int, int]] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def draft(self, mode, size):
        result = real_draft(self, mode, size)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    assert kiln(project, "import", "big") == (0, "Imported 1 image into big in T s.\n")
    assert decoded == [(1700, 1100)]  # DCT scaling at 1/2: the largest that still covers the web copy
    assert rows(project, "SELECT width, height FROM images") == [(3400, 2200)]
    assert sorted(rows(project, "SELECT stage, width, height FROM derivatives")) == [
        ("thumb", 400, 400), ("thumb_small", 256, 256), ("web", 1600, 1035)]


def test_a_reduced_decode_still_covers_a_thumbnail_on_the_short_edge():
    from kiln.importing.intake import derivatives_need

    assert derivatives_need(3400, 2200) == (1600, 1036)
    assert derivatives_need(6400, 1000) == (1600, 400)  # the web copy is 250 high; the thumbnail needs 400
    assert derivatives_need(512, 300) == (512, 300)


def _jpeg(size: tuple[int, int], mode: str = "RGB", quality: int = 90, **options) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert(mode).save(buffer, "JPEG", quality=quality, **options)
    return buffer.getvalue()


def _turned() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # a browser shows it turned; the thumbnails are not
    return _jpeg((300, 200), exif=exif.tobytes())


def test_a_jpeg_that_browsers_show_as_it_is_is_its_own_web_copy(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Web"\n')
    noise = io.BytesIO()
    Image.merge("RGB", [Image.effect_noise((300, 200), 90)] * 3).save(noise, "JPEG", quality=100)
    files = {
        "plain.jpg": _jpeg((300, 200)),
        "big.jpg": _jpeg((2000, 1000)),  # larger than a web copy
        "cmyk.jpg": _jpeg((300, 200), "CMYK"),
        "turned.jpg": _turned(),
        "heavy.jpg": noise.getvalue(),  # more than 4 bits a pixel
        "grey.png": _png_bytes((300, 200)),
    }
    for name, data in files.items():
        write(tmp_path / "w" / name, data)
    assert kiln(project, "import", "w") == (0, "Imported 6 images into w in T s.\n")
    webs = {}
    for origin, path, fmt, width, height, size in rows(
        project, "SELECT json_extract(i.params, '$.import.from'), d.path, d.format, d.width, d.height, d.bytes"
        " FROM derivatives d JOIN images i ON i.id = d.image_id WHERE d.stage = 'web'"):
        webs[origin.removeprefix("w/")] = (path.rsplit(".", 1)[1], fmt, width, height)
        assert (project / "art" / path).stat().st_size == size
    assert webs == {
        "plain.jpg": ("jpg", "jpeg", 300, 200), "big.jpg": ("webp", "webp", 1600, 800),
        "cmyk.jpg": ("webp", "webp", 300, 200), "turned.jpg": ("webp", "webp", 300, 200),
        "heavy.jpg": ("webp", "webp", 300, 200), "grey.png": ("webp", "webp", 300, 200),
    }
    image_id = _id(project, "w/plain.jpg")
    original, web = project / "art" / "original" / f"{image_id}.jpg", project / "art" / "web" / f"{image_id}.jpg"
    assert os.path.samefile(original, web)  # a hard link: no second copy of the bytes
    # The gallery shows it on the image's page and publishes it.
    assert CliRunner().invoke(cli, ["build", "-C", str(project)]).exit_code == 0
    assert (project / "build" / "media" / "web" / f"{image_id}.jpg").read_bytes() == files["plain.jpg"]
    pages = [page.read_text() for page in (project / "build").rglob("*.html")]
    assert any(f"media/web/{image_id}.jpg" in page for page in pages)


def _png_bytes(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize(size).save(buffer, "PNG")
    return buffer.getvalue()


def test_link_copies_where_the_file_system_cannot_link(tmp_path, monkeypatch):
    from kiln import art

    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Link"\n')
    source = write(tmp_path / "l" / "a.jpg", _jpeg((300, 200)))
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # in this process, where the patch holds

    def cross_device(src, dst, **kwargs):
        raise OSError(18, "Invalid cross-device link")  # EXDEV: art/ on another file system

    monkeypatch.setattr(art.os, "link", cross_device)
    code, output = kiln(project, "import", "l", "--link")
    assert code == 0
    assert output == ("Imported 1 image into l in T s.\n"
                      "note: l/a.jpg: could not be hard-linked (another file system?); copied\n")
    image_id = _id(project, "l/a.jpg")
    for stage in ("original", "web"):
        copied = project / "art" / stage / f"{image_id}.jpg"
        assert copied.read_bytes() == source.read_bytes() and not os.path.samefile(copied, source)
        assert copied.stat().st_mode & 0o222 == 0
    assert source.read_bytes() == _jpeg((300, 200))


def test_an_adopted_thumbnail_is_checked_whole_without_being_decoded(tmp_path, monkeypatch):
    from PIL import ImageFile

    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Thumbs"\n[import]\nthumbs = ["thumbs"]\n')
    thumbs = {"jpeg": _jpeg((128, 192)), "png": _png_bytes((128, 192))}
    thumbs |= {f"cut-{name}": data[: len(data) - 40] for name, data in thumbs.items()}
    for i, (name, data) in enumerate(thumbs.items()):
        write(tmp_path / "p" / "thumbs" / f"{name}.{'jpg' if 'jpeg' in name else 'png'}", data)
        # Each image differs from the others, or it would be a duplicate.
        image = Image.linear_gradient("L").resize((512, 768)).point(lambda v, i=i: max(0, v - i))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        write(tmp_path / "p" / "img" / f"{name}.png", buffer.getvalue())
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: (decoded.append(self.size), real_load(self))[1])
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # in this process, where the patch holds
    assert kiln(project, "import", "p") == (0, "Imported 4 images into p in T s.\n")
    assert (128, 192) not in decoded
    found = dict(rows(project, "SELECT json_extract(i.params, '$.import.from'), d.format FROM derivatives d"
                               " JOIN images i ON i.id = d.image_id WHERE d.stage = 'thumb'"))
    assert found == {"p/img/jpeg.png": "jpg", "p/img/png.png": "png",
                     "p/img/cut-jpeg.png": "webp", "p/img/cut-png.png": "webp"}


def test_two_thumbnail_folders_give_both_thumbnails(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Thumbs"\n[import]\nthumbs = ["thumbs", "t2"]\n')
    write(tmp_path / "p" / "img" / "both.png", _png_bytes((512, 768)))
    write(tmp_path / "p" / "thumbs" / "both.jpg", _jpeg((200, 300)))
    write(tmp_path / "p" / "t2" / "both.jpg", _jpeg((100, 150)))
    write(tmp_path / "p" / "img" / "same.png", _png_bytes((600, 900)))
    write(tmp_path / "p" / "thumbs" / "same.jpg", _jpeg((200, 300)))
    write(tmp_path / "p" / "t2" / "same.jpg", _jpeg((200, 300), quality=70))  # no smaller: the small one is made
    assert kiln(project, "import", "p") == (0, "Imported 2 images into p in T s.\n")
    found = {(origin, stage): (fmt, width, height) for origin, stage, fmt, width, height in rows(
        project, "SELECT json_extract(i.params, '$.import.from'), d.stage, d.format, d.width, d.height"
        " FROM derivatives d JOIN images i ON i.id = d.image_id WHERE d.stage LIKE 'thumb%'")}
    assert found == {
        ("p/img/both.png", "thumb"): ("jpg", 200, 300), ("p/img/both.png", "thumb_small"): ("jpg", 100, 150),
        ("p/img/same.png", "thumb"): ("jpg", 200, 300), ("p/img/same.png", "thumb_small"): ("webp", 256, 256),
    }


def test_doctor_links_a_lost_web_copy_to_its_original_again(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Web"\n')
    write(tmp_path / "w" / "plain.jpg", _jpeg((300, 200)))
    assert kiln(project, "import", "w")[0] == 0
    image_id = _id(project, "w/plain.jpg")
    web = project / "art" / "web" / f"{image_id}.jpg"
    web.unlink()
    code, output = kiln(project, "doctor", "--fix")
    assert code == 0, output
    assert f"art/web/{image_id}.jpg: the web of {image_id} is missing" in output
    assert os.path.samefile(project / "art" / "original" / f"{image_id}.jpg", web)
    assert rows(project, "SELECT path, format FROM derivatives WHERE stage = 'web'") == [(f"web/{image_id}.jpg", "jpeg")]


def test_doctor_never_changes_a_users_file_linked_in_but_mends_it_once_it_is_kiln_s_alone(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Mine"\n')
    source = write(tmp_path / "m" / "plain.jpg", _jpeg((300, 200)))
    source.chmod(0o640)
    assert kiln(project, "import", "m", "--link")[0] == 0
    image_id = _id(project, "m/plain.jpg")
    original = project / "art" / "original" / f"{image_id}.jpg"
    assert os.path.samefile(source, original)  # its web copy is the same file again
    mine = ("kiln doctor: 1 image, 4 files checked, no problems\n"
            "2 files in art/ are your own, hard-linked by 'kiln import --link': kiln leaves them writable,"
            " and 'kiln build' copies them\n")
    assert kiln(project, "doctor", "--fix") == (0, mine)
    assert source.stat().st_mode & 0o777 == 0o640
    renamed = source.with_name("renamed.jpg")
    source.rename(renamed)  # still the user's, under a name the store does not know
    assert kiln(project, "doctor", "--fix") == (0, mine)
    assert renamed.stat().st_mode & 0o777 == 0o640
    renamed.unlink()  # now the file in art/ is kiln's alone
    code, output = kiln(project, "doctor", "--fix")
    assert (code, output.splitlines()[:2]) == (
        0, ["kiln doctor: 1 image, 4 files checked, 2 problems", "  2 stored files that can be changed in place"])
    assert output.endswith("fixed:\n  made 2 stored files read-only\n")
    assert original.stat().st_mode & 0o777 == 0o440


def test_doctor_mends_an_older_kilns_writable_copy_of_an_imported_file(tmp_path, monkeypatch):
    project = _project(tmp_path, monkeypatch, '[project]\ntitle = "Copies"\n')
    source = write(tmp_path / "c" / "plain.jpg", _jpeg((300, 200)))
    assert kiln(project, "import", "c")[0] == 0
    image_id = _id(project, "c/plain.jpg")
    original = project / "art" / "original" / f"{image_id}.jpg"
    original.chmod(0o644)  # as an older kiln wrote it; its web copy is the same file
    code, output = kiln(project, "doctor", "--fix")
    assert (code, output.splitlines()[:2]) == (
        0, ["kiln doctor: 1 image, 4 files checked, 2 problems", "  2 stored files that can be changed in place"])
    assert original.stat().st_mode & 0o777 == 0o444
    assert source.stat().st_mode & 0o777 == 0o644
