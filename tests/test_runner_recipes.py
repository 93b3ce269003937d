"""The runner with the recipe features that change what it does: target mode and references."""

from __future__ import annotations

from PIL import Image
from projectcli import kiln, rows

TARGET = """
prompt = ["a calm {lake|bay}", "_fail_ a broken {lake|bay}"]
size = "96x96"
steps = 2
target = 5
tolerance = 0
max_failures = 5
"""


def test_target_mode_replaces_failures_until_the_target_is_met(project_dir, write_recipe):
    write_recipe("lakes", TARGET)
    code, output = kiln(project_dir, "run")
    # the sequence cycles calm lake, calm bay, broken lake, broken bay; each broken one fails
    # and is replaced by the next job, until five images stand: four failures on the way
    assert rows(project_dir, "SELECT count(*) FROM images") == [(5,)]
    failed = rows(project_dir, "SELECT count(*) FROM jobs WHERE status = 'failed'")[0][0]
    assert failed == 4
    assert code == 1
    assert f"Generated 5, skipped 0 (already made), failed {failed}" in output
    listed = rows(project_dir, "SELECT count(*) FROM recipe_jobs WHERE recipe = 'lakes'")[0][0]
    assert listed == 5 + failed  # the recipe lists the replacements too

    code, output = kiln(project_dir, "run")
    assert rows(project_dir, "SELECT count(*) FROM images") == [(5,)]
    assert "Generated 0" in output


def test_target_mode_gives_up_after_max_failures(project_dir, write_recipe):
    write_recipe("broken", 'prompt = "_fail_ {a|b|c|d|e|f}"\nsize = "64x64"\nsteps = 1\ntarget = 3\nmax_failures = 4\n')
    code, output = kiln(project_dir, "run")
    assert code == 1
    assert "Generated 0, skipped 0 (already made), failed 4" in output
    assert rows(project_dir, "SELECT count(*) FROM attempts") == [(4,)]


def test_references_are_prepared_and_kept_with_the_image(project_dir, write_recipe):
    folder = project_dir / "references" / "shapes"
    folder.mkdir(parents=True)
    Image.new("RGB", (2400, 1600), (30, 120, 200)).save(folder / "blue.png")
    Image.new("RGB", (800, 800), (220, 60, 40)).save(folder / "red.jpg")
    write_recipe("shapes", 'prompt = "a poster"\nreferences = ["!!shapes!!"]\nsize = "128x128"\nsteps = 2\nseeds = [1]\n')

    code, output = kiln(project_dir, "run")
    assert code == 0, output
    assert rows(project_dir, "SELECT source_path FROM image_references ORDER BY source_path") == [
        ("references/shapes/blue.png",), ("references/shapes/red.jpg",)
    ]
    cached = sorted((project_dir / "art" / "ref_cache").iterdir())
    assert len(cached) == 2
    with Image.open(next(p for p in cached if Image.open(p).width > 800)) as big:
        assert big.width * big.height <= 1024 * 1024  # local engines get at most a megapixel
    assert len(list((project_dir / "art" / "ref_thumb").glob("*.webp"))) == 2

    (folder / "blue.png").unlink()  # the gallery keeps showing what an image was made from
    code, output = kiln(project_dir, "build")
    assert code == 0, output
    pages = [p for p in (project_dir / "build" / "shapes").glob("*.html") if p.name != "index.html"]
    assert len(pages) == 2
    made_from = [p for p in pages if "references/shapes/blue.png" in p.read_text()]
    assert len(made_from) == 1
    assert "Made from" in made_from[0].read_text()
    assert len(list((project_dir / "build" / "media" / "ref_thumb").glob("*.webp"))) == 2


def test_a_changed_reference_makes_new_jobs(project_dir, write_recipe):
    folder = project_dir / "references"
    folder.mkdir()
    Image.new("RGB", (64, 64), "red").save(folder / "a.png")
    write_recipe("one", 'prompt = "x"\nreferences = ["a.png"]\nsize = "64x64"\nsteps = 1\nseeds = [1]\n')
    assert kiln(project_dir, "run")[0] == 0
    Image.new("RGB", (64, 64), "green").save(folder / "a.png")
    code, output = kiln(project_dir, "run")
    assert "Generated 1, skipped 0 (already made), failed 0" in output
    assert rows(project_dir, "SELECT count(*) FROM images") == [(2,)]


def test_a_stop_set_from_outside_ends_the_run_as_interrupted(project_dir, write_recipe):
    import threading

    from kiln.project import load_project
    from kiln.runner import run_recipes

    write_recipe("lakes", 'prompt = "a calm {lake|bay|sea|pond}"\nsize = "64x64"\nsteps = 1\nseeds = 4\n')
    stop = threading.Event()
    stop.set()  # what kiln serve does when it stops during a run it started
    report = run_recipes(load_project(project_dir), stop=stop)
    assert report.interrupted and report.generated < 16
    assert rows(project_dir, "SELECT status FROM runs") == [("interrupted",)]
    assert rows(project_dir, "SELECT count(*) FROM jobs WHERE status = 'queued'")[0][0] == 16 - report.generated
