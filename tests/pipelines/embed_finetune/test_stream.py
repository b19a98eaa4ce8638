"""The JSON-Lines reader streams: memory stays far below the file size."""

from __future__ import annotations

import tracemalloc

from quant_sentiment.datasets import JSONLinesDataset, JSONLinesStream
from quant_sentiment.pipelines.embed_finetune.pairs import (
    CorpusTrainPairs,
    build_corpus_splits,
)

from .conftest import write_jsonl

BUDGET = 768 * 1024  # bytes of Python allocations allowed while streaming

CFG = {
    "id_field": "id",
    "text_field": "text",
    "on_invalid": "error",
    "split_salt": "",
    "max_documents": None,
    "max_train_pairs": None,
    "pair_mode": "spans",
    "span_words": 16,
    "min_span_words": 4,
    "valid_fraction": 0.02,
    "eval_fraction": 0.02,
    "max_valid_pairs": 20,
    "max_eval_pairs": 20,
}


def _peak(func) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = func()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_reader_and_pair_builder_stay_within_budget(tmp_path):
    path = write_jsonl(tmp_path / "big.jsonl", 1_500, words=300)
    size = path.stat().st_size
    assert size > 4 * BUDGET  # the file is larger than the budget
    stream = JSONLinesDataset(str(path)).load()  # lazy: nothing read yet
    assert isinstance(stream, JSONLinesStream)

    count, peak = _peak(lambda: sum(1 for _ in stream))
    assert count == 1_500
    assert peak < BUDGET, f"reading {size} bytes peaked at {peak} bytes"

    (train, valid, evaluation, stats), peak = _peak(
        lambda: build_corpus_splits(stream, CFG)
    )
    assert isinstance(train, CorpusTrainPairs)
    assert sum(stats["documents_per_split"].values()) == 1_500
    assert len(valid) == len(evaluation) == 20
    assert peak < BUDGET, f"building pairs over {size} bytes peaked at {peak} bytes"

    # Saving the lazy train pairs streams them to disk as well.
    out = JSONLinesDataset(str(tmp_path / "train_pairs.jsonl"))
    _, peak = _peak(lambda: out.save(train))
    assert peak < BUDGET, f"writing train pairs peaked at {peak} bytes"
    saved = out.load()
    n_saved = sum(1 for _ in saved)
    assert n_saved == stats["documents_per_split"]["train"]
    # a lazy stream is re-iterable: a second pass sees the same pairs
    first = next(iter(saved))
    assert first == next(iter(saved)) and set(first) >= {
        "anchor",
        "positive",
        "group_id",
    }


def test_jsonl_dataset_versioned_roundtrip(tmp_path):
    from kedro.io import Version

    ds = JSONLinesDataset(str(tmp_path / "pairs.jsonl"), version=Version(None, None))
    assert not ds.exists()
    ds.save({"i": i, "t": f"teks {i}"} for i in range(5))  # a generator
    assert ds.exists()
    assert [r["i"] for r in ds.load()] == list(range(5))
