"""Shared fixtures: a fresh project folder, recipe writing, a fresh store."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiln.project import Project, load_project
from kiln.store import Store, open_store

# The browser fixtures (chromium, context, page, static_server) for the tests that drive one.
pytest_plugins = ["browsing"]

REPO = Path(__file__).resolve().parent.parent


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
