"""Making jobs again on purpose: ``kiln requeue`` and ``kiln run --redo``.

A job whose image was deleted is not made again unasked. Requeueing puts it (or a failed job)
back in the queue, for the next ``kiln run``; a redo requeues jobs and makes just those, now. A
job is named by (a unique prefix of) its key, or of the id of the image it made, even when that
image has been deleted: the deleted job keeps the id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kiln.errors import KilnError
from kiln.library.archive import is_archived
from kiln.plan import RecipePlan, make_plan
from kiln.project import Project
from kiln.recipe import load_all
from kiln.store import Store
from kiln.store.db import chunks

REQUEUED = ("deleted", "failed")


@dataclass(frozen=True)
class JobRef:
    key: str
    status: str
    image_id: str | None


@dataclass
class RequeueResult:
    deleted: list[str] = field(default_factory=list)  # keys put back that were deleted
    failed: list[str] = field(default_factory=list)  # and that had failed
    left: list[JobRef] = field(default_factory=list)  # named, but neither deleted nor failed

    def describe(self) -> str:
        count = len(self.deleted) + len(self.failed)
        return f"Requeued {count} job{'s' if count != 1 else ''} ({len(self.deleted)} deleted, {len(self.failed)} failed)"


def resolve_jobs(store: Store, tokens: Sequence[str]) -> list[JobRef]:
    """The jobs named by unique prefixes of job keys or image ids (of images made or deleted)."""
    found: dict[str, JobRef] = {}
    problems: list[str] = []
    for token in tokens:
        wanted = token.strip().lower()
        if not wanted:
            problems.append("an empty job key or image id")
            continue
        by_key = store.query(
            "SELECT key, status, image_id FROM jobs WHERE substr(key, 1, ?) = ? ORDER BY key LIMIT 4", [len(wanted), wanted]
        )
        by_image = store.query(
            "SELECT key, status, image_id FROM jobs WHERE substr(image_id, 1, ?) = ? ORDER BY image_id, key",
            [len(wanted), wanted],
        )
        images = sorted({row["image_id"] for row in by_image})
        keys = {row["key"] for row in by_key}
        # One image made by two jobs (the same bytes) names both; anything else must be one job.
        if len(keys) + len(images) > 1 and not (len(images) == 1 and keys <= {row["key"] for row in by_image}):
            shown = [f"job {key}" for key in sorted(keys)] + [f"image {image}" for image in images]
            listed = ", ".join(shown[:3]) + (", …" if len(shown) > 3 else "")
            problems.append(f"{token!r} starts more than one job key or image id ({listed}); give more of it")
            continue
        rows = by_key + by_image
        if not rows:
            problems.append(f"no job key or image id starts with {token!r}")
        for row in rows:
            found.setdefault(row["key"], JobRef(row["key"], row["status"], row["image_id"]))
    if problems:
        raise KilnError("; ".join(problems))
    return list(found.values())


def requeue(store: Store, keys: Sequence[str]) -> RequeueResult:
    """Put the deleted and failed ones among ``keys`` back in the queue."""
    from kiln.importing.records import imported_only

    imported = [key for key in keys if imported_only(store, key)]
    if imported:
        listed = ", ".join(imported[:3]) + (", …" if len(imported) > 3 else "")
        raise KilnError(f"imported, not generated here, so nothing can make them again: job {listed}; import the files again")
    result = RequeueResult()
    with store.transaction():
        for chunk in chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            rows = store.conn.execute(f"SELECT key, status, image_id FROM jobs WHERE key IN ({marks})", list(chunk)).fetchall()
            for key, status, image_id in rows:
                if status in REQUEUED:
                    getattr(result, status).append(key)
                else:
                    result.left.append(JobRef(key, status, image_id))
            store.conn.execute(
                f"UPDATE jobs SET status = 'queued', claimed_by = NULL WHERE key IN ({marks}) AND status IN ('deleted', 'failed')",
                list(chunk),
            )
    return result


def recipe_jobs(store: Store, recipe: str) -> list[str]:
    """The keys of a recipe's deleted and failed jobs, in the recipe's order."""
    if not store.query("SELECT 1 FROM recipes WHERE name = ?", [recipe]):
        raise KilnError(f"no recipe named {recipe!r} in the store")
    rows = store.query(
        "SELECT rj.job_key FROM recipe_jobs rj JOIN jobs j ON j.key = rj.job_key"
        " WHERE rj.recipe = ? AND j.status IN ('deleted', 'failed') ORDER BY rj.position",
        [recipe],
    )
    return [row["job_key"] for row in rows]


def plan_redo(project: Project, store: Store, tokens: Sequence[str]) -> tuple[list[RecipePlan], set[str]]:
    """Plans of the recipes holding the named jobs, with those jobs requeued; and their keys.

    A job that still has its image is refused (delete the image first): one job makes one
    image. So is a job no recipe file describes any more.
    """
    refs = resolve_jobs(store, tokens)
    problems = []
    live: dict[str, bool] = {}
    for row in store.query("SELECT name, path, kind FROM recipes"):
        # An imported collection is no recipe: nothing can make its images again.
        live[row["name"]] = row["kind"] == "recipe" and not is_archived(project, row["path"])
    holders: dict[str, list[str]] = {}
    for ref in refs:
        names = [row["recipe"] for row in store.query("SELECT recipe FROM recipe_jobs WHERE job_key = ? ORDER BY recipe", [ref.key])]
        holders[ref.key] = [name for name in names if live.get(name)]
        if ref.status == "succeeded":
            problems.append(f"job {ref.key} still has its image {ref.image_id}; 'kiln rm {ref.image_id}' first to make it again")
        elif ref.status == "running":
            problems.append(f"job {ref.key} is being made now")
        elif not holders[ref.key]:
            where = f" (archived: {', '.join(names)})" if names else ""
            problems.append(f"job {ref.key} is in no recipe whose file exists{where}; it cannot be made again")
    if problems:
        raise KilnError("; ".join(problems))
    names = sorted({name for found in holders.values() for name in found})
    plans = make_plan(load_all(project, names), project, store)
    planned = {job.key for plan in plans for job in plan.jobs}
    missing = [ref.key for ref in refs if ref.key not in planned]
    if missing:
        raise KilnError(
            "; ".join(f"job {key} is no longer in {', '.join(holders[key])} as the recipe reads now" for key in missing)
        )
    keys = {ref.key for ref in refs}
    requeue(store, sorted(keys))
    for plan in plans:
        plan.deleted -= keys
    return plans, keys
