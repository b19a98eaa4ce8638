"""The classic reference row: TF-IDF (word + character n-grams) + logistic regression.

The fitted scikit-learn pipeline is saved as a variant folder of format ``sklearn``
(``model.joblib`` + ``manifest.json``), so ``evaluate`` scores and times it through
:func:`quant_sentiment.variants.load_classifier` exactly like the neural variants.
Importing this module registers the ``sklearn`` format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from quant_sentiment.benchmark import folder_size
from quant_sentiment.variants import MANIFEST_FILE, register_format

MODEL_FILE = "model.joblib"
FORMAT = "sklearn"


def build_tfidf_logreg(params: dict[str, Any]):
    """An unfitted ``Pipeline(FeatureUnion(word, char TF-IDF), LogisticRegression)``.

    Args:
        params: ``word_ngram_range``, ``char_ngram_range``, ``min_df``,
            ``sublinear_tf``, ``max_features`` (per vectorizer, null = all), ``C``,
            ``class_weight`` (``balanced`` or null), ``max_iter``, ``seed``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    common = {
        "min_df": int(params.get("min_df", 1)),
        "sublinear_tf": bool(params.get("sublinear_tf", True)),
        "max_features": params.get("max_features"),
        "lowercase": True,
    }
    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=tuple(params.get("word_ngram_range", (1, 2))),
                    **common,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=tuple(params.get("char_ngram_range", (2, 5))),
                    **common,
                ),
            ),
        ]
    )
    classifier = LogisticRegression(
        C=float(params.get("C", 10.0)),
        class_weight=params.get("class_weight", "balanced"),
        max_iter=int(params.get("max_iter", 2000)),
        random_state=int(params.get("seed", 42)),
    )
    return Pipeline([("tfidf", features), ("logreg", classifier)])


class SklearnClassifier:
    """A fitted scikit-learn text pipeline as a :class:`~quant_sentiment.variants.Classifier`.

    Logits are the log-probabilities (``softmax(log p) = p``), so ``argmax`` and the
    probabilities match ``predict_proba``.
    """

    def __init__(self, pipeline, id2label: dict[int, str]) -> None:
        self.pipeline = pipeline
        self.id2label = {int(k): str(v) for k, v in id2label.items()}
        classes = [int(c) for c in pipeline.classes_]
        if classes != sorted(self.id2label):
            raise ValueError(
                f"Classifier classes {classes} do not match the label ids "
                f"{sorted(self.id2label)}; every label must occur in training."
            )

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Log-probabilities, ``float32 [n, num_labels]`` (``batch_size`` is ignored)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.id2label)), dtype=np.float32)
        return self.pipeline.predict_log_proba(texts).astype(np.float32)


class SklearnVariant:
    """A :class:`~quant_sentiment.variants.VariantArtifact` for a fitted pipeline."""

    def __init__(
        self,
        pipeline,
        id2label: dict[int, str],
        variant: str = "tfidf_logreg",
        method: str = "tfidf_word_char+logistic_regression",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.id2label = {int(k): str(v) for k, v in id2label.items()}
        self.variant = variant
        self.method = method
        self.extra = dict(extra or {})

    def save(self, folder: Path) -> None:
        """Write ``model.joblib`` and ``manifest.json`` into ``folder``."""
        import joblib
        import sklearn

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, folder / MODEL_FILE)
        manifest = {
            "variant": self.variant,
            "status": "ok",
            "format": FORMAT,
            "method": self.method,
            "library": "scikit-learn",
            "library_version": sklearn.__version__,
            "quantized_modules": [],
            "bits": 64,
            "group_size": None,
            "size_bytes": folder_size(folder),
            "fp32_size_bytes": None,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "id2label": {str(k): v for k, v in self.id2label.items()},
            **self.extra,
        }
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))


@register_format(FORMAT)
def _load_sklearn(folder: Path, manifest: dict[str, Any]) -> SklearnClassifier:
    import joblib

    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"'{folder}' has format {FORMAT!r} but no {MODEL_FILE}")
    id2label = manifest.get("id2label")
    if not id2label:
        raise ValueError(f"manifest of '{folder}' has no id2label")
    return SklearnClassifier(joblib.load(path), id2label)
