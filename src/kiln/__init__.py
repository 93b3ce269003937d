"""kiln: image generation as a build."""

__version__ = "0.1.0"
