"""``finetune``: fine-tune a sequence classifier with the Hugging Face Trainer."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
