"""``preprocessing``: validate, normalise and deduplicate the raw splits."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
