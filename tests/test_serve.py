"""kiln serve: the static server (loopback, read-only) and what --watch reacts to."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from kiln.project import load_project
from kiln.server import _relevant, is_loopback, make_server, watched_paths


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False),
     ("192.168.1.4", False), ("example.org", False)],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_server_serves_build_and_refuses_writes(tmp_path):
    (tmp_path / "index.html").write_text("<p>hello</p>")
    server = make_server(tmp_path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as response:
            assert response.read() == b"<p>hello</p>"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/index.html", data=b"x", method="POST",
                                         headers={"Origin": "http://evil.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 501
        assert (tmp_path / "index.html").read_text() == "<p>hello</p>"
    finally:
        server.shutdown()
        server.server_close()


def test_watch_sorts_changes_into_inputs_templates_and_store(project_dir):
    (project_dir / "wildcards").mkdir()
    (project_dir / "site_templates").mkdir()
    (project_dir / "art").mkdir()
    project = load_project(project_dir)
    assert set(watched_paths(project)) >= {project.recipes_dir, project.wildcards_dir, project.art_dir}
    art = project.art_dir
    assert _relevant([(1, str(project.recipes_dir / "a.toml"))], project) == (True, False, False)
    assert _relevant([(1, str(project.wildcards_dir / "colours.txt"))], project) == (True, False, False)
    assert _relevant([(1, str(project.templates_dir / "base.html"))], project) == (False, True, False)
    assert _relevant([(1, str(art / "kiln.db-wal"))], project) == (False, False, True)
    assert _relevant([(1, str(art / "thumb" / "x.webp")), (1, str(art / "kiln.db-shm"))], project) == (False, False, False)


def test_store_version_ignores_readers_and_sees_commits(project):
    from kiln.server import StoreVersion
    from kiln.store import open_store

    version = StoreVersion(project.db_path)  # no store yet
    assert version.changed() is False
    open_store(project.db_path).close()
    assert version.changed() is True  # the store appeared
    for _ in range(3):
        reader = open_store(project.db_path)  # what a build does: open, read, close
        reader.query("SELECT count(*) FROM images")
        reader.close()
    assert version.changed() is False
    writer = open_store(project.db_path)
    writer.start_run(["r"])
    writer.close()
    assert version.changed() is True
    assert version.changed() is False
