"""A full build: files written in place into an empty build folder, and the worker pool.

Small projects are built in one process; these tests shrink the batches so that the pool of
worker processes a large library gets does the work, and check that it writes the same bytes
and records the same state as one process does.
"""

from __future__ import annotations

import os
import pickle
import sqlite3

import pytest

import kiln.site.builder
import kiln.site.media
import kiln.site.workers
from kiln.project import load_project
from kiln.site import build_site
from kiln.site.output import Output
from kiln.site.workers import Workers
from kiln.store import open_store
from sitefixtures import add_images, add_recipe, make_project, open_project_store


def build(project):
    store = open_store(project.db_path)
    try:
        report = build_site(project, store)
    finally:
        store.close()
    assert not report.problems, [str(problem) for problem in report.problems]
    return report


def files(folder):
    """Every file under ``folder`` but the build state, with its bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith(".kiln-build"):
            found[path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


def recorded(project):
    """The build state's record of each file: owner and inputs (times differ between builds)."""
    with sqlite3.connect(project.build_dir / ".kiln-build.db") as conn:
        return sorted(conn.execute("SELECT name, owner, size, inputs FROM files"))


@pytest.fixture
def library(tmp_path):
    project = make_project(tmp_path, page_size=4)
    store = open_project_store(project)
    for name, count in (("alpha", 9), ("beta", 6)):
        add_recipe(store, name)
        add_images(project, store, name, count)
    store.close()
    return project


def test_a_build_by_the_worker_pool_writes_what_one_process_does(library, monkeypatch):
    single = build(library)
    expected, state = files(library.build_dir), recorded(library)
    assert single.written == len(expected)
    for path in library.build_dir.iterdir():  # the next build starts from an empty folder again
        if path.is_dir():
            for child in sorted(path.rglob("*"), reverse=True):
                child.unlink() if child.is_file() else child.rmdir()
            path.rmdir()
        else:
            path.unlink()
    monkeypatch.setattr(kiln.site.workers, "POOL_AFTER", 0)
    monkeypatch.setattr(kiln.site.media, "BATCH", 2)
    monkeypatch.setattr(kiln.site.builder, "PAGE_BATCH", 3)
    started = []
    start = kiln.site.workers.Workers._start
    monkeypatch.setattr(kiln.site.workers.Workers, "_start", lambda self: (started.append(self.workers), start(self)))
    monkeypatch.setattr(kiln.site.workers.Workers, "__init__", _two_workers(kiln.site.workers.Workers.__init__))
    pooled = build(library)
    assert started and all(count == 2 for count in started)
    assert files(library.build_dir) == expected
    assert recorded(library) == state
    assert pooled.written == single.written
    assert build(load_project(library.root)).written == 0


def _two_workers(init):
    def two(self, store):
        init(self, store)
        self.workers = 2  # a pool even on a machine with one core

    return two


def _square(store, number, ballast):
    return number * number


def test_the_batches_waiting_for_the_pool_are_bounded_in_bytes(tmp_path, monkeypatch):
    """Handing out a batch first collects the oldest while the pickled batches not collected
    are more than the bound: what waits in memory is bounded however many batches a build has."""
    ballast = "x" * 1000
    size = len(pickle.dumps((_square, (0, ballast)), pickle.HIGHEST_PROTOCOL))
    monkeypatch.setattr(kiln.site.workers, "POOL_AFTER", 0)
    monkeypatch.setattr(kiln.site.workers, "IN_FLIGHT_BYTES", 3 * size + size // 2)
    store = open_store(tmp_path / "kiln.db")
    workers = Workers(store)
    workers.workers = 2
    collected: list[int] = []
    try:
        for number in range(100):
            workers.run(_square, (number, ballast), collected.append)
            assert workers.pool is not None
            assert workers.waiting <= kiln.site.workers.IN_FLIGHT_BYTES
            assert number + 1 - len(collected) <= 3
        workers.wait()
    finally:
        workers.close()
        store.close()
    assert collected == [number * number for number in range(100)]  # in the order given
    assert workers.waiting == 0


def test_into_an_empty_folder_files_are_written_in_place_and_one_found_there_is_compared(tmp_path):
    output = Output(tmp_path, fresh=True)
    name, size, mtime, written = output.write("a/b/page.html", b"<p>one</p>")
    assert (name, size, written) == ("a/b/page.html", 10, True)
    assert (tmp_path / "a/b/page.html").stat().st_mtime_ns == mtime
    assert output.write("a/b/page.html", b"<p>one</p>")[3] is False  # there already: the usual comparison
    assert output.write("a/b/page.html", b"<p>two</p>")[3] is True
    assert (tmp_path / "a/b/page.html").read_bytes() == b"<p>two</p>"
    assert not list(tmp_path.rglob("*.kiln-tmp"))


@pytest.mark.parametrize(("mode", "source_mode"), [("copy", 0o444), ("link", 0o444), ("link", 0o644)])
def test_into_an_empty_folder_media_are_published_as_asked(tmp_path, mode, source_mode):
    art = tmp_path / "art"
    art.mkdir()
    source = art / "x.png"
    source.write_bytes(b"\x89PNG" + bytes(range(256)) * 300)
    os.utime(source, ns=(1_700_000_000_000_000_000, 1_600_000_000_123_456_789))
    source.chmod(source_mode)
    linked = mode == "link" and source_mode == 0o444
    output = Output(tmp_path / "build", fresh=True)
    name, size, mtime, written = output.publish("media/original/x.png", source, mode)
    published = tmp_path / "build" / "media" / "original" / "x.png"
    assert published.read_bytes() == source.read_bytes()
    assert (size, mtime, written) == (source.stat().st_size, 1_600_000_000_123_456_789, True)
    assert (published.stat().st_ino == source.stat().st_ino) == linked
    if not linked:
        assert published.stat().st_mode & 0o777 == 0o644
    assert output.publish("media/original/x.png", source, mode)[3] is False  # there and current
    assert output.publish("media/original/gone.png", art / "gone.png", mode) is None
