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
SINGLE = "single_label"  # a task kind (quant_sentiment.tasks)
WEIGHTS_FILE = "model.skops"
HEADS_FILE = "heads.skops"


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


class SklearnHeadsClassifier(SklearnClassifier):
    """The TF-IDF baseline of a multi-task entry: one fitted classifier per task on
    the primary pipeline's features (docs/multitask.md, "Baselines").

    :meth:`predict_task_logits` gives ``{task: logits}`` like a multi-task model
    folder (single_label: log-probabilities; multi_label: each class's log-odds, so
    ``> 0`` is a predicted class); ``predict_logits`` stays the primary head.
    """

    def __init__(
        self,
        pipeline,
        id2label: dict[int, str],
        heads: dict[str, Any],
        tasks: list[dict[str, Any]],
    ) -> None:
        """Check that every task has its head."""
        super().__init__(pipeline, id2label)
        self.tasks = [dict(t) for t in tasks]
        missing = [t["name"] for t in self.tasks if t["name"] not in heads]
        if missing:
            raise ValueError(f"heads.skops has no head for task(s) {missing}")
        self.heads = heads
        self.primary = next(t["name"] for t in self.tasks if t["kind"] == SINGLE)

    def predict_task_logits(
        self, texts: Sequence[str], batch_size: int = 64
    ) -> dict[str, np.ndarray]:
        """``{task: float32 logits}`` of every head (``batch_size`` is ignored)."""
        texts = list(texts)
        if not texts:
            return {
                t["name"]: np.zeros((0, len(t["labels"])), dtype=np.float32)
                for t in self.tasks
            }
        features = self.pipeline.named_steps["tfidf"].transform(texts)
        out = {}
        for task in self.tasks:
            head = self.heads[task["name"]]
            if task["kind"] == SINGLE:
                out[task["name"]] = head.predict_log_proba(features)
            else:
                out[task["name"]] = np.stack(
                    [h.decision_function(features) for h in head], axis=1
                ).reshape(len(texts), len(head))
        return {k: v.astype(np.float32) for k, v in out.items()}


def write(
    pipeline,
    id2label: dict[int, str],
    folder: Path,
    method: str,
    heads: dict[str, Any] | None = None,
    tasks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write ``model.skops`` (and the guarding ``config.json``); return manifest fields.

    With ``heads`` (``{task: classifier, or a list of one binary classifier per
    class for a multi_label task}``, fitted on ``pipeline``'s features) and the
    entry's ``tasks``, also ``heads.skops``: the folder then loads as a
    :class:`SklearnHeadsClassifier` (every head, docs/multitask.md).
    """
    import sklearn
    import skops.io

    skops.io.dump(pipeline, Path(folder) / WEIGHTS_FILE)
    extra: dict[str, Any] = {}
    if heads:
        skops.io.dump(dict(heads), Path(folder) / HEADS_FILE)
        extra = {"heads_file": HEADS_FILE, "tasks": [dict(t) for t in tasks or []]}
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
        **extra,
    }


def load(
    folder: Path, manifest: dict[str, Any], threads: int | None = None
) -> SklearnClassifier:
    """Open ``model.skops`` with the manifest's ``id2label``.

    Raises:
        ModelIntegrityError: If the file holds a type skops does not trust by
            default (named), or the manifest names a file outside the folder.
    """

    name = manifest.get("weights_file", WEIGHTS_FILE)
    path = inside(folder, name)
    if name != WEIGHTS_FILE or not path.is_file():
        raise FileNotFoundError(
            f"'{folder}' has format {FORMAT!r} but no {WEIGHTS_FILE} (weights file: "
            f"{name!r}; pickled models are no longer loaded); rebuild it with "
            "`kedro run --pipelines=baseline`"
        )
    pipeline = _trusted_load(path)
    if manifest.get("heads_file") is None:
        return SklearnClassifier(pipeline, manifest["id2label"])
    heads_path = inside(folder, str(manifest["heads_file"]))
    return SklearnHeadsClassifier(
        pipeline, manifest["id2label"], _trusted_load(heads_path), manifest["tasks"]
    )


def _trusted_load(path: Path):
    """``skops.io.load`` of a file holding only the types skops trusts by default."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    if untrusted:
        raise ModelIntegrityError(
            f"'{path}' holds types that are not trusted and were not loaded: "
            f"{', '.join(untrusted)}"
        )
    return skops.io.load(path, trusted=[])
