"""``multiseed``: per-variant mean, spread and t-interval over several seeds."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
