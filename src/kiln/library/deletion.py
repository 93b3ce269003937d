"""Deleting images: the original, every derivative file and the rows, for good.

A deletion is planned first (which images, which files, how many bytes, which recipes hold
them), so the user can be told and asked, then carried out.

The database is the truth, so the rows go first, in one transaction: each image's row, its
derivatives' and references' rows, and every job that made it set to ``deleted``, so that
``kiln run`` does not make it again unasked. A deleted job keeps ``image_id``, the id its image
had: ``kiln run --redo`` finds it by that id, and a file left behind is known for what it is.
Files are removed only after the commit. A crash in between never leaves a row pointing at a
missing file; it leaves files with no row, which the next deletion removes (and ``kiln doctor``
reports). The history of the user's decisions is kept. Reference thumbnails
(``art/ref_thumb/``) are named by content and shared, so they stay: images made from a deleted
image keep theirs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kiln.errors import KilnError
from kiln.library.archive import is_archived, recipe_image_ids
from kiln.library.curation import resolve_ids
from kiln.project import Project
from kiln.stages import STAGES
from kiln.store import Store
from kiln.store.db import chunks
from kiln.wording import plural

ORIGINALS = "original"


@dataclass(frozen=True)
class DoomedImage:
    """One image a deletion removes: the recipes holding it, its files and their bytes."""

    id: str
    recipes: tuple[str, ...]
    files: tuple[Path, ...]
    bytes: int


@dataclass
class DeletionPlan:
    images: list[DoomedImage]
    # A selection of rejects is checked again when carried out: a reject undone meanwhile stays.
    rejected_only: bool = False
    # Archived recipes forgotten with their images (their rows and job lists).
    forget: tuple[str, ...] = ()
    # What the forgotten are called: archived recipes, or an imported collection.
    forgotten_as: str = "archived recipe"

    @property
    def bytes(self) -> int:
        return sum(image.bytes for image in self.images)

    def describe(self) -> str:
        """``12 images (34.5 MB)``, and the archived recipes it forgets."""
        text = f"{plural(len(self.images), 'image')} ({human_size(self.bytes)})"
        if self.forget:
            text += f" and forget the {self.forgotten_as}{'s' if len(self.forget) > 1 else ''} {', '.join(self.forget)}"
        return text

    def notes(self) -> list[str]:
        """What the user should know before saying yes: images that more than one recipe holds."""
        return [
            f"note: {image.id} is in {len(image.recipes)} recipes ({', '.join(image.recipes)}); it goes from each"
            for image in self.images
            if len(image.recipes) > 1
        ]


@dataclass
class DeletionResult:
    images: int
    bytes: int  # of the files actually removed
    leftovers: int = 0  # files of earlier deletions removed too
    forgotten: tuple[str, ...] = ()
    forgotten_as: str = "archived recipe"
    problems: list[str] = field(default_factory=list)  # files that could not be removed

    def describe(self) -> str:
        return f"{plural(self.images, 'image')} ({human_size(self.bytes)})"


def plan_ids(project: Project, store: Store, prefixes: Sequence[str]) -> DeletionPlan:
    """Plan deleting the images named by (unique prefixes of) their ids."""
    return _plan(project, store, resolve_ids(store, prefixes))


def plan_rejected(project: Project, store: Store, recipe: str | None = None) -> DeletionPlan:
    """Plan deleting every rejected image, or every rejected image of ``recipe``."""
    if recipe is None:
        ids = [row["id"] for row in store.query("SELECT id FROM images WHERE status = 'rejected' ORDER BY id")]
    else:
        _known_recipe(store, recipe)
        held = recipe_image_ids(store, recipe)
        rejected = {row["id"] for row in store.query("SELECT id FROM images WHERE status = 'rejected'")}
        ids = [image_id for image_id in held if image_id in rejected]
    return _plan(project, store, ids, rejected_only=True)


def plan_recipe(project: Project, store: Store, recipe: str) -> DeletionPlan:
    """Plan deleting every image of ``recipe``; an archived recipe is forgotten with them."""
    path = _known_recipe(store, recipe)
    kind = store.query("SELECT kind FROM recipes WHERE name = ?", [recipe])[0]["kind"]
    # An imported collection, like an archived recipe, has no file to be read from again.
    forget = (recipe,) if kind == "import" or is_archived(project, path) else ()
    plan = _plan(project, store, recipe_image_ids(store, recipe), forget=forget)
    if kind == "import":
        plan.forgotten_as = "imported collection"
    return plan


def delete(project: Project, store: Store, plan: DeletionPlan) -> DeletionResult:
    """Carry out ``plan``: rows first, in one transaction, then the files."""
    planned = {image.id: image for image in plan.images}
    with store.transaction():
        kept = _existing(store, list(planned), plan.rejected_only)
        ids = [image_id for image_id in planned if image_id in kept]
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            store.conn.execute(
                "UPDATE jobs SET status = 'deleted', claimed_by = NULL, error = NULL, error_code = NULL"
                f" WHERE image_id IN ({marks}) AND status != 'running'",
                list(chunk),
            )
            for table, column in (("derivatives", "image_id"), ("image_references", "image_id"), ("images", "id")):
                store.conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", list(chunk))
        for name in plan.forget:
            store.conn.execute("DELETE FROM recipe_jobs WHERE recipe = ?", [name])
            store.conn.execute("DELETE FROM recipes WHERE name = ?", [name])
    result = DeletionResult(images=len(ids), bytes=0, forgotten=plan.forget, forgotten_as=plan.forgotten_as)
    # Files an image gained since the plan (a derivative made meanwhile) go too.
    files = _files_by_id(project, store, ids)
    tried: set[Path] = set()
    for image_id in ids:
        for path in sorted(set(planned[image_id].files) | set(files.get(image_id, ()))):
            result.bytes += _remove(path, project, result.problems)
            tried.add(path)
    for path in (path for path in leftovers(project, store) if path not in tried):
        before = len(result.problems)
        _remove(path, project, result.problems)
        result.leftovers += len(result.problems) == before
    return result


def leftovers(project: Project, store: Store) -> list[Path]:
    """Files of deleted images still in art/: what a deletion interrupted after its commit left.

    An id a job not deleted still names is left alone: a redo may be writing that image now.
    """
    gone = {
        row["image_id"]
        for row in store.query(
            "SELECT DISTINCT image_id FROM jobs WHERE status = 'deleted' AND image_id IS NOT NULL"
            " AND image_id NOT IN (SELECT id FROM images)"
            " AND image_id NOT IN (SELECT image_id FROM jobs WHERE status != 'deleted' AND image_id IS NOT NULL)"
        )
    }
    if not gone:
        return []
    return sorted(path for folder in _image_folders(project, store) for path in _listing(folder) if path.stem in gone)


def human_size(size: int) -> str:
    """Bytes as people read them: ``512 bytes``, ``1.2 KB``, ``34.5 MB``, ``1.2 GB``."""
    if size < 1000:
        return plural(size, "byte")
    # Thresholds a little under 1000 of a unit, so 999,999 bytes reads 1.0 MB, not 1000.0 KB.
    if size < 999_950:
        return f"{size / 1e3:.1f} KB"
    if size < 999_950_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.1f} GB"


def _known_recipe(store: Store, recipe: str) -> str:
    """The recorded file of ``recipe``; an error naming the known recipes if there is none."""
    rows = store.query("SELECT path FROM recipes WHERE name = ?", [recipe])
    if not rows:
        names = [row["name"] for row in store.query("SELECT name FROM recipes ORDER BY name")]
        known = f"; the store knows {', '.join(names)}" if names else "; the store knows no recipes yet"
        raise KilnError(f"no recipe named {recipe!r} in the store{known}")
    return rows[0]["path"]


def _plan(
    project: Project, store: Store, ids: list[str], *, rejected_only: bool = False, forget: tuple[str, ...] = ()
) -> DeletionPlan:
    holders = _recipes_holding(store, ids)
    files = _files_by_id(project, store, ids)
    images = []
    for image_id in ids:
        paths = tuple(sorted(files.get(image_id, ())))
        images.append(DoomedImage(image_id, tuple(sorted(holders.get(image_id, ()))), paths, _size(paths)))
    return DeletionPlan(images, rejected_only, forget)


def _recipes_holding(store: Store, ids: list[str]) -> dict[str, set[str]]:
    holders: dict[str, set[str]] = {}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        rows = store.query(
            "SELECT j.image_id AS id, rj.recipe FROM jobs j JOIN recipe_jobs rj ON rj.job_key = j.key"
            f" WHERE j.image_id IN ({marks}) AND j.status = 'succeeded'"
            f" UNION SELECT id, recipe FROM images WHERE id IN ({marks}) AND recipe IS NOT NULL",
            [*chunk, *chunk],
        )
        for row in rows:
            holders.setdefault(row["id"], set()).add(row["recipe"])
    return holders


def _files_by_id(project: Project, store: Store, ids: list[str]) -> dict[str, set[Path]]:
    """Each image's files: those its rows name, and any ``art/<stage>/<id>.*`` besides."""
    art = project.art_dir
    files: dict[str, set[Path]] = {}
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        rows = store.query(
            f"SELECT id, path FROM images WHERE id IN ({marks})"
            f" UNION SELECT image_id, path FROM derivatives WHERE image_id IN ({marks})",
            [*chunk, *chunk],
        )
        for row in rows:
            path = _inside(art, row["path"])
            if path is not None:
                files.setdefault(row["id"], set()).add(path)
    wanted = set(ids)
    # Listing each folder once costs the same for one image as for ten thousand.
    for folder in _image_folders(project, store) if wanted else ():
        for path in _listing(folder):
            if path.stem in wanted:
                files.setdefault(path.stem, set()).add(path)
    return files


def _image_folders(project: Project, store: Store) -> list[Path]:
    """The folders of art/ that hold one file per image, named by its id (never ref_thumb/)."""
    stages = {ORIGINALS, *(stage.name for stage in STAGES)}
    stages.update(row["stage"] for row in store.query("SELECT DISTINCT stage FROM derivatives"))
    return [project.art_dir / stage for stage in sorted(stages) if "/" not in stage and stage not in ("", ".", "..")]


def _listing(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(entry.path) for entry in entries if entry.is_file() and not entry.name.startswith(".")]
    except FileNotFoundError:
        return []


def _inside(art: Path, recorded: str | None) -> Path | None:
    """A recorded path under art/, or None if it leads anywhere else (it is then left alone)."""
    if not recorded or recorded.startswith("/") or "\\" in recorded or ".." in recorded.split("/"):
        return None
    return art / recorded


def _existing(store: Store, ids: list[str], rejected_only: bool) -> set[str]:
    found: set[str] = set()
    condition = " AND status = 'rejected'" if rejected_only else ""
    for chunk in chunks(ids):
        marks = ",".join("?" * len(chunk))
        rows = store.conn.execute(f"SELECT id FROM images WHERE id IN ({marks}){condition}", list(chunk))
        found.update(row[0] for row in rows)
    return found


def _size(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            pass
    return total


def _remove(path: Path, project: Project, problems: list[str]) -> int:
    """Remove one file; its size, or 0 if it was not there or could not be removed."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as error:
        problems.append(f"{project.relative(path)}: could not remove it: {error.strerror}")
        return 0
    return size
