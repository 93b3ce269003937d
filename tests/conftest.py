"""Shared fixtures: a fresh project folder, recipe writing, a fresh store."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiln.project import Project, load_project
from kiln.store import Store, open_store

# The browser fixtures (chromium, context, page, static_server) for the tests that drive one.
pytest_plugins = ["browsing"]

REPO = Path(__file__).resolve().parent.parent

# Every process the suite starts inherits this variable, so the end of the session can find any
# left behind, even one whose parent died and that init adopted.
SESSION_VARIABLE = "KILN_TEST_SESSION"


def pytest_sessionstart(session: pytest.Session) -> None:
    os.environ[SESSION_VARIABLE] = uuid.uuid4().hex


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing a test started may outlive the suite: fail the session if something did."""
    from processes import carrying, describe, kill_all, parent, survivors

    if not Path("/proc/self/environ").exists():
        return
    started = carrying(SESSION_VARIABLE, os.environ[SESSION_VARIABLE])
    # The resource tracker of the tests' own process (in-process runs start it) ends with it.
    own = {pid for pid in started if parent(pid) == os.getpid() and "resource_tracker" in describe({pid})[0]}
    left = survivors(started - own, timeout=5)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["processes started by the tests are still running:", *describe(left)]
        if reporter is not None:
            reporter.write("\n")
            reporter.write_sep("=", "processes left behind", red=True)
            for line in lines:
                reporter.write_line(line)
        kill_all(left)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    (tmp_path / "kiln.toml").write_text('[project]\ntitle = "Test project"\n')
    (tmp_path / "recipes").mkdir()
    return tmp_path


@pytest.fixture
def write_recipe(project_dir: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        path = project_dir / "recipes" / f"{name}.toml"
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def project(project_dir: Path) -> Project:
    return load_project(project_dir)


@pytest.fixture
def store(project: Project) -> Iterator[Store]:
    store = open_store(project.db_path)
    yield store
    store.close()


# Long runs of many examples or trials, left out unless a -m expression names them.
LONG_RUNS = ("fuzz", "stress")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the ``fuzz`` and ``stress`` runs unless ``-m`` names them (``-m stress``), so a
    plain run, or ``-m "not slow"``, stays minutes long."""
    asked = config.getoption("markexpr") or ""
    skipped = [m for m in LONG_RUNS if m not in asked]
    left_out = [item for item in items if any(item.get_closest_marker(m) for m in skipped)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
