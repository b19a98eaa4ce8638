"""The report's "where quantization hurts" section: Δ per class / per group from
``evaluate_breakdown_table``, every number traceable to it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_sentiment.pipelines.evaluate.breakdown_report import build_breakdown_table
from quant_sentiment.pipelines.report.nodes import build_report
from tests.pipelines.report.trace import cells, check_cells

OPTIONAL = ("recovery", "sensitivity", "drift", "faithfulness", "seeds", "run_info")


def _stats(delta: float) -> dict[str, float]:
    return {"delta": delta, "ci_low": delta - 0.02, "ci_high": delta + 0.01,
            "p_value": 0.01}  # fmt: skip


def _breakdown(variant: str, hurt: float) -> dict:
    """A hand-made ``evaluate.<V>.breakdown``: class c2 and language jav lose."""

    def prefixed(prefix: str, delta: float) -> dict[str, float]:
        return {f"{prefix}{k}": v for k, v in _stats(delta).items()}

    def excess(prefix: str, delta: float) -> dict[str, float]:
        return {
            f"{prefix}{'excess' if k == 'delta' else 'excess_' + k}": v
            for k, v in _stats(delta).items()
        }

    classes = [
        {"class": f"c{i}", "support": 100 - 40 * (i == 2), "f1_ref": 0.8,
         "f1_variant": 0.8 + d, **_stats(d), **excess("", d - hurt / 3)}
        for i, d in enumerate([0.0, 0.0, hurt])
    ]  # fmt: skip
    groups = [
        {"group": g, "n": 80, "macro_f1_ref": 0.8, "macro_f1_variant": 0.8 + d,
         "accuracy_ref": 0.8, "accuracy_variant": 0.8 + d,
         **prefixed("macro_f1_", d), **excess("macro_f1_", d - hurt / 3),
         **prefixed("accuracy_", d), **excess("accuracy_", d - hurt / 3)}
        for g, d in (("ace", 0.0), ("jav", hurt), ("sun", 0.0))
    ]  # fmt: skip
    overall = {"macro_f1_ref": 0.8, "macro_f1_variant": 0.8 + hurt / 3,
               "accuracy_ref": 0.8, "accuracy_variant": 0.8 + hurt / 3,
               **prefixed("macro_f1_", hurt / 3), **prefixed("accuracy_", hurt / 3)}  # fmt: skip
    return {"variant": variant, "status": "ok", "n": 240, "labels": ["c0", "c1", "c2"],
            "group_column": "language", "overall": overall, "classes": classes,
            "groups": groups}  # fmt: skip


def test_breakdown_section_every_number_traceable(tmp_path, comparison, report_params):
    table = build_breakdown_table(
        _breakdown("fp32", 0.0),
        _breakdown("int8_ort", -0.1234),
        {"variant": "bnb_int8", "status": "skipped", "reason": "needs CUDA"},
    )
    path = tmp_path / "breakdown.csv"  # as the catalog stores and reads it
    table.to_csv(path, index=False)
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    page, _ = build_report(
        comparison, breakdown=table, params=report_params, **dict.fromkeys(OPTIONAL)
    )
    found = [c for c in cells(page) if c["src"].startswith("evaluate_breakdown")]
    key = ["variant", "breakdown", "key", "metric"]
    ran = table[table["status"] == "ok"]  # the skipped variant's row has no key
    assert check_cells(found, {"evaluate_breakdown_table": (ran, key)}) == len(found)
    by_src = {c["src"]: c["text"] for c in found}
    assert by_src["evaluate_breakdown_table|int8_ort/class/c2/f1|delta"] == "-0.1234"
    assert by_src["evaluate_breakdown_table|int8_ort/group/jav/macro_f1|n"] == "80"
    rows = {c["src"].split("|")[1] for c in found}
    # the reference, the skipped variant and the accuracy rows stay in the CSV only
    assert rows == {
        "int8_ort/overall/all/macro_f1",
        *(f"int8_ort/class/c{i}/f1" for i in range(3)),
        *(f"int8_ort/group/{g}/macro_f1" for g in ("ace", "jav", "sun")),
    }
    assert "Δ macro-F1 per language" in page
    assert np.isclose(float(table["delta"].min()), -0.1234)


def test_breakdown_section_absent_shows_a_note(comparison, report_params):
    page, _ = build_report(
        comparison, breakdown=None, params=report_params, **dict.fromkeys(OPTIONAL)
    )
    assert "evaluate_breakdown_table has no version (run evaluate)" in page
