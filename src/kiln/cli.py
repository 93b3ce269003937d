"""The ``kiln`` command line: parse options, call one library function, print the result."""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from kiln import __version__
from kiln.errors import InputError, KilnError
from kiln.project import Project, load_project
from kiln.store import Store, open_store
from kiln.store.db import write_failure
from kiln.terminal import printable

F = TypeVar("F", bound=Callable[..., Any])


def echo(text: str = "", *, err: bool = False, fg: str | None = None) -> None:
    """Print a line of output; what users wrote (file names, prompts) cannot act on the terminal."""
    click.secho(printable(text), err=err, fg=fg)


def reports_errors(command: F) -> F:
    """Print a :class:`KilnError` as a message (every problem on its own line) and exit 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as error:
            for problem in error.problems:
                echo(f"error: {problem}", fg="red", err=True)
            count = len(error.problems)
            echo(f"{count} problem{'s' if count != 1 else ''} found; {_untouched()}.", err=True)
            sys.exit(1)
        except KilnError as error:
            echo(f"error: {error}", fg="red", err=True)
            sys.exit(1)
        except (sqlite3.OperationalError, OSError) as error:
            # A read-only or full store or disk is the user's to fix, not a bug to trace.
            meaning = write_failure(error)
            if meaning is None:
                raise
            subject = getattr(error, "filename", None) or "the store"
            echo(f"error: cannot write {subject}: it {meaning}; nothing was changed", fg="red", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


# What a command that stopped on bad input left undone, in its own words.
_UNDONE = {"build": "nothing was built", "import": "nothing was imported", "import-queue": "nothing was imported"}


def _untouched() -> str:
    context = click.get_current_context(silent=True)
    name = context.info_name if context else None
    if name in ("check", "plan", "run", None):
        return "nothing was run"
    return _UNDONE.get(name, "nothing was changed")


def _project(path: str | None) -> Project:
    """The project named after the command, else before it (``kiln -C DIR check``), else found from here up."""
    if path is None:
        context = click.get_current_context(silent=True)
        path = context.find_root().meta.get("kiln.project_path") if context else None
    return load_project(Path(path) if path else None)


_PROJECT_HELP = "Project folder (default: the nearest folder with kiln.toml, from here up)."
project_option = click.option(
    "-C", "--project", "project_path", type=click.Path(file_okay=False, exists=True), help=_PROJECT_HELP,
)


def _remember_project(context: click.Context, parameter: click.Parameter, value: str | None) -> None:
    context.meta["kiln.project_path"] = value


@click.group()
@click.version_option(__version__, prog_name="kiln")
@click.option(
    "-C", "--project", type=click.Path(file_okay=False, exists=True), expose_value=False, is_eager=True,
    callback=_remember_project, help=_PROJECT_HELP + " Given before the command, as git takes it, or after it.",
)
def cli() -> None:
    """kiln: image generation as a build.

    Recipes in recipes/*.toml describe batches; `kiln run` generates what is new into art/,
    `kiln build` renders the gallery into build/, `kiln datasette` opens the store.
    """


@cli.command()
@project_option
@reports_errors
def check(project_path: str | None) -> None:
    """Validate kiln.toml and every recipe (expanding each) without running anything."""
    from kiln.recipe.lint import check_project

    report = check_project(_project(project_path))
    for checked in report.checked:
        echo(f"{checked.label}: ok, {checked.summary}")
    for warning in report.warnings:
        echo(f"warning: {warning}", fg="yellow", err=True)
    if report.problems:
        raise InputError(report.problems)
    count, warned = len(report.checked), len(report.warnings)
    notes = f", {warned} warning{'s' if warned != 1 else ''}" if warned else ""
    echo(f"{count} recipe{'s' if count != 1 else ''} checked, no problems{notes}.")


@cli.command()
@click.argument("recipe")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job, one per line.")
@project_option
@reports_errors
def plan(recipe: str, as_json: bool, project_path: str | None) -> None:
    """Show the axes and jobs RECIPE expands to and how many already have an image.

    RECIPE is a file's name (every batch in it) or a batch's recipe name (FILE-BATCH).
    """
    from kiln.plan import make_plan, table
    from kiln.recipe import load_all

    from kiln.store.db import open_store_to_read

    project = _project(project_path)
    recipes = load_all(project, [recipe])
    store = open_store_to_read(project.db_path)
    for recipe_plan in make_plan(recipes, project, store):
        if as_json:
            for job in recipe_plan.jobs:
                record = {"key": job.key, **job.spec, "template": job.template, "axes": job.axes,
                          "exists": job.key in recipe_plan.done, "deleted": job.key in recipe_plan.deleted}
                echo(json.dumps(record, ensure_ascii=False, sort_keys=True))
        else:
            echo("\n".join(table(recipe_plan)))


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@cli.command()
@click.argument("recipes", nargs=-1)
@click.option("--redo", multiple=True, metavar="ID",
              help="Make this job again on purpose (a job key or the id of the image it made, deleted or not), and only it.")
@project_option
@reports_errors
def run(recipes: tuple[str, ...], redo: tuple[str, ...], project_path: str | None) -> None:
    """Generate every job of RECIPES (default: all) that has no image yet."""
    from kiln.progress import BarObserver, LineObserver, summary
    from kiln.runner import run_recipes

    if redo and recipes:
        raise KilnError("give recipe names or --redo, not both: a redo makes only the jobs it names")
    project = _project(project_path)
    # SIGTERM stops the run the way Ctrl-C does: finish what is in hand, then exit.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if sys.stderr.isatty():
        with BarObserver() as observer:
            report = run_recipes(project, list(recipes), observer, redo=list(redo))
    else:
        report = run_recipes(project, list(recipes), LineObserver(), redo=list(redo))
    for line in summary(report):
        echo(line)
    for warning in report.warnings:
        echo(f"warning: {warning}", fg="yellow", err=True)
    if report.paused:
        echo(
            f"Paused: {report.paused}. Unstarted jobs stay queued; fix the cause and run 'kiln run' again.",
            err=True,
        )
        sys.exit(1)
    if report.interrupted:
        echo("Interrupted: finished images are kept. Run 'kiln run' again to resume.", err=True)
        sys.exit(130)
    if report.failed:
        sys.exit(1)


@cli.command()
@project_option
@click.option("--verify", is_flag=True, help="Also check every file kiln wrote in build/ and make again those changed by hand.")
@reports_errors
def build(project_path: str | None, verify: bool) -> None:
    """Render the static gallery into build/, doing only what changed since the last build."""
    from kiln.site import build_site

    project = _project(project_path)
    report = build_site(project, open_store(project.db_path), verify=verify)
    for problem in report.problems:
        echo(f"warning: {problem}", fg="yellow", err=True)
    echo(str(report))


def _store(project: Project) -> Store:
    return open_store(project.db_path)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--watch", is_flag=True, help="Also run the recipes when they (or what they read) change.")
@project_option
@reports_errors
def serve(host: str, port: int, watch: bool, project_path: str | None) -> None:
    """Serve the gallery with culling on; rebuild and reload pages when anything changes."""
    from kiln.server import Server, is_loopback

    project = _project(project_path)
    if not is_loopback(host):
        echo(f"warning: listening on {host} makes the gallery visible to other machines", fg="yellow", err=True)
    server = Server(project, host, port, run_recipes=watch)
    # SIGTERM and SIGHUP stop it as Ctrl-C does, from the first build on.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        server.start()
        echo(f"Serving {project.relative(project.build_dir)}/ at {server.url} (Ctrl-C stops)")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8001, show_default=True, help="Port to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open a browser once it is up.")
@click.option("--print-command", is_flag=True, help="Print the datasette command line instead of running it.")
@project_option
@reports_errors
def datasette(host: str, port: int, open_browser: bool, print_command: bool, project_path: str | None) -> None:
    """Open the store in Datasette: search prompts, facet, query with SQL."""
    import shlex

    from kiln import datasette_app

    project = _project(project_path)
    if print_command:
        echo(shlex.join(datasette_app.command(project, host, port)))
        return
    datasette_app.serve(project, host=host, port=port, open_browser=open_browser)


@cli.command()
@click.option("--failed", is_flag=True, help="Only failed jobs, with their errors.")
@click.option("--deleted", is_flag=True, help="Only jobs whose image was deleted (with --failed: both).")
@click.option("--recipe", help="Only the jobs of this recipe.")
@click.option("--limit", default=50, show_default=True, help="At most this many rows.")
@project_option
@reports_errors
def jobs(failed: bool, deleted: bool, recipe: str | None, limit: int, project_path: str | None) -> None:
    """List jobs and their state, newest first."""
    from kiln.store.queries import list_jobs

    rows = list_jobs(_store(_project(project_path)), failed=failed, deleted=deleted, recipe=recipe, limit=limit)
    for row in rows:
        line = f"{row['key']}  {row['status']:<9}  {row['recipe']:<16}  attempts {row['attempts']}"
        if row["error"]:
            line += f"  {row['error_code']}: {row['error']}"
        if row["status"] == "deleted" and row["image_id"]:
            line += f"  was image {row['image_id']}"
        echo(line)
    echo(f"{len(rows)} job{'s' if len(rows) != 1 else ''}")


@cli.command()
@click.option("--limit", default=20, show_default=True, help="At most this many runs.")
@project_option
@reports_errors
def runs(limit: int, project_path: str | None) -> None:
    """List runs, newest first, with their counts."""
    from kiln.store.queries import list_runs

    rows = list_runs(_store(_project(project_path)), limit=limit)
    for row in rows:
        line = (
            f"#{row['id']:<4} {row['started_at']}  {row['status']:<11}  {row['generated']} generated,"
            f" {row['skipped']} skipped, {row['failed']} failed, {row['retries']} retried"
        )
        if row["stop_reason"]:
            line += f"  ({row['stop_reason']})"
        echo(line)
    echo(f"{len(rows)} run{'s' if len(rows) != 1 else ''}")


@cli.group()
def engine() -> None:
    """Engines: list the configured ones, test one, or serve the built-in one."""


@engine.command("list")
@project_option
@reports_errors
def engine_list(project_path: str | None) -> None:
    """Show the engines kiln.toml configures (and the built-in placeholder)."""
    from kiln.engines import engine_class

    project = _project(project_path)
    for name in sorted({"placeholder", *project.engines}):
        config = project.engine(name)
        try:
            kind = engine_class(config)
        except KilnError as error:
            echo(f"{name:<16} {config.type:<12} {error}")
            continue
        workers = config.options.get("concurrency", kind.concurrency)
        mode = "local, one job at a time" if kind.local else f"remote, up to {workers} at once"
        echo(f"{name:<16} {config.type:<12} {mode}")


@engine.command("test")
@click.argument("name")
@click.option("--model", help="Model to load (default: the engine's placeholder model or the first configured).")
@click.option("--size", default="256x256", show_default=True, help="Size of the test image.")
@project_option
@reports_errors
def engine_test(name: str, model: str | None, size: str, project_path: str | None) -> None:
    """Start engine NAME, load a model and make one small image, timing each phase."""
    from kiln.engine_check import check_engine

    project = _project(project_path)
    for phase, seconds, detail in check_engine(project, name, model=model, size=size):
        echo(f"{phase:<10} {seconds * 1000:8.0f} ms  {detail}")


@engine.command("serve")
def engine_serve() -> None:
    """Speak the NDJSON engine protocol on stdin/stdout, backed by the placeholder engine."""
    from kiln.engines.server import main

    sys.exit(main([]))


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False))
@click.option("--title", default="My images", show_default=True, help="The gallery's title.")
@reports_errors
def init(folder: str, title: str) -> None:
    """Start a project in FOLDER: kiln.toml, recipes/ with a first recipe, site_templates/."""
    from kiln.scaffold import create_project

    for path in create_project(Path(folder), title):
        echo(f"created {path}")


@cli.command("new")
@click.argument("name")
@project_option
@reports_errors
def new_recipe(name: str, project_path: str | None) -> None:
    """Write recipes/NAME.toml: a commented starter recipe that passes kiln check."""
    from kiln.recipe.starter import write_starter

    path = write_starter(_project(project_path), name)
    echo(f"created {path}; 'kiln plan {name}' shows its jobs")


@cli.command()
@project_option
@reports_errors
def prompts(project_path: str | None) -> None:
    """List the prompt library (prompts/*.txt, *.md) with words, wildcards and uses."""
    from kiln.plan import prompt_library

    project = _project(project_path)
    rows = prompt_library(project, _store(project))
    if rows:
        width = max(len("name"), *(len(row["name"]) for row in rows))
        echo(f"{'name':<{width}}  words  wildcards  uses  last used")
    for row in rows:
        used = row["last_used_at"][:16].replace("T", " ") if row["last_used_at"] else "never"
        wildcards = "yes" if row["has_wildcards"] else "no"
        echo(f"{row['name']:<{width}}  {row['words']:>5}  {wildcards:<9}  {row['use_count']:>4}  {used}")
    folder = project.relative(project.prompts_dir)
    echo(f"{len(rows)} library prompt{'s' if len(rows) != 1 else ''} in {folder}/")


@cli.command("import-queue")
@click.argument("queue_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--engine", "engine_name", default="placeholder", show_default=True,
              help="The engine (from kiln.toml) the imported recipes use.")
@click.option("--force", is_flag=True, help="Overwrite recipe files that already exist.")
@project_option
@reports_errors
def import_queue(queue_file: str, engine_name: str, force: bool, project_path: str | None) -> None:
    """Convert a legacy JSON generation queue into recipe files, one per group."""
    from kiln.recipe.legacy_queue import import_queue as convert

    report = convert(_project(project_path), Path(queue_file), engine=engine_name, force=force)
    echo("\n".join(report.lines()))


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--collection", metavar="NAME", help="The gallery collection they go in (default: each folder's name).")
@click.option("--glob", metavar="PATTERN", help="Only files whose name (or path under the folder) matches, e.g. '*.png'.")
@click.option("--copy", "mode", flag_value="copy", default=True, help="Copy the files into art/ (the default).")
@click.option("--link", "mode", flag_value="link", help="Hard-link them into art/ where the file system allows (else copy).")
@click.option("--move", "mode", flag_value="move", help="Move them into art/: each source goes once its rows are in.")
@click.option("--picked-dir", multiple=True, metavar="DIR", help="Files in DIR (a folder under each folder imported, or its path) are picks. Repeatable.")
@click.option("--rejected-dir", multiple=True, metavar="DIR", help="Files in DIR (a folder under each folder imported, or its path) are rejects. Repeatable.")
@click.option("--thumbs-dir", multiple=True, metavar="DIR", help="Thumbnails in DIR are adopted instead of made again. Repeatable.")
@project_option
@reports_errors
def import_images(
    paths: tuple[Path, ...], collection: str | None, glob: str | None, mode: str, picked_dir: tuple[str, ...],
    rejected_dir: tuple[str, ...], thumbs_dir: tuple[str, ...], project_path: str | None,
) -> None:
    """Import existing images (files, and folders walked recursively) with their generation metadata.

    PNG, JPEG, WebP and AVIF; an image already in the store is a duplicate and skipped, and
    importing the same files again changes nothing. [import] picked, rejected and thumbs in
    kiln.toml give the folder options their defaults.
    """
    from kiln.importing.pipeline import ImportOptions, import_paths
    from kiln.importing.progress import ImportBar, ImportLines
    from kiln.importing.sources import Folders

    project = _project(project_path)
    configured = project.import_folders
    folders = Folders(
        picked=picked_dir or configured.get("picked", ()),
        rejected=rejected_dir or configured.get("rejected", ()),
        thumbs=thumbs_dir or configured.get("thumbs", ()),
    )
    options = ImportOptions(collection=collection, mode=mode, glob=glob, folders=folders)
    store = _store(project)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if sys.stderr.isatty():
        with ImportBar() as bar:
            report = import_paths(project, store, list(paths), options, bar)
    else:
        report = import_paths(project, store, list(paths), options, ImportLines())
    for line in report.lines():
        echo(line)
    if report.interrupted:
        echo("Interrupted: what was imported is kept. Run the same import again to finish it.", err=True)
        sys.exit(130)
    if report.failed:
        sys.exit(1)


# curation ---------------------------------------------------------------------------------


def selection_options(command: F) -> F:
    """--recipe, --search and --where: the images to act on, instead of IDs."""
    for option in reversed([
        click.option("--recipe", metavar="NAME", help="The images of recipe NAME, instead of IDs."),
        click.option("--search", metavar="WORDS", help="Images whose prompt or notes hold every word (full-text, as in Datasette)."),
        click.option("--where", metavar="SQL", help="Images matching a WHERE clause on the images table (read-only)."),
    ]):
        command = option(command)
    return command


def _chosen(store: Store, prefixes: list[str], recipe: str | None, search: str | None, where: str | None) -> list[str]:
    """Full image ids from ID prefixes or from a selection (never both)."""
    from kiln.library.curation import resolve_ids, select_ids

    selection = {"--recipe": recipe, "--search": search, "--where": where}
    given = {name: value for name, value in selection.items() if value is not None}
    if given and prefixes:
        raise KilnError(f"give image IDs or a selection (--recipe, --search, --where), not both: {' '.join(prefixes)}")
    if given:
        ids = select_ids(store, recipe=recipe, search=search, where=where)
        if not ids:
            raise KilnError("no image matches " + " ".join(f"{name} {value!r}" for name, value in given.items()))
        return ids
    if not prefixes:
        raise KilnError("give image IDs (4 or more digits of each), or --recipe, --search or --where")
    return resolve_ids(store, prefixes)


def _curate(project_path: str | None, prefixes: list[str], selection: dict[str, str | None], change: Any) -> None:
    from kiln.library.curation import apply_change

    store = _store(_project(project_path))
    ids = _chosen(store, prefixes, **selection)
    echo(apply_change(store, ids, change, "cli").describe())


@cli.command()
@click.argument("args", nargs=-1, metavar="ID... N")
@selection_options
@project_option
@reports_errors
def rate(args: tuple[str, ...], recipe: str | None, search: str | None, where: str | None, project_path: str | None) -> None:
    """Rate images 1 to 5 stars; 0 clears the rating. The rating comes last: kiln rate 3f9a 77c0 4."""
    from kiln.library.curation import Change

    if not args:
        raise KilnError("give the images and then the rating: kiln rate ID... N (N from 0 to 5)")
    *prefixes, value = args
    if value not in {"0", "1", "2", "3", "4", "5"}:
        raise KilnError(f"the rating comes last and is a number from 0 to 5 (0 clears it), got {value!r}")
    _curate(project_path, prefixes, {"recipe": recipe, "search": search, "where": where}, Change(rating=int(value)))


def _status_command(name: str, status: str, summary: str) -> None:
    @cli.command(name, help=summary)
    @click.argument("prefixes", nargs=-1, metavar="ID...")
    @selection_options
    @project_option
    @reports_errors
    def command(prefixes: tuple[str, ...], recipe: str | None, search: str | None, where: str | None,
                project_path: str | None) -> None:
        from kiln.library.curation import Change

        _curate(project_path, list(prefixes), {"recipe": recipe, "search": search, "where": where}, Change(status=status))


_status_command("pick", "selected", "Pick images: the keepers (status selected).")
_status_command("reject", "rejected", "Reject images (status rejected): the ones not to keep.")
_status_command("clear", "", "Clear the pick or reject of images (their rating, tags and notes stay).")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, metavar="ID... TAG...")
@selection_options
@project_option
@reports_errors
def tag(args: tuple[str, ...], recipe: str | None, search: str | None, where: str | None, project_path: str | None) -> None:
    """Add (+sky, or just sky) and remove (-draft) tags: kiln tag 3f9a 77c0 +sky -draft.

    Tags start at the first word with + or -, or are the last word when none has a sign.
    """
    from kiln.library.curation import Change

    selected = recipe is not None or search is not None or where is not None
    if selected:
        split = 0
    else:
        split = next((i for i, word in enumerate(args) if word[:1] in "+-"), len(args) - 1)
    prefixes, words = list(args[:split]), args[split:]
    if not words or not (selected or prefixes):
        raise KilnError("give the images and then the tags: kiln tag ID... +tag -tag (a word without a sign is added)")
    added = tuple(word.removeprefix("+") for word in words if not word.startswith("-"))
    removed = tuple(word[1:] for word in words if word.startswith("-"))
    change = Change(add_tags=added, remove_tags=removed)
    _curate(project_path, prefixes, {"recipe": recipe, "search": search, "where": where}, change)


@cli.command()
@click.argument("args", nargs=-1, metavar="ID TEXT")
@selection_options
@project_option
@reports_errors
def note(args: tuple[str, ...], recipe: str | None, search: str | None, where: str | None, project_path: str | None) -> None:
    """Set the note of an image (searchable with --search); an empty TEXT clears it."""
    from kiln.library.curation import Change

    selected = recipe is not None or search is not None or where is not None
    if len(args) != (1 if selected else 2):
        usage = "kiln note --recipe NAME TEXT" if selected else "kiln note ID TEXT"
        raise KilnError(f"give one image and the note in quotes: {usage}")
    *prefixes, text = args
    _curate(project_path, prefixes, {"recipe": recipe, "search": search, "where": where}, Change(note=text))


@cli.command()
@click.argument("prefix", metavar="ID")
@project_option
@reports_errors
def show(prefix: str, project_path: str | None) -> None:
    """Everything about one image: file, prompt, settings, recipe, curation, derivatives, history."""
    from kiln.library.curation import resolve_ids
    from kiln.library.show import image_lines

    project = _project(project_path)
    store = _store(project)
    (image_id,) = resolve_ids(store, [prefix])
    echo("\n".join(image_lines(store, image_id, project.relative(project.art_dir))))
def _stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


@cli.command("rm")
@click.argument("ids", nargs=-1)
@click.option("--rejected", is_flag=True, help="Every rejected image (of --recipe, if given).")
@click.option("--recipe", help="Every image of this recipe (with --rejected, its rejected ones); an archived recipe or imported collection is forgotten too.")
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.option("--dry-run", is_flag=True, help="Only print what would be deleted.")
@project_option
@reports_errors
def rm(ids: tuple[str, ...], rejected: bool, recipe: str | None, yes: bool, dry_run: bool, project_path: str | None) -> None:
    """Delete images (IDS are unique prefixes of their ids): files and rows, for good.

    Their jobs are marked deleted, so 'kiln run' does not make them again; 'kiln run --redo ID'
    or 'kiln requeue' does, on purpose. The history of ratings and picks is kept.
    """
    from kiln.library.deletion import delete, human_size, plan_ids, plan_recipe, plan_rejected

    if ids and (rejected or recipe):
        raise KilnError("give image ids or a selection (--rejected, --recipe), not both")
    if not (ids or rejected or recipe):
        raise KilnError("name the images to delete: IDS, --rejected or --recipe NAME")
    project = _project(project_path)
    store = _store(project)
    if ids:
        plan = plan_ids(project, store, ids)
    elif rejected:
        plan = plan_rejected(project, store, recipe)
    else:
        assert recipe is not None
        plan = plan_recipe(project, store, recipe)
    if not plan.images and not plan.forget:
        echo("Nothing to delete.")
        return
    for note in plan.notes():
        echo(note)
    if dry_run:
        for image in plan.images:
            echo(f"  {image.id}  {human_size(image.bytes):>10}  {', '.join(image.recipes) or '-'}")
        echo(f"Would delete {plan.describe()}; nothing was deleted (--dry-run).")
        return
    if not yes:
        if not _stdin_is_interactive():
            raise KilnError(f"not asking to delete {plan.describe()}: the input is not a terminal; pass --yes to delete or --dry-run to list them")
        if not click.confirm(printable(f"Delete {plan.describe()}?"), default=False, prompt_suffix=" "):
            echo("Nothing deleted.")
            return
    result = delete(project, store, plan)
    echo(f"Deleted {result.describe()}")
    if result.forgotten:
        echo(f"Forgot the {result.forgotten_as}{'s' if len(result.forgotten) > 1 else ''} {', '.join(result.forgotten)}")
    if result.leftovers:
        echo(f"Removed {result.leftovers} file{'s' if result.leftovers != 1 else ''} an interrupted deletion left behind")
    for problem in result.problems:
        echo(f"warning: {problem}", fg="yellow", err=True)


@cli.command()
@click.argument("keys", nargs=-1)
@click.option("--recipe", help="Every deleted and failed job of this recipe.")
@project_option
@reports_errors
def requeue(keys: tuple[str, ...], recipe: str | None, project_path: str | None) -> None:
    """Put deleted (and failed) jobs back in the queue, so the next 'kiln run' makes them.

    KEYS are unique prefixes of job keys or of the ids their images had.
    """
    from kiln.library.requeue import recipe_jobs, requeue as put_back, resolve_jobs

    if not (keys or recipe):
        raise KilnError("name the jobs to requeue: KEYS or --recipe NAME")
    store = _store(_project(project_path))
    wanted = [ref.key for ref in resolve_jobs(store, keys)] if keys else []
    if recipe:
        wanted += [key for key in recipe_jobs(store, recipe) if key not in wanted]
    result = put_back(store, wanted)
    for ref in result.left:
        echo(f"note: job {ref.key} is {ref.status}, not deleted or failed; left as it is")
    echo(f"{result.describe()}; 'kiln run' makes them.")


@cli.command()
@project_option
@reports_errors
def undo(project_path: str | None) -> None:
    """Revert the last curation change (a rating, pick, tag, note or import); repeat to go further back."""
    from kiln.library.curation import undo as undo_last

    echo(undo_last(_store(_project(project_path)), "cli").describe())


@cli.group()
def curation() -> None:
    """Curation as a file: export it for git, import it onto a store (even one rebuilt from scratch)."""


@curation.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@project_option
@reports_errors
def curation_export(file: str, project_path: str | None) -> None:
    """Write every curated image to FILE (- for stdout) as JSON Lines, sorted by id."""
    from kiln.library.curation_file import export_lines, write_export

    store = _store(_project(project_path))
    if file == "-":
        for line in export_lines(store):
            echo(line)
        return
    count = write_export(store, Path(file))
    echo(f"{count} curated image{'s' if count != 1 else ''} written to {file}")


@curation.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--overwrite", is_flag=True, help="Where an image is curated differently, the file wins.")
@click.option("--dry-run", is_flag=True, help="Only report what would change.")
@project_option
@reports_errors
def curation_import(file: str, overwrite: bool, dry_run: bool, project_path: str | None) -> None:
    """Put the curation in FILE (- for stdin) onto the images it names, by id or job key."""
    from kiln.library.curation_file import import_curation

    store = _store(_project(project_path))
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as error:
        raise KilnError(f"{file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise KilnError(f"{file}: not UTF-8 text") from None
    try:
        report = import_curation(store, text, "<stdin>" if file == "-" else file, overwrite=overwrite, dry_run=dry_run)
    except InputError as error:
        for problem in error.problems:
            echo(f"error: {problem}", fg="red", err=True)
        count = len(error.problems)
        echo(f"{count} bad line{'s' if count != 1 else ''}; nothing was imported.", err=True)
        sys.exit(1)
    echo("\n".join(report.lines()))
    if report.refused:
        sys.exit(1)


@cli.command()
@project_option
@reports_errors
def status(project_path: str | None) -> None:
    """Summarise the store: images, jobs by state, bytes in art/, archived recipes."""
    from kiln.library.status import store_status

    project = _project(project_path)
    for line in store_status(project, _store(project)).lines():
        echo(line)


@cli.command()
@click.option("--fix", is_flag=True, help="Repair what can be repaired, and say what could not.")
@click.option("--deep", is_flag=True, help="Also hash every original and decode every original and derivative.")
@project_option
@reports_errors
def doctor(fix: bool, deep: bool, project_path: str | None) -> None:
    """Compare the store with the files in art/ (and build/) and report any drift.

    Exit 1 if a problem is found (with --fix: if one could not be repaired).
    """
    from kiln.library.doctor import examine

    project = _project(project_path)
    store = _store(project)
    examination = examine(project, store, deep=deep)
    echo("\n".join(examination.lines()))
    if not examination.findings:
        return
    if not fix:
        echo("'kiln doctor --fix' repairs what it can.")
        sys.exit(1)
    from kiln.library.repair import repair

    repairs = repair(project, store, examination)
    echo("\n".join(repairs.lines()))
    if repairs.not_done:
        sys.exit(1)
