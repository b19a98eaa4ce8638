"""``quantize_mixed``: per-group INT4 sensitivity and INT4/INT8 mixed ONNX variants."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
