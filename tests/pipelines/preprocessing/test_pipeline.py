"""The preprocessing pipeline end to end with SequentialRunner on the sample corpus."""

from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset

from quant_sentiment.datasets import RawLinesDataset
from quant_sentiment.pipelines.preprocessing import create_pipeline
from tests.conftest import LABEL_MAP, SAMPLE_DIR


def test_pipeline_on_sample_corpus(tmp_path):
    catalog = DataCatalog(
        {
            f"raw_{s}": RawLinesDataset(str(SAMPLE_DIR / f"{s}.tsv"))
            for s in ("train", "valid", "test")
        }
    )
    catalog["params:preprocessing.label_map"] = LABEL_MAP
    catalog["params:preprocessing.validation"] = {"on_invalid": "error"}
    catalog["params:preprocessing.normalisation"] = {
        "lowercase": True,
        "collapse_whitespace": True,
    }
    catalog["params:preprocessing.deduplicate"] = {}
    for name in ("clean_train", "clean_valid", "clean_test"):
        catalog[name] = CSVDataset(filepath=str(tmp_path / f"{name}.csv"))
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    assert set(outputs) == {"preprocessing_report", "preprocessing_dropped_rows"}
    report = outputs["preprocessing_report"].load()
    assert report["splits"]["train"]["rows_out"] == 240
    assert report["splits"]["test"]["label_counts"] == {
        "negative": 20,
        "neutral": 20,
        "positive": 20,
    }
    assert report["rows_dropped_total"] == 0
    clean = catalog.load("clean_train")
    assert set(clean.columns) >= {"source", "line", "text", "label", "label_id"}
    assert outputs["preprocessing_dropped_rows"].load().empty
