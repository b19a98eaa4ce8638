"""Node functions of the ``evaluate`` pipeline on tiny, hand-checked inputs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.pipelines.evaluate.nodes import (
    benchmark_variant,
    build_comparison_table,
    classification_report_text,
    compare_with_reference,
    comparison_markdown,
    misclassified_examples,
    plot_f1_vs_size,
    plot_variant_confusion_matrix,
    predict_with_variant,
    quality_metrics,
    summarise_variant,
    train_tfidf_logreg,
)
from quant_sentiment.variants import VariantHandle

LABELS = ["positive", "neutral", "negative"]
OK = VariantHandle(path=Path("unused"), manifest={"format": "hf"})
SKIPPED = VariantHandle(
    path=Path("unused"),
    manifest={
        "variant": "bnb_nf4",
        "status": "skipped",
        "format": "skipped",
        "reason": "bitsandbytes needs CUDA",
    },
)


def frame(label_ids, pred_ids, confidences=None):
    """A predictions table like finetune_test_predictions."""
    n = len(label_ids)
    conf = np.asarray(confidences if confidences is not None else [0.9] * n)
    probs = np.full((n, 3), 0.0)
    for i, (p, c) in enumerate(zip(pred_ids, conf)):
        probs[i] = (1 - c) / 2
        probs[i, p] = c
    out = pd.DataFrame(
        {
            "source": "test.tsv",
            "line": range(1, n + 1),
            "text": [f"text number {i}" for i in range(n)],
            "label": [LABELS[i] for i in label_ids],
            "label_id": label_ids,
            "pred_id": pred_ids,
            "pred_label": [LABELS[i] for i in pred_ids],
        }
    )
    for k, name in enumerate(LABELS):
        out[f"prob_{name}"] = probs[:, k]
    return out


Y = [0, 0, 1, 1, 2, 2]
P = [0, 1, 1, 1, 2, 0]


def test_quality_metrics_hand_computed(label_map):
    metrics = quality_metrics(OK, frame(Y, P), label_map, variant="int8")
    assert metrics["status"] == "ok"
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # weighted by support (2 each) equals macro here
    assert metrics["weighted_f1"] == pytest.approx(metrics["macro_f1"])
    assert metrics["per_class"]["neutral"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_skipped_variant_is_reported_not_an_error(label_map):
    empty = frame(Y, P).iloc[:0]
    assert quality_metrics(SKIPPED, empty, label_map, variant="bnb_nf4") == {
        "variant": "bnb_nf4",
        "status": "skipped",
        "reason": "bitsandbytes needs CUDA",
    }
    assert "skipped" in classification_report_text(SKIPPED, empty, label_map, "bnb_nf4")
    assert misclassified_examples(
        SKIPPED, empty, frame(Y, Y), label_map, "bnb_nf4"
    ).empty
    assert (
        plot_variant_confusion_matrix(SKIPPED, empty, label_map, "bnb_nf4") is not None
    )
    assert benchmark_variant(SKIPPED, frame(Y, Y), {}, "bnb_nf4")["status"] == "skipped"
    row = summarise_variant(SKIPPED, {}, {}, {}, "bnb_nf4")
    assert row["status"] == "skipped: bitsandbytes needs CUDA"


def test_bad_predictions_give_clear_errors(label_map):
    with pytest.raises(ValueError, match="lack columns"):
        quality_metrics(OK, frame(Y, P).drop(columns="pred_id"), label_map, variant="x")
    with pytest.raises(ValueError, match="empty"):
        quality_metrics(OK, frame(Y, P).iloc[:0], label_map, variant="x")
    bad = frame(Y, P)
    bad.loc[0, "pred_id"] = 7
    with pytest.raises(ValueError, match="outside 0..2"):
        quality_metrics(OK, bad, label_map, variant="x")
    shuffled = frame(Y, P).iloc[::-1]
    with pytest.raises(ValueError, match="same texts in the same order"):
        compare_with_reference(OK, shuffled, frame(Y, Y), label_map, {}, variant="x")


def test_compare_with_reference(label_map):
    params = {"n_resamples": 300, "seed": 3}
    same = compare_with_reference(
        OK, frame(Y, P), frame(Y, P), label_map, params, "fp32"
    )
    assert same["agreement"] == 1.0
    assert same["delta_macro_f1"] == 0.0
    assert same["delta_macro_f1_ci"] == [0.0, 0.0]
    assert same["mcnemar"]["p_value"] == 1.0
    ref = frame(Y, Y)  # the reference is always right
    other = compare_with_reference(OK, frame(Y, P), ref, label_map, params, "int4")
    assert other["agreement"] == pytest.approx(4 / 6)
    assert other["delta_macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3 - 1)
    assert other["mcnemar"] == {
        "ref_only_correct": 2,
        "other_only_correct": 0,
        "p_value": pytest.approx(0.5),
    }
    low, high = other["delta_macro_f1_ci"]
    assert low <= other["delta_macro_f1"] <= high <= 0


def test_misclassified_examples_most_confident_first(label_map):
    table = misclassified_examples(
        OK,
        frame(Y, P, [0.5, 0.6, 0.5, 0.5, 0.5, 0.95]),
        frame(Y, Y),
        label_map,
        variant="int8",
    )
    assert table["line"].tolist() == [6, 2]  # the wrong rows, by confidence
    assert table["pred_label"].tolist() == ["positive", "neutral"]
    assert table["label"].tolist() == ["negative", "positive"]
    assert table["confidence"].tolist() == pytest.approx([0.95, 0.6])
    assert table["prob_true"].tolist() == pytest.approx([0.025, 0.2])
    assert table["ref_correct"].all()


def _summary(variant, f1, p50, size_mb, status="ok"):
    return {
        "variant": variant,
        "status": status,
        "format": "hf",
        "method": "m",
        "library": "l",
        "bits": 8,
        "n_test": 6,
        "accuracy": f1,
        "macro_f1": f1,
        "macro_f1_ci_low": f1 - 0.1,
        "macro_f1_ci_high": f1 + 0.1,
        "weighted_f1": f1,
        "f1_positive": f1,
        "agreement_vs_ref": 1.0,
        "delta_macro_f1_vs_ref": 0.0,
        "delta_ci_low": 0.0,
        "delta_ci_high": 0.0,
        "mcnemar_p": 1.0,
        "ref_only_correct": 0,
        "variant_only_correct": 0,
        "latency_p50_ms": p50,
        "latency_p95_ms": p50 * 1.5,
        "throughput_b32_texts_s": 100.0,
        "size_mb": size_mb,
        "peak_rss_mb": 500.0,
        "load_s": 1.0,
        "threads": 2,
        "cpu_model": "cpu",
        "library_versions": "torch 2",
    }


def test_comparison_table_relative_columns_and_outputs():
    rows = [
        _summary("fp32", 0.8, 12.0, 90.0),
        _summary("int8", 0.79, 3.0, 22.5),
        {"variant": "bnb_nf4", "status": "skipped: needs CUDA"},
    ]
    table = build_comparison_table(*rows, reference="fp32")
    assert table["variant"].tolist() == ["fp32", "int8", "bnb_nf4"]
    assert table["speedup_p50_vs_ref"].tolist()[:2] == [1.0, 4.0]
    assert table["size_vs_ref"].tolist()[:2] == [1.0, 0.25]
    assert table.columns[table.columns.get_loc("weighted_f1") + 1] == "f1_positive"
    text = comparison_markdown(table, reference="fp32")
    assert "| int8 " in text and "4.00×" in text and "25.0%" in text
    assert "- `bnb_nf4`: skipped: needs CUDA" in text
    assert plot_f1_vs_size(table) is not None
    with pytest.raises(ValueError, match="did not run"):
        build_comparison_table(rows[2], rows[1], reference="bnb_nf4")
    with pytest.raises(ValueError, match="not among"):
        build_comparison_table(*rows[1:], reference="fp32")


def test_tfidf_logreg_roundtrip_through_variant_folder(
    sample_splits, label_map, tmp_path
):
    from kedro.io import Version

    from quant_sentiment.datasets import VariantFolderDataset

    params = {"C": 1.0, "max_iter": 500}
    artifact = train_tfidf_logreg(sample_splits["train"], label_map, params)
    dataset = VariantFolderDataset(str(tmp_path / "tfidf"), version=Version(None, None))
    dataset.save(artifact)
    handle = dataset.load()
    assert handle.manifest["format"] == "sklearn"
    assert handle.manifest["status"] == "ok"
    assert handle.manifest["size_bytes"] > 0
    test = sample_splits["test"]
    preds = predict_with_variant(handle, test, params)
    assert len(preds) == len(test)
    assert {
        "pred_id",
        "pred_label",
        "prob_positive",
        "prob_neutral",
        "prob_negative",
    } <= set(preds.columns)
    expected = artifact.pipeline.predict_proba(test["text"].tolist())
    np.testing.assert_allclose(
        preds[["prob_positive", "prob_neutral", "prob_negative"]], expected, atol=1e-5
    )
    with pytest.raises(ValueError, match="no rows for label ids"):
        train_tfidf_logreg(
            sample_splits["train"].query("label_id != 1"), label_map, params
        )


def test_benchmark_runs_in_a_fresh_process(tiny_model_dir, sample_splits):
    params = {
        "threads": 1,
        "n_texts": 6,
        "warmup": 1,
        "latency_runs": 4,
        "throughput_batches": 2,
        "batch_size": 3,
        "progress": False,
    }
    result = benchmark_variant(
        VariantHandle(tiny_model_dir, {"format": "hf"}),
        sample_splits["test"],
        params,
        variant="fp32",
    )
    assert result["status"] == "ok"
    assert result["n_texts"] == 6
    assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"]
    assert result["throughput_texts_per_s"] > 0
    assert result["size_bytes"] == sum(
        f.stat().st_size for f in Path(tiny_model_dir).rglob("*") if f.is_file()
    )
    assert result["peak_rss_mb"] >= result["peak_rss_before_load_mb"] > 0
    assert result["machine"]["threads"] == 1
    assert result["machine"]["torch_threads"] == 1
    assert result["machine"]["versions"]["torch"]
    assert result["machine"]["cpu_model"]
