"""The static gallery: ``kiln build`` renders the catalogue into plain HTML files.

Each build renders the whole site (unless nothing it depends on changed) but writes only the
files whose bytes changed; media are copied (cloned where the filesystem can) only when they
changed, and files an earlier build made that this one does not are removed, so a rebuild
touches exactly what changed. Builds of one folder take turns.
"""

from __future__ import annotations

import time

from kiln.errors import Problem
from kiln.project import Project
from kiln.site.collect import collect
from kiln.site.find import publish_find
from kiln.site.fingerprint import fingerprint, theme_digest
from kiln.site.lock import build_lock, sweep_build_temporaries
from kiln.site.media import publish_media
from kiln.site.output import TEMP_SUFFIX, Output, publish_static
from kiln.site.pages import render_pages
from kiln.site.render import environment
from kiln.site.report import BuildReport
from kiln.site.theme import static_sources, theme_dirs
from kiln.store.db import Store


def build_site(project: Project, store: Store) -> BuildReport:
    """Render the whole site into ``project.build_dir``."""
    started = time.perf_counter()
    problems: list[Problem] = []
    with build_lock(project.build_dir):
        sweep_build_temporaries(project.build_dir, TEMP_SUFFIX)
        site = collect(project, store, problems)
        output = Output(project.build_dir, problems)
        publish_media(project, site, output, problems)
        assets = publish_static(output, static_sources(project))
        theme = theme_dirs(project)
        theme_key = theme_digest(theme)
        digest = fingerprint(site, theme_key)
        pages = render_pages(environment(tuple(theme), theme_key), site, assets, output, digest, problems)
        publish_find(site, output, digest)
        removed = output.finish(digest)
    return BuildReport(
        written=output.written,
        skipped=output.skipped,
        removed=len(removed),
        pages=pages,
        images=len(site.images),
        seconds=time.perf_counter() - started,
        problems=problems,
        target=project.relative(project.build_dir),
        written_names=output.written_names,
        removed_names=removed,
    )


__all__ = ["BuildReport", "build_site"]
