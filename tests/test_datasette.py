"""The Datasette view of the store: metadata completeness, the app in process, and a real server."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kiln import datasette_app
from kiln.errors import KilnError
from kiln.project import Project
from kiln.store import Store, open_store

THUMB_BYTES = b"RIFF\x00\x00\x00\x00WEBPfake"
FOX = "aaaa000000000001"
CAT = "aaaa000000000002"
OWL = "aaaa000000000003"  # hostile path and prompt
HOSTILE = 'x"><img src=x onerror=alert(3)>'  # an id no content hash looks like
HOSTILE_PATH = 'original/"><script>alert(1)</script>.png'


def image(image_id: str, prompt: str, **extra: Any) -> dict[str, Any]:
    row = {
        "id": image_id,
        "path": f"original/{image_id}.png",
        "width": 64,
        "height": 64,
        "bytes": 100,
        "sha256": "0" * 64,
        "format": "png",
        "prompt": prompt,
        "model": "flux-dev",
        "recipe": "animals",
        "rating": 0,
        "status": None,
        "created_at": "2025-01-01",
    }
    return {**row, **extra}


@pytest.fixture
def populated(project: Project, store: Store) -> Project:
    """A store with a fox, a cat without a thumbnail, an owl with hostile text, a hostile id
    and a failed job; thumbnails for all but the cat."""
    with store.transaction() as db:
        db["images"].insert_all(
            [
                image(FOX, "a red fox in the snow", rating=5, status="selected", created_at="2025-01-03"),
                image(CAT, "a cat on a sofa", model="sdxl", rating=3, created_at="2025-01-02"),
                image(OWL, "<script>alert(2)</script> owl", path=HOSTILE_PATH),
                image(HOSTILE, "bat", created_at="2024-12-31"),
            ]
        )
        db["jobs"].insert(
            {
                "key": "job1",
                "spec": "{}",
                "recipe": "animals",
                "engine": "placeholder",
                "model": "flux-dev",
                "status": "failed",
                "error": "out of memory",
                "error_code": "OOM",
                "queued_at": "2025-01-01T00:00:00.000Z",
            }
        )
    thumbs = project.art_dir / "thumb"
    thumbs.mkdir()
    for image_id in (FOX, OWL, HOSTILE):
        (thumbs / f"{image_id}.webp").write_bytes(THUMB_BYTES)
    return project


def test_metadata_describes_every_column(project: Project, store: Store) -> None:
    schema = {name: set(store.db[name].columns_dict) for name in store.db.table_names()}
    meta = json.loads(json.dumps(datasette_app.metadata(project)))  # as Datasette reads it from -m
    assert meta["title"] == "Test project"
    tables = meta["databases"]["kiln"]["tables"]
    assert set(tables) == set(schema), "every table is described or hidden, and none is stale"
    hidden = {name for name, entry in tables.items() if entry.get("hidden")}
    assert hidden == {name for name in schema if name.startswith("images_fts")} | {"_sqlite_migrations"}
    for name in set(schema) - hidden:
        assert len(tables[name]["description"]) > 20, name
        described = tables[name]["columns"]
        assert set(described) == schema[name], f"{name}: describe new columns, drop stale ones"
        assert all(len(text) > 5 for text in described.values()), name


def test_command_creates_store_and_files(project: Project) -> None:
    assert not project.db_path.exists()
    argv = datasette_app.command(project, port=8123)
    assert argv[1:5] == ["-m", "datasette", "serve", str(project.db_path)]
    assert argv[-4:] == ["--host", "127.0.0.1", "--port", "8123"]
    assert "-i" not in argv and "--immutable" not in argv
    store = open_store(project.db_path)  # created and migrated, so Datasette shows empty tables
    try:
        assert "images" in store.db.table_names()
    finally:
        store.close()
    files = datasette_app.prepare(project)
    assert str(files.metadata) in argv and str(files.plugins_dir) in argv
    assert f"thumb:{files.thumb_dir}" in argv and files.thumb_dir.is_dir()
    assert json.loads(files.metadata.read_text()) == datasette_app.metadata(project)
    stamp = files.metadata.stat().st_mtime_ns
    datasette_app.command(project)
    assert files.metadata.stat().st_mtime_ns == stamp  # unchanged content, untouched file


class FakeProcess:
    argv: list[str] = []
    returncode = 0

    def __init__(self, argv: list[str], **options: object) -> None:
        FakeProcess.argv = argv

    def poll(self) -> int:
        return self.returncode

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def wait(self) -> int:
        return self.returncode


def test_serve_warns_off_loopback_and_reports_failure(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(datasette_app.subprocess, "Popen", FakeProcess)
    datasette_app.serve(project)
    assert capsys.readouterr().err == ""
    datasette_app.serve(project, host="0.0.0.0", port=9000, open_browser=True)
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err
    assert FakeProcess.argv[-5:] == ["--host", "0.0.0.0", "--port", "9000", "--open"]
    monkeypatch.setattr(FakeProcess, "returncode", 3)
    with pytest.raises(KilnError, match="status 3"):
        datasette_app.serve(project)


def path_cells(page: str) -> list[str]:
    return re.findall(r'<td class="col-path[^"]*">(.*?)</td>', page, re.S)


def test_in_process(populated: Project) -> None:
    async def run() -> None:
        ds = datasette_app.app(populated)

        async def get_json(path: str) -> Any:
            response = await ds.client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            return response.json()

        async def ids(path: str) -> list[str]:
            return [row["id"] for row in await get_json(path)]

        assert await ids("/kiln/images.json?_search=fox&_shape=array") == [FOX]
        # searchmode raw: FTS5 syntax reaches SQLite instead of being quoted away
        assert set(await ids("/kiln/images.json?_search=fox%20OR%20sofa&_shape=array")) == {FOX, CAT}
        assert await ids("/kiln/images.json?_search=so*&_shape=array") == [CAT]

        data = await get_json("/kiln/images.json?_shape=objects")
        assert set(data["facet_results"]) == {"model", "recipe", "rating", "status"}
        models = {r["value"]: r["count"] for r in data["facet_results"]["model"]["results"]}
        assert models == {"flux-dev": 3, "sdxl": 1}
        assert [row["id"] for row in data["rows"]] == [FOX, CAT, OWL, HOSTILE]  # sort_desc created_at

        hidden = {t["name"]: t["hidden"] for t in (await get_json("/kiln.json"))["tables"]}
        assert not hidden["images"]
        assert hidden["images_fts"] and hidden["images_fts_data"] and hidden["_sqlite_migrations"]

        rows = await get_json("/kiln/images_by_recipe_and_model.json?_shape=array")
        summary = {(r["model"], r["images"], r["avg_rating"]) for r in rows}
        assert summary == {("flux-dev", 3, 5.0), ("sdxl", 1, 3.0)}
        assert await ids("/kiln/search_prompts.json?q=owl&_shape=array") == [OWL]
        assert await ids("/kiln/search_prompts.json?q=&_shape=array") == []
        assert await ids("/kiln/selected_images.json?_shape=array") == [FOX]
        rows = await get_json("/kiln/failed_jobs.json?_shape=array")
        assert [(r["key"], r["error_code"]) for r in rows] == [("job1", "OOM")]
        for query in ("recent_runs", "engine_stats"):
            await get_json(f"/kiln/{query}.json")

        page = (await ds.client.get("/kiln/images")).text
        assert sorted(path_cells(page)) == sorted(
            [
                '<img src="/thumb/aaaa000000000001.webp" alt="" loading="lazy" width="100">'
                "<br>original/aaaa000000000001.png",
                # no thumbnail file yet: the plain path, not a broken image
                "original/aaaa000000000002.png",
                '<img src="/thumb/aaaa000000000003.webp" alt="" loading="lazy" width="100">'
                "<br>original/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;.png",
                # an id that is not a content hash never reaches a URL or a file name
                "original/x&#34;&gt;&lt;img src=x onerror=alert(3)&gt;.png",
            ]
        )
        assert "<script>alert" not in page and "&lt;script&gt;alert(2)&lt;/script&gt; owl" in page
        assert "<img src=x" not in page and "/thumb/x" not in page
        # query results with id and path get thumbnails too
        page = (await ds.client.get("/kiln/search_prompts?q=fox")).text
        assert path_cells(page) == [
            '<img src="/thumb/aaaa000000000001.webp" alt="" loading="lazy" width="100">'
            "<br>original/aaaa000000000001.png"
        ]

        response = await ds.client.get("/thumb/aaaa000000000001.webp")
        assert response.status_code == 200 and response.content == THUMB_BYTES

        # the column descriptions are laid out compactly by kiln's stylesheet
        assert '<link rel="stylesheet" href="/-/kiln.css">' in (await ds.client.get("/kiln/images")).text
        response = await ds.client.get("/-/kiln.css")
        assert response.status_code == 200 and "dl.column-descriptions" in response.text
        assert response.headers["content-type"].startswith("text/css")

    asyncio.run(run())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_a_foreign_host_is_refused(populated: Project) -> None:
    async def run() -> None:
        ds = datasette_app.app(populated)
        assert (await ds.client.get("/kiln/images.json")).status_code == 200
        refused = await ds.client.get("/kiln/images.json", headers={"host": "rebound.example"})
        assert refused.status_code == 403
        assert refused.text == "This server answers only to the address it listens on (Host header refused).\n"

    asyncio.run(run())


def test_real_process(populated: Project, store: Store, tmp_path: Path) -> None:
    port = free_port()
    argv = datasette_app.command(populated, port=port)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    log = tmp_path / "datasette.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                fetch(f"http://127.0.0.1:{port}/-/versions.json")
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        settings = fetch(f"http://127.0.0.1:{port}/-/settings.json")
        assert {name: settings[name] for name in datasette_app.SETTINGS} == datasette_app.SETTINGS
        search = f"http://127.0.0.1:{port}/kiln/images.json?_search=fox&_shape=array"
        assert [row["id"] for row in fetch(search)] == [FOX]
        # the store is served live, not as immutable: a row the runner writes now shows up
        store.db["images"].insert(image("aaaa000000000009", "a fox cub", created_at="2025-01-04"))
        assert [row["id"] for row in fetch(search)] == ["aaaa000000000009", FOX]
        assert f"Uvicorn running on http://127.0.0.1:{port}" in log.read_text()
        # DNS rebinding: a page of another site whose name now points here is refused
        for host, status in ((f"attacker.example:{port}", 403), (f"localhost:{port}", 200), (f"127.0.0.1:{port}", 200)):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/kiln/images.json", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert (host, response.status) == (host, status)
            except urllib.error.HTTPError as error:
                assert (host, error.code) == (host, status)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serving(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_stopping_kiln_datasette_stops_datasette(project: Project, how: signal.Signals) -> None:
    from processes import describe, descendants, kill_all, survivors

    port = _free_port()
    kiln = subprocess.Popen(
        [sys.executable, "-m", "kiln", "datasette", "-C", str(project.root), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not _serving(port):
            assert kiln.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        started = descendants(kiln.pid)
        assert started
        kiln.send_signal(how)
        kiln.wait(timeout=10)
        assert not survivors(started, timeout=5), describe(started)
        assert not _serving(port)
    finally:
        if kiln.poll() is None:
            kiln.kill()
            kiln.wait()
        kill_all(started)
