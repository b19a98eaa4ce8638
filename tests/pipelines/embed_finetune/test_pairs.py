"""Pair building: splits by id, no leakage, no duplicates within a training batch."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from kedro.io import DatasetError

from quant_sentiment.datasets import JSONLinesStream
from quant_sentiment.pipelines.embed_finetune.nodes import build_pairs, check_pairs
from quant_sentiment.pipelines.embed_finetune.pairs import (
    PAIR_COLUMNS,
    build_corpus_splits,
    build_parallel_splits,
    document_pair,
    split_of,
)
from tests.conftest import PROJECT_ROOT

from .conftest import reverse_words, write_jsonl

PARALLEL = {
    "language_pairs": [["javanese", "indonesian"], ["sundanese", "indonesian"]],
    "train_split": "train",
    "valid_split": "valid",
    "eval_split": "test",
}
CORPUS = {
    "id_field": "id",
    "text_field": "text",
    "on_invalid": "error",
    "split_salt": "",
    "max_documents": None,
    "max_train_pairs": None,
    "pair_mode": "spans",
    "span_words": 8,
    "min_span_words": 3,
    "valid_fraction": 0.1,
    "eval_fraction": 0.1,
    "max_valid_pairs": 50,
    "max_eval_pairs": 50,
}


def partitions_of(frames: dict[str, pd.DataFrame]):
    return {key: (lambda f=frame: f.copy()) for key, frame in frames.items()}


def nusax_partitions(root):
    return {
        f"{p.parent.name}/{p.stem}": (lambda p=p: pd.read_csv(p))
        for p in root.glob("*/*.csv")
    }


def test_split_of_is_stable_and_proportional():
    splits = [split_of(f"doc-{i}", 0.1, 0.2) for i in range(5000)]
    assert splits == [split_of(f"doc-{i}", 0.1, 0.2) for i in range(5000)]
    share = pd.Series(splits).value_counts(normalize=True)
    assert abs(share["eval"] - 0.2) < 0.03 and abs(share["valid"] - 0.1) < 0.03
    assert split_of("doc-1", 0.1, 0.2, salt="a") in {"train", "valid", "eval"}
    with pytest.raises(ValueError, match="sum to < 1"):
        split_of("x", 0.5, 0.5)


def test_parallel_pairs_align_by_id_and_keep_splits_apart(fake_nusax):
    train, valid, evaluation, stats = build_parallel_splits(
        nusax_partitions(fake_nusax), PARALLEL
    )
    assert list(train.columns) == PAIR_COLUMNS
    # 2 language pairs x (60, 16, 24) ids
    assert (len(train), len(valid), len(evaluation)) == (120, 32, 48)
    row = train[train["pair_id"].str.startswith("javanese:")].iloc[0]
    assert row["anchor"] == reverse_words(row["positive"])
    assert row["doc_id"] == "indonesian:" + row["group_id"]
    for a, b in ((train, valid), (train, evaluation), (valid, evaluation)):
        assert not set(a["group_id"]) & set(b["group_id"])
        assert not (set(a["anchor"]) | set(a["positive"])) & (
            set(b["anchor"]) | set(b["positive"])
        )
    assert set(evaluation["eval_set"]) == {
        "javanese->indonesian",
        "sundanese->indonesian",
    }
    assert stats["dropped"]["train/leak_into_valid_or_eval"] == 0


def test_parallel_pairs_drop_leaks_unmatched_ids_and_duplicates():
    def frame(ids, texts):
        return pd.DataFrame({"id": ids, "text": texts, "label": "neutral"})

    frames = {
        "id/train": frame([1, 2, 3, 4], ["satu", "dua", "tiga", "empat"]),
        "jv/train": frame(
            [1, 2, 3, 5], ["siji", "loro", "telu", "lima"]
        ),  # 4/5 unmatched
        "id/valid": frame([10, 11], ["sepuluh", "sebelas"]),
        "jv/valid": frame([10, 11], ["sepuluh", "sewelas"]),
        # test repeats a train text ("dua") under another id, and a text twice
        "id/test": frame([20, 21, 22], ["dua", "duapuluh", "duapuluh"]),
        "jv/test": frame([20, 21, 22], ["rong", "rongpuluh", "rongpuluh siji"]),
    }
    cfg = dict(PARALLEL, language_pairs=[["jv", "id"]])
    train, valid, evaluation, stats = build_parallel_splits(partitions_of(frames), cfg)
    assert stats["dropped"]["jv->id/train"]["no_partner"] == 2
    assert stats["dropped"]["eval/duplicate_text"] == 1  # "duapuluh" twice
    assert stats["dropped"]["valid/duplicate_text"] == 0
    assert sorted(evaluation["group_id"]) == ["20", "21"]
    assert "dua" not in set(train["positive"])  # leaked into eval: dropped
    assert stats["dropped"]["train/leak_into_valid_or_eval"] == 1
    assert sorted(train["group_id"]) == ["1", "3"]
    assert list(valid["group_id"]) == ["10", "11"]


def test_parallel_missing_language_is_a_clear_error(fake_nusax):
    cfg = dict(PARALLEL, language_pairs=[["klingon", "indonesian"]])
    with pytest.raises(ValueError, match=r"klingon/train.csv' not found.*javanese"):
        build_parallel_splits(nusax_partitions(fake_nusax), cfg)


def test_real_nusax_javanese_indonesian(shared_data):
    train, valid, evaluation, _ = build_parallel_splits(
        nusax_partitions(shared_data / "nusax_senti"),
        dict(PARALLEL, language_pairs=[["javanese", "indonesian"]]),
    )
    assert (len(train), len(valid), len(evaluation)) == (500, 100, 400)
    assert not set(train["group_id"]) & set(evaluation["group_id"])


def test_document_pair_spans_are_disjoint_and_short_documents_dropped():
    text = " ".join(f"t{i}" for i in range(40))
    anchor, positive = document_pair(
        "d1", text, "spans", span_words=8, min_span_words=3
    )
    a, p = anchor.split(), positive.split()
    assert len(a) == len(p) == 8 and not set(a) & set(p)
    assert max(int(w[1:]) for w in a) < min(int(w[1:]) for w in p)
    assert document_pair("d1", text, "spans", 8, 3) == (anchor, positive)  # stable
    assert document_pair("d2", "a b c d e", "spans", 8, 3) is None
    assert (
        document_pair("d3", text, "dropout", 8, 3) == (" ".join(text.split()[:8]),) * 2
    )
    with pytest.raises(ValueError, match="pair_mode"):
        document_pair("d4", text, "neighbours", 8, 3)


def test_corpus_pairs_split_by_id_without_leakage(tmp_path):
    # doc-3 appears twice (same id, other text); doc-dup repeats doc-5's text.
    path = write_jsonl(
        tmp_path / "c.jsonl",
        300,
        extra=[
            json.dumps({"id": "doc-3", "text": "lain " * 30}),
            json.dumps({"id": "short", "text": "terlalu pendek"}),
            json.dumps({"id": "no-text"}),
            "",
        ],
    )
    lines = path.read_text().splitlines()
    dup = json.loads(lines[5])
    with path.open("a") as handle:
        handle.write(json.dumps({"id": "doc-dup", "text": dup["text"]}) + "\n")
    train, valid, evaluation, stats = build_corpus_splits(JSONLinesStream(path), CORPUS)
    train = list(train)
    assert (
        stats["dropped"]["too_short"] == 1
        and stats["dropped"]["missing_id_or_text"] == 1
    )
    assert sum(stats["documents_per_split"].values()) == 302
    assert 10 < len(evaluation) <= 50 and 10 < len(valid) <= 50
    held_ids = set(valid["group_id"]) | set(evaluation["group_id"])
    held_texts = set(
        pd.concat(
            [
                valid["anchor"],
                valid["positive"],
                evaluation["anchor"],
                evaluation["positive"],
            ]
        )
    )
    assert not {p["group_id"] for p in train} & held_ids
    assert (
        not ({p["anchor"] for p in train} | {p["positive"] for p in train}) & held_texts
    )
    assert len(train) + len(valid) + len(evaluation) >= 290
    # the same check as the pipeline's node, on the saved form
    report = check_pairs(train, valid, evaluation, stats)
    assert report["pairs"]["train"] == len(train)
    with pytest.raises(ValueError, match="share an id or text"):
        check_pairs(train + [evaluation.iloc[0].to_dict()], valid, evaluation, stats)


def test_corpus_invalid_line_error_or_skip(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", 200, extra=["{not json", "[1, 2]"])
    with pytest.raises(DatasetError, match=r"c.jsonl:201: invalid JSON"):
        build_corpus_splits(JSONLinesStream(path), CORPUS)
    _, _, _, stats = build_corpus_splits(
        JSONLinesStream(path), dict(CORPUS, on_invalid="skip")
    )
    assert stats["lines"]["invalid_lines"] == 2


def test_build_pairs_node_reads_only_the_chosen_source(fake_nusax, tmp_path):
    missing = JSONLinesStream(tmp_path / "absent.jsonl")
    params = {"source": "parallel", "parallel": PARALLEL, "corpus": CORPUS}
    train, valid, _, stats = build_pairs(nusax_partitions(fake_nusax), missing, params)
    assert len(train) == 120 and stats["source"] == "parallel"
    with pytest.raises(FileNotFoundError, match="absent.jsonl"):
        build_pairs({}, missing, dict(params, source="corpus"))
    with pytest.raises(ValueError, match="parallel' or 'corpus"):
        build_pairs({}, missing, dict(params, source="neighbours"))


def test_training_batches_have_no_duplicate_texts(tiny_st_dir, fake_nusax, tmp_path):
    """Two query languages share each Indonesian positive: batches must not repeat it."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    from quant_sentiment.pipelines.embed_finetune.training import (
        make_loss,
        retrieval_evaluator,
        trainer_spec,
    )
    from quant_sentiment.training import build_trainer

    train, valid, _, _ = build_parallel_splits(nusax_partitions(fake_nusax), PARALLEL)
    dataset = Dataset.from_pandas(train[["anchor", "positive"]], preserve_index=False)
    model = SentenceTransformer(str(tiny_st_dir), device="cpu")
    cfg = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_embed_finetune.yml").read_text()
    )["embed_finetune"]["training"]
    cfg["training_args"].update(per_device_train_batch_size=16, disable_tqdm=True)
    trainer = build_trainer(
        model,
        trainer_spec(cfg, str(tmp_path)),
        train_dataset=dataset,
        loss=make_loss(model, cfg, 16),
        evaluator=retrieval_evaluator(valid, "valid"),
    )
    assert isinstance(trainer, SentenceTransformerTrainer)
    assert trainer.args.per_device_train_batch_size == 16
    assert trainer.args.warmup_steps == 0.1  # the YAML block, passed as is
    loader = trainer.get_train_dataloader()
    sampler = loader.batch_sampler
    while not isinstance(sampler, NoDuplicatesBatchSampler) and hasattr(
        sampler, "batch_sampler"
    ):
        sampler = sampler.batch_sampler
    assert isinstance(sampler, NoDuplicatesBatchSampler)
    batches = list(sampler)
    assert len(batches) >= 7
    for batch in batches:
        texts = [dataset[i]["anchor"] for i in batch] + [
            dataset[i]["positive"] for i in batch
        ]
        assert len(texts) == len(set(texts)), "a text repeats within a batch"
    # the property is not vacuous: positives do repeat across the dataset
    assert train["positive"].duplicated().sum() == 60
