"""Nothing kiln starts outlives it: `kill -9` of `kiln run` takes its workers, multiprocessing's
resource tracker and its engine process with it, within seconds."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from processes import alive, describe, descendants, kill_all, naming, survivors

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

FAKE_ENGINE = Path(__file__).parent / "fake_engines" / "fake_engine.py"


def _toml_list(parts: list[str]) -> str:
    return "[" + ", ".join(f'"{part}"' for part in parts) + "]"


ENGINES = {
    "placeholder": None,
    # Deaf to quit and to its stdin closing, as an engine busy with a long image is.
    "fake-deaf": lambda root: [sys.executable, str(FAKE_ENGINE), "--ignore-quit", "--log", str(root / "requests.log")],
    "kiln-engine-serve": lambda root: [sys.executable, "-m", "kiln", "engine", "serve"],
}


def make_project(root: Path, engine: str) -> Path:
    (root / "recipes").mkdir(parents=True)
    command = ENGINES[engine]
    toml = '[project]\ntitle = "Killed"\n'
    line = ""
    if command is not None:
        toml += f'[engines.proc]\ntype = "ndjson"\ncommand = {_toml_list(command(root))}\n'
        line = 'engine = "proc"\nmodel = "m"\n'
    (root / "kiln.toml").write_text(toml)
    (root / "recipes" / "many.toml").write_text(
        line + textwrap.dedent("""
            prompt = "a {red|blue|green|white} {fox|owl|cat|dog} at dusk"
            size = "128x128"
            seeds = 40
            steps = 2
        """)
    )
    return root


def start_run(project: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kiln", "run", "-C", str(project)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )


def succeeded(project: Path) -> int:
    try:
        with sqlite3.connect(project / "art" / "kiln.db", timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM jobs WHERE status = 'succeeded'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def wait_for_images(project: Path, count: int, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while succeeded(project) < count:
        assert process.poll() is None, f"kiln run ended early with {process.returncode}"
        assert time.monotonic() < deadline, f"fewer than {count} images after {timeout} s"
        time.sleep(0.02)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_kill_9_of_kiln_run_leaves_no_process_behind(tmp_path: Path, engine: str):
    project = make_project(tmp_path / "project", engine)
    process = start_run(project)
    started: set[int] = set()
    try:
        wait_for_images(project, 2, process)
        started = descendants(process.pid)
        # The finishing worker and the resource tracker, and the engine if it has one.
        assert len(started) >= (2 if engine == "placeholder" else 3), describe(started)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        left = survivors(started | naming(str(project)), timeout=5)
        assert not left, describe(left)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        kill_all({pid for pid in started if alive(pid)})


def test_a_worker_started_by_a_thread_that_ended_lives_on(tmp_path: Path):
    """The parent-death signal follows the starting thread; kiln starts every child from one
    thread that lives as long as it does, so an engine outlives the thread that wanted it."""
    import threading

    from kiln import lifeline

    children: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(target=lambda: children.append(lifeline.popen([sys.executable, "-c", "import time; time.sleep(30)"])))
    thread.start()
    thread.join()
    child = children[0]
    try:
        time.sleep(0.3)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_a_child_dies_with_a_killed_parent(tmp_path: Path):
    """One level down, without kiln run: a parent that starts a child with lifeline.popen and
    is then killed with SIGKILL takes the child with it."""
    script = textwrap.dedent("""
        import sys, time
        from kiln import lifeline
        child = lifeline.popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = 0
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert alive(child_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert not survivors({child_pid}, timeout=5)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        kill_all({child_pid} if child_pid and alive(child_pid) else set())
