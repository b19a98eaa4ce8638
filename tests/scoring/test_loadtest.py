"""The load-test helpers (the benchmark itself is run by hand, on an idle machine)."""

from __future__ import annotations

from collections import Counter

import pytest

from quant_sentiment.scoring.loadtest import LevelResult, check_loopback


def test_only_loopback_urls_are_accepted():
    assert check_loopback("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert check_loopback("http://localhost:9") == "http://localhost:9"
    with pytest.raises(ValueError, match="not a loopback address"):
        check_loopback("http://example.org:8000")


def test_level_row_counts_errors_and_percentiles():
    result = LevelResult(
        clients=8,
        latencies_ms=[float(x) for x in range(1, 101)],
        errors=Counter({"HTTP 503": 3, "ReadTimeout": 1}),
        seconds=2.0,
        healthy=True,
    )
    row = result.row()
    assert row["requests"] == 104 and row["errors"] == 4
    assert row["error_kinds"] == {"HTTP 503": 3, "ReadTimeout": 1}
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (50.5, 95.05, 99.01)
    assert row["throughput_rps"] == 52.0
    assert row["healthy_after"] is True
