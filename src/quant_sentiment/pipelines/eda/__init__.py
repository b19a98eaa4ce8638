"""``eda`` pipeline: exploratory analysis of the raw and cleaned splits as versioned
tables, figures and one HTML report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
