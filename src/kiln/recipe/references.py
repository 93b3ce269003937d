"""Reference images: the patterns a recipe's ``references`` may hold, and their resolution.

Patterns are relative to the project's references folder (``references/`` unless
``[paths] references`` says otherwise) and never reach outside it:

- ``foxes/red.png``: that file;
- ``!foxes``: one file of ``foxes/``, picked at random; ``!!foxes``: the same, subfolders included;
- ``!!foxes!!``: every file of ``foxes/`` and its subfolders, each in its own jobs (an axis);
- ``!#3``: three files picked at random from the whole folder;
- ``{a.png|!!b!!}``: each alternative in its own jobs (an axis);
- ``@name``: the patterns of ``[reference_groups] name`` in kiln.toml, inlined.

Random picks are drawn from generators seeded by the recipe seed, over file lists sorted by
path, so they are the same on every machine until the folder's contents change. Each resolved
file enters the job spec as its project-relative path and the SHA-256 of its bytes, so changing
a reference image makes new jobs.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from kiln.errors import Problem
from kiln.paths import inside, special_file, unusable_path
from kiln.project import Project
from kiln.recipe.model import ReferencePattern
from kiln.recipe.seeds import generator
from kiln.tomlfile import show

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

Reference = dict[str, str]  # {"path": project-relative posix path, "sha256": hex}
Choice = tuple[Reference, ...]  # the files one pattern contributes to one job

# sha256 by (resolved path, size, mtime_ns): a recipe plan reads each reference once per process.
_DIGESTS: dict[tuple[str, int, int], str] = {}
# What is wrong with each reference image (None: nothing), by the same key.
_IMAGE_PROBLEMS: dict[tuple[str, int, int], str | None] = {}
# What Pillow raises for a file it cannot read: not an image, truncated, corrupt, too large.
IMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)


def too_many_pixels(image: Image.Image) -> str | None:
    """A message if ``image`` is larger than Pillow's decompression-bomb limit, else None."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        return (f"is {image.width}x{image.height}, {image.width * image.height / 1e6:.0f} megapixels;"
                f" references may have at most {limit / 1e6:.0f} (Pillow's limit against decompression bombs)")
    return None


def image_error(error: BaseException) -> str:
    """What a Pillow error means for a reference file, as the end of a sentence about it."""
    if isinstance(error, UnidentifiedImageError):
        return "is not an image kiln can read (PNG, JPEG or WebP)"
    if isinstance(error, Image.DecompressionBombError):
        return f"is too large to decode safely: {error}"
    return f"is not a readable image: {error or type(error).__name__}"


def image_problem(path: Path) -> str | None:
    """What is wrong with the reference image at ``path``, read as cheaply as Pillow allows
    (the header, and for PNG the chunk checksums), or None. Remembered per file version."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _IMAGE_PROBLEMS:
        try:
            with Image.open(path) as image:
                problem = too_many_pixels(image)
                if problem is None:
                    image.verify()
        except IMAGE_ERRORS as error:
            problem = image_error(error)
        _IMAGE_PROBLEMS[key] = problem
    return _IMAGE_PROBLEMS[key]


def parse_pattern(text: str, where: tuple[str, int | None, str]) -> ReferencePattern | str:
    """The pattern ``text`` means, or a message saying why it is not one."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        alternatives = []
        for part in text[1:-1].split("|"):
            inner = parse_pattern(part, where)
            if isinstance(inner, str):
                return inner
            alternatives.append(inner)
        if len(alternatives) < 2:
            return f"{show(text)}: expected two or more alternatives such as {{a.png|b.png}}"
        return ReferencePattern(text, "one_of", alternatives=tuple(alternatives), where=where)
    if text.startswith("!#"):
        count = text[2:]
        if not count.isdigit() or not 1 <= int(count) <= 100:
            return f"{show(text)}: expected !#N with N from 1 to 100"
        return ReferencePattern(text, "random_global", count=int(count), where=where)
    if text.startswith("!!") and text.endswith("!!") and len(text) > 4:
        kind, path = "all", text[2:-2]
    elif text.startswith("!!"):
        kind, path = "random_recursive", text[2:]
    elif text.startswith("!"):
        kind, path = "random", text[1:]
    else:
        kind, path = "file", text
    path = path.strip().replace("\\", "/").strip("/") if kind != "file" else path.strip().replace("\\", "/")
    if not path and kind != "file":
        path = "."
    if not path or "!" in path or "{" in path or "|" in path or "@" in path[:1]:
        return f"{show(text)}: expected a path, !folder, !!folder, !!folder!!, !#N or {{a|b}}"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return f"{show(text)}: paths are relative to the references folder"
    unusable = unusable_path(path)
    if unusable:
        return f"{show(text)} {unusable}"
    return ReferencePattern(text, kind, path=path, where=where)


def resolve(
    patterns: tuple[ReferencePattern, ...], project: Project, recipe_seed: int
) -> tuple[list[list[Choice]], list[Problem]]:
    """For each pattern, the choices it offers (one, or one per file for an axis)."""
    problems: list[Problem] = []
    root = project.references_dir
    occurrences: Counter[str] = Counter()
    slots: list[list[Choice]] = []
    for pattern in patterns:
        occurrence = occurrences[pattern.text]
        occurrences[pattern.text] += 1
        report = _reporter(pattern, problems)
        slots.append(_choices(pattern, project, root, recipe_seed, occurrence, report))
    return slots, problems


def _reporter(pattern: ReferencePattern, problems: list[Problem]) -> Callable[[str], None]:
    def report(message: str) -> None:
        display, line, key = pattern.where
        problems.append(Problem(display, line, key, message))

    return report


def _choices(
    pattern: ReferencePattern, project: Project, root: Path, recipe_seed: int, occurrence: int,
    report: Callable[[str], None],
) -> list[Choice]:
    shown_root = project.relative(root) + "/"
    if pattern.kind == "one_of":
        choices: list[Choice] = []
        for alternative in pattern.alternatives:
            choices.extend(_choices(alternative, project, root, recipe_seed, occurrence, report))
        return choices
    draw = generator(recipe_seed, "references", occurrence, pattern.text)
    if not root.is_dir():
        report(f"{show(pattern.text)}: there is no references folder {shown_root}")
        return []
    if pattern.kind == "random_global":
        files = _images(root, root, recursive=True, project=project, report=report)
        if files is None:
            return []
        if len(files) < pattern.count:
            report(f"{show(pattern.text)} asks for {pattern.count} images but {shown_root} holds {len(files)}")
            return []
        return _readable([tuple(draw.sample(files, pattern.count))], project, report)

    target = root / pattern.path
    shown = f"{shown_root}{pattern.path}"
    if not inside(root, target):
        report(f"{show(pattern.text)} leads outside {shown_root} (links are followed); kiln never reads outside it")
        return []
    if pattern.kind == "file":
        if target.is_dir():
            report(f"{show(pattern.text)} is a folder: use \"!!{pattern.path}!!\" for every image in it or \"!{pattern.path}\" for one")
            return []
        kind = special_file(target)
        if kind:
            report(f"{show(pattern.text)}: {shown} is {kind}, not a file; kiln reads only regular files")
            return []
        if not target.is_file():
            report(f"{show(pattern.text)}: no file {shown}")
            return []
        if target.suffix.lower() not in IMAGE_SUFFIXES:
            report(f"{show(pattern.text)} is not an image ({', '.join(IMAGE_SUFFIXES)})")
            return []
        return _readable([(target,)], project, report)
    if not target.is_dir():
        report(f"{show(pattern.text)}: no folder {shown}")
        return []
    files = _images(target, root, recursive=pattern.kind != "random", project=project, report=report)
    if files is None:
        return []
    if not files:
        report(f"{show(pattern.text)} matches no image in {shown} ({', '.join(IMAGE_SUFFIXES)})")
        return []
    if pattern.kind == "all":
        return _readable([(f,) for f in files], project, report)
    return _readable([(draw.choice(files),)], project, report)


def _readable(choices: list[tuple[Path, ...]], project: Project, report: Callable[[str], None]) -> list[Choice]:
    """The choices as references, reporting every file that is not a readable image."""
    bad = False
    for path in dict.fromkeys(p for choice in choices for p in choice):
        problem = image_problem(path)
        if problem:
            report(f"{project.relative(path)} {problem}")
            bad = True
    return [] if bad else [tuple(_reference(p, project) for p in choice) for choice in choices]


def _images(folder: Path, root: Path, *, recursive: bool, project: Project, report: Callable[[str], None]) -> list[Path] | None:
    """Image files under ``folder`` sorted by path, or None if a link leads outside ``root``."""
    found: list[Path] = []
    pending = [folder]
    visited: set[Path] = set()
    while pending:
        current = pending.pop()
        if current.resolve() in visited:
            continue
        visited.add(current.resolve())
        for entry in os.scandir(current):
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not inside(root, path):
                report(f"{project.relative(path.parent)}/{entry.name} is a link to outside "
                       f"{project.relative(root)}/; kiln never reads outside it")
                return None
            if entry.is_dir():
                if recursive:
                    pending.append(path)
            elif entry.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _reference(path: Path, project: Project) -> Reference:
    relative = Path(os.path.normpath(path)).relative_to(project.root).as_posix()
    return {"path": relative, "sha256": file_sha256(path)}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, remembered by (path, size, mtime) for this process."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        _DIGESTS[key] = digest
    return digest
