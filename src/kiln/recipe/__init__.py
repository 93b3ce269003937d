"""Recipes: TOML files that describe batches, validated and expanded into job specs."""

from kiln.recipe.expand import Expansion, Job, expand, expand_target
from kiln.recipe.model import Recipe
from kiln.recipe.parse import load_all, load_file, load_recipe

__all__ = ["Expansion", "Job", "Recipe", "expand", "expand_target", "load_all", "load_file", "load_recipe"]
