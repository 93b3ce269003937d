"""Prompt templates → prompts, with the dynamicprompts syntax.

``{a|b}`` variants, ``{2$$a|b|c}`` picks, ``__name__`` wildcard files (with globs), ``${var=...}``
variables. In ``combinatorial`` mode a template gives every variant in order; in ``random``
mode it gives ``max_prompts`` distinct draws from a generator seeded by the recipe seed and the
template (repeating only when the template has fewer variants), so the same recipe draws the
same prompts everywhere.

dynamicprompts returns a wildcard it cannot find as literal text (repeated as many times as
asked), so templates are checked for unknown wildcards before expansion and prompts for
unresolved ones after it (which catches those nested in wildcard files or built from
variables). Wildcard files are listed by kiln, not by dynamicprompts, so that a link leading out
of ``wildcards/`` is never read: only a template that names it fails.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dynamicprompts.enums import SamplingMethod
from dynamicprompts.sampling_context import SamplingContext
from dynamicprompts.utils import is_empty_line
from dynamicprompts.wildcards import WildcardManager
from dynamicprompts.wildcards.collection import WildcardCollection, WildcardTextFile
from dynamicprompts.wildcards.collection.structured import parse_structured_file

from kiln.paths import special_file
from kiln.recipe.seeds import generator
from kiln.tomlfile import not_utf8

MODES = ("combinatorial", "random")
WILDCARD = re.compile(r"__([\w/*.-]+?)__")
DYNAMIC = re.compile(r"__[\w/*.-]+?__|\{[^{}]*\|[^{}]*\}|\$\{")
# How many random draws may be spent per prompt wanted before the rest is taken in order.
DRAWS_PER_PROMPT = 20


@dataclass
class Expansion:
    """What one template gave: each prompt with how many times it was drawn before."""

    prompts: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # random mode: how many distinct prompts the template has, when fewer than max_prompts
    variants: int | None = None


@dataclass
class Wildcards:
    """The wildcard files of a project, without those reached through a link leading out of it."""

    folder: Path
    shown: str  # the folder as users know it, "wildcards/"
    manager: WildcardManager
    links: list[Path]  # links leading outside, as written (never followed)
    unreadable: dict[str, str] = field(default_factory=dict)  # wildcard name → why its file gave nothing
    special: list[tuple[Path, str]] = field(default_factory=list)  # FIFOs, sockets, devices, never opened

    def missing(self, name: str, used_by: str | None = None) -> str:
        """Why ``__name__`` gives nothing: a link out of the folder, a file that is not UTF-8, or no file."""
        for unreadable, reason in self.unreadable.items():
            if fnmatch.fnmatchcase(unreadable, name):
                return reason
        for link in self.links:
            stem = link.relative_to(self.folder).with_suffix("").as_posix()
            if fnmatch.fnmatchcase(stem, name) or fnmatch.fnmatchcase(f"{stem}/x", name) or name.startswith(f"{stem}/"):
                return f"{self.shown}{link.relative_to(self.folder).as_posix()} is a link to outside {self.shown}; kiln never reads outside it"
        used = f" (used by {used_by!r})" if used_by else ""
        return f"no wildcard file for __{name}__ in {self.shown}{used}"


def read_wildcards(folder: Path, shown: str) -> Wildcards:
    """The wildcard files under ``folder`` (links inside it followed, links out of it left unread)."""
    if not folder.is_dir():
        return Wildcards(folder, shown, WildcardManager(None), [])
    root = folder.resolve()
    links: list[Path] = []
    special: list[tuple[Path, str]] = []
    unreadable: dict[str, str] = {}
    collections: dict[str, WildcardCollection] = {}
    for directory, subfolders, files in os.walk(folder, followlinks=True):
        here = Path(directory)
        resolved = here.resolve()
        kept = []
        for name in sorted(subfolders):
            path = here / name
            target = path.resolve()
            if not target.is_relative_to(root):
                links.append(path)
            elif not name.startswith(".") and not resolved.is_relative_to(target):  # a link back up would walk forever
                kept.append(name)
        subfolders[:] = kept
        for name in sorted(files):
            path = here / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                links.append(path)
                continue
            kind = special_file(path)
            if kind:  # a FIFO waits for a writer forever, a device may never end
                special.append((path, kind))
                continue
            collections.update(_collections(path, folder, shown, unreadable))
    manager = WildcardManager(root_map={"": [collections]}) if collections else WildcardManager(None)
    return Wildcards(folder, shown, manager, sorted(links), unreadable, special)


class _TextFile(WildcardTextFile):
    """A wildcard file read as UTF-8 or not at all: dynamicprompts drops the bytes it cannot
    decode, which would silently change a prompt. Read when a template first uses it."""

    def __init__(self, path: Path, name: str, shown: str, unreadable: dict[str, str]):
        super().__init__(path)
        self._name, self._shown, self._unreadable = name, shown, unreadable

    def get_values(self) -> list[str]:
        if self._cache is None:
            shown = f"{self._shown}{self._name}{self._path.suffix}"
            try:
                raw = self._path.read_bytes()
                text = raw.decode("utf-8")
            except OSError as exc:  # a broken link, a file it may not read
                self._unreadable[self._name] = f"{shown} cannot be read: {exc.strerror or exc}"
                self._cache = []
            except UnicodeDecodeError as exc:
                line, message = not_utf8(raw, exc)
                self._unreadable[self._name] = f"{shown}:{line}: {message}"
                self._cache = []
            else:
                self._cache = [line.strip() for line in text.splitlines() if not is_empty_line(line)]
        return self._cache


def _collections(path: Path, folder: Path, shown: str, unreadable: dict[str, str]) -> Iterable[tuple[str, WildcardCollection]]:
    """The wildcards one file holds, named as dynamicprompts names them."""
    name = path.relative_to(folder).with_suffix("").as_posix()
    if path.suffix == ".txt":
        yield name, _TextFile(path, name, shown, unreadable)
    elif path.suffix in (".json", ".yaml"):
        prefix = path.parent.relative_to(folder).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        try:
            for inner, collection in parse_structured_file(path):
                yield f"{prefix}{inner}", collection
        except Exception:  # dynamicprompts skips a file it cannot parse; the wildcard then has no file
            return


def outside_links(folder: Path) -> list[Path]:
    """Links under ``folder`` that lead outside it (kiln leaves them unread)."""
    return read_wildcards(folder, "").links if folder.is_dir() else []


def is_dynamic(text: str) -> bool:
    """Whether ``text`` holds variants, wildcards or variables."""
    return bool(DYNAMIC.search(text))


def unclosed_brace(text: str) -> str | None:
    """The first ``{`` that no ``}`` closes, said in words (dynamicprompts says "Expected end of text")."""
    opened: list[int] = []
    for position, char in enumerate(text):
        if char == "{":
            opened.append(position)
        elif char == "}" and opened:
            opened.pop()
    if opened:
        return f"unclosed brace: '{{' at char {opened[0]} is never closed"
    return None


def expand_template(
    text: str, *, mode: str, max_prompts: int | None, recipe_seed: int, wildcards: Wildcards, limit: int
) -> Expansion:
    """The prompts of ``text``; ``limit`` bounds a combinatorial expansion (the job cap)."""
    result = Expansion()
    if WILDCARD.search(text) and wildcards.special:
        path, kind = wildcards.special[0]
        result.errors.append(f"{wildcards.shown}{path.relative_to(wildcards.folder).as_posix()} is {kind}, not a file;"
                             " kiln reads only regular files")
        return result
    names = dict.fromkeys(WILDCARD.findall(text))
    result.errors = [wildcards.missing(name) for name in names if not wildcards.manager.get_values(name)]
    if result.errors:
        return result
    if "\\{" in text or "\\}" in text:
        result.warnings.append("a backslash does not escape { or } in prompts: the braces still make a variant")

    def context(method: SamplingMethod) -> SamplingContext:
        return SamplingContext(
            default_sampling_method=method,
            wildcard_manager=wildcards.manager,
            # Random nodes ({~a|b}, random mode) draw from here, never from a shared generator.
            rand=generator(recipe_seed, "prompt", text),
        )

    random_mode = mode == "random"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if random_mode:
                assert max_prompts is not None
                drawn = _random_draws(text, max_prompts, context)
            else:
                wanted = (min(max_prompts, limit) if max_prompts else limit) + 1
                drawn = [str(p) for p in context(SamplingMethod.COMBINATORIAL).sample_prompts(text, wanted)]
    except Exception as exc:  # dynamicprompts raises pyparsing errors (with the column) and KeyErrors
        result.errors.append(f"cannot parse {text!r}: {unclosed_brace(text) or exc}")
        return result
    for prompt in drawn:
        if not prompt.strip():
            result.errors.append(f"{text!r} gives an empty prompt")
            return result
    unresolved = dict.fromkeys(name for prompt in drawn for name in WILDCARD.findall(prompt))
    if unresolved:
        result.errors = [wildcards.missing(name, used_by=text) for name in unresolved]
        return result
    if random_mode:
        seen: dict[str, int] = {}
        for prompt in drawn:
            result.prompts.append((prompt, seen.get(prompt, 0)))
            seen[prompt] = seen.get(prompt, 0) + 1
        if len(seen) < len(drawn):
            result.variants = len(seen)
        return result
    unique = list(dict.fromkeys(drawn))
    if max_prompts and len(unique) > max_prompts:
        result.warnings.append(f"the template has more than {max_prompts} variants; max_prompts keeps the first {max_prompts}")
        unique = unique[:max_prompts]
    result.prompts = [(prompt, 0) for prompt in unique]
    return result


def _random_draws(text: str, wanted: int, context: Callable[[SamplingMethod], SamplingContext]) -> list[str]:
    """``wanted`` prompts: the first distinct ones of the template's seeded random stream, so
    raising ``wanted`` keeps the earlier draws. A template with fewer variants gives each of
    them, then repeats them in the same order. Variants the stream does not reach within its
    budget (weights can make one rare) are taken in their written order."""
    budget = DRAWS_PER_PROMPT * wanted + 1000
    written: dict[str, None] = {}
    for prompt in itertools.islice(context(SamplingMethod.COMBINATORIAL).sample_prompts(text, None), budget):
        written.setdefault(str(prompt))
        if len(written) >= wanted:
            break
    found: dict[str, None] = {}
    for prompt in itertools.islice(context(SamplingMethod.RANDOM).sample_prompts(text, None), budget):
        found.setdefault(str(prompt))
        if len(found) >= min(wanted, len(written)):
            break
    distinct = list(found)
    distinct += [prompt for prompt in written if prompt not in found][: len(written) - len(distinct)]
    return [distinct[i % len(distinct)] for i in range(wanted)] if distinct else []
