"""The ``evaluate`` pipeline end to end over tiny variants, with the project's catalog.

The real ``conf/`` (base + offline) is loaded, and the test runs from a temporary
working directory, so every relative ``data/...`` path of the catalog lands there.
"""

import json
import shutil
from pathlib import Path

import pytest

from quant_sentiment.pipelines.evaluate import create_pipeline
from quant_sentiment.pipelines.evaluate.pipeline import VARIANT_SOURCES

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class CopyWithManifest:
    """A VariantArtifact: an HF folder plus a manifest (e.g. ``torch_dtype: bfloat16``)."""

    def __init__(self, source: Path | None, manifest: dict) -> None:
        self.source, self.manifest = source, manifest

    def save(self, folder: Path) -> None:
        if self.source is not None:
            shutil.copytree(self.source, folder, dirs_exist_ok=True)
        (folder / "manifest.json").write_text(json.dumps(self.manifest))


@pytest.fixture
def project_catalog(tmp_path, monkeypatch):
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog

    from quant_sentiment.resolvers import package_path

    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="offline",
        custom_resolvers={"package_path": package_path},
    )
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(loader["catalog"])
    params = loader["parameters"]
    evaluate = params["evaluate"]
    evaluate["bootstrap"]["n_resamples"] = 200
    evaluate["benchmark"].update(
        {
            "threads": 1,
            "n_texts": 8,
            "warmup": 1,
            "latency_runs": 4,
            "throughput_batches": 1,
            "batch_size": 4,
            "progress": False,
        }
    )
    evaluate["tfidf_logreg"]["max_iter"] = 300
    catalog["params:preprocessing.label_map"] = params["preprocessing"]["label_map"]
    for key in ("bootstrap", "benchmark", "tfidf_logreg"):
        catalog[f"params:evaluate.{key}"] = evaluate[key]
    return catalog


def test_variant_list_lives_in_one_place():
    pipe = create_pipeline()
    assert {n.namespace for n in pipe.nodes if n.namespace} == {
        f"eval_{v}" for v in VARIANT_SOURCES
    }
    assert {
        "ptq_int8_ort_model",
        "ptq_int8_ort_test_predictions",
        "finetuned_model",
        "finetune_test_predictions",
        "clean_train",
    } <= pipe.inputs()
    with pytest.raises(ValueError, match="Unknown variants"):
        create_pipeline(["int3"])


@pytest.mark.slow  # three fresh benchmark processes importing torch: ~70 s of CPU
def test_pipeline_one_row_per_variant_every_column_filled(
    project_catalog, tiny_bundle, tiny_model_dir, sample_splits, tmp_path
):
    from kedro.runner import SequentialRunner

    from quant_sentiment.pipelines.evaluate.nodes import (
        predict_with_variant,
        reference_handle,
    )

    catalog = project_catalog
    test = sample_splits["test"].assign(source="test.tsv", line=lambda f: f.index + 1)
    catalog.save(
        "clean_train", sample_splits["train"].assign(source="train.tsv", line=1)
    )
    catalog.save("clean_test", test)
    catalog.save("finetuned_model", tiny_bundle)
    catalog.save(
        "finetune_test_predictions",
        predict_with_variant(
            reference_handle(catalog.load("finetuned_model")), test, {}
        ),
    )
    bf16 = {
        "variant": "bf16",
        "status": "ok",
        "format": "hf",
        "torch_dtype": "bfloat16",
        "method": "bf16 cast",
        "library": "torch",
        "bits": 16,
    }
    catalog.save("ptq_bf16_model", CopyWithManifest(tiny_model_dir, bf16))
    catalog.save(
        "ptq_bf16_test_predictions",
        predict_with_variant(catalog.load("ptq_bf16_model"), test, {}),
    )
    catalog.save(
        "ptq_bnb_nf4_model",
        CopyWithManifest(
            None,
            {
                "variant": "bnb_nf4",
                "status": "skipped",
                "format": "skipped",
                "reason": "bitsandbytes 4-bit needs CUDA",
            },
        ),
    )
    empty = catalog.load("finetune_test_predictions").iloc[:0]
    catalog.save("ptq_bnb_nf4_test_predictions", empty)

    variants = ["fp32", "bf16", "bnb_nf4", "tfidf_logreg"]
    SequentialRunner().run(create_pipeline(variants), catalog)

    table = catalog.load("evaluate_comparison_table")
    assert table["variant"].tolist() == variants
    ran = table[table["status"] == "ok"]
    assert ran["variant"].tolist() == ["fp32", "bf16", "tfidf_logreg"]
    empty_cells = ran.isna()
    assert not empty_cells.any().any(), empty_cells.sum()[empty_cells.sum() > 0]
    skipped = table.set_index("variant").loc["bnb_nf4"]
    assert skipped["status"] == "skipped: bitsandbytes 4-bit needs CUDA"
    fp32 = table.set_index("variant").loc["fp32"]
    assert (
        fp32["agreement_vs_ref"],
        fp32["mcnemar_p"],
        fp32["speedup_p50_vs_ref"],
        fp32["size_vs_ref"],
    ) == (1.0, 1.0, 1.0, 1.0)
    assert fp32["n_test"] == len(test)
    assert table.set_index("variant").loc["bf16", "size_vs_ref"] == pytest.approx(
        1.0, rel=0.05
    )  # same weights on disk, cast at load time
    markdown = catalog.load("evaluate_comparison_markdown")
    assert "tfidf_logreg" in markdown and "bnb_nf4" in markdown
    reports = tmp_path / "data" / "08_reporting" / "sample_minilm" / "evaluate"
    for name in (
        "f1_vs_latency.png",
        "f1_vs_size.png",
        "comparison.csv",
        "comparison.md",
        "bf16/confusion_matrix.png",
        "tfidf_logreg/misclassified.csv",
        "fp32/classification_report.txt",
        "fp32/benchmark.json",
    ):
        assert len(list((reports / name).glob("*/*"))) == 1, name  # versioned
    metrics = catalog.load("eval_tfidf_logreg.metrics")
    assert metrics["status"] == "ok" and 0 <= metrics["macro_f1"] <= 1
