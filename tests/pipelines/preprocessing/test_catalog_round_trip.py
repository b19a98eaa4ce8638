"""Texts that look like missing values survive every text-carrying catalog dataset.

"NULL", "N/A", "nan", "None"... are words in a corpus; pandas' default NA parsing
turned them into NaN when ``clean_train.csv`` was reloaded, and fine-tuning crashed
with ``ArrowTypeError``. Each dataset is built from the project's own catalog YAML.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT

NA_LIKE = ["NULL", "N/A", "nan", "NA", "None", "null", "n/a", "NaN", "#N/A", "<NA>"]


@pytest.fixture
def project_catalog(tmp_path, monkeypatch):
    """The project's own catalog (conf/base + conf/offline), writing under tmp_path."""
    from kedro.io import DataCatalog

    from quant_sentiment.config import ProjectConfigLoader
    from quant_sentiment.settings import CONFIG_LOADER_ARGS

    loader = ProjectConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": "offline"},
    )
    monkeypatch.chdir(tmp_path)
    return DataCatalog.from_config(loader["catalog"])


@pytest.mark.parametrize(
    "name, columns",
    [
        ("clean_train", ["source", "line", "text", "label", "label_id"]),
        ("clean_test", ["source", "line", "text", "label", "label_id"]),
        ("preprocessing_dropped_rows", ["split", "line", "text", "label", "check"]),
        ("finetune_test_predictions", ["text", "label_id", "pred_id"]),
        ("eval_int8_ort_test_predictions", ["text", "label_id", "pred_id"]),
        ("evaluate.fp16.misclassified", ["line", "text", "label", "pred_label"]),
        ("embed_valid_pairs", ["pair_id", "anchor", "positive"]),
        ("eda.raw.table_top_terms", ["term", "count"]),
    ],
)
def test_na_like_texts_round_trip_through_catalog(project_catalog, name, columns):
    n = len(NA_LIKE)
    values = {
        "source": ["f.tsv"] * n,
        "split": ["train"] * n,
        "line": list(range(1, n + 1)),
        "label": ["None", "NA", *["neutral"] * (n - 2)],
        "label_id": [1] * n,
        "pred_id": [2] * n,
        "pred_label": ["negative"] * n,
        "check": ["unknown_label"] * n,
        "pair_id": list(range(n)),
        "count": list(range(n)),
    }
    texts = {"text", "anchor", "positive", "term"}
    frame = pd.DataFrame(
        {c: (list(NA_LIKE) if c in texts else values[c]) for c in columns}
    )
    project_catalog.save(name, frame)
    reloaded = project_catalog.load(name)
    for column in columns:
        assert reloaded[column].tolist() == frame[column].tolist(), column
    assert not reloaded[[c for c in columns if c in texts]].isna().any().any()
