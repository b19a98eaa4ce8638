"""The preprocessing pipeline end to end with SequentialRunner on the sample corpus."""

import pandas as pd
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset, ParquetDataset

from quant_sentiment.pipelines.preprocessing import create_pipeline
from tests.conftest import SAMPLE_DIR

from .conf_params import own_files_spec, preprocessing_inputs

SPLITS = ("train", "valid", "test")
# Catalog names other pipelines and users read: they must stay the pipeline's outputs.
PUBLIC_OUTPUTS = {
    *(f"clean_{s}" for s in SPLITS),
    *(f"validated_{s}" for s in SPLITS),
    *(f"invalid_rows_{s}" for s in SPLITS),
    "preprocessing_report",
    "preprocessing_dropped_rows",
}


def sample_catalog(tmp_path, raw_dir=SAMPLE_DIR, **validation) -> DataCatalog:
    catalog = DataCatalog({})
    preprocessing_inputs(catalog, own_files_spec(raw_dir), **validation)
    for s in SPLITS:
        catalog[f"clean_{s}"] = CSVDataset(filepath=str(tmp_path / f"clean_{s}.csv"))
        for name in ("validated", "invalid_rows"):
            catalog[f"{name}_{s}"] = ParquetDataset(
                filepath=str(tmp_path / f"{name}_{s}.parquet")
            )
    return catalog


def test_structure_namespaces_and_public_names():
    pipeline = create_pipeline()
    names = [n.name for n in pipeline.nodes]
    assert all(name.startswith("preprocessing.") for name in names), names
    assert {n.namespace for n in pipeline.nodes} == {
        "preprocessing",
        *(f"preprocessing.{s}" for s in SPLITS),
    }
    assert "preprocessing.train.validate_rows" in names
    assert PUBLIC_OUTPUTS <= pipeline.all_outputs()
    assert pipeline.inputs() == {
        *(f"raw_{s}" for s in SPLITS),
        "guard_reference_lines",
        "params:model.label_map",
        "params:preprocessing.validation",
        "params:preprocessing.normalisation",
        "params:preprocessing.deduplicate",
        "params:preprocessing.subsample",
        "params:dataset_spec",
    }
    # the namespaces group nodes; no dataset name carries a namespace prefix
    assert not any("." in d for d in pipeline.datasets() if not d.startswith("params:"))


def test_pipeline_on_sample_corpus(tmp_path):
    catalog = sample_catalog(tmp_path)
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    assert set(outputs) == {"preprocessing_report", "preprocessing_dropped_rows"}
    report = outputs["preprocessing_report"].load()
    assert report["splits"]["train"]["rows_out"] == 720
    assert report["splits"]["test"]["label_counts"] == {
        "negative": 60,
        "neutral": 60,
        "positive": 60,
    }
    assert report["rows_dropped_total"] == 0
    clean = catalog.load("clean_train")
    assert set(clean.columns) >= {"source", "line", "text", "label", "label_id"}
    assert outputs["preprocessing_dropped_rows"].load().empty
    validated = catalog.load("validated_train")
    assert list(validated.columns) == ["source", "line", "text", "label"]
    assert len(validated) == 720 and validated["line"].tolist() == list(range(1, 721))
    assert catalog.load("invalid_rows_valid").empty


def test_validated_and_invalid_rows_are_saved_exactly(tmp_path):
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    for s in SPLITS:
        (raw_dir / f"{s}.tsv").write_bytes((SAMPLE_DIR / f"{s}.tsv").read_bytes())
    with (raw_dir / "valid.tsv").open("ab") as f:
        f.write(b"  NA \tneutral\nno label here\n\xff\xfe\tpositive\n")
    catalog = sample_catalog(tmp_path, raw_dir, on_invalid="drop")
    SequentialRunner().run(create_pipeline(), catalog)
    validated = catalog.load("validated_valid")
    assert len(validated) == 181
    assert validated["text"].iloc[-1] == "  NA "  # not read back as NaN or stripped
    assert validated["line"].dtype.kind == "i"
    invalid = catalog.load("invalid_rows_valid")
    assert invalid[["line", "check"]].values.tolist() == [
        [182, "column_count"],
        [183, "undecodable"],
    ]
    assert pd.isna(invalid["text"].iloc[1])
    assert catalog.load("invalid_rows_train").empty
