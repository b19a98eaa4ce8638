"""End-to-end runs through ``KedroSession`` on a throw-away copy of the project."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import read_sample_split, run_session, tiny_finetune_params

#: Obvious sentences, none of them (nor a near-copy) in the sample corpus, and the label
#: the offline default model must give them (issue 16; the first two and the fifth and
#: sixth are the issue's examples). The model fine-tuned on the first sample corpus
#: (240/60/60 rows, before issue 16) labels 6 of these 12 wrong.
OBVIOUS = {
    "pelayanannya ramah dan cepat": "positive",
    "makanannya enak dan murah": "positive",
    "kamarnya bersih dan nyaman": "positive",
    "sepatunya bagus , saya puas sekali": "positive",
    "paketnya rusak , kecewa sekali": "negative",
    "aplikasinya sering error dan lambat": "negative",
    "kasirnya tidak ramah dan harganya mahal": "negative",
    "toiletnya kotor dan bau": "negative",
    "toko ini buka setiap hari pukul delapan pagi": "neutral",
    "pesawat ke bali lepas landas pukul tujuh malam": "neutral",
    "rapat warga diadakan di balai desa hari sabtu": "neutral",
    "menu restoran ini ditulis dalam dua bahasa": "neutral",
}


def newest(root, pattern):
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


def test_offline_env_preprocessing_and_finetune(kedro_project):
    run_session(kedro_project, pipeline="preprocessing")
    run_session(
        kedro_project, pipeline="finetune", runtime_params=tiny_finetune_params()
    )
    data = kedro_project / "data"
    report = json.loads(
        newest(
            data, "08_reporting/sample_minilm/preprocessing_report.json/*/*.json"
        ).read_text()
    )
    assert report["splits"]["train"]["rows_out"] == 720
    metrics = json.loads(
        newest(
            data, "08_reporting/sample_minilm/finetune_test_metrics.json/*/*.json"
        ).read_text()
    )
    assert metrics["n"] == 180 and set(metrics["per_class"]) == {
        "positive",
        "neutral",
        "negative",
    }
    history = pd.read_csv(
        newest(data, "08_reporting/sample_minilm/finetune_history.csv/*/*.csv")
    )
    assert len(history) == 1
    png = newest(
        data, "08_reporting/sample_minilm/finetune_confusion_matrix.png/*/*.png"
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model_dir = newest(
        data, "06_models/sample_minilm/finetuned_model/*/finetuned_model"
    )
    meta = json.loads((model_dir / "manifest.json").read_text())
    assert meta["model_source"] == "scratch" and meta["max_length"] == 64
    assert meta["format"] == "hf" and meta["size_bytes"] > 0
    assert meta["training"]["training_args"]["num_train_epochs"] == 1

    from transformers import pipeline

    out = pipeline("text-classification", model=str(model_dir))("filmnya bagus sekali")
    assert out[0]["label"] in {"positive", "neutral", "negative"}


def test_obvious_sentences_are_not_in_the_sample_corpus():
    texts = {
        t for s in ("train", "valid", "test") for t in read_sample_split(s)["text"]
    }
    assert not texts & set(OBVIOUS)


@pytest.mark.slow  # fine-tunes all-MiniLM-L6-v2 as `kedro run --env=offline` does
def test_offline_default_model_labels_obvious_sentences_right(kedro_project):
    from quant_sentiment.scoring.model import Predictor

    run_session(kedro_project, pipeline="preprocessing")
    run_session(kedro_project, pipeline="finetune")  # conf/offline as is
    data = kedro_project / "data"
    metrics = json.loads(
        newest(
            data, "08_reporting/sample_minilm/finetune_test_metrics.json/*/*.json"
        ).read_text()
    )
    model_dir = newest(
        data, "06_models/sample_minilm/finetuned_model/*/finetuned_model"
    )
    predicted = Predictor(model_dir).predict_raw(list(OBVIOUS))
    wrong = {
        text: f"{want} -> {got['label']} {got['probabilities']}"
        for (text, want), got in zip(OBVIOUS.items(), predicted)
        if got["label"] != want
    }
    # All 12 were right in each of the seven trainings measured when this test was
    # written (seeds 42, 2, 3 with lr 1e-4 and 2e-4 on one thread, and `kedro run` on
    # two threads), but the least sure answer had p = 0.55 ("paketnya rusak , kecewa
    # sekali", two threads): another CPU or thread count may flip one sentence, so one
    # miss is tolerated; more than one fails, as the first corpus's model (6) does.
    assert len(wrong) <= 1, f"obvious sentences labelled wrong: {wrong}"
    # Sample test split (180 rows): macro-F1 0.79-0.82 on one thread over those seeds,
    # 0.78 with `kedro run` (the first corpus's model: 0.64 on this split).
    assert metrics["n"] == 180 and metrics["macro_f1"] >= 0.75


def test_missing_raw_file_stops_with_a_clear_message(kedro_project):
    (kedro_project / "data/01_raw/sample/valid.tsv").unlink()
    with pytest.raises(Exception, match="data/01_raw/sample/valid.tsv' is missing"):
        run_session(kedro_project, pipeline="preprocessing")


def test_invalid_row_is_reported_with_file_and_line(kedro_project):
    path = kedro_project / "data/01_raw/sample/test.tsv"
    path.write_bytes(path.read_bytes() + b"ulasan tanpa label\n")
    with pytest.raises(Exception, match=r"test.tsv, line 181: expected 2 columns"):
        run_session(kedro_project, pipeline="preprocessing")
    run_session(
        kedro_project,
        pipeline="preprocessing",
        runtime_params={"preprocessing": {"validation": {"on_invalid": "drop"}}},
    )
    dropped = pd.read_csv(
        newest(
            kedro_project / "data",
            "08_reporting/sample_minilm/preprocessing_dropped_rows.csv/*/*.csv",
        )
    )
    assert dropped[["split", "line", "check"]].values.tolist() == [
        ["test", 181, "column_count"]
    ]
