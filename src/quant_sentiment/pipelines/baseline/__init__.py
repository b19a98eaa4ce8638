"""``baseline``: the TF-IDF + logistic-regression reference variant."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
