"""``transfer``: the run's FP32 model and PTQ variants scored on another registry
entry's test split, per language (cross-lingual transfer, docs/transfer.md)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
