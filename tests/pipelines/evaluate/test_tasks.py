"""Per-task table of evaluate (pipelines/evaluate/tasks.py) on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from quant_sentiment.pipelines.evaluate.tasks import (
    build_task_table,
    task_predictions,
    task_table_markdown,
)
from quant_sentiment.variants import VariantHandle

TASKS = [
    {"name": "severity", "kind": "single_label", "labels": ["none", "weak", "strong"]},
    {"name": "abusive", "kind": "single_label", "labels": ["no", "yes"]},
    {"name": "category", "kind": "multi_label", "labels": ["religion", "race"]},
]
SPEC = {"name": "tiny", "tasks": TASKS}
BOOT = {"n_resamples": 300, "seed": 0, "confidence": 0.95, "method": "percentile"}
N = 120


class Bundle:
    """A built FP32 model stand-in (manifest only: never loaded here)."""

    manifest = {"status": "ok"}


def _test_split(rng) -> pd.DataFrame:
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(N)]})
    frame["label_id"] = frame["label_id__severity"] = rng.integers(0, 3, N)
    abusive = rng.integers(0, 2, N)
    frame["label_id__abusive"] = np.where(np.arange(N) % 4 == 0, -100, abusive)
    for c in ("religion", "race"):
        frame[f"label__category__{c}"] = rng.integers(0, 2, N)
    return frame


def _predictions(test: pd.DataFrame, rng, flip: float) -> pd.DataFrame:
    """Every head right except a ``flip`` share of rows."""
    wrong = rng.random(N) < flip
    out = pd.DataFrame({"text": test["text"]})
    sev = test["label_id__severity"].to_numpy()
    out["pred_id"] = out["pred_id__severity"] = np.where(wrong, (sev + 1) % 3, sev)
    ab = test["label_id__abusive"].clip(lower=0).to_numpy()
    out["pred_id__abusive"] = np.where(wrong, 1 - ab, ab)
    for c in ("religion", "race"):
        y = test[f"label__category__{c}"].to_numpy()
        out[f"pred__category__{c}"] = np.where(wrong, 1 - y, y)
    return out


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    test = _test_split(rng)
    fp32 = _predictions(test, rng, 0.1)
    int8 = _predictions(test, rng, 0.3)
    return test, fp32, int8


def test_one_row_per_variant_and_task_with_cis_and_deltas(frames, tmp_path):
    test, fp32, int8 = frames
    skipped = VariantHandle(tmp_path, {"status": "skipped", "reason": "off"})
    heads = [
        task_predictions(Bundle(), fp32, test, SPEC, {"batch_size": 8}, "fp32"),
        task_predictions(Bundle(), int8, test, SPEC, {"batch_size": 8}, "int8_ort"),
        task_predictions(skipped, int8, test, SPEC, {"batch_size": 8}, "int4"),
    ]
    table = build_task_table(
        test,
        SPEC,
        BOOT,
        *heads,
        variants=["fp32", "int8_ort", "int4"],
        reference="fp32",
    )
    assert len(table) == 9
    row = table.set_index(["variant", "task"])
    assert (row.xs("int4", level="variant")["status"] == "skipped").all()
    kept = test["label_id__abusive"] != -100
    want = f1_score(
        test.loc[kept, "label_id__abusive"],
        int8.loc[kept, "pred_id__abusive"],
        average="macro",
    )
    ab = row.loc[("int8_ort", "abusive")]
    assert ab["n"] == kept.sum()
    assert ab["macro_f1"] == pytest.approx(want)
    assert ab["macro_f1_low"] <= ab["macro_f1"] <= ab["macro_f1_high"]
    fp_ab = row.loc[("fp32", "abusive")]
    assert ab["delta"] == pytest.approx(ab["macro_f1"] - fp_ab["macro_f1"])
    assert ab["delta_low"] <= ab["delta"] <= ab["delta_high"] < 0
    assert fp_ab["delta"] == 0 and fp_ab["delta_low"] == fp_ab["delta_high"] == 0
    cols = ["label__category__religion", "label__category__race"]
    pred = ["pred__category__religion", "pred__category__race"]
    cat = row.loc[("int8_ort", "category")]
    want = f1_score(test[cols], int8[pred], average="macro")
    assert cat["macro_f1"] == pytest.approx(want)
    assert cat["macro_f1_low"] <= cat["macro_f1"] <= cat["macro_f1_high"]
    per_class = f1_score(test[cols], int8[pred], average=None)
    assert (
        cat["per_class_f1"] == f"religion {per_class[0]:.3f}; race {per_class[1]:.3f}"
    )
    assert cat["delta_high"] < 0
    ref_class = f1_score(test[cols], fp32[pred], average=None)
    gap = per_class - ref_class
    assert cat["per_class_delta"] == f"religion {gap[0]:+.3f}; race {gap[1]:+.3f}"
    assert cat["class_support"] == (
        f"religion {int(test[cols[0]].sum())}; race {int(test[cols[1]].sum())}"
    )
    sev = row.loc[("int8_ort", "severity")]
    support = sev["class_support"].split("; ")
    assert sum(int(s.rsplit(" ", 1)[1]) for s in support) == sev["n"]
    md = task_table_markdown(table)
    assert "per-class Δ" in md and "Test rows per class: religion" in md
    assert "## category (multi_label)" in md and "int8_ort" in md
    assert "Skipped variants (not built): int4." in md
    assert md.count("| int4") == 0 and "nan" not in md


def test_a_variant_without_heads_scores_only_the_primary_task(frames):
    test, fp32, int8 = frames
    primary_only = int8[["text", "pred_id"]]
    heads = task_predictions(
        Bundle(), primary_only, test, SPEC, {"batch_size": 8}, "tfidf_logreg"
    )
    assert list(heads.columns) == ["pred_id__severity"]
    ref = task_predictions(Bundle(), fp32, test, SPEC, {"batch_size": 8}, "fp32")
    table = build_task_table(
        test, SPEC, BOOT, ref, heads, variants=["fp32", "tfidf"], reference="fp32"
    )
    status = table.set_index(["variant", "task"])["status"]
    assert status[("tfidf", "severity")] == "ok"
    assert status[("tfidf", "abusive")] == "no head for this task"


def test_a_single_task_entry_is_the_one_task_case(frames):
    test, fp32, int8 = frames
    spec = {"name": "one", "tasks": TASKS[:1]}
    plain = test[["text", "label_id"]]
    heads = [
        task_predictions(Bundle(), p[["text", "pred_id"]], plain, spec, {}, v)
        for p, v in ((fp32, "fp32"), (int8, "int8_ort"))
    ]
    table = build_task_table(
        plain, spec, BOOT, *heads, variants=["fp32", "int8_ort"], reference="fp32"
    )
    assert table["task"].tolist() == ["severity", "severity"]
    want = f1_score(test["label_id"], int8["pred_id"], average="macro")
    assert table["macro_f1"].iloc[1] == pytest.approx(want)


def test_an_entry_without_tasks_is_named():
    with pytest.raises(ValueError, match="'bare' has no tasks"):
        build_task_table(
            pd.DataFrame(), {"name": "bare"}, BOOT, variants=[], reference="fp32"
        )
