"""The shared tiny model fixture predicts every label name and reloads identically."""

import numpy as np

from quant_sentiment.variants import load_classifier


def test_tiny_model_roundtrip(tiny_bundle, tiny_model_dir, sample_splits):
    texts = sample_splits["test"]["text"].tolist()[:8]
    clf = load_classifier(tiny_model_dir)
    assert clf.id2label == {0: "positive", 1: "neutral", 2: "negative"}
    from quant_sentiment.inference import predict_logits

    before = predict_logits(
        tiny_bundle.model,
        tiny_bundle.tokenizer,
        texts,
        max_length=None,  # a folder without manifest: the tokenizer's own limit
        show_progress=False,
    )
    np.testing.assert_allclose(clf.predict_logits(texts), before, atol=1e-5)


def test_variant_folder_dataset_reads_hf_folder(tiny_bundle, tmp_path, sample_splits):
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset

    HFModelFolderDataset(str(tmp_path / "m"), version=Version(None, None)).save(
        tiny_bundle
    )
    handle = VariantFolderDataset(
        str(tmp_path / "m"), version=Version(None, None)
    ).load()
    assert handle.manifest["format"] == "hf"
    texts = sample_splits["valid"]["text"].tolist()[:4]
    assert handle.load().predict_logits(texts).shape == (4, 3)
