"""``evaluate``: compare every model variant (quality, significance vs FP32, speed, size)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
