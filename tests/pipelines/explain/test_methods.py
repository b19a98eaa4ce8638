"""Attribution methods, drift metrics and faithfulness on tiny models and
hand-made vectors."""

import numpy as np
import pytest

from quant_sentiment.formats import HFClassifier
from quant_sentiment.pipelines.explain.attribution import (
    integrated_gradients,
    lime_scores,
    occlusion,
    probabilities,
    supports_gradients,
)
from quant_sentiment.pipelines.explain.drift import mean_with_ci, text_drift
from quant_sentiment.pipelines.explain.faithfulness import erasures, text_faithfulness
from quant_sentiment.pipelines.explain.words import join_words, token_scores_to_words

IG = {"n_steps": 300, "method": "gausslegendre", "internal_batch_size": 100}
BOOT = {"n_resamples": 500, "seed": 0, "confidence": 0.95, "method": "percentile"}


class WordWeights:
    """A ``Classifier`` whose class-0 logit is the sum of fixed word weights."""

    id2label = {0: "positive", 1: "negative"}

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    def predict_logits(self, texts, batch_size=64):
        score = [sum(self.weights.get(w, 0.0) for w in t.split()) for t in texts]
        return np.array([[s, 0.0] for s in score], dtype=np.float32)


@pytest.fixture(scope="module")
def tiny_clf(tiny_bundle):
    """The tiny BERT with large random matrices (std 0.2, seeded): unlike the freshly
    initialised one, its probabilities depend clearly on the words."""
    import copy

    import torch

    model = copy.deepcopy(tiny_bundle.model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2 and "LayerNorm" not in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return HFClassifier(model, tiny_bundle.tokenizer, max_length=64)


@pytest.fixture(scope="module")
def words(sample_splits):
    text = max(sample_splits["test"]["text"].head(20), key=len)
    return text.split()


def test_occlusion_is_the_measured_change_of_the_probability(tiny_clf, words):
    target = 1
    scores = occlusion(tiny_clf, words, target, batch_size=4)
    assert scores.shape == (len(words),)
    assert np.abs(scores).max() > 0
    full = probabilities(tiny_clf, [join_words(words)], 1)[0, target]
    for i in (0, len(words) // 2, len(words) - 1):
        without = join_words(words[:i] + words[i + 1 :])
        measured = full - probabilities(tiny_clf, [without], 1)[0, target]
        assert scores[i] == pytest.approx(measured, abs=1e-5)


def test_integrated_gradients_completeness(tiny_clf, words):
    import torch

    assert supports_gradients(tiny_clf, "hf", ["hf"])
    assert not supports_gradients(tiny_clf, "torchao", ["hf"])
    assert not supports_gradients(WordWeights({}), "sklearn", ["hf", "sklearn"])
    target = 0
    scores, delta = integrated_gradients(tiny_clf, words, target, IG)
    assert scores.shape == (len(words),)
    enc = tiny_clf.tokenizer(
        join_words(words),
        truncation=True,
        max_length=64,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    pad = torch.full_like(enc["input_ids"], tiny_clf.tokenizer.pad_token_id)
    baseline = torch.where(enc["special_tokens_mask"].bool(), enc["input_ids"], pad)
    with torch.no_grad():

        def prob(ids):
            out = tiny_clf.model(input_ids=ids, attention_mask=enc["attention_mask"])
            return torch.softmax(out.logits, -1)[0, target].item()

        gap = prob(enc["input_ids"]) - prob(baseline)
    assert abs(gap) > 0.1  # the check below is not vacuous
    assert scores.sum() == pytest.approx(gap, abs=1e-3)
    assert abs(delta) < 1e-3


def test_sub_word_scores_sum_per_word():
    words = ["makanan", "enak", "sekali"]
    # "makanan enak sekali": [CLS], ma|kanan, en|ak, sekali, [SEP]
    offsets = [(0, 0), (0, 2), (2, 7), (8, 10), (10, 12), (13, 19), (0, 0)]
    scores = np.array([9.0, 1.0, 2.0, 0.5, 0.25, -1.0, 9.0])
    assert token_scores_to_words(offsets, scores, words).tolist() == [3.0, 0.75, -1.0]


def test_lime_finds_the_weighted_words_and_is_seeded():
    clf = WordWeights({"bagus": 3.0, "buruk": -3.0})
    words = "film ini bagus tapi akhirnya buruk".split()
    params = {"num_samples": 300, "seed": 7}
    scores = lime_scores(clf, words, 0, params, batch_size=64)
    assert int(np.argmax(scores)) == words.index("bagus")
    assert int(np.argmin(scores)) == words.index("buruk")
    assert np.array_equal(scores, lime_scores(clf, words, 0, params, batch_size=64))


def test_drift_identical_reversed_and_negated_vectors():
    a = np.array([0.5, -0.2, 0.9, 0.1, -0.7, 0.3])
    same = text_drift(a, a.copy(), ks=[1, 3, 5])
    assert same == {
        "spearman": pytest.approx(1.0),
        "jaccard@1": 1.0,
        "jaccard@3": 1.0,
        "jaccard@5": 1.0,
        "sign_flip": 0.0,
    }
    ranks = np.arange(1.0, 7.0)
    assert text_drift(ranks, ranks[::-1].copy(), ks=[1])["spearman"] == pytest.approx(
        -1.0
    )
    negated = text_drift(a, -a, ks=[3])
    assert negated["sign_flip"] == 1.0 and negated["jaccard@3"] == 1.0
    # top-1 by |score|: 0.9 (index 2) vs -0.95 (index 0): disjoint
    other = np.array([-0.95, -0.2, 0.9, 0.1, -0.7, 0.3])
    assert text_drift(a, other, ks=[1])["jaccard@1"] == 0.0


def test_undefined_drift_is_nan_and_left_out_of_the_mean():
    one_word = text_drift(np.array([0.4]), np.array([0.1]), ks=[1])
    assert np.isnan(one_word["spearman"]) and one_word["jaccard@1"] == 1.0
    summary = mean_with_ci([1.0, np.nan, 0.0, 0.5], BOOT)
    assert summary["n"] == 3 and summary["mean"] == pytest.approx(0.5)
    assert 0.0 <= summary["ci_low"] < 0.5 < summary["ci_high"] <= 1.0
    assert mean_with_ci([1.0, 1.0], BOOT) == {
        "mean": 1.0,
        "ci_low": 1.0,
        "ci_high": 1.0,
        "n": 2,
    }


def test_comprehensiveness_and_sufficiency_on_an_additive_model():
    clf = WordWeights({"bagus": 2.0, "sekali": 1.0})
    words = "film bagus sekali".split()
    scores = np.array([0.0, 2.0, 1.0])
    without, only = erasures(words, scores, [0.3, 0.5])
    assert without == ["film sekali", "film"] and only == ["bagus", "bagus sekali"]
    rows = text_faithfulness(clf, words, scores, 0, [0.3, 0.5], batch_size=8)

    def p(score):
        return 1 / (1 + np.exp(-score))

    assert [r["k"] for r in rows] == [1, 2]
    assert rows[0]["comprehensiveness"] == pytest.approx(p(3) - p(1), abs=1e-6)
    assert rows[1]["comprehensiveness"] == pytest.approx(p(3) - p(0), abs=1e-6)
    assert rows[0]["sufficiency"] == pytest.approx(p(3) - p(2), abs=1e-6)
    assert rows[1]["sufficiency"] == pytest.approx(0.0, abs=1e-6)
