"""The weight of a collection page of 200 images: ``python bench/page_weight.py``.

Builds a project whose one collection shows 200 images on one page (the test catalogue's
painted pictures, made into thumbnails as kiln makes them), serves build/ from 127.0.0.1 and
opens the page in Chromium at 1280×900 with an empty cache, counting every byte of every
response (as sent: the server does not compress) until the network is idle, and any request
for another host. The page is loaded twice, served as it is and by a server that gzips text
(as static hosts do). Then the page before its thumbnails, the files a first paint needs (HTML,
CSS, scripts; the placeholders are inline), each gzipped as a static host would serve them.

Budgets: all bytes of the first load ≤ 250 KB; the page before thumbnails, gzipped, ≤ 60 KB;
no request to another host.

With sigal installed (``pip install -e '.[bench]'``), the same 200 originals are built into a
sigal album and its page is measured the same way.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import blurhash  # noqa: E402
from PIL import Image  # noqa: E402
from sitefixtures import add_images, add_recipe, make_project, open_project_store  # noqa: E402

from kiln.site import build_site  # noqa: E402
from kiln.site.blur import blur_data_uri  # noqa: E402

IMAGES = 200
VIEWPORT = {"width": 1280, "height": 900}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync"]
BUDGET_ALL = 250_000
BUDGET_SHELL = 60_000


COMPRESSED = {".html", ".css", ".js", ".json", ".svg", ".xml", ".atom"}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


class _Gzip(_Quiet):
    """Text files gzipped, as static hosts (GitHub Pages, Netlify, nginx with gzip on) send them."""

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if path.suffix not in COMPRESSED or not path.is_file() or "gzip" not in self.headers.get("Accept-Encoding", ""):
            return super().do_GET()
        body = gzip.compress(path.read_bytes(), 6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(folder: Path, compress: bool = False) -> tuple[ThreadingHTTPServer, str]:
    handler = _Gzip if compress else _Quiet
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def first_load(url: str) -> dict[str, object]:
    """Bytes by kind of every response of a first load, and requests to other hosts."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    host = urlsplit(url).netloc
    kinds: dict[str, int] = {}
    counts: dict[str, int] = {}
    foreign: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        types: dict[str, str] = {}

        def sent(event: dict) -> None:
            request_url = event["request"]["url"]
            if request_url.startswith("data:"):
                return
            if urlsplit(request_url).netloc != host:
                foreign.append(request_url)
            types[event["requestId"]] = event.get("type", "Other")

        def finished(event: dict) -> None:
            kind = types.get(event["requestId"])
            if kind is not None:
                kinds[kind] = kinds.get(kind, 0) + int(event["encodedDataLength"])
                counts[kind] = counts.get(kind, 0) + 1

        cdp.on("Network.requestWillBeSent", sent)
        cdp.on("Network.loadingFinished", finished)
        page.goto(url, wait_until="networkidle")
        page.wait_for_timeout(500)
        browser.close()
    return {"bytes": kinds, "requests": counts, "foreign": foreign}


def shell_gzip(page: Path) -> dict[str, int]:
    """Gzipped sizes of the page and the CSS and scripts it links (placeholders are inline)."""
    html = page.read_bytes()
    sizes = {"html": len(gzip.compress(html, 9))}
    for link in re.findall(rb'(?:href|src)="([^"]+\.(?:css|js))"', html):
        target = (page.parent / link.decode()).resolve()
        kind = "css" if target.suffix == ".css" else "js"
        sizes[kind] = sizes.get(kind, 0) + len(gzip.compress(target.read_bytes(), 9))
    return sizes


def make_kiln(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    project = make_project(root, title="Weight", page_size=IMAGES)
    store = open_project_store(project)
    add_recipe(store, "two-hundred", title="Two hundred", description="A page of 200 images.")
    ids = add_images(project, store, "two-hundred", IMAGES)
    # The test catalogue repeats a dozen pictures; a real library's placeholders all differ,
    # which is what makes them weigh (gzip finds nothing to share between them).
    rnd = random.Random(IMAGES)
    with store.transaction() as db:
        for image_id in ids:
            noise = Image.new("RGB", (4, 3))
            noise.putdata([tuple(rnd.randrange(256) for _ in range(3)) for _ in range(12)])
            db.execute("UPDATE images SET blurhash = ? WHERE id = ?", [blurhash.encode(noise.resize((32, 24)), 4, 3), image_id])
    report = build_site(project, store)
    store.close()
    assert not report.problems, report.problems
    return project.build_dir


def make_sigal(root: Path, originals: Path) -> Path | None:
    sigal = shutil.which("sigal") or str(Path(sys.executable).with_name("sigal"))
    if not Path(sigal).exists():
        return None
    album = root / "pictures" / "two-hundred"
    album.mkdir(parents=True)
    for n, original in enumerate(sorted(originals.glob("*.png"))[:IMAGES]):
        shutil.copy(original, album / f"{n:03d}.png")
    # sigal's defaults (the colorbox theme, 280×210 thumbnails, 800×600 web copies).
    (root / "sigal.conf.py").write_text('source = "pictures"\ndestination = "_build"\n')
    subprocess.run([sigal, "build", "-c", str(root / "sigal.conf.py")], check=True, cwd=root, capture_output=True)
    return root / "_build"


def with_webp_placeholders(html: str, db: Path) -> str:
    """The page as it was before thumbnails' placeholders became gradients."""
    import sqlite3

    connection = sqlite3.connect(db)
    hashes = dict(connection.execute("SELECT id, blurhash FROM images"))
    sizes = {row[0]: row[1:] for row in connection.execute("SELECT id, width, height FROM images")}
    connection.close()

    def swap(match: re.Match) -> str:
        image_id = match.group(1)
        uri = blur_data_uri(hashes[image_id], *sizes[image_id])
        return match.group(0).replace(match.group(2), f"url({uri})")

    return re.sub(r'data-id="(\w+)".*?background-image:(linear-gradient\([^)]*\))', swap, html, flags=re.S)


def kb(n: int) -> str:
    return f"{n / 1000:.1f} KB"


def report(name: str, result: dict[str, object], shell: dict[str, int] | None) -> None:
    kinds = result["bytes"]
    counts = result["requests"]
    total = sum(kinds.values())
    print(f"\n{name}: first load at {VIEWPORT['width']}×{VIEWPORT['height']}, empty cache")
    for kind in sorted(kinds, key=lambda k: -kinds[k]):
        print(f"  {kind:<12} {counts[kind]:>4} requests  {kb(kinds[kind]):>10}")
    verdict = "within" if total <= BUDGET_ALL else "OVER"
    print(f"  {'all':<12} {sum(counts.values()):>4} requests  {kb(total):>10}   ({verdict} the {kb(BUDGET_ALL)} budget)")
    print(f"  requests to other hosts: {len(result['foreign'])}")
    if shell is not None:
        size = sum(shell.values())
        parts = ", ".join(f"{k} {kb(v)}" for k, v in shell.items())
        verdict = "within" if size <= BUDGET_SHELL else "OVER"
        print(f"  before thumbnails, gzip: {kb(size)} ({parts}; {verdict} the {kb(BUDGET_SHELL)} budget)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build under this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        build = make_kiln(root / "kiln")
        page = build / "two-hundred" / "index.html"
        html = page.read_text()
        island = re.search(r'<script type="application/json" id="kiln-images">(.*?)</script>', html, re.S)
        tints = re.findall(r"background-image:linear-gradient\([^)]*\)", html)
        print(f"kiln page: {kb(len(html.encode()))} of HTML ({kb(len(gzip.compress(html.encode(), 9)))} gzipped), of which"
              f" the JSON island {kb(len(island.group(1).encode()) if island else 0)}"
              f" ({kb(len(gzip.compress(island.group(1).encode(), 9)) if island else 0)} gzipped alone)"
              f" and {len(tints)} gradient placeholders {kb(sum(map(len, tints)))}")
        webp = with_webp_placeholders(html, root / "kiln" / "art" / "kiln.db")
        print(f"  the same page with the blurhash as WebP data URIs, as before: {kb(len(webp.encode()))}"
              f" ({kb(len(gzip.compress(webp.encode(), 9)))} gzipped)")
        measure("kiln", build, shell_gzip(page))
        sigal = make_sigal(root / "sigal", root / "kiln" / "art" / "original")
        if sigal is None:
            print("\nsigal: not installed (pip install -e '.[bench]')")
            return
        measure("sigal", sigal, None)


def measure(name: str, folder: Path, shell: dict[str, int] | None) -> None:
    """The first load served as it is, then by a server that gzips text."""
    for compress in (False, True):
        server, url = serve(folder, compress)
        try:
            label = f"{name}, text gzipped" if compress else f"{name}, uncompressed"
            report(label, first_load(url + "two-hundred/index.html"), shell if compress else None)
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
