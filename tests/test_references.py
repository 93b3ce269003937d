"""Reference patterns: what each resolves to, the job specs they make, and what is refused."""

from __future__ import annotations

import hashlib
import os

import pytest
from images import image_bytes

from kiln.errors import InputError
from kiln.project import load_project
from kiln.recipe import expand, load_recipe
from kiln.recipe import references as refs

FILES = ["foxes/red.png", "foxes/blue.jpg", "foxes/notes.txt", "foxes/.hidden.png", "foxes/arctic/white.webp",
         "foxes/arctic/grey.JPEG", "owls/barn.png", "cover.png"]


@pytest.fixture
def refs_dir(project_dir):
    root = project_dir / "references"
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(name))
    return root


def sha(name: str) -> str:
    return hashlib.sha256(image_bytes(name)).hexdigest()


def jobs_of(project_dir, write_recipe, text, name="r"):
    project = load_project(project_dir)
    return expand(load_recipe(write_recipe(name, text), project), project)


def paths(jobs):
    return [[ref["path"].removeprefix("references/") for ref in job.spec["references"]] for job in jobs]


def errors_of(project_dir, write_recipe, text):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, text)
    return [str(p) for p in caught.value.problems]


BASE = 'prompt = "x"\nseeds = [1]\n'


@pytest.mark.parametrize(
    ("references", "expected"),
    [
        ('"foxes/red.png"', [["foxes/red.png"]]),
        ('["foxes/red.png", "owls/barn.png"]', [["foxes/red.png", "owls/barn.png"]]),
        ('"!!foxes!!"', [["foxes/arctic/grey.JPEG"], ["foxes/arctic/white.webp"], ["foxes/blue.jpg"], ["foxes/red.png"]]),
        ('"!!foxes/arctic!!"', [["foxes/arctic/grey.JPEG"], ["foxes/arctic/white.webp"]]),
        ('"{cover.png|owls/barn.png}"', [["cover.png"], ["owls/barn.png"]]),
        ('"{cover.png|!!foxes/arctic!!}"', [["cover.png"], ["foxes/arctic/grey.JPEG"], ["foxes/arctic/white.webp"]]),
        ('["cover.png", "{owls/barn.png|foxes/red.png}"]', [["cover.png", "owls/barn.png"], ["cover.png", "foxes/red.png"]]),
    ],
)
def test_patterns(project_dir, write_recipe, refs_dir, references, expected):
    jobs = jobs_of(project_dir, write_recipe, f"{BASE}references = {references}\n")
    assert paths(jobs) == expected


def test_spec_holds_path_and_sha256(project_dir, write_recipe, refs_dir):
    (job,) = jobs_of(project_dir, write_recipe, f'{BASE}references = "foxes/red.png"\n')
    assert job.spec["references"] == [{"path": "references/foxes/red.png", "sha256": sha("foxes/red.png")}]


@pytest.mark.parametrize(
    ("pattern", "candidates", "count"),
    [
        ("!foxes", {"foxes/red.png", "foxes/blue.jpg"}, 1),
        ("!!foxes", {"foxes/red.png", "foxes/blue.jpg", "foxes/arctic/white.webp", "foxes/arctic/grey.JPEG"}, 1),
        ("!#3", {f for f in FILES if not f.endswith(".txt") and ".hidden" not in f}, 3),
    ],
)
def test_random_picks_are_seeded_by_the_recipe(project_dir, write_recipe, refs_dir, pattern, candidates, count):
    picks = {}
    for seed in range(12):
        (job,) = jobs_of(project_dir, write_recipe, f'{BASE}seed = {seed}\nreferences = "{pattern}"\n')
        picked = paths([job])[0]
        assert len(picked) == len(set(picked)) == count and set(picked) <= candidates
        picks[seed] = picked
    again = jobs_of(project_dir, write_recipe, f'{BASE}seed = 5\nreferences = "{pattern}"\n')
    assert paths(again)[0] == picks[5]
    assert len({tuple(p) for p in picks.values()}) > 1


def test_the_same_pattern_twice_picks_independently(project_dir, write_recipe, refs_dir):
    found = set()
    for seed in range(8):
        (job,) = jobs_of(project_dir, write_recipe, f'{BASE}seed = {seed}\nreferences = ["!!foxes", "!!foxes"]\n')
        found.add(paths([job])[0][0] == paths([job])[0][1])
    assert False in found


def test_reference_groups_inline_their_patterns(project_dir, write_recipe, refs_dir):
    (project_dir / "kiln.toml").write_text('[reference_groups]\nbirds = ["owls/barn.png", "cover.png"]\n')
    (job,) = jobs_of(project_dir, write_recipe, f'{BASE}references = ["@birds", "foxes/red.png"]\n')
    assert paths([job]) == [["owls/barn.png", "cover.png", "foxes/red.png"]]


def test_bad_group_pattern_names_kiln_toml(project_dir, write_recipe, refs_dir):
    (project_dir / "kiln.toml").write_text('[reference_groups]\nbirds = ["!#x"]\n')
    assert errors_of(project_dir, write_recipe, f'{BASE}references = "@birds"\n') == [
        'kiln.toml:2: reference_groups.birds: "!#x": expected !#N with N from 1 to 100'
    ]


@pytest.mark.parametrize(
    ("references", "message"),
    [
        ('"foxes/green.png"', 'recipes/r.toml:3: references: "foxes/green.png": no file references/foxes/green.png'),
        ('"foxes/notes.txt"', 'recipes/r.toml:3: references: "foxes/notes.txt" is not an image (.png, .jpg, .jpeg, .webp)'),
        ('"foxes"', 'recipes/r.toml:3: references: "foxes" is a folder: use "!!foxes!!" for every image in it or "!foxes" for one'),
        ('"!bats"', 'recipes/r.toml:3: references: "!bats": no folder references/bats'),
        ('"!foxes/arctic/white.webp"', 'recipes/r.toml:3: references: "!foxes/arctic/white.webp": no folder references/foxes/arctic/white.webp'),
        ('"!#20"', 'recipes/r.toml:3: references: "!#20" asks for 20 images but references/ holds 6'),
        ('"../kiln.toml"', 'recipes/r.toml:3: references: "../kiln.toml" leads outside references/ (links are followed); kiln never reads outside it'),
        ('"!!../recipes!!"', 'recipes/r.toml:3: references: "!!../recipes!!" leads outside references/ (links are followed); kiln never reads outside it'),
    ],
)
def test_reference_errors(project_dir, write_recipe, refs_dir, references, message):
    assert errors_of(project_dir, write_recipe, f"{BASE}references = {references}\n") == [message]


def test_empty_folder_resolves_to_nothing(project_dir, write_recipe, refs_dir):
    (refs_dir / "empty").mkdir()
    assert errors_of(project_dir, write_recipe, f'{BASE}references = "!!empty!!"\n') == [
        'recipes/r.toml:3: references: "!!empty!!" matches no image in references/empty (.png, .jpg, .jpeg, .webp)'
    ]


def test_no_references_folder(project_dir, write_recipe):
    assert errors_of(project_dir, write_recipe, f'{BASE}references = "!#1"\n') == [
        'recipes/r.toml:3: references: "!#1": there is no references folder references/'
    ]


def test_links_leading_outside_are_refused(project_dir, write_recipe, refs_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.png").write_bytes(b"secret")
    (refs_dir / "foxes" / "secret.png").symlink_to(outside / "secret.png")
    (refs_dir / "linked").symlink_to(outside, target_is_directory=True)
    assert errors_of(project_dir, write_recipe, f'{BASE}references = "!!foxes!!"\n') == [
        "recipes/r.toml:3: references: references/foxes/secret.png is a link to outside references/; kiln never reads outside it"
    ]
    assert errors_of(project_dir, write_recipe, f'{BASE}references = "foxes/secret.png"\n') == [
        'recipes/r.toml:3: references: "foxes/secret.png" leads outside references/ (links are followed); kiln never reads outside it'
    ]
    assert errors_of(project_dir, write_recipe, f'{BASE}references = "!linked"\n') == [
        'recipes/r.toml:3: references: "!linked" leads outside references/ (links are followed); kiln never reads outside it'
    ]


def test_links_inside_are_followed(project_dir, write_recipe, refs_dir):
    (refs_dir / "alias.png").symlink_to(refs_dir / "cover.png")
    (job,) = jobs_of(project_dir, write_recipe, f'{BASE}references = "alias.png"\n')
    assert job.spec["references"] == [{"path": "references/alias.png", "sha256": sha("cover.png")}]


def test_references_folder_from_kiln_toml(project_dir, write_recipe, refs_dir):
    (project_dir / "kiln.toml").write_text('[paths]\nreferences = "references/foxes"\n')
    jobs = jobs_of(project_dir, write_recipe, f'{BASE}references = "!!arctic!!"\n')
    assert [j.spec["references"][0]["path"] for j in jobs] == [
        "references/foxes/arctic/grey.JPEG", "references/foxes/arctic/white.webp"
    ]


def test_changing_a_reference_file_makes_new_jobs(project_dir, write_recipe, refs_dir):
    text = f'{BASE}references = "foxes/red.png"\n'
    before = jobs_of(project_dir, write_recipe, text)
    path = refs_dir / "foxes" / "red.png"
    path.write_bytes(image_bytes("repainted"))
    os.utime(path, ns=(1, 1))
    after = jobs_of(project_dir, write_recipe, text)
    assert before[0].key != after[0].key
    assert after[0].spec["references"][0]["sha256"] == hashlib.sha256(image_bytes("repainted")).hexdigest()


def test_digests_are_cached_by_path_size_and_mtime(refs_dir, monkeypatch):
    path = refs_dir / "cover.png"
    first = refs.file_sha256(path)
    monkeypatch.setattr(refs.hashlib, "file_digest", lambda *a: pytest.fail("read again"))
    assert refs.file_sha256(path) == first
