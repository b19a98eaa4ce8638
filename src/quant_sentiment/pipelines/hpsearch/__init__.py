"""``hpsearch``: an Optuna study over the fine-tuning recipe (validation macro-F1)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
