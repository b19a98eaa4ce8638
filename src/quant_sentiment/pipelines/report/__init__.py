"""``report``: one self-contained HTML page per run and an index across runs."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
