"""Expansion: pure, deterministic, and stable under edits that only add work."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.errors import InputError
from kiln.project import load_project
from kiln.recipe import expand, load_recipe
from kiln.recipe.expand import job_key


def jobs_of(project_dir, write_recipe, text, name="r"):
    project = load_project(project_dir)
    return expand(load_recipe(write_recipe(name, text), project), project)


def test_variants_expand_in_order(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "a {red|blue} {cat|dog}"\nseeds = [1]\n')
    assert [j.spec["prompt"] for j in jobs] == ["a red cat", "a red dog", "a blue cat", "a blue dog"]
    assert [j.axes for j in jobs] == [{"prompt": p} for p in ["a red cat", "a red dog", "a blue cat", "a blue dog"]]
    assert all(j.template == "a {red|blue} {cat|dog}" for j in jobs)


def test_product_of_axes(project_dir, write_recipe):
    jobs = jobs_of(
        project_dir, write_recipe,
        'prompt = ["a", "b"]\nsteps = [4, 8]\nguidance = [1, 2, 3]\nseeds = [1, 2]\ncount = 2\n',
    )
    assert len(jobs) == 2 * 2 * 3 * 2 * 2
    assert set(jobs[0].axes) == {"prompt", "steps", "guidance", "seed", "image"}
    assert len({j.key for j in jobs}) == len(jobs)


def test_spec_is_complete(project_dir, write_recipe):
    (job,) = jobs_of(project_dir, write_recipe, 'prompt = "x"\nnegative_prompt = "y"\nsize = "640x480"\nseeds = [9]\n')
    assert job.spec == {
        "engine": "placeholder", "engine_type": "placeholder", "model": "procedural-v1", "prompt": "x",
        "negative_prompt": "y", "width": 640, "height": 480, "seed": 9, "steps": 20, "guidance": 5.0,
        "sampler": None, "references": [],
    }
    assert job.key == job_key(job.spec)
    assert len(job.key) == 16


def test_same_recipe_same_jobs(project_dir, write_recipe):
    text = 'prompt = "a {red|blue} fox"\nseeds = 3\ncount = 2\n'
    assert jobs_of(project_dir, write_recipe, text) == jobs_of(project_dir, write_recipe, text)


def test_adding_a_variant_keeps_existing_keys(project_dir, write_recipe):
    before = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "a {red|blue} fox"\nseeds = 2\n')}
    after = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "a {red|blue|green} fox"\nseeds = 2\n')}
    assert before < after
    assert len(after - before) == 2


def test_raising_count_keeps_existing_keys(project_dir, write_recipe):
    before = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "fox"\ncount = 2\n')}
    after = {j.key for j in jobs_of(project_dir, write_recipe, 'prompt = "fox"\ncount = 5\n')}
    assert before < after
    assert len(after) == 5


def test_recipe_title_and_gallery_do_not_change_keys(project_dir, write_recipe):
    a = jobs_of(project_dir, write_recipe, 'title = "A"\nprompt = "fox"\nseed = 1\n')
    b = jobs_of(project_dir, write_recipe, 'title = "B"\ndescription = "d"\nprompt = "fox"\nseed = 1\n[gallery]\nsort = "seed"\n')
    assert [j.key for j in a] == [j.key for j in b]


def test_two_recipes_share_identical_jobs(project_dir, write_recipe):
    a = jobs_of(project_dir, write_recipe, 'prompt = "fox"\nseeds = [5]\n', name="a")
    b = jobs_of(project_dir, write_recipe, 'prompt = "fox"\nseeds = [5]\ntitle = "other"\n', name="b")
    assert a[0].key == b[0].key


def test_duplicate_variants_collapse(project_dir, write_recipe):
    jobs = jobs_of(project_dir, write_recipe, 'prompt = ["fox", "fox"]\nseeds = [1]\n')
    assert len(jobs) == 1


def test_job_cap_is_checked_before_running(project_dir, write_recipe):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, 'prompt = "{a|b|c}"\nseeds = 4\nmax_jobs = 10\n')
    assert str(caught.value) == (
        "recipes/r.toml:3: max_jobs: the recipe expands to 12 jobs, more than the limit of 10"
        " (raise max_jobs or shrink an axis)"
    )


def test_bad_prompt_syntax_names_the_line(project_dir, write_recipe):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, 'title = "t"\nprompt = "a {red|blue fox"\n')
    assert str(caught.value).startswith("recipes/r.toml:2: prompt: cannot parse 'a {red|blue fox'")


def test_missing_wildcard_names_the_file(project_dir, write_recipe):
    with pytest.raises(InputError) as caught:
        jobs_of(project_dir, write_recipe, 'prompt = "a __colours__ fox"\n')
    assert str(caught.value) == "recipes/r.toml:1: prompt: no wildcard file for __colours__ in wildcards/"


def test_wildcard_file(project_dir, write_recipe):
    (project_dir / "wildcards").mkdir()
    (project_dir / "wildcards" / "colours.txt").write_text("red\nblue\n")
    jobs = jobs_of(project_dir, write_recipe, 'prompt = "a __colours__ fox"\nseeds = [1]\n')
    # dynamicprompts sorts a wildcard file's values, so the order is independent of the file's.
    assert [j.spec["prompt"] for j in jobs] == ["a blue fox", "a red fox"]


SPEC = {
    "engine": "placeholder", "engine_type": "placeholder", "model": "m", "prompt": "p", "negative_prompt": "",
    "width": 512, "height": 512, "seed": 1, "steps": 20, "guidance": 5.0, "sampler": None, "references": [],
}
VALUES = {
    "model": st.text(min_size=1, max_size=20),
    "prompt": st.text(min_size=1, max_size=80),
    "negative_prompt": st.text(max_size=40),
    "width": st.integers(64, 4096),
    "height": st.integers(64, 4096),
    "seed": st.integers(0, 2**63 - 1),
    "steps": st.integers(1, 200),
    "guidance": st.floats(0, 50, allow_nan=False),
}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(field=st.sampled_from(sorted(VALUES)), data=st.data())
def test_key_changes_exactly_when_an_input_changes(field, data):
    value = data.draw(VALUES[field])
    changed = {**SPEC, field: value}
    assert (job_key(changed) == job_key(SPEC)) == (value == SPEC[field])
    assert job_key(dict(reversed(list(changed.items())))) == job_key(changed)
