"""One build of the site: from the store's change sequence to the pages that changed.

1. A no-op first: when the store's change sequence and its last engine call, the theme, the
   settings and every producer's inputs are those the last build recorded (and build/ still
   has its front page as written), nothing else is read.
2. The images every collection shows are listed thin (id and revision); the files of the new
   or changed ones are published, those of images shown no more removed.
3. Collection by collection (never the whole library at once), each page is planned with the
   digest of its inputs; the pages whose digest changed are rendered in batches, by worker
   processes when there are many; pages no longer produced are removed.
4. The front page, the static files and the producers' files (kiln/site/produce.py) last.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from kiln.errors import Problem
from kiln.library.archive import is_archived
from kiln.project import Project
from kiln.site.collect import MAX_PAGE_SIZE, RECIPE_NAME, _json_object, _text, fetch_images
from kiln.site.collections import ARCHIVE, ARCHIVE_TITLE, VIRTUAL, Collection, Member, tag_folder, tags
from kiln.site.fingerprint import renderer_digest, theme_digest
from kiln.site.layout import INDEX, part_path, root_of
from kiln.site.lock import LOCK_NAME
from kiln.site.media import publish_media
from kiln.site.output import Output, static_names
from kiln.site.parts import Changes, changed_part, load_tail, tail_of
from kiln.site.pages import Page, Setup, collection_pages, digest, front_page, members_of, render_batch, shown
from kiln.site.produce import PRODUCERS, Build
from kiln.site.render import environment
from kiln.site.report import BuildReport
from kiln.site.state import FORMAT, STATE, BuildState, WrittenNames
from kiln.site.summaries import (
    NO_JOBS, RecipeSummary, VirtualSummary, dump_summaries, load_summaries, recipe_summaries, virtual_summaries,
)
from kiln.site.theme import static_sources, theme_dirs
from kiln.site.views import Gallery, archived_counts, arrange, cover, dump, header, load, parts, recipe_stats
from kiln.site.workers import Workers
from kiln.store.db import Store

SEEN_BATCH = 5000
# The newest-first collections ordered by creation alone, whose pages hold fixed slices.
APPENDABLE = ("all", "picks", "tag")
# What a recipe's header counts of an image (kiln/site/views.py), which curation never changes.
_SHAPE = "json_array(i.width, i.height, i.seed)"
# Every image some recipe's collection (or the archive) shows, with its revision and what the
# build state keeps of it (an image in two recipes comes twice: the build state keeps one).
_SHOWN_SQL = f"""
SELECT i.id, i.revision, rj.recipe, i.created_at, i.rating, i.status, i.tags, {_SHAPE} FROM recipe_jobs rj
JOIN jobs j ON j.key = rj.job_key JOIN images i ON i.id = j.image_id AND j.status != 'deleted'
WHERE rj.recipe IN (SELECT value FROM json_each(?))
"""
# The same, of the images changed since the last build (from the revision's index).
_SHOWN_SINCE_SQL = f"""
SELECT i.id, i.revision, rj.recipe, i.created_at, i.rating, i.status, i.tags, {_SHAPE} FROM images i
CROSS JOIN jobs j ON j.image_id = i.id AND j.status != 'deleted' CROSS JOIN recipe_jobs rj ON rj.job_key = j.key
WHERE rj.recipe IN (SELECT value FROM json_each(?)) AND i.revision > ?
"""
_CHANGED_SQL = "SELECT id FROM images WHERE revision > ?"
PAGE_BATCH = 100


class Builder:
    """The state of one build in progress."""

    def __init__(self, project: Project, store: Store, state: BuildState, problems: list[Problem]):
        self.project = project
        self.store = store
        self.state = state
        self.problems = problems
        self.output = Output(project.build_dir, _empty(project.build_dir))
        self.where = project.relative(project.db_path)
        self.written = WrittenNames(state.conn)
        self.removed: list[str] = []
        self.pages = 0
        # Owner -> names, for all owners but images; None: all it had before stays.
        self.declared: dict[str, set[str] | None] = {}
        # Each page handed out to be rendered: its owner and inputs, recorded when it is written.
        self.in_flight: dict[str, tuple[str, str]] = {}
        self.damaged: set[str] = set()  # owners of files found changed by someone else
        self.workers = Workers(store)
        self.batch: list[Page] = []
        self.setup: Setup | None = None
        self.missing: dict[str, str] = {}
        self.changes = Changes(-1, [], {})
        # The recipes' summaries now and as the last build recorded them (none: no such build).
        self.summaries: dict[str, RecipeSummary] = {}
        self.recorded_summaries: dict[str, RecipeSummary] = {}

    def render(self, page: Page) -> None:
        """Render ``page`` (in a batch with others)."""
        self.in_flight[page.path] = (page.owner, page.inputs)
        self.batch.append(page)
        if len(self.batch) >= PAGE_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            pages, self.batch = self.batch, []
            ids = {m.image_id for page in pages for m in members_of([page])}
            missing = {k: v for k, v in self.missing.items() if k in ids}
            self.workers.run(render_batch, (self.setup, pages, missing), self.wrote)

    # ---- files ---------------------------------------------------------------------

    def declare(self, owner: str, name: str, inputs: str, recorded: tuple[int, int, str] | None, full: bool) -> bool:
        """Note that this build produces ``name``; whether it must be made (again)."""
        self.declared.setdefault(owner, set()).add(name)  # type: ignore[union-attr]
        return full or recorded is None or recorded[2] != inputs

    def wrote(self, result: tuple[list[tuple[str, int, int, bool]], list[Problem]]) -> None:
        done, problems = result
        self.problems.extend(problems)
        rows = []
        for name, size, mtime, _ in done:
            owner, inputs = self.in_flight.pop(name)
            rows.append((name, owner, size, mtime, inputs))
        self.written.extend([name for name, _, _, written in done if written])
        self.state.record_all(rows)

    def put(self, owner: str, name: str, inputs: str, make: Callable[[], bytes], full: bool) -> None:
        """Declare ``name`` and write it when its inputs changed (the producers' way in)."""
        recorded = self.state.file(name)
        if not self.declare(owner, name, inputs, recorded, full):
            return
        try:
            data = make()
        except Exception as error:  # a producer's bug costs its file, not the build
            self.problems.append(Problem(name, None, None, f"{type(error).__name__}: {error}"))
            return
        name, size, mtime, written = self.output.write(name, data)
        self.state.record(name, owner, size, mtime, inputs)
        if written:
            self.written.append(name)

    def sweep(self, owner: str) -> None:
        """Remove what ``owner`` produced before and did not this time."""
        keep = self.declared.get(owner, set())
        if keep is None:
            return
        for name in self.state.owned(owner):
            if name not in keep:
                if self.output.remove(name):
                    self.removed.append(name)
                self.state.forget(name)


def current_sequence(store: Store) -> int:
    return store.conn.execute("SELECT seq FROM change_sequence").fetchone()[0]


def last_call(store: Store) -> int:
    """The id of the last engine call recorded (0: none). A call retried or failed moves no
    change sequence (only a job's state does), yet the stats page counts it; ids only grow, as
    kiln never deletes a call, so this one read along the primary key tells a new one."""
    return store.conn.execute("SELECT coalesce(max(id), 0) FROM attempts").fetchone()[0]


def build(project: Project, store: Store, state: BuildState, problems: list[Problem], verify: bool) -> BuildReport:
    started = time.perf_counter()
    builder = Builder(project, store, state, problems)
    theme = theme_dirs(project)
    theme_key = theme_digest(theme)
    statics = static_names(static_sources(project))
    assets = {name: published for name, (published, _) in statics.items()}
    recipes = _recipes(project, store, problems)
    links = [link for producer in PRODUCERS for link in producer.links(project)]
    site = {"title": project.title, "description": project.description}
    site_key = digest(
        FORMAT, renderer_digest(), theme_key, sorted(assets.items()), site, project.page_size, project.media,
        project.collections, [(c.name, c.recipes) for c in recipes], [(link.label, link.path) for link in links],
        [producer.inputs(project) for producer in PRODUCERS],
    )
    sequence, calls = current_sequence(store), last_call(store)
    build_key = f"{site_key}:{sequence}:{calls}"
    touched = _check(builder, None if verify else _moved_dirs(builder))
    if state.get("media") not in (project.media, "copy"):  # links to copies: every file again (copies stay)
        state.conn.execute("DELETE FROM images")
    if not touched and state.get("key") == build_key:
        return _report(builder, started, pages=int(state.get("pages") or 0), images=int(state.get("images") or 0), skipped=state.count())
    previous = state.get("sequence")
    full = state.get("site_key") != site_key
    collections = _virtual(project, store, recipes)
    since = -1 if full or previous is None else int(previous)
    # The images changed since the last build, and how it showed those it showed.
    changed = [] if since < 0 else [row[0] for row in store.conn.execute(_CHANGED_SQL, [since])]
    builder.changes = Changes(since, changed, state.seen_as(changed) if changed else {})
    builder.recorded_summaries = (load_summaries(state.get("recipe-summaries")) if not full else None) or {}
    summaries = recipe_summaries(store, since, builder.recorded_summaries or None, list(builder.changes.before))
    builder.summaries = summaries
    virtual = virtual_summaries(store, [(c.kind, c.tag) for c in collections if c.newest_first], since)

    # The images shown, with their revisions and homes; then their files. When no image the
    # last build showed moved between recipes or left (each recipe's members older than that
    # build are all it had), the list it left is kept and only the newer images are read.
    folders = {name: c.name for c in collections if c.kind in ("recipe", "archived") for name in c.recipes}
    moved = (
        full or state.get("seen") != "kept"
        or any(state.get(f"membership:{name}") != str(summaries.get(name, NO_JOBS).older) for name in folders)
    )
    state.start_seen(keep=not moved)
    state.set("seen", "")  # until this build is done with it
    # Each image's own page: in its first recipe still shown, else in the archive.
    homes: dict[str, str] = {}
    shown_images = store.conn.execute(
        *(_SHOWN_SQL, [json.dumps(sorted(folders))]) if moved else (_SHOWN_SINCE_SQL, [json.dumps(sorted(folders)), since])
    )
    while rows := shown_images.fetchmany(SEEN_BATCH):
        for image_id, _, recipe, *_ in rows:
            folder, home = folders[recipe], homes.get(image_id)
            if home is None or (folder == ARCHIVE, folder) < (home == ARCHIVE, home):
                homes[image_id] = folder
        state.see([(image_id, revision, homes[image_id], *facts) for image_id, revision, _, *facts in rows])
    for collection in collections:
        collection.homes = homes if moved else state.homes(homes)
    setup = Setup(
        project.db_path, project.build_dir, tuple(theme), theme_key, assets, site, links, builder.where, builder.output.fresh
    )
    builder.setup = setup
    try:
        missing = publish_media(
            project, store, state, builder.workers, builder.output, builder.written, builder.removed, problems
        )
        builder.missing = missing
        # What the last build recorded still holds when no image's missing files changed, and
        # (for the virtual collections) no image older than that build moved between recipes.
        missing_key = digest(sorted(missing.items()))
        kept = not full and state.get("missing") == missing_key
        homes_kept = kept and not moved
        # The pages, collection by collection.
        if full:
            builder.workers.expect(state.seen_count() // PAGE_BATCH)
        galleries = [
            _collection(
                builder, collection, site_key, missing, full, _summary(collection, summaries, virtual),
                homes_kept if collection.newest_first else kept,
            )
            for collection in collections
        ]
        index, inputs = front_page([g for g in galleries if _on_front(g)], state.seen_count(), site_key, missing)
        index.owner, index.inputs = "site", inputs
        builder.pages += 1
        if builder.declare("site", INDEX, inputs, state.file(INDEX), full):
            builder.render(index)
        builder.flush()
        # The static files and the producers' are made while the workers render the last pages.
        _produce(builder, statics, collections, full, sequence, calls, previous)
        builder.workers.wait()
    finally:
        builder.workers.close()

    for owner in state.owners():
        builder.sweep(owner)
    _record_dirs(builder)
    state.set("media", project.media)
    state.set("key", build_key)
    state.set("site_key", site_key)
    state.set("sequence", str(sequence))
    state.set("pages", str(builder.pages))
    state.set("images", str(state.seen_count()))
    state.set("missing", missing_key)
    for name in folders:
        state.set(f"membership:{name}", str(summaries.get(name, NO_JOBS).membership))
    state.set("recipe-summaries", dump_summaries(summaries))
    state.set("seen", "kept")
    for collection in collections:
        state.set(f"collection:{collection.name}", collection.digest)
    state.commit()
    return _report(
        builder, started, pages=builder.pages, images=state.seen_count(),
        skipped=state.count() - builder.written.distinct(),
    )


def _produce(
    builder: Builder, statics: dict[str, tuple[str, bytes]], collections: list[Collection], full: bool, sequence: int,
    calls: int, previous: str | None,
) -> None:
    """The static files, then each producer's (kiln/site/produce.py)."""
    project, store, setup = builder.project, builder.store, builder.setup
    for name, (published, data) in statics.items():
        builder.put("static", published, digest(data), lambda data=data: data, full)

    for producer in PRODUCERS:
        producer.produce(
            Build(
                project, store, collections, full=full, sequence=sequence, calls=calls,
                previous_sequence=int(previous) if previous is not None else None,
                files=lambda owner, name, inputs, make: builder.put(owner, name, inputs, make, full),
                render=lambda template, name, context: _render_one(setup, template, name, context),
                images=lambda ids: fetch_images(store, ids, builder.problems, builder.where),
                owner=f"producer:{producer.name}", problems=builder.problems, state=builder.state,
            )
        )


def _pages(
    builder: Builder, owner: str, pages: Iterable[tuple[Page, str]], recorded: Callable[[str], tuple[int, int, str] | None],
    full: bool, gallery: Gallery, kept: int,
) -> None:
    """Render those of a collection's ``pages`` whose inputs changed (``kept`` pages before
    them stay as they are), and record its header and page count."""
    count = kept
    for page, inputs in pages:
        count += 1
        if builder.declare(owner, page.path, inputs, recorded(page.path), full):
            page.owner, page.inputs = owner, inputs
            builder.render(page)
    builder.pages += count
    builder.state.set(f"header:{gallery.name}", dump(gallery))
    builder.state.set(f"pages:{gallery.name}", str(count))


def _on_front(gallery: Gallery) -> bool:
    """Recipes are always on the front page; the archive and the virtual ones when not empty."""
    return gallery.kind == "recipe" or gallery.count > 0


def _summary(
    collection: Collection, summaries: dict[str, RecipeSummary], virtual: dict[tuple[str, str | None], VirtualSummary],
) -> Summary:
    """The collection's summary (kiln/site/summaries.py)."""
    if collection.kind in ("recipe", "archived"):
        return Summary(tuple(summaries[name].members if name in summaries else None for name in collection.recipes))
    found = virtual[(collection.kind, collection.tag)]
    return Summary(found.members, found.older)


class Summary(NamedTuple):
    """What tells a collection unchanged (``members``) and, for a virtual one, what tells
    what else changed besides the images changed since the last build (``older``: the summary
    of its images no newer than that build)."""

    members: tuple
    older: tuple[int, int, int] | None = None


def _collection(
    builder: Builder, collection: Collection, site_key: str, missing: dict[str, str], full: bool, summary: Summary,
    may_skip: bool,
) -> Gallery:
    """Plan one collection's pages, hand the changed ones to be rendered; its header.

    A collection whose summary and settings are those the last build recorded keeps its pages
    and its header as they are, without reading its members, when ``may_skip`` (the build's
    record of missing files, and of the images' homes, still holds). Otherwise, a collection whose
    members (with their revisions), settings and job counts are as the last build saw them
    keeps them too, unplanned. A newest-first collection that only gained images newer than
    all it had, or whose changed images are all the build can tell, reads just the part they
    reach (:func:`_changed_part`).
    """
    state = builder.state
    owner = f"page:{collection.name}"
    settings = (collection.name, collection.title, collection.kind, collection.description, collection.gallery,
                collection.page_size, collection.recipes)
    saved = state.get(f"header:{collection.name}")
    summary_key = digest(site_key, settings, summary.members)
    recorded = state.get(f"summary:{collection.name}")
    state.set(f"summary:{collection.name}", summary_key)
    if may_skip and summary_key == recorded and saved is not None and owner not in builder.damaged:
        gallery = load(saved)
        collection.count, collection.digest, collection.changed = gallery.count, state.get(f"collection:{collection.name}") or "", False
        builder.declared[owner] = None  # all its pages stay
        builder.pages += int(state.get(f"pages:{collection.name}") or 0)
        return gallery
    if may_skip and saved is not None and owner not in builder.damaged and collection.kind in APPENDABLE:
        planned = _changed_part(builder, collection, site_key, missing, settings, summary, load(saved))
        if planned is not None:
            return planned
    if may_skip and saved is not None and owner not in builder.damaged and collection.kind == "recipe":
        planned = _curated_recipe(builder, collection, site_key, missing, settings, load(saved))
        if planned is not None:
            return planned
    members = list(collection.members(builder.store))
    stats = recipe_stats(builder.store, collection)
    collection.count = len(members)
    collection.digest = digest(site_key, settings, stats, [shown(m, missing) for m in members])
    collection.changed = full or state.get(f"collection:{collection.name}") != collection.digest or saved is None
    if not collection.changed and owner not in builder.damaged:
        builder.declared[owner] = None  # all its pages stay
        builder.pages += int(state.get(f"pages:{collection.name}") or 0)
        return load(saved)
    members = arrange(collection, members, builder.problems, builder.where)
    archived = archived_counts(collection, members) if collection.kind == "archived" else []
    gallery = header(collection, members, stats, archived, builder.problems, builder.where)
    files = state.files_of(owner)
    _pages(builder, owner, collection_pages(gallery, members, site_key, missing), files.get, full, gallery, 0)
    if collection.kind in APPENDABLE:
        tail = tail_of(members, collection.page_size, summary.members)
        state.set(f"tail:{collection.name}", tail.dump() if tail else "")
    if collection.kind == "recipe":
        state.set(f"order:{collection.name}", json.dumps([m.image_id for m in members]))
    return gallery


def _changed_part(
    builder: Builder, collection: Collection, site_key: str, missing: dict[str, str], settings: tuple, summary: Summary,
    gallery: Gallery,
) -> Gallery | None:
    """The pages of a newest-first collection planned from the part the images changed since
    the last build reach (kiln/site/parts.py), its older parts left as they are; None when
    more changed than those images and it must be read whole.

    Only the first page, the header and the parts from the lowest one holding a changed image
    (or two below the newest, for the neighbour links) are planned again; the header's counts
    move by the changed images' statuses before and after, and its cover is the best of the
    old cover and the images that came, unless the cover itself changed (then SQLite finds it).
    """
    state, name = builder.state, collection.name
    part = changed_part(
        builder.store, collection, load_tail(state.get(f"tail:{name}")), summary.members, summary.older, builder.changes
    )
    if part is None:
        return None
    owner = f"page:{name}"
    previous = state.get(f"collection:{name}") or ""
    touched = part.came or part.went
    changes = ([shown(m, missing) for m in part.came], sorted(s.id for s in part.went))
    collection.count = part.count
    collection.digest = digest(previous, site_key, settings, part.count, changes) if touched else previous
    collection.changed = collection.digest != previous
    gallery.count = part.count
    for status, step in [*((m.status, 1) for m in part.came), *((s.status, -1) for s in part.went)]:
        gallery.selected += step if status == "selected" else 0
        gallery.rejected += step if status == "rejected" else 0
    numbers = parts(gallery)
    gallery.page_count = len(numbers) + 1
    old_cover = gallery.cover_member
    if old_cover is not None and old_cover.image_id in {*builder.changes.before, *(m.image_id for m in part.came)}:
        gallery.cover_member = collection.best(builder.store)
    else:
        # The best of the images that came against the old cover; on a tie the newer wins, as in a full read.
        candidates = sorted([*part.came, *filter(None, [old_cover])], key=lambda m: (m.created_at, m.image_id), reverse=True)
        gallery.cover_member = cover(collection, candidates, builder.problems, builder.where)
    kept = [part_path(name, number) for number in numbers if number not in part.parts]
    builder.declared.setdefault(owner, set()).update(kept)  # type: ignore[union-attr]
    pages = collection_pages(gallery, part.members, site_key, missing, part.parts)
    _pages(builder, owner, pages, state.file, False, gallery, len(kept))
    state.set(f"tail:{name}", part.tail.dump())
    return gallery


def _curated_recipe(
    builder: Builder, collection: Collection, site_key: str, missing: dict[str, str], settings: tuple, gallery: Gallery,
) -> Gallery | None:
    """The pages of a recipe whose images are the last build's, in its order, and whose only
    change since is images curated (their revisions moved): the first page, and the gallery
    page and own page of each curated image, planned from their members alone; None when that
    is not what happened (or its gallery is sorted, has a grid, or the cover itself changed).

    Its order is the list of ids the last build recorded; its jobs, places and images are those
    of that build when the recipe was not stamped since (store migration 0014) and its
    membership summary is the one recorded. The neighbours' own pages name them by id only."""
    state, store, name = builder.state, builder.store, collection.name
    recorded, summary = builder.recorded_summaries.get(name), builder.summaries.get(name)
    order = state.get(f"order:{name}")
    if collection.gallery.get("sort") is not None or gallery.grid is not None or not order or recorded is None or summary is None:
        return None
    if recorded[:5] != summary[:5] or recorded.membership != summary.membership:  # jobs and images as they were
        return None
    stamped = store.conn.execute("SELECT revision FROM recipes WHERE name = ?", [name]).fetchone()
    if stamped is None or stamped[0] > builder.changes.since:
        return None
    ids: list[str] = json.loads(order)
    if len(ids) != gallery.count or len(ids) != summary.shown:
        return None
    index = {image_id: i for i, image_id in enumerate(ids)}
    curated = sorted(index[i] for i in builder.changes.ids if i in index)
    if not curated or any(ids[i] not in builder.changes.before for i in curated):
        return None
    shapes = dict(store.conn.execute(
        f"SELECT i.id, {_SHAPE} FROM images i WHERE i.id IN (SELECT value FROM json_each(?))", [json.dumps([ids[i] for i in curated])]
    ))
    if any(shapes.get(ids[i]) != builder.changes.before[ids[i]].shape for i in curated):
        return None  # more than their curation changed: the header's sizes or seeds may have
    size = collection.page_size
    wanted = set(range(min(size, len(ids))))  # the first page
    for i in curated:
        page = i // size
        wanted.update(range(page * size, min(len(ids), (page + 1) * size)))
        wanted.update(j for j in (i - 1, i + 1) if 0 <= j < len(ids))
    found = collection.members_of(store, [ids[i] for i in wanted])
    if len(found) != len(wanted):
        return None
    members: list[Member | None] = [None] * len(ids)
    for i in wanted:
        members[i] = found[ids[i]]
    came = [found[ids[i]] for i in curated]
    went = [builder.changes.before[ids[i]] for i in curated]
    for status, step in [*((m.status, 1) for m in came), *((s.status, -1) for s in went)]:
        gallery.selected += step if status == "selected" else 0
        gallery.rejected += step if status == "rejected" else 0
    old_cover = gallery.cover_member
    if old_cover is None or old_cover.image_id not in index or collection.gallery.get("cover") is not None:
        return None
    if old_cover.image_id in builder.changes.before:
        return None  # the cover itself changed: every member is a candidate
    # The best of the curated images against the old cover; on a tie the earlier wins, as in a full read.
    candidates = sorted([old_cover, *came], key=lambda m: index[m.image_id])
    gallery.cover_member = cover(collection, candidates, builder.problems, builder.where)
    previous = state.get(f"collection:{name}") or ""
    collection.count = len(ids)
    collection.digest = digest(previous, site_key, settings, [shown(m, missing) for m in came])
    collection.changed = True
    owner = f"page:{name}"
    numbers = {i // size + 1 for i in curated}
    pages = list(collection_pages(gallery, members, site_key, missing, numbers, curated))
    _pages(builder, owner, pages, state.file, False, gallery, int(state.get(f"pages:{name}") or 0) - len(pages))
    builder.declared[owner] = None  # the rest of its pages stay
    return gallery


def _recipes(project: Project, store: Store, problems: list[Problem]) -> list[Collection]:
    """The recipes' collections, then the archive (a few rows, and a ``stat`` per recipe)."""
    where = project.relative(project.db_path)
    recipes: list[Collection] = []
    archived: list[str] = []
    for row in store.query("SELECT name, path, kind, title, description, gallery FROM recipes ORDER BY name"):
        name = row["name"]
        if not RECIPE_NAME.match(name):
            problems.append(Problem(where, None, f"recipes.{name}", "not a valid recipe name; skipped"))
            continue
        if is_archived(project, row["path"], row["kind"]):
            archived.append(name)
            continue
        gallery = _json_object(row["gallery"], problems, where, f"recipes.{name}.gallery")
        recipes.append(
            Collection(
                name, _text(gallery.get("title")) or row["title"] or name, "recipe",
                _page_size(gallery, project.page_size, problems, where, name), description=row["description"] or "",
                gallery=gallery, recipes=[name],
            )
        )
    if archived:
        recipes.append(Collection(ARCHIVE, ARCHIVE_TITLE, "archived", project.page_size, recipes=archived))
    return recipes


def _virtual(project: Project, store: Store, recipes: list[Collection]) -> list[Collection]:
    """``recipes`` and after them the virtual collections kiln.toml chose."""
    shown = list(recipes)
    for kind in project.collections:
        if kind == "tags":
            folders: set[str] = set()
            for tag in tags(store):
                folder = tag_folder(tag)
                if folder not in folders:  # tags differing only in case or punctuation share one
                    folders.add(folder)
                    shown.append(Collection(folder, f"#{tag}", "tag", project.page_size, tag=tag))
        else:
            folder, title = VIRTUAL[kind]
            shown.append(Collection(folder, title, kind, project.page_size))
    return shown


def _page_size(gallery: dict[str, Any], default: int, problems: list[Problem], where: str, name: str) -> int:
    size = gallery.get("page_size", default)
    if isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_PAGE_SIZE:
        return size
    problems.append(
        Problem(where, None, f"recipes.{name}.gallery.page_size", f"expected an integer from 1 to {MAX_PAGE_SIZE}, got {size!r}")
    )
    return default


def _render_one(setup: Setup, template: str, name: str, context: dict) -> bytes:
    env = environment(setup.theme, setup.theme_key)
    common = {"site": setup.site, "assets": setup.assets, "links": setup.links}
    return env.get_template(template).render(common, root=root_of(name), **context).encode("utf-8")


def _empty(build_dir: Path) -> bool:
    """Whether the build folder holds nothing but the build's own state and lock."""
    with os.scandir(build_dir) as entries:
        return all(entry.name in (STATE, LOCK_NAME) for entry in entries)


def _moved_dirs(builder: Builder) -> list[str]:
    """The folders kiln wrote into whose modification time moved since (a file deleted or
    added there by someone else): a handful of ``stat`` calls."""
    moved = []
    for path, mtime in builder.state.dirs():
        try:
            if (builder.project.build_dir / path).stat().st_mtime_ns == mtime:
                continue
        except FileNotFoundError:
            pass
        moved.append(path)
    return moved


def _check(builder: Builder, folders: list[str] | None) -> bool:
    """Forget each recorded file in ``folders`` (None: everywhere) that is not as the last
    build left it, so this build makes it again; whether there was any."""
    root = builder.project.build_dir
    stamps = builder.state.stamps() if folders is None else [s for f in folders for s in builder.state.stamps_in(f)]
    changed = False
    for name, size, mtime in stamps:
        try:
            stat = (root / name).stat()
            if (stat.st_size, stat.st_mtime_ns) == (size, mtime):
                continue
        except FileNotFoundError:
            pass
        changed = True
        found = builder.state.conn.execute("SELECT owner FROM files WHERE name = ?", [name]).fetchone()
        builder.damaged.add(found[0] if found else "")
        builder.state.conn.execute("UPDATE files SET inputs = '' WHERE name = ?", [name])
        builder.state.conn.execute(
            "DELETE FROM images WHERE 'image:' || id = (SELECT owner FROM files WHERE name = ?)", [name]
        )
    return changed or bool(folders)


def _record_dirs(builder: Builder) -> None:
    """The modification time of every folder kiln has files in, as this build leaves it."""
    folders = {path for path, _ in builder.state.dirs()} | {"", *builder.written.folders}
    stamps = {}
    for folder in folders:
        try:
            stamps[folder] = (builder.project.build_dir / folder).stat().st_mtime_ns
        except FileNotFoundError:
            continue
    builder.state.record_dirs(stamps)


def _distinct(problems: list[Problem]) -> list[Problem]:
    """Each problem once: an image read by two steps of the build is reported once."""
    seen: set[str] = set()
    return [p for p in problems if not (str(p) in seen or seen.add(str(p)))]


def _report(builder: Builder, started: float, *, pages: int, images: int, skipped: int) -> BuildReport:
    return BuildReport(
        written=len(builder.written),
        skipped=skipped,
        removed=len(builder.removed),
        pages=pages,
        images=images,
        seconds=time.perf_counter() - started,
        problems=_distinct(builder.problems),
        target=builder.project.relative(builder.project.build_dir),
        written_names=builder.written.names(),
        removed_names=builder.removed,
    )

