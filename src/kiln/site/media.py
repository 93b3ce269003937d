"""Publishing the art store's files (originals, thumbnails, web copies) into build/media."""

from __future__ import annotations

from pathlib import Path

from kiln.errors import Problem
from kiln.project import Project
from kiln.site.collect import Site
from kiln.site.layout import media_path
from kiln.site.output import Output


def publish_media(project: Project, site: Site, output: Output, problems: list[Problem]) -> None:
    """Publish every file the site shows (copies, or links if kiln.toml asks: ``[site] media``); a missing file is reported and dropped from its image,
    so its pages fall back to another size instead of linking to nothing."""
    art: Path = project.art_dir
    for image in site.images.values():
        missing = set()
        for media in image.media():
            if not output.publish(media_path(media.path), art / media.path, project.media):
                missing.add(media.path)
                problems.append(
                    Problem(project.relative(art / media.path), None, None, f"missing file of image {image.id}")
                )
        if missing:
            image.drop(missing)
