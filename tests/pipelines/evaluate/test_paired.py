"""The paired comparison of registry variants with ``compare_with`` (QAT vs PTQ)."""

from __future__ import annotations

import pytest

from quant_sentiment.pipelines.evaluate import create_pipeline
from quant_sentiment.pipelines.evaluate.quality import compare_with_paired
from quant_sentiment.pipelines.evaluate.report import (
    build_recovery_table,
    recovery_markdown,
)
from quant_sentiment.variants import get_variant

from .test_nodes import BOOT, MODEL, OK, SKIPPED, Y, frame


def test_paired_comparison_is_variant_minus_pair():
    ptq = frame(Y, [0, 1, 1, 1, 2, 0])  # two texts wrong
    qat = frame(Y, Y)  # all right
    out = compare_with_paired(OK, qat, ptq, MODEL, BOOT, "qat_int4", "int4")
    assert out["paired_with"] == "int4" and out["status"] == "ok"
    assert out["delta_macro_f1"] == pytest.approx(1 - (0.5 + 0.8 + 2 / 3) / 3)
    assert out["mcnemar"]["ref_only_correct"] == 0  # only the pair right
    assert out["mcnemar"]["other_only_correct"] == 2  # only the QAT variant right
    low, high = out["delta_macro_f1_ci"]
    assert 0 <= low <= out["delta_macro_f1"] <= high


def test_paired_comparison_skips_when_either_side_was_not_built():
    empty = frame(Y, Y).iloc[0:0]
    out = compare_with_paired(
        OK, frame(Y, Y), empty, MODEL, BOOT, "qat_int8", "int8_ort"
    )
    assert out["status"] == "skipped" and "int8_ort" in out["reason"]
    out = compare_with_paired(SKIPPED, empty, frame(Y, Y), MODEL, BOOT, "q", "int4")
    assert out["status"] == "skipped" and "CUDA" in out["reason"]


def test_recovery_table_and_markdown():
    ok = compare_with_paired(
        OK, frame(Y, Y), frame(Y, [0, 1, 1, 1, 2, 0]), MODEL, BOOT, "qat_int4", "int4"
    )
    skipped = {
        "variant": "qat_int8",
        "paired_with": "int8_ort",
        "status": "skipped",
        "reason": "disabled",
    }
    table = build_recovery_table(ok, skipped)
    assert table["variant"].tolist() == ["qat_int4", "qat_int8"]
    assert table.loc[0, "variant_only_correct"] == 2
    assert table.loc[1, "status"] == "skipped: disabled"
    md = recovery_markdown(table)
    assert "| qat_int4" in md and "`qat_int8` vs `int8_ort`: skipped" in md


def test_pipeline_pairs_only_variants_evaluated_together():
    names = ("fp32", "int8_ort", "int4", "qat_int8", "qat_int4")
    pipe = create_pipeline([get_variant(v) for v in names])
    assert {
        "evaluate.qat_int8.recovery",
        "evaluate.qat_int4.recovery",
    } <= pipe.all_outputs()
    assert "evaluate_recovery_table" in pipe.all_outputs()
    node = next(
        n for n in pipe.nodes if n.name.endswith("qat_int4.compare_with_paired")
    )
    assert "eval_int4_test_predictions" in node.inputs
    assert "qat_int4_test_predictions" in node.inputs  # the producer's predictions
    alone = create_pipeline([get_variant(v) for v in ("fp32", "qat_int8")])
    assert not any(n.name.endswith("compare_with_paired") for n in alone.nodes)
    assert "evaluate_recovery_table" not in alone.all_outputs()
