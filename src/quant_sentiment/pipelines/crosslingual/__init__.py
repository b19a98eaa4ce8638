"""``crosslingual``: one command from raw source data to the cross-lingual transfer
table: preprocessing → finetune → quantize_ptq → transfer (docs/transfer.md)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
