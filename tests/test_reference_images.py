"""Reference images made ready per engine: a megapixel for local engines, a payload budget
for APIs, and a thumbnail kept with every image."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from kiln.engines import EngineError
from kiln.engines.base import Engine
from kiln.policy import Compression, Payload, Policy
from kiln.project import load_project
from kiln.reference_images import ReferencePreparer


class Local(Engine):
    def _load(self, model, progress):
        return 0.0

    def generate(self, request, progress=None):
        raise NotImplementedError


class Remote(Local):
    local = False


def reference(project_dir, name: str, image: Image.Image, fmt: str = "PNG") -> dict:
    folder = project_dir / "references"
    folder.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    (folder / name).write_bytes(buffer.getvalue())
    return {"path": f"references/{name}", "sha256": hashlib.sha256(buffer.getvalue()).hexdigest()}


def noisy(size: tuple[int, int]) -> Image.Image:
    return Image.effect_noise(size, 80).convert("RGB")


def test_local_engines_get_at_most_a_megapixel_cached_by_hash(project_dir):
    preparer = ReferencePreparer(load_project(project_dir))
    ref = reference(project_dir, "big.png", Image.new("RGB", (3000, 2000), "teal"))
    (path,) = preparer.for_engine([ref], Local("l"), Policy())
    with Image.open(path) as prepared:
        assert prepared.width * prepared.height <= 1024 * 1024
        assert abs(prepared.width / prepared.height - 1.5) < 0.01
    assert path.parent.name == "ref_cache" and path.name.startswith(ref["sha256"][:16])
    mtime = path.stat().st_mtime_ns
    assert preparer.for_engine([ref], Local("l"), Policy()) == [path]
    assert path.stat().st_mtime_ns == mtime  # made once


def test_apis_get_jpegs_within_the_budget_and_a_warning_when_squeezed(project_dir):
    preparer = ReferencePreparer(load_project(project_dir))
    small = reference(project_dir, "small.png", Image.new("RGB", (400, 300), "orange"))
    large = reference(project_dir, "large.png", noisy((2000, 2000)))
    policy = Policy(payload=Payload(max_payload_bytes=400_000, min_per_image_bytes=50_000))
    budget = policy.payload.per_image_budget(2)
    paths = preparer.for_engine([small, large], Remote("api"), policy)
    for path in paths:
        assert path.suffix == ".jpg"
        assert path.stat().st_size <= budget
        with Image.open(path) as prepared:
            assert max(prepared.size) <= Compression().max_dimension
    assert len(preparer.warnings) == 1
    assert preparer.warnings[0].startswith("reference references/large.png compressed heavily to fit the payload")


def test_too_many_references_for_an_api(project_dir):
    preparer = ReferencePreparer(load_project(project_dir))
    refs = [reference(project_dir, f"r{i}.png", Image.new("RGB", (8, 8))) for i in range(3)]
    with pytest.raises(EngineError) as caught:
        preparer.for_engine(refs, Remote("api"), Policy(payload=Payload(max_reference_images=2)))
    assert caught.value.code == "TOO_MANY_REFERENCES"


def test_a_reference_changed_since_planning_is_refused(project_dir):
    preparer = ReferencePreparer(load_project(project_dir))
    ref = reference(project_dir, "a.png", Image.new("RGB", (8, 8), "red"))
    Image.new("RGB", (8, 8), "blue").save(project_dir / "references" / "a.png")
    with pytest.raises(EngineError) as caught:
        preparer.for_engine([ref], Local("l"), Policy())
    assert caught.value.code == "REFERENCE_CHANGED"


def test_thumbnails_outlive_their_source(project_dir):
    project = load_project(project_dir)
    preparer = ReferencePreparer(project)
    ref = reference(project_dir, "a.jpg", Image.new("RGB", (1200, 800), "green"), "JPEG")
    relative = preparer.thumbnail(ref)
    (project_dir / "references" / "a.jpg").unlink()
    assert preparer.thumbnail(ref) == relative  # kept, not remade
    with Image.open(project.art_dir / relative) as thumb:
        assert thumb.size == (400, 400)
