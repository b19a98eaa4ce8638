"""Nodes of the ``baseline`` pipeline: TF-IDF (word + character n-grams) + logistic
regression, saved as a variant folder of format ``sklearn`` so that ``evaluate``
scores and times it like the neural variants."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from quant_sentiment.formats import sklearn
from quant_sentiment.manifest import write_manifest
from quant_sentiment.modeling import label_maps
from quant_sentiment.textprep import MANIFEST_KEY
from quant_sentiment.variants import StagedFolder

logger = logging.getLogger(__name__)
VARIANT = "tfidf_logreg"


def build_tfidf_logreg(params: dict[str, Any]):
    """An unfitted ``Pipeline(FeatureUnion(word, char_wb TF-IDF), LogisticRegression)``.

    Args:
        params: ``word_ngram_range``, ``char_ngram_range``, ``min_df``,
            ``sublinear_tf``, ``max_features`` (per vectorizer, null = all), ``C``,
            ``class_weight`` (``balanced`` or null), ``max_iter``, ``seed``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    common = {
        "min_df": int(params["min_df"]),
        "sublinear_tf": bool(params["sublinear_tf"]),
        "max_features": params["max_features"],
        "lowercase": True,
    }
    word = TfidfVectorizer(
        analyzer="word", ngram_range=tuple(params["word_ngram_range"]), **common
    )
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=tuple(params["char_ngram_range"]), **common
    )
    classifier = LogisticRegression(
        C=float(params["C"]),
        class_weight=params["class_weight"],
        max_iter=int(params["max_iter"]),
        random_state=int(params["seed"]),
    )
    return Pipeline(
        [
            ("tfidf", FeatureUnion([("word", word), ("char", char)])),
            ("logreg", classifier),
        ]
    )


def train_tfidf_logreg(
    train: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    normalisation: dict[str, Any],
) -> StagedFolder:
    """Fit TF-IDF + balanced logistic regression on the clean train split.

    Args:
        train: Clean train split (``text``, ``label_id``).
        model: ``params:model`` (the label map).
        params: ``baseline.tfidf_logreg`` (see :func:`build_tfidf_logreg`).
        normalisation: ``params:preprocessing.normalisation``, recorded in the
            manifest (:mod:`quant_sentiment.textprep`).

    Returns:
        The variant folder (``model.skops`` + ``manifest.json``).
    """
    id2label, _ = label_maps(model["label_map"])
    missing = sorted(set(id2label) - set(train["label_id"].astype(int)))
    if missing:
        raise ValueError(f"clean_train has no rows for label ids {missing}")
    pipeline = build_tfidf_logreg(params)
    pipeline.fit(train["text"].astype(str).tolist(), train["label_id"].astype(int))
    vocab = {
        name: len(vec.vocabulary_)
        for name, vec in pipeline.named_steps["tfidf"].transformer_list
    }
    logger.info(
        "TF-IDF + logistic regression on %d texts (features: %s)", len(train), vocab
    )
    staged = StagedFolder()
    fields = sklearn.write(
        pipeline, id2label, staged.folder, "tfidf_word_char+logistic_regression"
    )
    write_manifest(
        staged.folder,
        {
            "variant": VARIANT,
            "producer": "baseline",
            "status": "ok",
            **fields,
            "parameters": params,
            MANIFEST_KEY: dict(normalisation),
            "train_rows": len(train),
            "n_features": vocab,
        },
    )
    return staged
