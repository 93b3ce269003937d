"""Archived recipes: recipes the store knows whose file is gone from the project.

Their images stay in the store (some may be picks) until ``kiln rm --recipe NAME`` deletes
them; the gallery shows them together in one "Archived" collection and ``kiln status`` lists
them. A recipe whose file comes back is a recipe again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kiln.project import Project
from kiln.store import Store
from kiln.store.db import chunks


@dataclass(frozen=True)
class ArchivedRecipe:
    name: str
    path: str  # its file, relative to the project, as the store last recorded it
    images: int
    bytes: int  # originals and derivatives, as their rows record them


def is_archived(project: Project, recorded_path: str, kind: str = "recipe") -> bool:
    """Whether a recipe's recorded file (``recipes.path``) no longer exists in the project.

    An imported collection (``kind`` ``import``) has no file to lose, so it is never archived.
    """
    return kind != "import" and not (project.root / recorded_path).is_file()


def archived_recipes(project: Project, store: Store) -> list[ArchivedRecipe]:
    """Every archived recipe, by name, with how many images it holds and their bytes."""
    found = []
    for row in store.query("SELECT name, path, kind FROM recipes ORDER BY name"):
        if not is_archived(project, row["path"], row["kind"]):
            continue
        ids = recipe_image_ids(store, row["name"])
        found.append(ArchivedRecipe(row["name"], row["path"], len(ids), image_bytes(store, ids)))
    return found


def recipe_image_ids(store: Store, recipe: str) -> list[str]:
    """The images a recipe holds: those its jobs made, and those it made that it no longer lists."""
    rows = store.query(
        "SELECT j.image_id AS id FROM recipe_jobs rj JOIN jobs j ON j.key = rj.job_key"
        " JOIN images i ON i.id = j.image_id WHERE rj.recipe = ? AND j.status = 'succeeded'"
        " UNION SELECT id FROM images WHERE recipe = ? ORDER BY id",
        [recipe, recipe],
    )
    return [row["id"] for row in rows]


def image_bytes(store: Store, ids: Sequence[str]) -> int:
    """The bytes of the images' originals and derivatives, as their rows record them."""
    total = 0
    for chunk in chunks(list(ids)):
        marks = ",".join("?" * len(chunk))
        total += store.query(
            f"SELECT (SELECT coalesce(sum(bytes), 0) FROM images WHERE id IN ({marks}))"
            f" + (SELECT coalesce(sum(bytes), 0) FROM derivatives WHERE image_id IN ({marks})) AS total",
            [*chunk, *chunk],
        )[0]["total"]
    return total
