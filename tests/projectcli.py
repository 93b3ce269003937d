"""Driving a project as a user does: kiln's commands through CliRunner, and its store read back."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from click.testing import CliRunner

from kiln.cli import cli


def kiln(project: Path, *args: str) -> tuple[int, str]:
    """Run ``kiln ARGS -C PROJECT``; its exit code and output (an exception is a test failure)."""
    result = CliRunner().invoke(cli, [*args, "-C", str(project)], catch_exceptions=False)
    return result.exit_code, result.output


def rows(project: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows ``sql`` reads from the project's store, on a connection of its own."""
    with sqlite3.connect(project / "art" / "kiln.db") as conn:
        return conn.execute(sql, params).fetchall()


def memory_folder(prefix: str) -> Path:
    """A new temporary folder in memory where there is one (``/dev/shm``): a kill trial is
    about the process, not the disk, and without fsyncs to wait for it runs several times faster."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
