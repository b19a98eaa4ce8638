"""Nodes of the ``baseline`` pipeline: TF-IDF (word + character n-grams) + logistic
regression, saved as a variant folder of format ``sklearn`` so that ``evaluate``
scores and times it like the neural variants."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pandas as pd

from quant_sentiment.formats import sklearn
from quant_sentiment.manifest import write_manifest
from quant_sentiment.modeling import label_maps
from quant_sentiment.tasks import SINGLE
from quant_sentiment.textprep import MANIFEST_KEY
from quant_sentiment.variants import StagedFolder

from .heads import fit_heads

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
    return Pipeline(
        [
            ("tfidf", FeatureUnion([("word", word), ("char", char)])),
            ("logreg", logistic_regression(params)),
        ]
    )


def logistic_regression(params: dict[str, Any]):
    """An unfitted ``LogisticRegression`` of the block (``C``, ``class_weight``,
    ``max_iter``, ``seed``)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=float(params["C"]),
        class_weight=params["class_weight"],
        max_iter=int(params["max_iter"]),
        random_state=int(params["seed"]),
    )


def train_tfidf_logreg(
    train: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    normalisation: dict[str, Any],
    dataset_spec: dict[str, Any] | None = None,
) -> StagedFolder:
    """Fit TF-IDF + balanced logistic regression on the clean train split.

    For an entry with more than one task (``dataset_spec``), one classifier per task
    on the shared TF-IDF features (:mod:`.heads`), saved as ``heads.skops`` beside
    the primary task's pipeline.

    Args:
        train: Clean train split (``text``, ``label_id``).
        model: ``params:model`` (the label map).
        params: ``baseline.tfidf_logreg`` (see :func:`build_tfidf_logreg`).
        normalisation: ``params:preprocessing.normalisation``, recorded in the
            manifest (:mod:`quant_sentiment.textprep`).
        dataset_spec: ``params:dataset_spec`` (its ``tasks``).

    Returns:
        The variant folder (``model.skops`` + ``manifest.json``; ``heads.skops``).
    """
    id2label, _ = label_maps(model["label_map"])
    tasks = list((dataset_spec or {}).get("tasks") or [])
    pipeline, heads = build_tfidf_logreg(params), None
    if len(tasks) > 1:
        union = pipeline.named_steps["tfidf"].fit(train["text"].astype(str).tolist())
        heads = fit_heads(train, tasks, union, partial(logistic_regression, params))
        primary = next(t for t in tasks if t["kind"] == SINGLE)
        pipeline.steps[-1] = ("logreg", heads[primary["name"]])
        # the primary head's classes (a pool of different tasks: not the entry's
        # label space, which holds every member's primary classes)
        id2label = dict(enumerate(primary["labels"]))
    else:
        missing = sorted(set(id2label) - set(train["label_id"].astype(int)))
        if missing:
            raise ValueError(f"clean_train has no rows for label ids {missing}")
        texts = train["text"].astype(str).tolist()
        pipeline.fit(texts, train["label_id"].astype(int))
    vocab = {
        name: len(vec.vocabulary_)
        for name, vec in pipeline.named_steps["tfidf"].transformer_list
    }
    logger.info(
        "TF-IDF + logistic regression on %d texts (features: %s)", len(train), vocab
    )
    staged = StagedFolder()
    fields = sklearn.write(
        pipeline,
        id2label,
        staged.folder,
        "tfidf_word_char+logistic_regression",
        heads=heads,
        tasks=tasks if heads else None,
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
