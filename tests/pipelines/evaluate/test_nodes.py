"""Node functions of the ``evaluate`` pipeline on tiny, hand-checked inputs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.pipelines.baseline.nodes import train_tfidf_logreg
from quant_sentiment.pipelines.evaluate.quality import (
    classification_report_text,
    compare_with_reference,
    misclassified_examples,
    plot_variant_confusion_matrix,
    predict_test_split,
    quality_metrics,
)
from quant_sentiment.pipelines.evaluate.report import (
    SPEED_CI,
    build_comparison_table,
    comparison_markdown,
    plot_f1_vs_size,
    summarise_variant,
)
from quant_sentiment.pipelines.evaluate.speed import benchmark_variant
from quant_sentiment.variants import VariantHandle
from tests.conftest import base_normalisation

LABELS = ["positive", "neutral", "negative"]
OK = VariantHandle(path=Path("unused"), manifest={"format": "hf", "status": "ok"})
NORM = base_normalisation()
MODEL = {
    "label_map": {"positive": 0, "neutral": 1, "negative": 2},
    "max_length": 64,
    "threads": 1,
}
BOOT = {"n_resamples": 300, "seed": 3, "confidence": 0.95, "method": "percentile"}
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


def test_quality_metrics_hand_computed():
    metrics = quality_metrics(OK, frame(Y, P), MODEL, variant="int8")
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


def test_skipped_variant_is_reported_not_an_error():
    empty = frame(Y, P).iloc[:0]
    assert quality_metrics(SKIPPED, empty, MODEL, variant="bnb_nf4") == {
        "variant": "bnb_nf4",
        "status": "skipped",
        "reason": "bitsandbytes needs CUDA",
    }
    assert "skipped" in classification_report_text(SKIPPED, empty, MODEL, "bnb_nf4")
    assert misclassified_examples(SKIPPED, empty, frame(Y, Y), MODEL, "bnb_nf4").empty
    figure = plot_variant_confusion_matrix(SKIPPED, empty, MODEL, "bnb_nf4")
    shown = [t.get_text() for t in figure.axes[0].texts]
    assert shown == ["bnb_nf4: skipped\nbitsandbytes needs CUDA"]
    result = benchmark_variant(SKIPPED, frame(Y, Y), {}, MODEL, variant="bnb_nf4")
    assert result == {
        "variant": "bnb_nf4",
        "status": "skipped",
        "reason": "bitsandbytes needs CUDA",
    }
    row = summarise_variant(SKIPPED, {}, {}, {}, "bnb_nf4")
    assert row["status"] == "skipped: bitsandbytes needs CUDA"


def test_bad_predictions_give_clear_errors():
    with pytest.raises(ValueError, match="lack columns"):
        quality_metrics(OK, frame(Y, P).drop(columns="pred_id"), MODEL, variant="x")
    with pytest.raises(ValueError, match="empty"):
        quality_metrics(OK, frame(Y, P).iloc[:0], MODEL, variant="x")
    bad = frame(Y, P)
    bad.loc[0, "pred_id"] = 7
    with pytest.raises(ValueError, match="outside 0..2"):
        quality_metrics(OK, bad, MODEL, variant="x")
    shuffled = frame(Y, P).iloc[::-1]
    with pytest.raises(ValueError, match="same texts in the same order"):
        compare_with_reference(OK, shuffled, frame(Y, Y), MODEL, BOOT, variant="x")


def test_compare_with_reference():
    same = compare_with_reference(OK, frame(Y, P), frame(Y, P), MODEL, BOOT, "fp32")
    assert same["agreement"] == 1.0
    assert same["delta_macro_f1"] == 0.0
    assert same["delta_macro_f1_ci"] == [0.0, 0.0]
    assert same["mcnemar"]["p_value"] == 1.0
    ref = frame(Y, Y)  # the reference is always right
    other = compare_with_reference(OK, frame(Y, P), ref, MODEL, BOOT, "int4")
    assert other["agreement"] == pytest.approx(4 / 6)
    assert other["delta_macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3 - 1)
    assert other["mcnemar"] == {
        "ref_only_correct": 2,
        "other_only_correct": 0,
        "p_value": pytest.approx(0.5),
    }
    low, high = other["delta_macro_f1_ci"]
    assert low <= other["delta_macro_f1"] <= high <= 0


def test_misclassified_examples_most_confident_first():
    table = misclassified_examples(
        OK,
        frame(Y, P, [0.5, 0.6, 0.5, 0.5, 0.5, 0.95]),
        frame(Y, Y),
        MODEL,
        variant="int8",
    )
    assert table["line"].tolist() == [6, 2]  # the wrong rows, by confidence
    assert table["pred_label"].tolist() == ["positive", "neutral"]
    assert table["label"].tolist() == ["negative", "positive"]
    assert table["confidence"].tolist() == pytest.approx([0.95, 0.6])
    assert table["prob_true"].tolist() == pytest.approx([0.025, 0.2])
    assert table["ref_correct"].all()


def _summary(variant, f1, p50, size_mb, speedup=1.0, idle=True):
    return {
        "variant": variant,
        "status": "ok",
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
        "speedup_p50_vs_ref": speedup,
        "speedup_ci_low": speedup * 0.9,
        "speedup_ci_high": speedup * 1.1,
        "rounds": 20,
        "throughput_b32_texts_s": 100.0,
        "size_mb": size_mb,
        "peak_rss_mb": 500.0,
        "load_s": 1.0,
        "threads": 2,
        "idle": idle,
        "idle_detail": "idle" if idle else "load 3.4; busiest others: trainer",
        "cpu_model": "cpu",
        "cpu_flags": "avx2 avx512f",
        "library_versions": "torch 2",
    }


def test_comparison_table_relative_columns_and_outputs():
    rows = [
        _summary("fp32", 0.8, 12.0, 90.0),
        # the speed-up is the interleaved measurement, not 12 / 3 from the p50s
        _summary("int8", 0.79, 3.0, 22.5, speedup=3.5, idle=False),
        {"variant": "bnb_nf4", "status": "skipped: needs CUDA"},
    ]
    table = build_comparison_table(*rows, reference="fp32")
    assert table["variant"].tolist() == ["fp32", "int8", "bnb_nf4"]
    assert table["speedup_p50_vs_ref"].tolist()[:2] == [1.0, 3.5]
    assert table["speedup_ci_low"].tolist()[:2] == pytest.approx([0.9, 3.15])
    assert table["speedup_ci_high"].tolist()[:2] == pytest.approx([1.1, 3.85])
    assert table["idle"].tolist()[:2] == [True, False]
    assert table["cpu_flags"].tolist()[:2] == ["avx2 avx512f"] * 2
    assert table["size_vs_ref"].tolist()[:2] == [1.0, 0.25]
    assert table.columns[table.columns.get_loc("weighted_f1") + 1] == "f1_positive"
    text = comparison_markdown(table, reference="fp32")
    assert "| int8 " in text and "3.50× [3.15, 3.85]" in text and "25.0%" in text
    int8_line = next(line for line in text.splitlines() if "| int8 " in line)
    fp32_line = next(line for line in text.splitlines() if "| fp32 " in line)
    assert "**no** ⚠" in int8_line and "**no**" not in fp32_line
    assert "- `int8`: load 3.4; busiest others: trainer" in text
    assert "- cpu_flags: avx2 avx512f" in text
    assert "- `bnb_nf4`: skipped: needs CUDA" in text
    assert "## Per-class F1 (Δ vs reference)" in text
    assert "| int8      | 0.7900 (-0.0100) |" in text  # F1 positive and its Δ
    figure = plot_f1_vs_size(table)
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert sorted(t.get_text() for t in ax.texts) == ["fp32", "int8"]
    # int8 is smaller, fp32 better: both are on the Pareto front (red diamonds)
    front = [c for c in ax.collections if c.get_label() == "Pareto front"]
    assert len(front[0].get_offsets()) == 2
    with pytest.raises(ValueError, match="did not run"):
        build_comparison_table(rows[2], rows[1], reference="bnb_nf4")
    # summaries from before the interleaved rounds: speed-up from the p50s, no CI
    new_only = ("speedup_p50_vs_ref", *SPEED_CI, "idle", "idle_detail", "cpu_flags")
    old = [{k: v for k, v in r.items() if k not in new_only} for r in rows[:2]]
    table = build_comparison_table(*old, reference="fp32")
    assert table["speedup_p50_vs_ref"].tolist() == [1.0, 4.0]
    assert table["speedup_ci_low"].isna().all()
    text = comparison_markdown(table, reference="fp32")
    assert "| 4.00× " in text and "| ?" in text
    with pytest.raises(ValueError, match="not among"):
        build_comparison_table(*rows[1:], reference="fp32")


def test_tfidf_logreg_roundtrip_through_variant_folder(sample_splits, tmp_path):
    from kedro.io import Version

    from quant_sentiment.datasets import VariantFolderDataset

    params = {
        "word_ngram_range": [1, 2],
        "char_ngram_range": [2, 4],
        "min_df": 1,
        "sublinear_tf": True,
        "max_features": None,
        "C": 1.0,
        "class_weight": "balanced",
        "max_iter": 500,
        "seed": 0,
    }
    artifact = train_tfidf_logreg(sample_splits["train"], MODEL, params, NORM)
    dataset = VariantFolderDataset(str(tmp_path / "tfidf"), version=Version(None, None))
    dataset.save(artifact)
    handle = dataset.load()
    assert handle.manifest["format"] == "sklearn"
    assert handle.manifest["status"] == "ok"
    assert handle.manifest["size_bytes"] > 0
    assert handle.manifest["normalisation"] == NORM
    test = sample_splits["test"]
    preds = predict_test_split(handle, test, MODEL, {"batch_size": 16})
    assert len(preds) == len(test)
    probs = preds[["prob_positive", "prob_neutral", "prob_negative"]]
    import skops.io

    fitted = skops.io.load(handle.path / "model.skops", trusted=[])
    expected = fitted.predict_proba(test["text"].tolist())
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert (preds["pred_id"] == expected.argmax(axis=1)).all()
    with pytest.raises(ValueError, match="no rows for label ids"):
        train_tfidf_logreg(
            sample_splits["train"].query("label_id != 1"), MODEL, params, NORM
        )


def test_benchmark_interleaves_the_variant_with_the_reference(
    tiny_model_dir, sample_splits
):
    """The reference timed alone (speed-up 1), then a variant against it; each model
    in its own process (three children importing torch: ~10 s of CPU)."""
    params = {
        "n_texts": 6,
        "seed": 0,
        "timeout_s": 600,
        "warmup": 1,
        "rounds": 3,
        "calls_per_round": 2,
        "confidence": 0.95,
        "throughput_batches": 2,
        "batch_size": 3,
        "progress": False,
        "idle_max_load": 1.5,
        "idle_max_other_cpus": 0.25,
        "idle_sample_s": 0.05,
    }
    handle = VariantHandle(tiny_model_dir, {"format": "hf", "status": "ok"})
    test = sample_splits["test"]
    ref = benchmark_variant(handle, test, params, MODEL, variant="fp32")
    assert ref["status"] == "ok" and ref["variant"] == "fp32"
    assert ref["n_texts"] == 6 and ref["rounds"] == 3
    assert len(ref["round_medians_ms"]) == 3
    assert 0 < ref["latency_p50_ms"] <= ref["latency_p95_ms"]
    assert (ref["speedup_p50_vs_ref"], ref["speedup_ci_low"]) == (1.0, 1.0)
    assert ref["reference"] is None
    assert ref["throughput_texts_per_s"] > 0
    assert ref["peak_rss_mb"] >= ref["peak_rss_before_load_mb"] > 0
    assert isinstance(ref["idle"], bool)
    assert set(ref["idle_check"]) >= {"load_avg", "busy_processes", "reasons"}
    machine = ref["machine"]
    assert machine["threads"] == 1 and machine["torch_threads"] == 1
    assert machine["versions"]["torch"] and machine["cpu_model"]
    assert isinstance(machine["cpu_flags"], list)
    variant = benchmark_variant(handle, test, params, MODEL, ref, variant="bf16")
    assert variant["reference"]["variant"] == "fp32"
    assert variant["reference"]["folder"] == str(tiny_model_dir)
    assert len(variant["reference"]["round_medians_ms"]) == 3
    low, high = variant["speedup_ci_low"], variant["speedup_ci_high"]
    assert 0 < low <= variant["speedup_p50_vs_ref"] <= high
    with pytest.raises(FileNotFoundError, match="does not exist"):
        benchmark_variant(
            handle, test, params, MODEL, {**ref, "folder": "gone"}, variant="bf16"
        )
