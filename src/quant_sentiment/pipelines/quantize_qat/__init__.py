"""``quantize_qat``: quantization-aware training ending in real INT8 / INT4 ONNX artifacts."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
