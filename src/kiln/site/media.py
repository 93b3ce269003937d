"""Publishing the art store's files (originals, thumbnails, web copies) into build/media.

Only the files of images that are new or changed since the last build (their revision moved)
are published, and the files of images no collection shows any more are removed: a build with
one new image touches that image's files, not the library's. An image whose file was missing
is tried again at every build until it is there.
"""

from __future__ import annotations

from kiln.errors import Problem
from kiln.project import Project
from kiln.site.collect import fetch_images
from kiln.site.layout import media_path
from kiln.site.output import Output
from kiln.site.state import BuildState
from kiln.store.db import Store

BATCH = 500


def owner(image_id: str) -> str:
    return f"image:{image_id}"


def publish_media(
    project: Project, store: Store, state: BuildState, output: Output, written: list[str], removed: list[str],
    problems: list[Problem],
) -> dict[str, str]:
    """Bring build/media in line with the images in ``state``'s ``seen`` table (every image a
    collection shows, with its revision); returns each image with missing files, and those
    files (art-relative, one a line)."""
    where = project.relative(project.db_path)
    changed = [row[0] for row in state.conn.execute(
        "SELECT s.id FROM seen s LEFT JOIN images p ON p.id = s.id"
        " WHERE p.id IS NULL OR p.revision != s.revision OR p.missing != '' ORDER BY s.id"
    )]
    published: set[str] = set()
    for start in range(0, len(changed), BATCH):
        ids = changed[start : start + BATCH]
        images = fetch_images(store, ids, problems, where)
        revisions = dict(state.conn.execute(
            f"SELECT id, revision FROM seen WHERE id IN ({','.join('?' * len(ids))})", ids
        ).fetchall())
        for image_id in ids:
            image = images.get(image_id)
            before = set(state.owned(owner(image_id)))
            missing = []
            for media in image.media() if image else []:
                name = media_path(media.path)
                before.discard(name)
                if name in published:
                    continue
                result = output.publish(name, project.art_dir / media.path, project.media)
                if result is None:
                    missing.append(media.path)
                    problems.append(
                        Problem(project.relative(project.art_dir / media.path), None, None, f"missing file of image {image_id}")
                    )
                    continue
                published.add(name)
                state.record(result[0], owner(image_id), result[1], result[2], str(revisions[image_id]))
                if result[3]:
                    written.append(name)
            for name in sorted(before):  # files it no longer has (a derivative made again under a new name)
                _remove(state, output, name, removed)
            state.conn.execute(
                "INSERT OR REPLACE INTO images (id, revision, missing) VALUES (?, ?, ?)",
                [image_id, revisions[image_id], "\n".join(missing)],
            )
    gone = [row[0] for row in state.conn.execute("SELECT id FROM images WHERE id NOT IN (SELECT id FROM seen)")]
    for image_id in gone:
        for name in state.owned(owner(image_id)):
            if name.startswith(media_path("ref_thumb/")) and store.query(
                "SELECT 1 FROM image_references WHERE thumb_path = ? LIMIT 1", [name.removeprefix(media_path(""))]
            ):
                continue  # a reference thumbnail other images still show
            _remove(state, output, name, removed)
        state.conn.execute("DELETE FROM images WHERE id = ?", [image_id])
    return dict(state.conn.execute("SELECT id, missing FROM images WHERE missing != ''").fetchall())


def _remove(state: BuildState, output: Output, name: str, removed: list[str]) -> None:
    if output.remove(name):
        removed.append(name)
    state.forget(name)
