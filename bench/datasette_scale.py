"""Datasette over a large store: ``python bench/datasette_scale.py [--images N ...] [--stores DIR]``.

For each size (default 100,000 and 1,000,000 images) a store is made with ``bench/stores.py``
(rows only, no files) or reused from ``--stores DIR/<N>``, ``kiln datasette`` is started on it as
a real process, and every page and canned query kiln ships is fetched: the database page, each
table page with the facets its metadata asks for, a row page of each table, full-text search of
a common and a rare word (table page and canned query), a facet value picked, each sortable
column of the images table, and every canned query. Each is fetched once to warm the cache,
then ``--repeat`` times; the table shows the median time, the CPU time Datasette's process
spent per fetch (what the page costs whatever else the machine is doing), the status, and
what Datasette gave up on (facets timed out, a query over its time limit).

Nothing asserts a time; the figures go into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from stores import make_store  # noqa: E402

from kiln import datasette_app  # noqa: E402
from kiln.project import load_project  # noqa: E402

COMMON = "after"  # in about 30 % of the synthetic prompts
RARE = "zeppelin"  # in about 1 in 7,000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pages(db: Path) -> list[tuple[str, str]]:
    """(label, path) of every page to fetch, with row ids and facet values read from the store."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

    def one(sql: str) -> str:
        return urllib.parse.quote(str(conn.execute(sql).fetchone()[0]), safe="")

    project_meta = datasette_app.metadata(load_project(db.parent.parent))
    database = project_meta["databases"]["kiln"]
    tables = {name: entry for name, entry in database["tables"].items() if not entry.get("hidden")}
    found: list[tuple[str, str]] = [("instance page", "/"), ("database page", "/kiln")]
    for name in tables:
        found.append((f"table {name}", f"/kiln/{name}"))
    rows = {
        "images": f"/kiln/images/{one('select id from images order by rowid desc limit 1')}",
        "jobs": f"/kiln/jobs/{one('select key from jobs order by rowid desc limit 1')}",
        "runs": f"/kiln/runs/{one('select max(id) from runs')}",
        "recipes": f"/kiln/recipes/{one('select recipe from images group by recipe order by count(*) desc limit 1')}",
        "attempts": f"/kiln/attempts/{one('select max(id) from attempts')}",
        "history": f"/kiln/history/{one('select max(id) from history')}",
        "derivatives": "/kiln/derivatives/{},thumb".format(one("select image_id from derivatives limit 1")),
        "recipe_jobs": "/kiln/recipe_jobs/{},{}".format(
            one("select recipe from recipe_jobs order by rowid desc limit 1"),
            one("select job_key from recipe_jobs order by rowid desc limit 1"),
        ),
        "prompts": f"/kiln/prompts/{one('select name from prompts limit 1')}",
    }
    found += [(f"row of {name}", path) for name, path in rows.items()]
    model = one("select model from images where model != 'procedural-v1' limit 1")
    recipe = one("select recipe from images group by recipe order by count(*) desc limit 1")
    found += [
        (f"images, search {COMMON!r}", f"/kiln/images?_search={COMMON}"),
        (f"images, search {RARE!r}", f"/kiln/images?_search={RARE}"),
        ("images, one model", f"/kiln/images?model={model}"),
        ("images, largest recipe", f"/kiln/images?recipe={recipe}"),
        ("images, rating 5", "/kiln/images?rating=5"),
        ("images, selected", "/kiln/images?status=selected"),
        ("jobs, failed", "/kiln/jobs?status=failed"),
    ]
    sortable = tables["images"].get("sortable_columns") or []
    for column in sortable:
        found.append((f"images by {column}, desc", f"/kiln/images?_sort_desc={column}"))
        found.append((f"images by {column}, desc, page 2", next_page(conn, column)))
    for query in database["queries"]:
        if query.startswith("search_prompts"):
            found.append((f"query {query} {COMMON!r}", f"/kiln/{query}?q={COMMON}"))
            found.append((f"query {query} {RARE!r}", f"/kiln/{query}?q={RARE}"))
        else:
            found.append((f"query {query}", f"/kiln/{query}"))
    conn.close()
    return found


def next_page(conn: sqlite3.Connection, column: str) -> str:
    """The second page of the images table sorted by ``column`` descending, as Datasette links it."""
    value, image_id = conn.execute(
        f"select {column}, id from images order by {column} desc, id limit 1 offset 99"
    ).fetchone()
    token = ",".join(urllib.parse.quote(str(part), safe="") for part in ((value, image_id) if column != "id" else (image_id,)))
    return f"/kiln/images?_sort_desc={column}&_next={token}"


def get(url: str) -> tuple[float, int, str]:
    """Seconds, status and what Datasette gave up on, for one page fetched in full."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            body = response.read().decode("utf-8", "replace")
            status = response.status
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        status = error.code
    elapsed = time.perf_counter() - started
    notes = []
    if "These facets timed out" in body:
        notes.append("facets timed out")
    if "SQL query took too long" in body or "took too long" in body:
        notes.append("query took too long")
    return elapsed, status, ", ".join(notes)


def server_pid(kiln_pid: int) -> int:
    """Datasette's process: the child ``kiln datasette`` starts (itself where there is none)."""
    children = []
    for task in Path(f"/proc/{kiln_pid}/task").glob("*"):
        try:
            children += (task / "children").read_text().split()
        except OSError:
            continue
    return int(children[0]) if children else kiln_pid


def cpu_seconds(pid: int) -> float:
    """User and system time of a process so far (Linux), 0 where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(folder: Path, repeat: int) -> list[tuple[str, float, float, int, str]]:
    port = free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln", "datasette", "-C", str(folder), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/-/versions.json", timeout=5).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"kiln datasette did not start:\n{log.read().decode()}") from None
                time.sleep(0.2)
        datasette = server_pid(process.pid)
        for label, path in pages(folder / "art" / "kiln.db"):
            get(base + path)  # warm the page cache and Datasette's own caches
            times, status, notes = [], 0, ""
            cpu = cpu_seconds(datasette)
            for _ in range(repeat):
                elapsed, status, notes = get(base + path)
                times.append(elapsed)
            cpu = (cpu_seconds(datasette) - cpu) / repeat
            results.append((label, statistics.median(times), cpu, status, notes))
            print(f"  {label:<44} {statistics.median(times) * 1000:8.0f} ms {cpu * 1000:6.0f} ms CPU  {status}  {notes}",
                  file=sys.stderr)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--stores", type=Path, help="keep stores here (DIR/<N>) and reuse them on later runs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    temp = None
    if args.stores is None:
        temp = tempfile.TemporaryDirectory()
        args.stores = Path(temp.name)
    table: dict[int, list[tuple[str, float, float, int, str]]] = {}
    for images in args.images:
        folder = args.stores / str(images)
        if not (folder / "art" / "kiln.db").is_file():
            started = time.perf_counter()
            make_store(folder, images, files=False)
            print(f"({images:,} images: store made in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
        print(f"{images:,} images:", file=sys.stderr)
        table[images] = measure(folder, args.repeat)
    sizes = list(table)
    labels = [row[0] for row in table[sizes[0]]]
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| page or query | " + " | ".join(f"{n:,} images" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for i, label in enumerate(labels):
        cells = []
        for n in sizes:
            _, median, cpu, status, notes = table[n][i]
            cell = f"{median * 1000:,.0f} ms ({cpu * 1000:,.0f} CPU)"
            if status != 200:
                cell += f" ({status})"
            if notes:
                cell += f" ({notes})"
            cells.append(cell)
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(json.dumps({n: [(row[0], round(row[1], 4), round(row[2], 4)) for row in rows] for n, rows in table.items()}),
          file=sys.stderr)
    if temp is not None:
        temp.cleanup()


if __name__ == "__main__":
    main()
