"""build/ can be written into, built twice at once, and killed mid-build without harm to art/
or to the next build."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from kiln.errors import InputError
from kiln.project import load_project
from kiln.site import build_site
from kiln.site.lock import build_lock
from kiln.site.state import STATE, BuildState
from kiln.store import open_store
from sitefixtures import add_images, add_recipe, make_project, open_project_store


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path)
    store = open_project_store(project)
    add_recipe(store, "alpha")
    add_images(project, store, "alpha", 4)
    store.close()
    return project


def build(project, verify=False):
    store = open_store(project.db_path)
    try:
        report = build_site(project, store, verify=verify)
    finally:
        store.close()
    assert not report.problems, [str(problem) for problem in report.problems]
    return report


def media_files(project) -> list[Path]:
    return sorted(path for path in (project.build_dir / "media").rglob("*") if path.is_file())


def make_read_only(project) -> None:
    """As kiln writes its stored files (the fixture writes them as an older kiln did)."""
    for path in project.art_dir.rglob("*"):
        if path.is_file():
            path.chmod(0o444)


def test_writable_art_files_are_copied_never_shared(project):
    build(project)
    published = media_files(project)
    assert len(published) == 4 * 3
    for path in published:
        source = project.art_dir / path.relative_to(project.build_dir / "media")
        assert path.read_bytes() == source.read_bytes()
        assert path.stat().st_ino != source.stat().st_ino
        assert path.stat().st_mtime_ns == source.stat().st_mtime_ns


def test_writing_into_build_media_leaves_the_original_alone_and_a_rebuild_restores_it(project):
    build(project)
    published = next((project.build_dir / "media" / "original").glob("*.png"))
    original = project.art_dir / "original" / published.name
    before = hashlib.sha256(original.read_bytes()).hexdigest()
    with open(published, "r+b") as handle:  # an optimiser, rsync --inplace, an editor
        handle.seek(40)
        handle.write(b"\0\0\0\0")
    assert hashlib.sha256(original.read_bytes()).hexdigest() == before
    assert build(project).written == 0  # a plain build trusts what it recorded
    report = build(project, verify=True)
    assert report.written_names == [f"media/original/{published.name}"]
    assert published.read_bytes() == original.read_bytes()


def test_a_rebuild_copies_no_media(project):
    first = build(project)
    second = build(project)
    assert second.written == 0
    assert second.skipped == first.written


def test_read_only_art_files_are_linked_by_default(project):
    make_read_only(project)
    assert project.media == "link"
    build(project)
    published = media_files(project)
    assert len(published) == 4 * 3
    for path in published:
        source = project.art_dir / path.relative_to(project.build_dir / "media")
        assert path.stat().st_ino == source.stat().st_ino
        assert path.stat().st_mode & 0o222 == 0  # a writer in place is refused (but root)
    assert build(project).written == 0


def test_copy_mode_never_shares_and_turns_links_into_copies(project):
    make_read_only(project)
    build(project)
    (project.root / "kiln.toml").write_text('[project]\ntitle = "T"\n[site]\nmedia = "copy"\n')
    copied = load_project(project.root)
    assert copied.media == "copy"
    assert build(copied).written >= 4 * 3
    for path in media_files(copied):
        source = copied.art_dir / path.relative_to(copied.build_dir / "media")
        assert path.stat().st_ino != source.stat().st_ino
        assert path.read_bytes() == source.read_bytes()
    assert build(copied).written == 0


def test_copies_stay_when_links_come_back_until_their_image_changes(project):
    """Going back to links costs nothing: the copies are safe, and no file is looked at."""
    (project.root / "kiln.toml").write_text('[project]\ntitle = "T"\n[site]\nmedia = "copy"\n')
    build(load_project(project.root))
    make_read_only(project)
    (project.root / "kiln.toml").write_text('[project]\ntitle = "T"\n[site]\nmedia = "link"\n')
    linked = load_project(project.root)
    assert [name for name in build(linked).written_names if name.startswith("media/")] == []
    for path in media_files(linked):
        assert path.stat().st_ino != (linked.art_dir / path.relative_to(linked.build_dir / "media")).stat().st_ino


def test_an_unknown_media_mode_is_a_problem_at_its_line(project):
    (project.root / "kiln.toml").write_text('[project]\ntitle = "T"\n[site]\nmedia = "symlink"\n')
    with pytest.raises(InputError) as problem:
        load_project(project.root)
    assert str(problem.value) == 'kiln.toml:4: site.media: expected "link" or "copy", got "symlink"'


def test_two_builds_at_once_both_succeed(project):
    for _ in range(8):
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def one_build() -> None:
            start.wait()
            try:
                build(project)
            except BaseException as error:
                errors.append(error)

        builders = [threading.Thread(target=one_build) for _ in range(2)]
        for builder in builders:
            builder.start()
        for builder in builders:
            builder.join()
        assert errors == []
        assert len(media_files(project)) == 4 * 3
        for folder in (project.build_dir, project.build_dir / "media"):
            for path in list(folder.iterdir()):
                if path.is_dir() and path.name != "static":
                    for item in path.rglob("*"):
                        if item.is_file():
                            item.unlink()


def test_a_build_waits_for_the_one_in_progress(project):
    finished = threading.Event()
    with build_lock(project.build_dir):
        builder = threading.Thread(target=lambda: (build(project), finished.set()))
        builder.start()
        assert not finished.wait(0.5)
    builder.join(timeout=60)
    assert finished.is_set()


def test_a_killed_builds_temporaries_go_at_the_next_build(project):
    build(project)
    left = [
        project.build_dir / ".index.html.kiln-tmp",
        project.build_dir / "alpha" / ".0123456789abcdef.html.kiln-tmp",
        project.build_dir / "media" / "original" / ".0123456789abcdef.png.kiln-tmp",
    ]
    for path in left:
        path.write_bytes(b"half a page")
    state = BuildState(project.build_dir)  # as a build killed in its course leaves it
    state.begin()
    state.close()
    mine = project.build_dir / ".my-notes.txt"
    mine.write_text("not kiln's")
    build(project)
    assert [path for path in left if path.exists()] == []
    assert mine.exists()


@pytest.mark.parametrize("torn", ["dirs", "files_owner"])  # read by the build, not by its start
def test_a_state_torn_by_a_killed_build_is_made_again(project, torn):
    build(project)
    pages = {path: path.read_bytes() for path in project.build_dir.rglob("*.html")}
    state = BuildState(project.build_dir)  # as a build killed in the middle of a write leaves it
    state.begin()
    state.close()
    path = project.build_dir / STATE
    with sqlite3.connect(path) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [torn]).fetchone()[0]
    data = bytearray(path.read_bytes())
    data[(root - 1) * page : root * page] = bytes(range(256)) * (page // 256)  # a page half written
    path.write_bytes(bytes(data))
    build(project)
    assert {path: path.read_bytes() for path in project.build_dir.rglob("*.html")} == pages
    assert build(project).written == 0  # and the state it left is whole
