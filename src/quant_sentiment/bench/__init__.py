"""Benchmarks that print measured figures (run as ``python -m quant_sentiment.bench.<name>``)."""
