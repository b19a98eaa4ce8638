"""The shared tiny model fixture predicts every label name and reloads identically."""

import numpy as np

from quant_sentiment.variants import load_classifier


def test_tiny_model_roundtrip(tiny_bundle, tiny_model_dir, sample_splits):
    texts = sample_splits["test"]["text"].tolist()[:8]
    clf = load_classifier(tiny_model_dir)
    assert clf.id2label == {0: "positive", 1: "neutral", 2: "negative"}
    from quant_sentiment.inference import predict_logits

    before = predict_logits(tiny_bundle.model, tiny_bundle.tokenizer, texts,
                            show_progress=False)
    np.testing.assert_allclose(clf.predict_logits(texts), before, atol=1e-5)
