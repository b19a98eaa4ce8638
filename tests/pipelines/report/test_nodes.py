"""The report page: every number traceable to its catalog table, notes for missing
inputs, a small page; the index across runs."""

from __future__ import annotations

import json
import re

import pytest

from quant_sentiment.datasets import OptionalDataset, RunReportsDataset
from quant_sentiment.pipelines.report.nodes import build_index, build_report
from tests.pipelines.report.trace import cells, check_cells

MAX_PAGE_BYTES = 3_000_000


def _render(comparison, params, **optional):
    inputs = {
        "recovery": None,
        "breakdown": None,
        "sensitivity": None,
        "drift": None,
        "faithfulness": None,
        "seeds": None,
        "run_info": None,
        **optional,
    }
    return build_report(comparison, params=params, **inputs)


def test_every_number_equals_its_catalog_value(
    comparison, recovery, sensitivity, drift, run_info, report_params
):
    page, _ = _render(
        comparison,
        report_params,
        recovery=recovery,
        sensitivity=sensitivity,
        drift=drift,
        run_info=run_info,
    )
    found = cells(page)
    tables = {
        "evaluate_comparison_table": (comparison, "variant"),
        "evaluate_recovery_table": (recovery, "variant"),
        "mixed_sensitivity": (sensitivity, "group"),
        "explain_drift_table": (drift, ["variant", "method"]),
    }
    assert check_cells(found, tables) == len(found)
    sources = {c["src"].split("|")[0] for c in found}
    assert sources == {*tables, "delta_vs_reference"}
    by_src = {c["src"]: c["text"] for c in found}
    # A sample per section, spelled out.
    assert by_src["evaluate_comparison_table|int8_ort|macro_f1"] == "0.8035"
    assert by_src["evaluate_comparison_table|int8_ort|size_vs_ref"] == "25.8%"
    assert by_src["evaluate_comparison_table|int8_ort|speedup_p50_vs_ref"] == "1.81"
    assert by_src["evaluate_comparison_table|int4_ort|idle"] == "no (busy)"
    assert by_src["evaluate_comparison_table|mixed_k2|bits"] == "4/8"
    assert by_src["delta_vs_reference|int8_ort|f1_neutral"] == "-0.0089"
    assert by_src["evaluate_recovery_table|qat_int8_ort|delta_macro_f1"] == "+0.0067"
    assert by_src["explain_drift_table|int8_ort/lime|spearman"] == "0.7123"
    # The 12 most sensitive groups of 20, in the table's order.
    groups = sorted(
        {c["src"].split("|")[1] for c in found if "sensitivity" in c["src"]}
    )
    assert len(groups) == 12


def test_shown_numbers_that_disagree_with_the_table_fail(comparison, report_params):
    page, _ = _render(comparison, report_params)
    tampered = comparison.copy()
    tampered.loc[tampered["variant"] == "int8_ort", "macro_f1"] += 0.001
    with pytest.raises(AssertionError):
        check_cells(cells(page), {"evaluate_comparison_table": (tampered, "variant")})


def test_missing_inputs_show_notes(comparison, report_params):
    page, summary = _render(comparison, report_params)
    for note in (
        "No run description was saved",
        "No paired comparison",
        "quantize_mixed has not run",
        "explain has not run",
        "No multi-seed sweep",
        "evaluate_breakdown_table has no version",
    ):
        assert note in page
    assert "needs CUDA" in page  # the skipped variant, with its reason
    assert summary["variants_evaluated"] == 5
    assert summary["variants_skipped"] == 1


def test_setup_section_and_mlflow_link(comparison, run_info, report_params):
    page, summary = _render(comparison, report_params, run_info=run_info)
    assert "AMD EPYC 7B13" in page and "kedro run --env=offline" in page
    assert "0123456789abcdef" in page and "torch 2.13.0" in page
    assert 'href="http://127.0.0.1:5000/#/experiments/1/runs/abc123"' in page
    assert summary["git_commit"] == "0123456789abcdef"


def test_page_is_self_contained_and_small(
    comparison, recovery, sensitivity, report_params
):
    page, _ = _render(
        comparison, report_params, recovery=recovery, sensitivity=sensitivity
    )
    assert len(page.encode()) < MAX_PAGE_BYTES
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet", page)
    assert page.count("<svg") == 2
    # hover text of each evaluated variant, in both charts
    assert page.count("<title>int8_ort (dynamic): macro-F1 0.8035") == 2


def test_reference_must_be_evaluated(comparison, report_params):
    with pytest.raises(ValueError, match="report.reference"):
        _render(comparison, {**report_params, "reference": "nope"})


def test_summary_picks_smallest_and_fastest_not_worse(comparison, report_params):
    _, summary = _render(comparison, report_params)
    # int4_ort's Δ CI lies below 0: not eligible.
    assert summary["smallest_not_worse"]["variant"] == "qat_int8_ort"
    assert summary["fastest_not_worse"]["variant"] == "int8_ort"
    assert summary["timed_busy"] is True


def test_optional_dataset_loads_none_then_the_saved_version(tmp_path):
    from kedro.io.core import Version

    spec = {"type": "json.JSONDataset", "filepath": str(tmp_path / "x.json")}
    assert OptionalDataset(spec, version=Version(None, None)).load() is None
    OptionalDataset(spec, version=Version(None, "2026-01-01T00.00.00.000Z")).save(
        {"a": 1}
    )
    assert OptionalDataset(spec, version=Version(None, None)).load() == {"a": 1}
    assert (tmp_path / "x.json" / "2026-01-01T00.00.00.000Z" / "x.json").is_file()


def test_index_lists_every_run_with_links(tmp_path, comparison, report_params):
    for run in ("smsa_minilm", "sample_minilm"):
        page, summary = _render(comparison, {**report_params, "run": run})
        for name, content in (
            ("summary.json", json.dumps(summary)),
            ("report.html", page),
        ):
            folder = tmp_path / run / "report" / name / "2026-12-03T07.00.00.000Z"
            folder.mkdir(parents=True)
            (folder / name).write_text(content)
    (tmp_path / "other_run" / "evaluate").mkdir(parents=True)  # no report: not listed
    runs = RunReportsDataset(root=str(tmp_path)).load()
    assert [r["run"] for r in runs] == ["sample_minilm", "smsa_minilm"]
    index = build_index(runs, runs[0]["summary"])
    links = re.findall(r'<a href="([^"]+)"', index)
    assert links == [
        "sample_minilm/report/report.html/2026-12-03T07.00.00.000Z/report.html",
        "smsa_minilm/report/report.html/2026-12-03T07.00.00.000Z/report.html",
    ]
    assert all((tmp_path / link).is_file() for link in links)
    assert "0.8123" in index  # the reference macro-F1 of each run
