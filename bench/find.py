"""The gallery's filters and search at scale: ``python bench/find.py [--images 10000 100000]``.

For each size, on a synthetic store (bench/stores.py):

1. a full ``kiln build``, and the finder's share of it (its producer, timed);
2. a no-op rebuild;
3. one new image (an image's rows copied under a new id, newest of all, with a word no other
   prompt has), rebuilt: the build's time, the finder's share, the finder's files written;
4. sizes: all of find/, the search index, the largest collection's meta;
5. in Chromium, served over HTTP from 127.0.0.1 with an empty cache: a word typed into the
   search page (a common word and a rare one): the bytes the finder fetched (find.js and data
   files, and what they weigh gzipped), and the time from Enter to the first result; a filter
   on the largest collection (rating ≥ 4): bytes and time to the first result, then the files
   the panel's counts fetched and the time until they narrowed; a search, then the panel
   opened: the same.

With ``--pagefind PYTHON`` (an interpreter with ``pagefind[bin]`` installed), also: the same
words written as one small page per image and indexed by Pagefind, timed, with its index's
size; Pagefind indexes from scratch each time, so this is also what one new image would cost.

Nothing here asserts a time; the figures go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import html
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from stores import make_store  # noqa: E402

from kiln.project import load_project  # noqa: E402
from kiln.site import build_site  # noqa: E402
from kiln.site.find import Finder  # noqa: E402
from kiln.store import open_store  # noqa: E402



class Timed:
    """Wraps the finder's producer to add up the time it takes."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._produce = Finder.produce

        def produce(finder: Finder, build: object) -> None:
            started = time.perf_counter()
            try:
                self._produce(finder, build)
            finally:
                self.seconds += time.perf_counter() - started

        Finder.produce = produce  # type: ignore[method-assign]

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def build(root: Path, timed: Timed) -> tuple[float, float, list[str]]:
    project = load_project(root)
    store = open_store(project.db_path)
    try:
        started = time.perf_counter()
        report = build_site(project, store)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    return seconds, timed.take(), [n for n in report.written_names if n.startswith("find/")]


def add_image(db: Path) -> None:
    """One more image: the rows of the newest image, under a new id and job, made later, with
    a word no other prompt has, last in its recipe."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    with conn:
        image = dict(conn.execute("SELECT * FROM images ORDER BY created_at DESC LIMIT 1").fetchone())
        source = image["id"]
        count = conn.execute("SELECT count(*) FROM images").fetchone()[0]
        new_id, key = f"f00d{count:012x}", f"feed{count:012x}"
        job = dict(conn.execute("SELECT * FROM jobs WHERE image_id = ?", [source]).fetchone())
        link = dict(conn.execute("SELECT * FROM recipe_jobs WHERE job_key = ?", [job["key"]]).fetchone())
        moment = datetime.fromisoformat(image["created_at"].replace("Z", "+00:00")) + timedelta(seconds=1)
        later = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        image.update(id=new_id, job_key=key, prompt=image["prompt"] + ", bathyscaphe", created_at=later)
        image.pop("revision", None)  # the store's triggers number it
        job.update(key=key, image_id=new_id)
        position = conn.execute("SELECT max(position) FROM recipe_jobs WHERE recipe = ?", [link["recipe"]]).fetchone()[0]
        link.update(job_key=key, position=position + 1)
        derivatives = [dict(row, image_id=new_id) for row in conn.execute("SELECT * FROM derivatives WHERE image_id = ?", [source])]
        for table, row in (("jobs", job), ("images", image), ("recipe_jobs", link), *(("derivatives", d) for d in derivatives)):
            conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    conn.close()


def folder_bytes(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def browse(build_dir: Path, page: str, label: str) -> list[tuple[str, int, int, int, float]]:
    """(what, files, bytes, gzip bytes, ms to the first result) per measured action."""
    from playwright.sync_api import sync_playwright

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(build_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    rows = []

    def row(what: str, files: list[bytes], ms: float) -> tuple[str, int, int, int, float]:
        return what, len(files), sum(map(len, files)), sum(len(gzip.compress(b)) for b in files), ms

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])

            def measure(what: str, address: str, act, done: str, counts: str | None = None) -> None:
                """A row for ``act``, until ``done``; with ``counts``, a second row for the files the
                panel's counts then fetched (those asked for after the results were shown and the
                panel was open) and the time from then until they narrowed, and a third for a
                status chosen then: from its results shown to its counts (their columns loaded,
                the time is the counting's)."""
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.add_init_script("document.addEventListener('kiln:page', () => { window.benchShown = performance.now(); })")
                page.goto(address)
                page.wait_for_load_state("load")
                bodies: dict[str, bytes] = {}

                def take(response) -> None:
                    if "/find/" in response.url or "/find." in response.url:
                        bodies[response.url] = response.body()

                page.on("response", take)
                started = time.perf_counter()
                act(page)
                page.wait_for_function(done, timeout=60_000)
                ms = (time.perf_counter() - started) * 1000
                if counts is None:
                    page.wait_for_timeout(300)
                    rows.append(row(what, list(bodies.values()), ms))
                else:
                    opened = 0.0
                    if page.is_hidden(".find-panel"):
                        opened = page.evaluate("performance.now()")
                        page.click(".find-toggle")
                    page.wait_for_function("document.querySelector('.find-panel').dataset.counts === 'narrowed'", timeout=60_000)
                    shown, narrowed, entries = page.evaluate(
                        "[window.benchShown, performance.now(), performance.getEntriesByType('resource').map(e => [e.name, e.startTime])]"
                    )
                    split = max(shown, opened)
                    page.remove_listener("response", take)
                    before = [bodies[name] for name, at in entries if name in bodies and at < split]
                    after = [bodies[name] for name, at in entries if name in bodies and at >= split]
                    rows.append(row(what, before, ms))
                    rows.append(row(counts, after, narrowed - split))
                    page.select_option(".find-panel select[name=status]", "picked")
                    page.wait_for_function(f"window.benchShown > {shown} && document.querySelector('.find-panel').dataset.counts === 'narrowed'", timeout=60_000)
                    shown_again, narrowed_again = page.evaluate("[window.benchShown, performance.now()]")
                    rows.append(row("… then status picked chosen: its counts after its results", [], narrowed_again - shown_again))
                context.close()

            def search(word: str):
                def act(page) -> None:
                    page.fill("#find-q", word)
                    page.press("#find-q", "Enter")
                return act

            tiles = "document.querySelector('.grid .tile img') !== null"
            measure("search 'fox' (common)", url + "search.html", search("fox"), tiles)
            measure("search 'zeppelin' (rare)", url + "search.html", search("zeppelin"), tiles)

            def filter_rating(page) -> None:
                page.click(".find-toggle")
                page.wait_for_selector(".find-panel:not([hidden])")
                page.select_option(".find-panel select[name=rating]", "4")

            summary = "/match/.test((document.querySelector('.find-summary') || {}).textContent || '') && document.querySelector('.grid .tile img') !== null"
            measure(f"rating ≥ 4 on {label}", url + page, filter_rating, summary, "… then its panel's counts narrowed")

            def search_fox(page) -> None:
                page.fill("#find-q", "fox")
                page.press("#find-q", "Enter")

            measure("search 'fox' on the library", url + "search.html", search_fox, summary, "… then the panel opened and its counts narrowed")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return rows


def largest_collection(db: Path) -> tuple[str, int]:
    conn = sqlite3.connect(db)
    name, count = conn.execute(
        "SELECT recipe, count(*) FROM recipe_jobs GROUP BY recipe ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    conn.close()
    return name, count


def pagefind(db: Path, python: str, folder: Path) -> None:
    """One page per image with the words kiln's index holds, indexed by Pagefind."""
    site = folder / "pagefind-site"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir()
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT id, prompt, negative_prompt, notes, tags, model, engine FROM images").fetchall()
    conn.close()
    for image_id, prompt, negative, notes, tags, model, engine in rows:
        words = " ".join(html.escape(t or "") for t in (prompt, negative, notes, " ".join(json.loads(tags or "[]")), engine))
        (site / f"{image_id}.html").write_text(
            f'<!doctype html><html lang="en"><head><title>{image_id}</title></head><body data-pagefind-body>'
            f'<p>{words}</p><p data-pagefind-filter="model">{html.escape(model or "")}</p></body></html>'
        )
    started = time.perf_counter()
    subprocess.run([python, "-m", "pagefind", "--site", str(site)], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    count, size = folder_bytes(site / "pagefind")
    print(f"pagefind, {len(rows):,} pages: indexed in {seconds:.1f} s; {size / 1e6:.1f} MB in {count:,} files")
    shutil.rmtree(site)


def run(images: int, folder: Path, timed: Timed, pagefind_python: str | None, again: bool = False) -> None:
    print(f"\n## {images:,} images")
    root = folder / f"s{images}"
    if not (root / "art" / "kiln.db").exists():
        started = time.perf_counter()
        make_store(root, images)
        print(f"store made in {time.perf_counter() - started:.1f} s")
    if not again:
        shutil.rmtree(root / "build", ignore_errors=True)
        full, finder, written = build(root, timed)
        print(f"full build            {full:7.2f} s   finder {finder:6.2f} s   finder files {len(written):,}")
    noop, finder, written = build(root, timed)
    print(f"no-op rebuild         {noop:7.2f} s   finder {finder:6.2f} s   finder files {len(written):,}")
    add_image(root / "art" / "kiln.db")
    one, finder, written = build(root, timed)
    search = [n for n in written if n.startswith("find/_search/")]
    print(f"after one new image   {one:7.2f} s   finder {finder:6.2f} s   finder files {len(written):,} ({len(search)} of the search index)")
    out = root / "build"
    for what, path in (("find/ in all", out / "find"), ("search index", out / "find" / "_search")):
        count, size = folder_bytes(path)
        print(f"{what:21} {size / 1e6:7.1f} MB in {count:,} files")
    collection, members = largest_collection(root / "art" / "kiln.db")
    count, size = folder_bytes(out / "find" / collection)
    print(f"largest collection    {collection}: {size / 1e6:.1f} MB in {count:,} files; meta {(out / 'find' / collection / 'meta.js').stat().st_size:,} bytes")
    print("\n| action | files fetched | bytes | gzip | first result |")
    print("|---|---:|---:|---:|---:|")
    for what, files, size, packed, ms in browse(out, f"{collection}/index.html", f"{collection} ({members:,} images)"):
        print(f"| {what} | {files} | {size / 1000:,.1f} KB | {packed / 1000:,.1f} KB | {ms:,.0f} ms |")
    if pagefind_python:
        pagefind(root / "art" / "kiln.db", pagefind_python, folder)


def change_rating(db: Path) -> None:
    """One image in the middle of the library rated anew (its revision moves)."""
    conn = sqlite3.connect(db)
    with conn:
        image_id = conn.execute("SELECT id FROM images ORDER BY created_at, id LIMIT 1 OFFSET (SELECT count(*) / 2 FROM images)").fetchone()[0]
        conn.execute("UPDATE images SET rating = (coalesce(rating, 0) + 1) % 6 WHERE id = ?", [image_id])
    conn.close()


def finder_only(images: int, folder: Path, pages_from: Path, pagefind_python: str | None, browser: bool) -> None:
    """The finder's producer alone (no gallery pages), for stores whose full build takes long:
    its files are kept as a build keeps them (a file is made again only when what it is made
    from changed), and each collection's ``digest`` and ``changed`` are set as the builder sets
    them (untimed: the builder reads the members for its pages anyway); search.html and the
    static files are copied from ``pages_from``, a build of the same theme."""
    from kiln.errors import Problem
    from kiln.site.builder import _recipes, _virtual, current_sequence
    from kiln.site.pages import digest
    from kiln.site.produce import Build

    print(f"\n## {images:,} images, the finder alone")
    root = folder / f"s{images}"
    project = load_project(root)
    out = project.build_dir
    shutil.rmtree(out, ignore_errors=True)
    recorded: dict[str, str] = {}
    digests: dict[str, str] = {}
    written: list[str] = []
    last: list[int | None] = [None]

    def files(owner: str, name: str, inputs: str, make) -> None:
        if recorded.get(name) == inputs and (out / name).exists():
            return
        data = make()
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            written.append(name)
        recorded[name] = inputs

    def produce() -> tuple[float, float, int]:
        store = open_store(project.db_path)
        problems: list[Problem] = []
        collections = _virtual(project, store, _recipes(project, store, problems))
        homes = {name: c.name for c in collections if c.kind in ("recipe", "archived") for name in c.recipes}
        for collection in collections:
            collection.homes = homes
            members = list(collection.members(store))
            collection.count = len(members)
            collection.digest = digest(collection.name, collection.title, collection.gallery, members)
            collection.changed = digests.get(collection.name) != collection.digest
            digests[collection.name] = collection.digest
        sequence = current_sequence(store)
        written.clear()
        started, cpu = time.perf_counter(), time.process_time()
        Finder().produce(Build(
            project, store, collections, full=last[0] is None, sequence=sequence, previous_sequence=last[0],
            files=files, render=lambda template, name, context: (pages_from / name).read_bytes(),
            images=lambda ids: {}, owner="producer:find", problems=problems,
        ))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        last[0] = sequence
        store.close()
        return seconds, cpu, len(written)

    def show(what: str) -> None:
        seconds, cpu, count = produce()
        search = sum(1 for n in written if n.startswith("find/_search/"))
        print(f"{what:25} {seconds:7.2f} s   CPU {cpu:6.2f} s   files written {count:,} ({search} of the search index)")

    show("finder, first build")
    show("finder, nothing new")
    add_image(root / "art" / "kiln.db")
    show("finder, one new image")
    change_rating(root / "art" / "kiln.db")
    show("finder, one rating change")
    shutil.copytree(pages_from / "static", out / "static")
    for what, path in (("find/ in all", out / "find"), ("search index", out / "find" / "_search"), ("library data set", out / "find" / "_library")):
        files_count, size = folder_bytes(path)
        print(f"{what:21} {size / 1e6:7.1f} MB in {files_count:,} files")
    if browser:
        print("\n| action | files fetched | bytes | gzip | first result |")
        print("|---|---:|---:|---:|---:|")
        for what, files_count, size, packed, ms in browse(out, "search.html", f"the library ({images:,} images)"):
            print(f"| {what} | {files_count} | {size / 1000:,.1f} KB | {packed / 1000:,.1f} KB | {ms:,.0f} ms |")
    if pagefind_python:
        pagefind(root / "art" / "kiln.db", pagefind_python, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--keep", type=Path, help="make (or reuse) the stores in this folder")
    parser.add_argument("--pagefind", metavar="PYTHON", help="an interpreter with pagefind[bin], to compare with")
    parser.add_argument("--again", action="store_true", help="with --keep: keep the last build, add one more image")
    parser.add_argument("--finder-only", type=Path, metavar="BUILD",
                        help="with --keep: time the finder's producer alone; pages and static files from BUILD")
    parser.add_argument("--no-browser", action="store_true", help="with --finder-only: times and sizes only")
    args = parser.parse_args()
    timed = Timed()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for images in args.images:
            if args.finder_only:
                finder_only(images, args.keep, args.finder_only, args.pagefind, not args.no_browser)
            else:
                run(images, args.keep, timed, args.pagefind, args.again)
        return
    with tempfile.TemporaryDirectory() as folder:
        for images in args.images:
            run(images, Path(folder), timed, args.pagefind)


if __name__ == "__main__":
    main()
