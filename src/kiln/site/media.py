"""Publishing the art store's files (originals, thumbnails, web copies) into build/media.

Only the files of images that are new or changed since the last build (their revision moved)
are published, and the files of images no collection shows any more are removed: a build with
one new image touches that image's files, not the library's. An image whose file was missing
is tried again at every build until it is there.
"""

from __future__ import annotations

from pathlib import Path

from kiln.errors import Problem
from kiln.project import Project
from kiln.site.collect import BATCH as ROWS, IMAGE_ID, _art_path
from kiln.site.layout import media_path
from kiln.site.output import Output, Written
from kiln.site.state import BuildState, WrittenNames
from kiln.site.workers import Workers
from kiln.store.db import Store

BATCH = 250

# What publishing one image did: its id, its files, the art paths found missing.
Published = tuple[str, list[Written], list[str]]

# Each image's files in the order its pages list them (original, thumbnails, web copy, the
# thumbnails of its references): the paths alone, not the rows the pages need.
_FILES_SQL = """
SELECT id, 0, 0, path FROM images WHERE id IN ({marks})
UNION ALL
SELECT image_id, 1, CASE stage WHEN 'thumb' THEN 0 WHEN 'web' THEN 1 ELSE 2 END, path FROM derivatives
WHERE stage IN ('thumb', 'thumb_small', 'web') AND image_id IN ({marks})
UNION ALL
SELECT image_id, 2, position, thumb_path FROM image_references WHERE image_id IN ({marks})
ORDER BY 1, 2, 3
"""
_STAGES = ("thumb", "web", "thumb_small")


def owner(image_id: str) -> str:
    return f"image:{image_id}"


def publish_images(
    store: Store, art: Path, art_label: str, build_dir: Path, mode: str, where: str, ids: list[str], fresh: bool = False
) -> tuple[list[Published], list[Problem]]:
    """Publish the files of each of ``ids`` (a batch; in a worker process when there are many);
    ``fresh`` when the build folder held nothing as the build began."""
    problems: list[Problem] = []
    output = Output(build_dir, fresh)
    images = media_files(store, ids, problems, where)
    done: list[Published] = []
    for image_id in ids:
        files, missing = [], []
        for path in images.get(image_id, ()):
            result = output.publish(media_path(path), art / path, mode)
            if result is None:
                missing.append(path)
                problems.append(Problem(f"{art_label}/{path}", None, None, f"missing file of image {image_id}"))
            else:
                files.append(result)
        done.append((image_id, files, missing))
    return done, problems


def media_files(store: Store, ids: list[str], problems: list[Problem], where: str) -> dict[str, list[str]]:
    """The art paths of each of ``ids``' files, checked as kiln/site/collect.py checks them
    when it reads the full rows (an unusable id or path is reported and left out)."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(ids), ROWS):
        chunk = ids[start : start + ROWS]
        sql = _FILES_SQL.format(marks=",".join("?" * len(chunk)))
        for image_id, kind, place, path in store.conn.execute(sql, chunk * 3):
            if kind == 0:
                if not IMAGE_ID.match(image_id):
                    problems.append(Problem(where, None, f"images.{image_id}", "not a valid image id; skipped"))
                    continue
                key = f"images.{image_id}.path"
            elif image_id not in found:
                continue  # no usable image row
            elif kind == 1:
                key = f"derivatives.{image_id}.{_STAGES[place]}"
            else:
                key = f"image_references.{image_id}.thumb_path"
            checked = _art_path(path, problems, where, key)
            files = found.setdefault(image_id, [])
            if checked is not None:
                files.append(checked)
    return found


def publish_media(
    project: Project, store: Store, state: BuildState, workers: Workers, output: Output, written: WrittenNames,
    removed: list[str], problems: list[Problem],
) -> dict[str, str]:
    """Bring build/media in line with the images in ``state``'s ``seen`` table (every image a
    collection shows, with its revision); returns each image with missing files, and those
    files (art-relative, one a line)."""
    where = project.relative(project.db_path)
    art = project.relative(project.art_dir)
    changed = state.conn.execute(
        "SELECT s.id, s.revision FROM seen s LEFT JOIN images p ON p.id = s.id"
        " WHERE p.id IS NULL OR p.revision != s.revision OR p.missing != '' ORDER BY s.id"
    ).fetchall()
    revisions = dict(changed)

    def record(result: tuple[list[Published], list[Problem]]) -> None:
        done, found = result
        problems.extend(found)
        owned = state.owned_by([owner(image_id) for image_id, _, _ in done])
        rows, images, new = [], [], []
        for image_id, files, missing in done:
            before = set(owned.get(owner(image_id), ()))
            for name, size, mtime, wrote in files:
                before.discard(name)
                rows.append((name, owner(image_id), size, mtime, str(revisions[image_id])))
                if wrote:
                    new.append(name)
            for name in sorted(before):  # files it no longer has (a derivative made again under a new name)
                _remove(state, output, name, removed)
            images.append((image_id, revisions[image_id], "\n".join(missing)))
        written.extend(new)
        state.record_all(rows)
        state.conn.executemany("INSERT OR REPLACE INTO images (id, revision, missing) VALUES (?, ?, ?)", images)

    ids = [image_id for image_id, _ in changed]
    workers.expect(-(-len(ids) // BATCH))
    for start in range(0, len(ids), BATCH):
        args = (project.art_dir, art, project.build_dir, project.media, where, ids[start : start + BATCH], output.fresh)
        workers.run(publish_images, args, record)
    workers.wait()

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
