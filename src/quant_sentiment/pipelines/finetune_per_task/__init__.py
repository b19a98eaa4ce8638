"""``finetune_per_task``: the same encoder fine-tuned as one single-task model per
head of a multi-task entry (the baseline of docs/multitask.md)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
