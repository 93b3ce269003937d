"""Bringing existing images into a project: ``kiln import``."""
