"""The near-duplicate leakage guard (quant_sentiment.leakage)."""

from __future__ import annotations

import csv
import itertools
import random

import pandas as pd
import pytest

from quant_sentiment.leakage import (
    apply_guard,
    guard_train,
    near_duplicates,
    word_ngrams,
)


def _brute_force(texts, reference, ngram, threshold):
    """Every pair compared with Python sets: the reference for the sparse product."""
    rows = []
    for i, j in itertools.product(range(len(texts)), range(len(reference))):
        a, b = word_ngrams(texts[i], ngram), word_ngrams(reference[j], ngram)
        if a and b and len(a & b) / len(a | b) >= threshold:
            rows.append((i, j, len(a & b) / len(a | b)))
    return rows


def test_tokenisation_lowercases_and_splits_on_punctuation():
    assert word_ngrams("Kecewa, BERAT!  masa-indihome.", 3) == {
        "kecewa berat masa",
        "berat masa indihome",
    }
    # Fewer than n words: the whole word sequence is the one gram; no words: none.
    assert word_ngrams("Tidak marah.", 3) == {"tidak marah"}
    assert word_ngrams(" ... !! ", 3) == set()
    with pytest.raises(ValueError, match="ngram"):
        word_ngrams("a b", 0)


def test_threshold_boundary_counts_as_a_match():
    # Trigrams {abc, bcd, cde} vs {abc, bcd, cdf}: 2 shared of 4 distinct → 0.5.
    texts, reference = ["a b c d e"], ["a b c d f"]
    found = near_duplicates(texts, reference, ngram=3, threshold=0.5)
    assert found.to_dict("records") == [
        {"text_index": 0, "reference_index": 0, "jaccard": 0.5}
    ]
    assert near_duplicates(texts, reference, ngram=3, threshold=0.51).empty
    # 1/3 is not exactly representable: the boundary still counts.
    third = near_duplicates(["a b c d"], ["a b c x"], ngram=3, threshold=1 / 3)
    assert len(third) == 1 and third["jaccard"][0] == pytest.approx(1 / 3)


def test_short_texts_and_punctuation():
    texts = ["Tidak marah!", "tidak marah sekali", "ok", "...", "Bagus, sekali."]
    reference = ["tidak marah", "OK.", "bagus sekali", "tidak  marah sekali ya"]
    found = near_duplicates(texts, reference, ngram=3, threshold=0.5)
    pairs = set(zip(found["text_index"], found["reference_index"]))
    # "tidak marah" (short) matches only the same short word sequence; the 3-word
    # text shares 1 of 2 trigrams with the 4-word one (Jaccard 0.5).
    assert pairs == {(0, 0), (1, 3), (2, 1), (4, 2)}
    assert found.set_index(["text_index", "reference_index"]).loc[
        (1, 3), "jaccard"
    ] == pytest.approx(0.5)


def test_matches_brute_force_and_is_symmetric():
    rng = random.Random(7)
    words = "a b c d e f".split()
    texts = [" ".join(rng.choices(words, k=rng.randint(1, 7))) for _ in range(60)]
    reference = [" ".join(rng.choices(words, k=rng.randint(1, 7))) for _ in range(40)]
    for ngram, threshold in ((3, 0.5), (2, 0.3), (1, 0.8)):
        found = near_duplicates(texts, reference, ngram, threshold)
        expected = _brute_force(texts, reference, ngram, threshold)
        assert len(found) == len(expected) > 0
        assert [tuple(r) for r in found.itertuples(index=False)] == [
            (i, j, pytest.approx(s)) for i, j, s in expected
        ]
        swapped = near_duplicates(reference, texts, ngram, threshold)
        back = swapped.rename(
            columns={"text_index": "reference_index", "reference_index": "text_index"}
        ).sort_values(["text_index", "reference_index"], ignore_index=True)
        pd.testing.assert_frame_equal(back[found.columns], found)


def test_indices_are_positions_whatever_the_index():
    texts = pd.Series(["x y z", "a b c d"], index=[10, 3])
    found = near_duplicates(texts, pd.Series(["a b c d"], index=[99]))
    assert found[["text_index", "reference_index"]].values.tolist() == [[1, 0]]
    empty = near_duplicates([], ["a b c"])
    assert list(empty.columns) == ["text_index", "reference_index", "jaccard"]
    assert empty.empty
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates(["a"], ["a"], threshold=0)


def test_guard_train_removes_and_reports_with_reasons():
    train = pd.DataFrame(
        {
            "text": [
                "saya suka makan nasi goreng",  # 0: ~ nusax (0.5) and ~ smsa (1.0)
                "cuaca hari ini cerah sekali",  # 1: kept
                "Tidak marah.",  # 2: ~ nusax short text
                "pelayanan buruk sekali di sini",  # 3: kept
            ],
            "label": ["positive", "neutral", "neutral", "negative"],
            "line": [1, 2, 3, 4],
        }
    )
    references = {
        "nusax_indonesian valid+test": pd.DataFrame(
            {"text": ["saya suka makan nasi uduk", "tidak marah"]}
        ),
        "smsa test": pd.DataFrame({"text": ["Saya suka makan nasi goreng!"]}),
    }
    kept, removed, report = guard_train(train, references, ngram=3, threshold=0.5)
    assert kept["line"].tolist() == [2, 4]
    assert removed["line"].tolist() == [1, 3]
    assert list(removed.columns[:3]) == ["text", "label", "line"]
    assert set(removed["check"]) == {"near_duplicate"}
    # The best match wins: row 0 is 0.5 vs nusax, 1.0 vs smsa test.
    first, second = removed.to_dict("records")
    assert first["reference"] == "smsa test" and first["jaccard"] == 1.0
    assert "smsa test" in first["reason"] and "1.000" in first["reason"]
    assert "Saya suka makan nasi goreng!" in first["reason"]
    assert second["reference"] == "nusax_indonesian valid+test"
    assert second["matched_text"] == "tidak marah"
    assert report["rows_in"] == 4 and report["rows_removed"] == 2
    assert report["rows_kept"] == 2
    assert report["threshold"] == 0.5 and report["ngram"] == 3
    assert report["by_reference"] == {
        "nusax_indonesian valid+test": {"reference_rows": 2, "train_rows_matched": 2},
        "smsa test": {"reference_rows": 1, "train_rows_matched": 1},
    }
    assert len(report["examples"]) == 2
    assert report["examples"][0]["reference"] == "smsa test"


def test_guard_train_without_matches_keeps_everything():
    train = pd.DataFrame({"text": ["satu dua tiga", "empat lima enam"]})
    kept, removed, report = guard_train(train, {"ref": pd.DataFrame({"text": []})})
    pd.testing.assert_frame_equal(kept, train)
    assert removed.empty and "reason" in removed.columns
    assert report["rows_removed"] == 0
    assert report["by_reference"]["ref"]["train_rows_matched"] == 0


def test_readme_figures_on_the_real_files(shared_data):
    """../shared/data/README.md: 248/400 NusaX test and 336/500 train texts have a
    word-trigram Jaccard >= 0.5 near-duplicate in SmSA train."""
    smsa = pd.read_csv(
        shared_data / "smsa" / "train_preprocess.tsv",
        sep="\t",
        header=None,
        names=["text", "label"],
        quoting=csv.QUOTE_NONE,
    )
    counts = {}
    for split in ("test", "train"):
        nusax = pd.read_csv(shared_data / "nusax_senti" / "indonesian" / f"{split}.csv")
        found = near_duplicates(nusax["text"], smsa["text"], ngram=3, threshold=0.5)
        counts[split] = (found["text_index"].nunique(), len(nusax))
    assert counts == {"test": (248, 400), "train": (336, 500)}


def _rows(texts, origin):
    return pd.DataFrame(
        {"text": texts, "label": "neutral", "origin": origin, "line": range(len(texts))}
    )


GUARD = {"threshold": 0.5, "ngram": 3, "across_parts": True, "against": []}


def test_apply_guard_across_parts_checks_other_origins_only():
    train = pd.concat(
        [
            _rows(["saya suka makan nasi goreng", "cuaca hari ini cerah"], "smsa"),
            _rows(["pelayanan buruk sekali di sini", "jalan rusak lagi ya"], "nusax"),
        ],
        ignore_index=True,
    )
    valid = _rows(["Saya suka makan nasi goreng."], "nusax")
    # Same origin: "cuaca hari ini cerah" in smsa test does not remove smsa train.
    test = pd.concat(
        [
            _rows(["cuaca hari ini cerah"], "smsa"),
            _rows(["jalan rusak lagi ya"], "smsa"),
        ],
        ignore_index=True,
    )
    kept, removed, report = apply_guard(train, valid, test, GUARD, {})
    assert kept["text"].tolist() == [
        "cuaca hari ini cerah",
        "pelayanan buruk sekali di sini",
    ]
    assert removed["text"].tolist() == [
        "saya suka makan nasi goreng",
        "jalan rusak lagi ya",
    ]
    assert removed["reference"].tolist() == ["nusax valid+test", "smsa valid+test"]
    assert report["removed_by_reference"] == {
        "nusax valid+test": 1,
        "smsa valid+test": 1,
    }
    assert report["rows_in"] == 4 and report["rows_removed"] == 2


def test_apply_guard_against_entries_and_errors():
    train = _rows(["saya suka makan nasi goreng", "cuaca hari ini cerah"], "smsa")
    spec = {**GUARD, "across_parts": False, "against": ["nusax_indonesian"]}
    refs = {"nusax_indonesian": pd.DataFrame({"text": ["cuaca hari ini cerah!"]})}
    kept, removed, report = apply_guard(train, train[:0], train[:0], spec, refs)
    assert kept["text"].tolist() == ["saya suka makan nasi goreng"]
    assert report["removed_by_reference"] == {"nusax_indonesian valid+test": 1}
    with pytest.raises(ValueError, match="nusax_indonesian"):
        apply_guard(train, train[:0], train[:0], spec, {})
    with pytest.raises(ValueError, match="origin"):
        apply_guard(train.drop(columns="origin"), train, train, GUARD, {})
    same, none, off = apply_guard(train, train, train, None, {})
    assert same is train and none.empty and off == {"enabled": False}
