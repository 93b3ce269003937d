"""Prompt templates → prompts, with the dynamicprompts syntax.

``{a|b}`` variants, ``{2$$a|b|c}`` picks, ``__name__`` wildcard files (with globs), ``${var=...}``
variables. In ``combinatorial`` mode a template gives every variant in order; in ``random``
mode it gives ``max_prompts`` draws from a generator seeded by the recipe seed and the
template, so the same recipe draws the same prompts everywhere.

dynamicprompts returns a wildcard it cannot find as literal text (repeated as many times as
asked), so templates are checked for unknown wildcards before expansion and prompts for
unresolved ones after it (which catches those nested in wildcard files or built from
variables).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from dynamicprompts.enums import SamplingMethod
from dynamicprompts.sampling_context import SamplingContext
from dynamicprompts.wildcards import WildcardManager

from kiln.project import special_file
from kiln.recipe.seeds import generator

MODES = ("combinatorial", "random")
WILDCARD = re.compile(r"__([\w/*.-]+?)__")
DYNAMIC = re.compile(r"__[\w/*.-]+?__|\{[^{}]*\|[^{}]*\}|\$\{")


@dataclass
class Expansion:
    """What one template gave: each prompt with how many times it was drawn before."""

    prompts: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def outside_links(folder: Path) -> list[Path]:
    """Links under ``folder`` that lead outside it (dynamicprompts would follow them)."""
    if not folder.is_dir():
        return []
    root = folder.resolve()
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            found.append(path)
    return found


def special_files(folder: Path) -> list[tuple[Path, str]]:
    """Entries under ``folder`` that are not regular files or folders (FIFOs, sockets, devices),
    with what each is: dynamicprompts would open them, and a FIFO blocks until it has a writer."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        kind = special_file(path)
        if kind:
            found.append((path, kind))
    return found


def is_dynamic(text: str) -> bool:
    """Whether ``text`` holds variants, wildcards or variables."""
    return bool(DYNAMIC.search(text))


def expand_template(
    text: str, *, mode: str, max_prompts: int | None, recipe_seed: int, wildcards: Path, shown: str, limit: int
) -> Expansion:
    """The prompts of ``text``; ``limit`` bounds a combinatorial expansion (the job cap)."""
    result = Expansion()
    if WILDCARD.search(text):
        for path, kind in special_files(wildcards):
            result.error = f"{shown}{path.relative_to(wildcards).as_posix()} is {kind}, not a file; kiln reads only regular files"
            return result
    manager = WildcardManager(wildcards if wildcards.is_dir() else None)
    for name in WILDCARD.findall(text):
        if not manager.get_values(name):
            result.error = f"no wildcard file for __{name}__ in {shown}"
            return result
    if "\\{" in text or "\\}" in text:
        result.warnings.append("a backslash does not escape { or } in prompts: the braces still make a variant")
    random_mode = mode == "random"
    context = SamplingContext(
        default_sampling_method=SamplingMethod.RANDOM if random_mode else SamplingMethod.COMBINATORIAL,
        wildcard_manager=manager,
        # Random nodes ({~a|b}, random mode) draw from here, never from a shared generator.
        rand=generator(recipe_seed, "prompt", text),
    )
    wanted = max_prompts if random_mode else (min(max_prompts, limit) if max_prompts else limit) + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            drawn = [str(p) for p in context.sample_prompts(text, wanted)]
    except Exception as exc:  # dynamicprompts raises pyparsing errors (with the column) and KeyErrors
        result.error = f"cannot parse {text!r}: {exc}"
        return result
    for prompt in drawn:
        if not prompt.strip():
            result.error = f"{text!r} gives an empty prompt"
            return result
        unresolved = WILDCARD.search(prompt)
        if unresolved:
            result.error = f"no wildcard file for __{unresolved.group(1)}__ in {shown} (used by {text!r})"
            return result
    if random_mode:
        seen: dict[str, int] = {}
        for prompt in drawn:
            result.prompts.append((prompt, seen.get(prompt, 0)))
            seen[prompt] = seen.get(prompt, 0) + 1
        return result
    unique = list(dict.fromkeys(drawn))
    if max_prompts and len(unique) > max_prompts:
        result.warnings.append(f"the template has more than {max_prompts} variants; max_prompts keeps the first {max_prompts}")
        unique = unique[:max_prompts]
    result.prompts = [(prompt, 0) for prompt in unique]
    return result
