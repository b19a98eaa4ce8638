"""The drift and faithfulness tables from hand-made attributions."""

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.pipelines.explain.report import drift_markdown
from quant_sentiment.pipelines.explain.tables import drift_table, faithfulness_table

DRIFT = {
    "top_k": [1, 3],
    "bootstrap": {
        "n_resamples": 200,
        "seed": 0,
        "confidence": 0.95,
        "method": "percentile",
    },
}


def _attributions(variant: str, vectors: dict[int, list[float]]) -> pd.DataFrame:
    rows = [
        (variant, "occlusion", t, i, f"w{i}", s)
        for t, scores in vectors.items()
        for i, s in enumerate(scores)
    ]
    return pd.DataFrame(
        rows, columns=["variant", "method", "text_id", "word_index", "word", "score"]
    )


def _info(variant: str, status: str = "ok") -> dict:
    if status != "ok":
        return {"variant": variant, "status": status, "reason": "needs CUDA"}
    return {"variant": variant, "status": "ok", "methods": ["occlusion"]}


def test_drift_table_same_reversed_and_skipped():
    ref = {0: [0.1, 0.5, -0.3, 0.2], 1: [1.0, -2.0, 3.0], 2: [0.7]}
    same = {t: list(v) for t, v in ref.items()}
    reversed_ = {t: list(-np.argsort(np.argsort(v)) * 1.0 + 10) for t, v in ref.items()}
    table = drift_table(
        DRIFT,
        _info("fp32"),
        _info("copy"),
        _info("reversed"),
        _info("bnb_nf4", "skipped"),
        _attributions("fp32", ref),
        _attributions("copy", same),
        _attributions("reversed", reversed_),
        pd.DataFrame(columns=["variant", "method", "text_id", "word_index", "score"]),
        reference="fp32",
    ).set_index("variant")
    copy = table.loc["copy"]
    assert (copy["spearman"], copy["jaccard@1"], copy["jaccard@3"]) == (1.0, 1.0, 1.0)
    assert copy["sign_flip"] == 0.0 and copy["n_texts"] == 3
    # the one-word text has no rank correlation: the mean is over 2 texts, and says so
    assert copy["spearman_n"] == 2
    assert table.loc["reversed", "spearman"] == pytest.approx(-1.0)
    assert table.loc["bnb_nf4", "status"] == "skipped: needs CUDA"
    markdown = drift_markdown(table.reset_index(), 0.95, reference="fp32")
    assert "1.000 [1.000, 1.000]" in markdown and "- bnb_nf4: skipped" in markdown


def test_faithfulness_table_means_and_aopc():
    frame = pd.DataFrame(
        {
            "variant": "fp32",
            "method": ["occlusion"] * 4,
            "text_id": [0, 0, 1, 1],
            "fraction": [0.2, 0.5, 0.2, 0.5],
            "k": [1, 2, 1, 2],
            "comprehensiveness": [0.2, 0.4, 0.0, 0.2],
            "sufficiency": [0.1, 0.0, 0.3, 0.2],
        }
    )
    table = faithfulness_table(_info("fp32"), _info("bnb_nf4", "skipped"), frame, None)
    row = table.set_index("variant").loc["fp32"]
    assert row["comprehensiveness@0.2"] == pytest.approx(0.1)
    assert row["comprehensiveness@0.5"] == pytest.approx(0.3)
    assert row["aopc_comprehensiveness"] == pytest.approx(0.2)
    assert row["aopc_sufficiency"] == pytest.approx(0.15)
    assert row["n_texts"] == 2
    assert table.set_index("variant").loc["bnb_nf4", "status"].startswith("skipped")
