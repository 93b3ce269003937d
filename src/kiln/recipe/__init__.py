"""Recipes: TOML files that describe a batch, validated and expanded into job specs."""

from kiln.recipe.expand import Job, expand
from kiln.recipe.model import Recipe
from kiln.recipe.parse import load_all, load_recipe

__all__ = ["Job", "Recipe", "expand", "load_all", "load_recipe"]
