"""The ``evaluate`` pipeline end to end over tiny variants, with the project's catalog.

The real ``conf/`` (base + offline) is loaded, and the test runs from a temporary
working directory, so every relative ``data/...`` path of the catalog lands there.
"""

from pathlib import Path

import pytest

from quant_sentiment.pipelines.baseline import create_pipeline as baseline_pipeline
from quant_sentiment.pipelines.evaluate import create_pipeline
from quant_sentiment.variants import VariantHandle, get_variant
from tests.conftest import CopyWithManifest, project_config

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def project_catalog(tmp_path, monkeypatch):
    from kedro.io import DataCatalog

    loader = project_config()
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(loader["catalog"])
    params = loader["parameters"]
    evaluate = params["evaluate"]
    evaluate["bootstrap"]["n_resamples"] = 200
    evaluate["benchmark"].update(
        {
            "n_texts": 8,
            "warmup": 1,
            "rounds": 2,
            "calls_per_round": 2,
            "idle_sample_s": 0.05,
            "throughput_batches": 1,
            "batch_size": 4,
            "progress": False,
        }
    )
    params["baseline"]["tfidf_logreg"]["max_iter"] = 300
    catalog["params:model"] = {**params["model"], "threads": 1}
    catalog["params:dataset_spec"] = params["dataset_spec"]
    catalog["params:references"] = params["references"]
    catalog["params:baseline.tfidf_logreg"] = params["baseline"]["tfidf_logreg"]
    catalog["params:preprocessing.normalisation"] = params["preprocessing"][
        "normalisation"
    ]
    for key in ("bootstrap", "benchmark", "predict", "sources"):
        catalog[f"params:evaluate.{key}"] = evaluate[key]
    return catalog


def test_one_namespace_per_variant_inside_evaluate():
    variants = [get_variant(v) for v in ("fp32", "int8_ort", "tfidf_logreg")]
    pipe = create_pipeline(variants)
    assert {n.namespace for n in pipe.nodes} == {
        "evaluate",
        "evaluate.fp32",
        "evaluate.int8_ort",
        "evaluate.tfidf_logreg",
    }
    # every variant but the reference is timed against the reference's folder,
    # taken from the reference's own benchmark result
    bench = {n.namespace: n for n in pipe.nodes if n.name.endswith(".benchmark")}
    assert "evaluate.fp32.benchmark" not in bench["evaluate.fp32"].inputs
    for v in ("int8_ort", "tfidf_logreg"):
        assert "evaluate.fp32.benchmark" in bench[f"evaluate.{v}"].inputs
    assert pipe.inputs() >= {
        "ptq_int8_ort_model",
        "tfidf_logreg_model",
        "finetuned_model",
        "finetune_test_predictions",
        "clean_test",
    }
    # the FP32 predictions come from finetune; every other variant is predicted here
    assert "eval_int8_ort_test_predictions" in pipe.all_outputs()
    assert "eval_fp32_test_predictions" not in pipe.all_outputs()
    # Δ per class / per group: once per variant, from its predictions, FP32's and the
    # test split's group column, gathered into one table, its Markdown and a figure
    breakdown = {
        n.namespace: n for n in pipe.nodes if n.name.endswith(".delta_breakdown")
    }
    assert set(breakdown) == {f"evaluate.{v.name}" for v in variants}
    assert breakdown["evaluate.int8_ort"].inputs == [
        "evaluate.int8_ort.model",
        "eval_int8_ort_test_predictions",
        "finetune_test_predictions",
        "clean_test",
        "params:model",
        "params:dataset_spec",
        "params:evaluate.bootstrap",
    ]
    gather = next(n for n in pipe.nodes if n.name == "evaluate.build_breakdown_table")
    assert gather.inputs == [f"evaluate.{v.name}.breakdown" for v in variants]
    assert {
        "evaluate_breakdown_table",
        "evaluate_breakdown_markdown",
        "evaluate_breakdown_figure",
    } <= pipe.all_outputs()


@pytest.mark.slow  # five benchmark processes (bf16 and tfidf each with fp32): ~90 s of CPU
def test_pipeline_one_row_per_variant_every_column_filled(
    project_catalog, tiny_bundle, tiny_model_dir, sample_splits, tmp_path
):
    from kedro.runner import SequentialRunner

    from quant_sentiment.pipelines.evaluate.quality import predict_test_split

    catalog = project_catalog
    test = sample_splits["test"].assign(source="test.tsv", line=lambda f: f.index + 1)
    catalog.save(
        "clean_train", sample_splits["train"].assign(source="train.tsv", line=1)
    )
    catalog.save("clean_test", test)
    catalog.save("finetuned_model", tiny_bundle)
    fp32 = catalog.load("finetuned_model")
    model, predict = catalog.load("params:model"), {"batch_size": 16}
    fp32_handle = VariantHandle(fp32.path, fp32.manifest)
    catalog.save(
        "finetune_test_predictions",
        predict_test_split(fp32_handle, test, model, predict),
    )
    bf16 = {
        "variant": "bf16",
        "status": "ok",
        "format": "hf",
        "torch_dtype": "bfloat16",
        "method": "bf16 cast",
        "library": "torch",
        "bits": 16,
        "max_length": 64,
        "size_bytes": fp32.manifest["size_bytes"],
    }
    catalog.save("ptq_bf16_model", CopyWithManifest(tiny_model_dir, bf16))
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

    variants = ["fp32", "bf16", "bnb_nf4", "tfidf_logreg"]
    pipe = baseline_pipeline() + create_pipeline([get_variant(v) for v in variants])
    SequentialRunner().run(pipe, catalog)

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
        fp32["speedup_ci_low"],
        fp32["speedup_ci_high"],
        fp32["size_vs_ref"],
    ) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    # every other variant was timed against fp32, interleaved, with a CI
    assert (ran["speedup_ci_low"] <= ran["speedup_p50_vs_ref"]).all()
    assert (ran["speedup_p50_vs_ref"] <= ran["speedup_ci_high"]).all()
    assert (ran["rounds"] == 2).all()
    assert ran["idle"].isin([True, False]).all()
    bf16_bench = catalog.load("evaluate.bf16.benchmark")
    assert bf16_bench["reference"]["variant"] == "fp32"
    assert (
        bf16_bench["reference"]["folder"]
        == catalog.load("evaluate.fp32.benchmark")["folder"]
    )
    assert {"idle", "idle_check", "speedup_ci_low"} <= set(bf16_bench)
    assert isinstance(bf16_bench["machine"]["cpu_flags"], list)
    assert fp32["n_test"] == len(test)
    # size comes from each manifest (recorded once, when the folder was written): bf16
    # keeps FP32's files; only the manifests (file hashes, source version) differ
    assert table.set_index("variant").loc["bf16", "size_vs_ref"] == pytest.approx(
        1.0, abs=0.005
    )
    bf16_preds = catalog.load("eval_bf16_test_predictions")
    assert len(bf16_preds) == len(test)
    assert (
        table.set_index("variant").loc["bf16", "agreement_vs_ref"]
        == (
            bf16_preds["pred_id"].to_numpy()
            == catalog.load("finetune_test_predictions")["pred_id"].to_numpy()
        ).mean()
    )
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
    metrics = catalog.load("evaluate.tfidf_logreg.metrics")
    assert metrics["status"] == "ok" and 0 <= metrics["macro_f1"] <= 1
    _check_task_table(catalog, variants, table)
    _check_breakdown(catalog, variants, len(model["label_map"]), reports)


def _check_breakdown(catalog, variants, n_labels, reports):
    """Δ per class / per group: the sample corpus has no group column -> one group."""
    breakdown = catalog.load("evaluate_breakdown_table")
    assert breakdown["variant"].drop_duplicates().tolist() == variants
    ok = breakdown[breakdown["status"] == "ok"]
    assert len(ok[ok["breakdown"] == "class"]) == 3 * n_labels  # 3 variants ran
    assert set(ok.loc[ok["breakdown"] == "group", "key"]) == {"all"}
    fp32_rows = ok[ok["variant"] == "fp32"]
    assert (fp32_rows["delta"] == 0).all() and (fp32_rows["p_value"] == 1).all()
    assert "**tfidf_logreg**" in catalog.load("evaluate_breakdown_markdown")
    for name in ("breakdown.csv", "breakdown.md", "breakdown.png"):
        assert len(list((reports / name).glob("*/*"))) == 1, name


def _check_task_table(catalog, variants, table):
    """The per-task table: a single-task entry is the one-task case."""
    tasks = catalog.load("evaluate_task_table").set_index("variant")
    assert tasks.index.tolist() == variants
    assert tasks.loc["bnb_nf4", "status"] == "skipped"
    assert tasks.loc["bf16", "macro_f1"] == pytest.approx(
        table.set_index("variant").loc["bf16", "macro_f1"]
    )
    assert tasks.loc["fp32", "delta"] == 0
