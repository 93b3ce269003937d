"""kiln serve over real HTTP: files from build/ only, writes only with the token from the same
origin, live events, a clean stop and a clean error when the port is taken."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sitefixtures import demo, image_id

from kiln.cli import cli
from kiln.project import Project, load_project
from kiln.server import Server
from kiln.server.guard import HostCheck, is_loopback
from kiln.server.live import StoreVersion, _relevant, watched_paths
from kiln.store import open_store

THEME = Path(__file__).resolve().parent.parent / "src" / "kiln" / "theme"
FIRST = image_id("coastal-dusk", 0)


@pytest.fixture
def site(tmp_path: Path) -> Project:
    (tmp_path / "site_templates").mkdir()
    project, store = demo(tmp_path, 12)
    store.close()
    (tmp_path / "secret.txt").write_text("outside the build folder")
    return load_project(tmp_path)


@pytest.fixture
def server(site: Project) -> Iterator[Server]:
    with Server(site, "127.0.0.1", 0) as running:
        yield running


def request(server: Server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def write(server: Server, path: str, data: dict, **headers: str):
    sent = {"Content-Type": "application/json", "X-Kiln-Token": server.token, **headers}
    sent = {name: value for name, value in sent.items() if value is not None}
    return request(server, "POST", path, json.dumps(data).encode(), sent)


def rating(project: Project, image: str) -> tuple[int, int]:
    """The image's rating and the number of history rows, read on a connection of its own."""
    conn = sqlite3.connect(project.db_path)
    try:
        value = conn.execute("SELECT rating FROM images WHERE id = ?", [image]).fetchone()[0]
        return value, conn.execute("SELECT count(*) FROM history").fetchone()[0]
    finally:
        conn.close()


class Events:
    """A reader of /_kiln/events."""

    def __init__(self, server: Server):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        self.conn.request("GET", "/_kiln/events")
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("content-type").startswith("text/event-stream")
        assert self.response.readline() == b"retry: 1000\n"

    def next(self, timeout: float) -> tuple[str, dict] | None:
        """The next event, or None when the stream ends."""
        self.conn.sock.settimeout(timeout)
        event = None
        while line := self.response.readline():
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                return event, json.loads(line[6:])
        return None

    def close(self) -> None:
        self.conn.close()


# files -------------------------------------------------------------------------------------


def test_pages_carry_the_token_and_the_build_on_disk_does_not(server, site):
    status, headers, body = request(server, "GET", "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    meta = f'<meta name="kiln-serve" content="{server.token}"></head>'
    assert meta.encode() in body
    assert body.count(b"kiln-serve") == 1
    assert len(server.token) >= 40
    for page in site.build_dir.rglob("*.html"):
        assert "kiln-serve" not in page.read_text()
    status, _, body = request(server, "GET", f"/coastal-dusk/{FIRST}.html")
    assert status == 200 and meta.encode() in body


def test_files_types_caching_and_folders(server, site):
    thumb = next((site.build_dir / "media" / "thumb").iterdir()).name
    status, headers, body = request(server, "GET", f"/media/thumb/{thumb}")
    assert status == 200
    assert headers["content-type"] == "image/webp"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert body == (site.build_dir / "media" / "thumb" / thumb).read_bytes()
    css = next((site.build_dir / "static").glob("style.*.css")).name
    status, headers, _ = request(server, "HEAD", f"/static/{css}")
    assert (status, headers["content-type"]) == (200, "text/css; charset=utf-8")
    assert headers["content-length"] == str((site.build_dir / "static" / css).stat().st_size)
    status, headers, _ = request(server, "GET", "/coastal-dusk")
    assert (status, headers["location"]) == (301, "/coastal-dusk/")
    status, _, body = request(server, "GET", "/coastal-dusk/")
    assert status == 200 and b"Coastal dusk" in body
    etag = request(server, "GET", f"/static/{css}")[1]["etag"]
    assert request(server, "GET", f"/static/{css}", headers={"If-None-Match": etag})[0] == 304
    page_etag = request(server, "GET", "/")[1]["etag"]
    assert server.app.instance in page_etag  # a page cached under another server holds another token
    assert request(server, "GET", "/", headers={"If-None-Match": page_etag})[0] == 304
    assert request(server, "GET", "/missing.html")[0] == 404


@pytest.mark.parametrize(
    "path",
    ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/static/..%2f..%2fsecret.txt",
     "/.kiln-manifest.json", "/%2ekiln-manifest.json", "/outside", "/outside-folder/secret.txt", "/x%00.html",
     "/..\\secret.txt"],
)
def test_nothing_outside_build_and_no_dotfiles(server, site, path):
    (site.build_dir / "outside").symlink_to(site.root / "secret.txt")
    (site.build_dir / "outside-folder").symlink_to(site.root)
    status, _, body = request(server, "GET", path)
    assert status == 404
    assert b"outside the build folder" not in body and b"digest" not in body


@pytest.mark.parametrize("name", [".kiln-build.lock", ".index.html.kiln-tmp", "media/original/.x.png.kiln-tmp"])
def test_a_builds_lock_and_temporaries_are_not_served(server, site, name):
    path = site.build_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a page")
    status, _, body = request(server, "GET", f"/{name}")
    assert status == 404 and b"half a page" not in body


def test_only_reads_outside_the_culling_api(server):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = request(server, method, "/index.html", b"{}", {"X-Kiln-Token": server.token})
        assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert request(server, "GET", "/_kiln/api/curate")[0] == 405
    assert request(server, "GET", "/_kiln/api/nothing")[0] == 404
    assert write(server, "/_kiln/api/rm", {"ids": [FIRST]})[0] == 404


# writes ------------------------------------------------------------------------------------


def test_write_with_the_token_changes_the_store(server, site):
    status, _, body = write(server, "/_kiln/api/curate", {"ids": [FIRST], "change": {"rating": 4}},
                            Origin=f"http://127.0.0.1:{server.port}", **{"Sec-Fetch-Site": "same-origin"})
    assert status == 200
    reply = json.loads(body)
    assert (reply["changed"], reply["message"]) == (1, "1 image rated 4")
    assert [(image["id"], image["rating"], image["status"]) for image in reply["images"]] == [(FIRST, 4, "")]
    assert set(reply["images"][0]) == {"id", "rating", "status", "tags", "notes"}
    assert rating(site, FIRST) == (4, 1)
    status, _, body = request(server, "GET", f"/_kiln/api/images?ids={FIRST},unknown")
    assert status == 200 and json.loads(body)["images"][0]["rating"] == 4
    status, _, body = write(server, "/_kiln/api/undo", {})
    assert status == 200
    assert json.loads(body)["images"][0]["rating"] == 0
    assert json.loads(body)["message"].startswith("undid: 1 image rated 4 (server, ")
    assert rating(site, FIRST)[0] == 0


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Kiln-Token": None}, "token"),
        ({"X-Kiln-Token": "not-the-token"}, "token"),
        ({"Origin": "http://evil.example"}, "origin"),
        ({"Origin": "null"}, "origin"),
        ({"Origin": "http://localhost:1"}, "origin"),
        ({"Sec-Fetch-Site": "cross-site"}, "site"),
        ({"Sec-Fetch-Site": "same-site"}, "site"),
        ({"Host": "evil.example"}, "Host"),
        ({"Host": "rebound.example:PORT"}, "Host"),
        ({"Content-Type": "text/plain"}, "json"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "json"),
    ],
)
def test_writes_refused_change_nothing(server, site, headers, why):
    headers = {name: value.replace("PORT", str(server.port)) if value else value for name, value in headers.items()}
    before = rating(site, FIRST)
    for path, data in (("/_kiln/api/curate", {"ids": [FIRST], "change": {"rating": 5}}), ("/_kiln/api/undo", {})):
        status, _, body = write(server, path, data, **headers)
        assert status == 403
        assert why in json.loads(body)["error"]
    assert rating(site, FIRST) == before


def test_foreign_host_is_refused_for_reads_too(server):
    status, _, body = request(server, "GET", "/", headers={"Host": f"attacker.example:{server.port}"})
    assert status == 403 and b"kiln-serve" not in body
    assert request(server, "GET", "/", headers={"Host": f"localhost:{server.port}"})[0] == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps({"ids": [], "change": {"rating": 1}}).encode(), '"ids"'),
        (json.dumps({"ids": [FIRST], "change": {"rating": 9}}).encode(), "rating must be"),
        (json.dumps({"ids": ["f00d" * 16], "change": {"rating": 1}}).encode(), "no image with id"),
    ],
)
def test_bad_writes_are_400_with_a_message(server, site, body, error):
    headers = {"Content-Type": "application/json", "X-Kiln-Token": server.token}
    status, _, reply = request(server, "POST", "/_kiln/api/curate", body, headers)
    assert status == 400 and error in json.loads(reply)["error"]
    assert rating(site, FIRST) == (0, 0)


def test_host_check():
    check = HostCheck("127.0.0.1", 8000)
    assert check("127.0.0.1:8000") and check("LOCALHOST:8000") and check("[::1]:8000")
    assert not check("127.0.0.1:8001") and not check("127.0.0.1") and not check(None) and not check("evil:8000")
    lan = HostCheck("0.0.0.0", 8000)
    assert lan("192.168.1.4:8000") and lan("localhost:8000")
    assert not lan("evil.example:8000") and not lan("192.168.1.4:80")
    assert HostCheck("gallery.lan", 80)("gallery.lan") and HostCheck("::1", 9)("[::1]:9")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False),
     ("192.168.1.4", False), ("example.org", False)],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


# live events -------------------------------------------------------------------------------


def test_a_change_from_another_connection_arrives_as_a_curation_event(server, site):
    from kiln.library.curation import Change, apply_change

    events = Events(server)
    other = open_store(site.db_path)
    try:
        started = time.perf_counter()
        apply_change(other, [FIRST, image_id("fog-studies", 0)], Change(status="selected"), source="cli")
        event = events.next(timeout=5)
        elapsed = time.perf_counter() - started
    finally:
        other.close()
        events.close()
    assert event is not None
    name, data = event
    assert name == "curation"
    assert [(image["id"], image["status"]) for image in data["images"]] == [
        (FIRST, "selected"), (image_id("fog-studies", 0), "selected"),
    ]
    assert elapsed < 1.0


def test_a_template_change_arrives_as_a_build_event(server, site):
    events = Events(server)
    try:
        base = (THEME / "base.html").read_text()
        (site.templates_dir / "base.html").write_text(base.replace("</body>", "<p>changed</p></body>"))
        event = events.next(timeout=10)
    finally:
        events.close()
    assert event is not None
    name, data = event
    assert name == "build"
    assert "index.html" in data["pages"] and f"coastal-dusk/{FIRST}.html" in data["pages"]
    assert all(page.endswith(".html") for page in data["pages"])
    assert b"<p>changed</p>" in request(server, "GET", "/")[2]


def test_an_idle_stream_gets_keep_alive_comments(server, monkeypatch):
    monkeypatch.setattr("kiln.server.app.KEEP_ALIVE_S", 0.1)
    events = Events(server)
    try:
        events.conn.sock.settimeout(5)
        assert events.response.readline() == b"\n"  # the end of the retry line's block
        assert events.response.readline() == b": keep-alive\n"
    finally:
        events.close()


def test_stopping_ends_open_event_streams_at_once(site):
    server = Server(site, "127.0.0.1", 0)
    server.start()
    streams = [Events(server) for _ in range(3)]
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 1.5
    for stream in streams:
        assert stream.next(timeout=2) is None
        stream.close()
    assert not server.thread.is_alive()


# the command -------------------------------------------------------------------------------


def test_port_in_use_is_one_line(site):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "-C", str(site.root), "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == f"error: port {port} on 127.0.0.1 is in use; try --port {port + 1}\n"
    assert result.stdout == ""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_serve_prints_its_url_and_stops_cleanly_on_a_signal(site, stop):
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln", "serve", "-C", str(site.root), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout.readline().startswith("build/: 17 pages, 12 images; ")
        line = process.stdout.readline()
        assert line.startswith("Serving build/ at http://127.0.0.1:") and line.endswith("/ (Ctrl-C stops)\n")
        port = int(line.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_kiln/events")
        assert conn.getresponse().status == 200
        process.send_signal(stop)
        assert (process.wait(timeout=5), process.stderr.read()) == (0, "")
        conn.close()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


def test_warns_when_listening_beyond_this_machine(site, monkeypatch):
    from kiln import server as server_module

    monkeypatch.setattr(server_module.Server, "start", lambda self: None)
    monkeypatch.setattr(server_module.Server, "wait", lambda self: None)
    result = CliRunner().invoke(cli, ["serve", "-C", str(site.root), "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0
    assert result.stderr == "warning: listening on 0.0.0.0 makes the gallery visible to other machines\n"
    assert result.stdout.startswith("Serving build/ at http://127.0.0.1:")


# what the watcher reacts to ----------------------------------------------------------------


def test_watch_sorts_changes_into_inputs_and_templates(project_dir):
    (project_dir / "wildcards").mkdir()
    (project_dir / "site_templates").mkdir()
    (project_dir / "art").mkdir()
    project = load_project(project_dir)
    assert set(watched_paths(project)) == {
        project.recipes_dir, project.wildcards_dir, project.templates_dir, project.root / "kiln.toml",
    }
    assert _relevant([(1, str(project.recipes_dir / "a.toml"))], project) == (True, False)
    assert _relevant([(1, str(project.wildcards_dir / "colours.txt"))], project) == (True, False)
    assert _relevant([(1, str(project.root / "kiln.toml"))], project) == (True, False)
    assert _relevant([(1, str(project.templates_dir / "base.html"))], project) == (False, True)


def test_store_version_ignores_readers_and_sees_commits(project):
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
    version.close()
