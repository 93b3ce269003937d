"""The static gallery: ``kiln build`` renders the catalogue into plain HTML files.

A build does what changed since the last one: nothing when the store, the theme and the
settings are as they were; else the pages whose inputs changed (found from thin rows, one
collection at a time), the media of new or changed images, and the removal of what is no
longer produced (and only what kiln wrote). Builds of one folder take turns.
"""

from __future__ import annotations

from kiln.errors import Problem
from kiln.project import Project
from kiln.site.builder import build
from kiln.site.lock import build_lock, sweep_build_temporaries
from kiln.site.output import TEMP_SUFFIX
from kiln.site.report import BuildReport
from kiln.site.state import BuildState
from kiln.store.db import Store


def build_site(project: Project, store: Store, *, verify: bool = False) -> BuildReport:
    """Bring ``project.build_dir`` up to date with the store; ``verify`` also checks every file
    kiln wrote there and makes again those changed or removed by hand."""
    problems: list[Problem] = []
    with build_lock(project.build_dir):
        state = BuildState(project.build_dir)
        try:
            if state.begin():  # the last build was killed: its temporaries are still there
                sweep_build_temporaries(project.build_dir, TEMP_SUFFIX)
            report = build(project, store, state, problems, verify)
            state.end()
            return report
        finally:
            state.close()


__all__ = ["BuildReport", "build_site"]
