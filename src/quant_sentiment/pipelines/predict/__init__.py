"""``predict``: score new text files with a saved variant (batch inference)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
