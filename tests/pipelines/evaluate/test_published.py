"""The run's per-group macro-F1 beside published rows (evaluate_published_table)."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_sentiment.pipelines.evaluate.published import (
    published_markdown,
    published_table,
)

REFERENCES = {
    "toy_paper": {
        "source": "A et al.",
        "datasets": ["toy_all"],
        "group_column": "language",
        "rows": {
            "LR": {"a": 70.0, "b": 80.0, "average": 75.0},
            "XLM-R": {"a": 90.0, "b": 90.0, "average": 90.0},
        },
    }
}
SPEC = {"name": "toy_all", "group": "language"}


def _breakdown(groups=("a", "b")):
    rows = []
    ref = {"a": 0.80, "b": 0.74}
    value = {"int8_ort": {"a": 0.78, "b": 0.74}, "tfidf_logreg": {"a": 0.7, "b": 0.7}}
    for variant in ("int8_ort", "tfidf_logreg"):
        rows.append(
            {
                "variant": variant,
                "status": "ok",
                "breakdown": "overall",
                "key": "all",
                "metric": "macro_f1",
                "ref": 0.77,
                "value": 0.76,
            }  # fmt: skip
        )
        for g in groups:
            for metric in ("macro_f1", "accuracy"):
                rows.append(
                    {
                        "variant": variant,
                        "status": "ok",
                        "breakdown": "group",
                        "key": g,
                        "metric": metric,
                        "ref": ref.get(g, 0.5),
                        "value": value[variant].get(g, 0.5),
                    }  # fmt: skip
                )
    rows.append({"variant": "bnb_nf4", "status": "skipped: needs CUDA"})
    return pd.DataFrame(rows)


def test_run_rows_beside_published_rows_with_averages():
    table = published_table(_breakdown(), REFERENCES, SPEC)
    assert list(table["model"]) == ["fp32", "int8_ort", "tfidf_logreg", "LR", "XLM-R"]
    assert list(table.columns) == [
        "reference_set", "model", "source", "a", "b", "average"
    ]  # fmt: skip
    fp32 = table.set_index("model").loc["fp32"]
    assert fp32["a"] == pytest.approx(80.0) and fp32["b"] == pytest.approx(74.0)
    assert fp32["average"] == pytest.approx(77.0)
    assert table.set_index("model").loc["int8_ort", "average"] == pytest.approx(76.0)
    text = published_markdown(table, SPEC)
    assert "FP32 average 77.0 is at or above LR (75.0)" in text
    assert "FP32 average 77.0 is below XLM-R (90.0)" in text


def test_dataset_without_a_reference_set_gives_an_empty_table():
    table = published_table(_breakdown(), REFERENCES, {"name": "smsa", "group": None})
    assert table.empty
    assert "No published reference set lists `smsa`" in published_markdown(
        table, {"name": "smsa"}
    )


def test_group_mismatch_is_named():
    with pytest.raises(ValueError, match=r"published groups \['a', 'b'\] differ"):
        published_table(_breakdown(groups=("a", "c")), REFERENCES, SPEC)
    with pytest.raises(ValueError, match="group_column is 'language'"):
        published_table(_breakdown(), REFERENCES, {"name": "toy_all", "group": "x"})


def test_real_reference_rows_cover_the_twelve_nusax_languages():
    import yaml

    from tests.conftest import PROJECT_ROOT

    refs = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_references.yml").read_text()
    )["references"]
    nusax = refs["nusax_senti"]
    assert "nusax_all" in nusax["datasets"]
    for model, values in nusax["rows"].items():
        assert len(values) == 13, model  # 12 languages + average
