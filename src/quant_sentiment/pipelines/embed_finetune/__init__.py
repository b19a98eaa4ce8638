"""``embed_finetune``: sentence-embedding fine-tuning with in-batch negatives, measured by retrieval."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
