"""Unit tests of the eda nodes on tiny frames with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.pipelines.eda import nodes
from quant_sentiment.pipelines.eda.nodes import (
    combine_splits,
    distinctive_words,
    length_statistics,
    measure_lengths,
    ngram_analyzer,
    ngram_table,
    quality_counts,
    split_label_counts,
    token_coverage,
    weighted_log_odds,
)

from ..preprocessing.conf_params import base_parameters

LABELS = {"positive": 0, "neutral": 1, "negative": 2}


def eda_params(**overrides):
    """``params:eda`` as shipped (conf/base/parameters_eda.yml) with ``overrides``;
    a dict override is merged into the shipped dict of that key."""
    params = base_parameters("eda")
    for key, value in overrides.items():
        params[key] = {**params[key], **value} if isinstance(value, dict) else value
    return params


class WhitespaceTokenizer:
    """Stand-in tokenizer: one token per whitespace word plus [CLS] and [SEP]."""

    def __call__(self, texts, **kwargs):
        return {"input_ids": [[0, *range(len(t.split())), 0] for t in texts]}


@pytest.fixture
def corpus() -> pd.DataFrame:
    train = pd.DataFrame(
        {
            "text": [
                "makanan enak sekali",
                "makanan enak sekali",
                "pelayanan buruk",
                "tidak enak",
                "hotel di kota",
            ],
            "label": ["positive", "positive", "negative", "negative", "neutral"],
        }
    )
    valid = pd.DataFrame(
        {"text": ["tidak enak", "bagus"], "label": ["negative", "positive"]}
    )
    test = pd.DataFrame(
        {"text": ["harga mahal sekali", "  "], "label": ["negative", "negative"]}
    )
    return combine_splits(train, valid, test)


def test_combine_splits_adds_split_and_rejects_missing_columns(corpus):
    assert corpus.columns[0] == "split"
    assert corpus["split"].value_counts().to_dict() == {
        "train": 5,
        "valid": 2,
        "test": 2,
    }
    with pytest.raises(ValueError, match="lacks column"):
        combine_splits(pd.DataFrame({"text": ["a"]}), corpus, corpus)


def test_split_label_counts(corpus):
    table = split_label_counts(corpus, LABELS).set_index(["split", "label"])
    assert table.loc[("train", "positive"), "count"] == 2
    assert table.loc[("train", "negative"), "share"] == pytest.approx(2 / 5)
    assert table.loc[("valid", "neutral"), "count"] == 0  # absent label listed as 0
    assert table.loc[("test", "negative"), "share"] == 1.0
    assert table.loc[("all", "negative"), "count"] == 5
    assert list(table.xs("train").index) == ["positive", "neutral", "negative"]


def test_quality_counts(corpus):
    dropped = pd.DataFrame(
        {
            "split": ["train", "test", "test"],
            "check": ["unknown_label", "empty_text", "empty_text"],
        }
    )
    table = quality_counts(corpus, dropped).set_index("split")
    assert table.loc["train", "duplicate_rows"] == 1
    assert table.loc["train", "duplicate_texts"] == 1
    assert table.loc["test", "empty_text"] == 1
    assert table.loc["valid", "texts_shared_with_train"] == 1  # "tidak enak"
    assert math.isnan(table.loc["train", "texts_shared_with_train"])
    assert table.loc["test", "dropped_empty_text"] == 2
    assert table.loc["all", "dropped_upstream"] == 3
    assert table.loc["valid", "vocabulary_size"] == 3  # tidak, enak, bagus
    assert table.loc["train", "words_total"] == 3 + 3 + 2 + 2 + 3


def test_quality_counts_finds_conflicting_labels():
    frame = combine_splits(
        pd.DataFrame({"text": ["a b", "a b"], "label": ["positive", "negative"]}),
        pd.DataFrame({"text": ["c"], "label": ["neutral"]}),
        pd.DataFrame({"text": ["d"], "label": ["neutral"]}),
    )
    empty = pd.DataFrame(columns=["split", "check"])
    table = quality_counts(frame, empty).set_index("split")
    assert table.loc["train", "conflicting_label_texts"] == 1
    assert table.loc["train", "duplicate_rows"] == 0


def test_measure_lengths_and_statistics(corpus):
    lengths = measure_lengths(
        corpus, WhitespaceTokenizer(), eda_params(token_batch_size=2)
    )
    assert lengths["n_chars"].tolist()[:3] == [19, 19, 15]
    assert lengths["n_words"].tolist() == [3, 3, 2, 2, 3, 2, 1, 3, 0]
    assert (lengths["n_tokens"] == lengths["n_words"] + 2).all()
    stats = length_statistics(lengths, LABELS).set_index(["split", "label", "measure"])
    row = stats.loc[("train", "all", "n_words")]
    assert row["count"] == 5 and row["mean"] == pytest.approx(13 / 5)
    assert row["median"] == 3 and row["min"] == 2 and row["max"] == 3
    assert stats.loc[("train", "negative", "n_tokens"), "mean"] == 4
    assert stats.loc[("all", "all", "n_words"), "count"] == 9
    assert ("train", "neutral", "n_chars") in stats.index
    assert ("valid", "neutral", "n_chars") not in stats.index  # no such rows


def test_measure_lengths_with_a_real_tokenizer(tiny_bundle, corpus):
    lengths = measure_lengths(corpus, tiny_bundle.tokenizer, eda_params())
    expected = [len(tiny_bundle.tokenizer(t)["input_ids"]) for t in corpus["text"]]
    assert lengths["n_tokens"].tolist() == expected


def test_token_coverage():
    lengths = pd.DataFrame(
        {
            "split": ["train"] * 4,
            "label": ["positive"] * 3 + ["negative"],
            "n_tokens": [10, 40, 70, 200],
        }
    )
    table = token_coverage(lengths, eda_params(truncation_lengths=[64, 32]))
    train = table[(table["split"] == "train") & (table["label"] == "all")].set_index(
        "max_length"
    )
    assert list(train.index) == [32, 64]
    assert train.loc[32, "truncated"] == 3 and train.loc[64, "truncated"] == 2
    assert train.loc[64, "truncated_share"] == 0.5
    assert train.loc[64, "tokens_lost_share"] == pytest.approx((6 + 136) / 320)
    neg = table[(table["label"] == "negative") & (table["max_length"] == 64)]
    assert neg["truncated_share"].item() == 1.0
    with pytest.raises(ValueError, match="positive integers"):
        token_coverage(lengths, eda_params(truncation_lengths=[0]))


def test_ngram_analyzer_drops_ngrams_with_stopwords_only():
    analyze = ngram_analyzer(2, {"yang", "di"})
    assert analyze("hotel yang bersih , di kota") == []
    assert analyze("tidak enak , anak-anak senang") == [
        "tidak enak",
        "enak anak-anak",
        "anak-anak senang",
    ]
    assert ngram_analyzer(1)("Makanan ENAK!") == ["Makanan", "ENAK"]


def test_ngram_table(corpus):
    eda = eda_params(ngrams={"orders": [1, 2], "top_n": 2, "remove_stopwords": False})
    table = ngram_table(corpus, eda, LABELS)
    top = table[(table["n"] == 1) & (table["label"] == "all")]
    assert top["ngram"].tolist() == ["enak", "sekali"]  # 4 and 3 occurrences
    assert top["count"].tolist() == [4, 3]
    assert top["documents"].tolist() == [4, 3]
    bigrams = table[(table["n"] == 2) & (table["label"] == "positive")]
    assert bigrams["ngram"].tolist() == ["enak sekali", "makanan enak"]
    assert bigrams["count"].tolist() == [2, 2]
    neg = table[(table["n"] == 1) & (table["label"] == "negative")]
    assert neg.iloc[0][["ngram", "count"]].tolist() == ["enak", 2]


def test_ngram_table_stopwords_switch(corpus):
    base = {"orders": [1], "top_n": 50, "stopwords_keep": ["tidak"]}
    kept = ngram_table(
        corpus, eda_params(ngrams={**base, "remove_stopwords": False}), LABELS
    )
    removed = ngram_table(
        corpus, eda_params(ngrams={**base, "remove_stopwords": True}), LABELS
    )
    assert "di" in set(kept["ngram"]) and "di" not in set(removed["ngram"])
    assert "tidak" in set(removed["ngram"])  # negation kept on purpose


def test_ngram_table_word_splits(corpus):
    eda = eda_params(word_splits=["valid"], ngrams={"orders": [1], "top_n": 10})
    table = ngram_table(corpus, eda, LABELS)
    assert set(table["ngram"]) == {"tidak", "enak", "bagus"}
    with pytest.raises(ValueError, match="unknown split"):
        ngram_table(corpus, eda_params(word_splits=["dev"]), LABELS)


def test_weighted_log_odds_by_hand():
    counts = np.array([[8.0, 2.0], [2.0, 8.0]])
    prior = np.array([1.0, 1.0])
    z, delta = weighted_log_odds(counts, prior)
    # word 0, class 0 vs class 1: y_i=8, y_j=2, n_i=n_j=10, a_w=1, a_0=2
    expected = math.log(9 / (10 + 2 - 9)) - math.log(3 / (10 + 2 - 3))
    assert delta[0, 0] == pytest.approx(expected)
    assert z[0, 0] == pytest.approx(expected / math.sqrt(1 / 9 + 1 / 3))
    assert z[0, 0] > 0 and z[0, 1] < 0
    np.testing.assert_allclose(
        z[1], -z[0]
    )  # two classes: class vs rest is antisymmetric
    with pytest.raises(ValueError):
        weighted_log_odds(counts, np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        weighted_log_odds(counts, np.array([1.0]))


def test_weighted_log_odds_prior_shrinks_rare_words():
    """A word seen twice in one class is less distinctive than one seen 20 times."""
    counts = np.array([[2.0, 20.0, 100.0], [0.0, 0.0, 100.0]])
    z, _ = weighted_log_odds(counts, counts.sum(axis=0))
    assert 0 < z[0, 0] < z[0, 1]


def test_distinctive_words_sign():
    frame = pd.DataFrame(
        {
            "split": "train",
            "text": [
                "bagus sekali kamar",
                "bagus makanan",
                "kamar bagus",
                "buruk sekali kamar",
                "buruk makanan",
                "kamar buruk",
                "kamar di hotel",
                "hotel di kota",
            ],
            "label": ["positive"] * 3 + ["negative"] * 3 + ["neutral"] * 2,
        }
    )
    eda = eda_params(distinctive={"top_n": 10, "min_count": 1, "prior_scale": 1.0})
    table = distinctive_words(frame, eda, LABELS)
    top = table[table["rank"] == 1].set_index("label")["word"]
    assert top["positive"] == "bagus" and top["negative"] == "buruk"
    z = table.set_index(["label", "word"])["z"]
    assert z[("positive", "bagus")] > 0 and z[("negative", "buruk")] > 0
    assert z[("positive", "buruk")] < 0
    assert z[("neutral", "hotel")] > 0
    assert (
        table.set_index(["label", "word"]).loc[("positive", "bagus"), "count_in_label"]
        == 3
    )
    few = distinctive_words(frame, eda_params(distinctive={"min_count": 3}), LABELS)
    assert set(few["word"]) == {"bagus", "buruk", "kamar"}


def test_distinctive_words_needs_two_labels():
    frame = pd.DataFrame({"split": "train", "text": ["a b"], "label": ["positive"]})
    assert distinctive_words(frame, eda_params(), LABELS).empty


def test_load_tokenizer_sources(tiny_model_dir, sample_splits, tmp_path):
    tok, info = nodes.load_tokenizer(
        eda_params(tokenizer=str(tiny_model_dir)),
        {"source": "scratch"},
        sample_splits["train"],
    )
    assert info["origin"] == "eda.tokenizer" and len(tok) == info["vocab_size"]
    tok, info = nodes.load_tokenizer(
        eda_params(),
        {"source": "scratch", "scratch": {"vocab_size": 300, "min_frequency": 1}},
        sample_splits["train"],
    )
    assert info["class"].startswith("BertTokenizer") and "WordPiece" in info["origin"]
    assert len(tok) <= 300
    with pytest.raises(OSError, match="eda.tokenizer"):
        nodes.load_tokenizer(
            eda_params(tokenizer=str(tmp_path / "missing")), {}, sample_splits["train"]
        )


def test_nodes_have_no_code_defaults():
    """Settings live in parameters_eda.yml only: a missing key is an error, not a
    silently different value."""
    lengths = pd.DataFrame({"split": ["train"], "label": ["positive"], "n_tokens": [5]})
    with pytest.raises(KeyError, match="truncation_lengths"):
        token_coverage(lengths, {})
    assert not hasattr(nodes, "DEFAULTS")


def test_matplotlib_png_dataset_roundtrip(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from kedro.io import DatasetError

    from quant_sentiment.datasets import MatplotlibPNGDataset
    from quant_sentiment.datasets.matplotlib_png import PNG_SIGNATURE

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    dataset = MatplotlibPNGDataset(filepath=str(tmp_path / "plot.png"))
    dataset.save(fig)
    assert dataset.load().startswith(PNG_SIGNATURE)
    (tmp_path / "fake.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="not a PNG"):
        MatplotlibPNGDataset(filepath=str(tmp_path / "fake.png")).load()
    with pytest.raises(DatasetError):
        MatplotlibPNGDataset(filepath=str(tmp_path / "missing.png")).load()
