"""Format ``sklearn``: a fitted scikit-learn text pipeline (``model.skops``).

Used by the TF-IDF + logistic-regression baseline, so ``evaluate`` scores and times
it exactly like the neural variants. The pipeline is stored with skops, not pickle:
loading rebuilds only the types skops trusts by default (scikit-learn estimators,
NumPy / SciPy arrays, builtins) and refuses any other type before creating it, so a
crafted file cannot run code. Folders of the former ``model.joblib`` are refused
(their manifest has no file hashes) with the command that rebuilds them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quant_sentiment.integrity import ModelIntegrityError, inside

from ._base import not_a_transformers_folder

FORMAT = "sklearn"
WEIGHTS_FILE = "model.skops"


class SklearnClassifier:
    """A fitted scikit-learn text pipeline as a ``Classifier``.

    Logits are the log-probabilities (``softmax(log p) = p``), so ``argmax`` and the
    probabilities match ``predict_proba``.
    """

    def __init__(self, pipeline, id2label: dict[int, str]) -> None:
        """Check that the pipeline's classes are the label ids."""
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


def write(
    pipeline, id2label: dict[int, str], folder: Path, method: str
) -> dict[str, Any]:
    """Write ``model.skops`` (and the guarding ``config.json``); return manifest fields."""
    import sklearn
    import skops.io

    skops.io.dump(pipeline, Path(folder) / WEIGHTS_FILE)
    (Path(folder) / "config.json").write_text(
        json.dumps(not_a_transformers_folder(FORMAT))
    )
    return {
        "format": FORMAT,
        "method": method,
        "batch_invariance": "batched: features and scores per text",
        "library": "scikit-learn",
        "library_version": sklearn.__version__,
        "quantized_modules": [],
        "bits": 64,
        "group_size": None,
        "weights_file": WEIGHTS_FILE,
        "id2label": {str(k): v for k, v in id2label.items()},
    }


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> SklearnClassifier:
    """Open ``model.skops`` with the manifest's ``id2label``.

    Raises:
        ModelIntegrityError: If the file holds a type skops does not trust by
            default (named), or the manifest names a file outside the folder.
    """
    import skops.io

    name = manifest.get("weights_file", WEIGHTS_FILE)
    path = inside(folder, name)
    if name != WEIGHTS_FILE or not path.is_file():
        raise FileNotFoundError(
            f"'{folder}' has format {FORMAT!r} but no {WEIGHTS_FILE} (weights file: "
            f"{name!r}; pickled models are no longer loaded); rebuild it with "
            "`kedro run --pipelines=baseline`"
        )
    untrusted = skops.io.get_untrusted_types(file=path)
    if untrusted:
        raise ModelIntegrityError(
            f"'{path}' holds types that are not trusted and were not loaded: "
            f"{', '.join(untrusted)}"
        )
    return SklearnClassifier(skops.io.load(path, trusted=[]), manifest["id2label"])
