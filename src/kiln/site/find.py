"""Publishing what the gallery's filters and search read: one hook for the build.

The files depend only on the view-model, so when the build's digest of it is the previous
build's and the files that build wrote under ``find/`` are untouched, nothing is computed.
"""

from __future__ import annotations

from kiln.site.collect import Site
from kiln.site.filters import data_sets, library_entries
from kiln.site.findfiles import FIND
from kiln.site.output import Output
from kiln.site.search import build_index


def publish_find(site: Site, output: Output, digest: str) -> None:
    if output.unchanged(output.previous_names(f"{FIND}/"), digest):
        return
    for files in data_sets(site):
        files.write(output)
    build_index(site, library_entries(site)).write(output)
