"""``explain``: how each variant's word attributions drift from FP32, and whether
they stay faithful (Integrated Gradients, occlusion, LIME; ERASER faithfulness)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
