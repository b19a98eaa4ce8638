"""``quantize_ptq``: FP16/BF16, INT8 (torchao, ONNX Runtime), INT4 and bitsandbytes variants."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
