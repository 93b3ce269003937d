"""``kiln status``: what the store holds, in a few lines."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kiln.library.archive import ArchivedRecipe, archived_recipes
from kiln.library.deletion import human_size
from kiln.project import Project
from kiln.store import Store

JOB_STATES = ("queued", "running", "succeeded", "failed", "deleted")


@dataclass
class StoreStatus:
    images: int
    picked: int
    rejected: int
    rated: int
    jobs: dict[str, int]
    art: str  # the art folder, relative to the project
    art_files: int
    art_bytes: int
    archived: list[ArchivedRecipe] = field(default_factory=list)
    imported: int = 0  # images in imported collections
    collections: int = 0  # imported collections

    def lines(self) -> list[str]:
        jobs = sum(self.jobs.values())
        states = ", ".join(f"{self.jobs[state]:,} {state}" for state in JOB_STATES if self.jobs.get(state))
        lines = [
            f"images    {self.images:,}: {self.picked:,} picked, {self.rejected:,} rejected,"
            f" {self.rated:,} rated, {self.images - self.rated:,} unrated",
            f"jobs      {jobs:,}" + (f": {states}" if states else ""),
            f"{self.art + '/':<9} {human_size(self.art_bytes)} in {self.art_files:,} file{'s' if self.art_files != 1 else ''}"
            " besides the database",
        ]
        if self.collections:
            lines.append(
                f"imported  {self.imported:,} image{'s' if self.imported != 1 else ''} in {self.collections:,}"
                f" collection{'s' if self.collections != 1 else ''}"
            )
        if self.archived:
            count = len(self.archived)
            lines.append(
                f"archived  {count} recipe{'s' if count != 1 else ''} whose file is gone"
                " ('kiln rm --recipe NAME' deletes its images):"
            )
            width = max(len(recipe.name) for recipe in self.archived)
            for recipe in self.archived:
                images = f"{recipe.images:,} image{'s' if recipe.images != 1 else ''}"
                lines.append(f"  {recipe.name:<{width}}  {images:>10}  {human_size(recipe.bytes):>10}  {recipe.path}")
        return lines


def store_status(project: Project, store: Store) -> StoreStatus:
    counts = store.query(
        "SELECT count(*) AS images, coalesce(sum(status = 'selected'), 0) AS picked,"
        " coalesce(sum(status = 'rejected'), 0) AS rejected, coalesce(sum(rating > 0), 0) AS rated FROM images"
    )[0]
    jobs = {row["status"]: row["n"] for row in store.query("SELECT status, count(*) AS n FROM jobs GROUP BY status")}
    files, size = _disk_usage(project.art_dir, skip={project.db_path.name})
    return StoreStatus(
        images=counts["images"],
        picked=counts["picked"],
        rejected=counts["rejected"],
        rated=counts["rated"],
        jobs=jobs,
        art=project.relative(project.art_dir),
        art_files=files,
        art_bytes=size,
        archived=archived_recipes(project, store),
        **_imports(store),
    )


def _imports(store: Store) -> dict[str, int]:
    row = store.query(
        "SELECT count(DISTINCT rj.recipe) AS collections, count(DISTINCT j.image_id) AS imported FROM recipe_jobs rj"
        " JOIN recipes r ON r.name = rj.recipe AND r.kind = 'import'"
        " JOIN jobs j ON j.key = rj.job_key AND j.status = 'succeeded'"
    )[0]
    return {"collections": row["collections"], "imported": row["imported"]}


def _disk_usage(folder: Path, skip: set[str]) -> tuple[int, int]:
    """Files and bytes under ``folder``, leaving out the database (``skip``) and its journals."""
    files = size = 0
    for root, _, names in os.walk(folder):
        for name in names:
            if Path(root) == folder and name.split("-")[0] in skip:
                continue
            try:
                size += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
            files += 1
    return files, size
