"""``evaluate_ptq``: the ``evaluate`` comparison limited to FP32, the PTQ variants and
the TF-IDF baseline, for a study that runs no QAT or mixed-precision producer."""

from .pipeline import PTQ_PRODUCERS, create_pipeline

__all__ = ["PTQ_PRODUCERS", "create_pipeline"]
