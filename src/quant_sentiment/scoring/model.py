"""A saved model ready to score raw text: folder or catalog name → :class:`Predictor`.

Whatever the format (``hf`` FP32/FP16/BF16, ONNX INT8/INT4, torchao, TF-IDF), the
folder opens through :func:`quant_sentiment.formats.load_classifier`; raw text is
normalised as the model's manifest records (:mod:`quant_sentiment.textprep`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quant_sentiment.heads import (
    has_tasks,
    head_answer,
    head_logits,
    head_probabilities,
    heads_of,
)
from quant_sentiment.manifest import MANIFEST_FILE, read_manifest
from quant_sentiment.textprep import TextPrep

logger = logging.getLogger(__name__)


class ModelNotFound(ValueError):
    """``--model`` names neither a model folder nor a catalog dataset."""


def _is_model_folder(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file() or (path / "config.json").is_file()


def _newest_version(path: Path) -> Path | None:
    """``<path>/<newest timestamp>/<path.name>`` of a Kedro-versioned folder, if any."""
    versions = sorted(
        p / path.name for p in path.iterdir() if _is_model_folder(p / path.name)
    )
    return versions[-1] if versions else None


def _catalog_folder(name: str, env: str | None, project: Path) -> Path | None:
    """The newest folder of catalog dataset ``name`` in ``env``; ``None`` if unknown."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        dataset = session.load_context().catalog.get(name)
    if dataset is None:
        return None
    if not hasattr(dataset, "_load_folder"):
        raise ModelNotFound(
            f"Catalog dataset {name!r} ({type(dataset).__name__}) is not a model "
            "folder dataset (HFModelFolderDataset / VariantFolderDataset)."
        )
    return dataset._load_folder()


def _check_catalog_name(name: str) -> None:
    """Refuse a catalog name that could lead a dataset factory out of its folder."""
    if "/" in name or "\\" in name or ".." in name:
        raise ModelNotFound(
            f"--model '{name}' is neither a model folder nor a catalog dataset name "
            "(those hold no '/', '\\' or '..')"
        )


def _inside_data(folder: Path, name: str, project: Path) -> Path:
    """``folder`` if its path lies inside the project's ``data/`` directory (compared
    after collapsing ``..``, not through links: ``data/06_models`` may be a link to
    other storage)."""
    data = Path(os.path.normpath((project / "data").absolute()))
    if not Path(os.path.normpath(Path(folder).absolute())).is_relative_to(data):
        raise ModelNotFound(
            f"Catalog dataset {name!r} resolves to '{folder}', outside '{data}'; "
            "pass a folder outside data/ as a path"
        )
    return folder


def resolve_model(
    model: str, env: str | None = None, project: Path | None = None
) -> Path:
    """The model folder that ``model`` names.

    Args:
        model: A model folder (with ``manifest.json``), a Kedro-versioned folder
            (``data/06_models/<run>/ptq_int8_ort_model``: its newest version), or a
            catalog dataset name (``finetuned_model``, ``ptq_int8_ort_model``,
            ``tfidf_logreg_model``) of ``env`` in the project at ``project``
            (default: the working directory); a name holding ``/``, ``\\`` or
            ``..`` is refused, and so is a catalog folder outside ``data/``.
        env: Kedro environment for catalog names (``None``: the default, ``local``).

    Raises:
        ModelNotFound: Naming what was tried.
    """
    path = Path(model)
    if path.is_dir():
        if _is_model_folder(path):
            return path
        newest = _newest_version(path)
        if newest is not None:
            return newest
        raise ModelNotFound(f"'{model}' is a folder without {MANIFEST_FILE}")
    project = Path.cwd() if project is None else project
    if (project / "pyproject.toml").is_file() and (project / "conf").is_dir():
        _check_catalog_name(model)
        folder = _catalog_folder(model, env, project)
        if folder is not None:
            return _inside_data(folder, model, project)
        where = f"nor a dataset in the catalog of env {env or 'local'!r}"
    else:
        where = f"and '{project}' is not a Kedro project to look it up in"
    raise ModelNotFound(f"--model '{model}' is neither a model folder {where}")


class Predictor:
    """A loaded model with the text normalisation it was trained with.

    Attributes:
        folder: The model folder.
        manifest: Its ``manifest.json``.
        labels: Label names in id order (the columns of :meth:`probabilities`).
    """

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        from quant_sentiment.formats import load_classifier

        self.folder = Path(folder)
        self.manifest: dict[str, Any] = read_manifest(self.folder)
        self.prep = TextPrep.from_manifest(self.manifest, str(self.folder))
        self.classifier = load_classifier(self.folder, threads=threads)
        id2label = self.classifier.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]
        self.heads = heads_of(self.classifier)
        #: The heads a multi-task folder answers for under ``tasks`` (``[]``: a
        #: single-task model, whose one head is the answer's ``label`` alone).
        self.task_heads = self.heads if has_tasks(self.classifier) else []
        self._primary = getattr(self.classifier, "primary", self.heads[0].name)
        logger.info(
            "Loaded %s (%s) from %s",
            self.manifest.get("variant", "model"),
            self.manifest["format"],
            self.folder,
        )

    @property
    def variant(self) -> str:
        """The variant name in the manifest (``model`` for a hand-made folder)."""
        return str(self.manifest.get("variant", "model"))

    def head_probabilities(
        self, clean_texts: Sequence[str], batch_size: int = 32
    ) -> dict[str, np.ndarray]:
        """Every head's class probabilities (``{task: [n, classes]}``, softmax or
        sigmoid) of texts already normalised, from one model call."""
        logits = head_logits(
            self.classifier, list(clean_texts), batch_size, self.heads[0].name
        )
        return head_probabilities(self.heads, logits)

    def probabilities(
        self, clean_texts: Sequence[str], batch_size: int = 32
    ) -> np.ndarray:
        """Class probabilities ``[n, n_labels]`` of texts already normalised (a
        multi-task model: its primary head's)."""
        return self.head_probabilities(clean_texts, batch_size)[self._primary]

    def predict_raw(self, texts: Sequence[str], batch_size: int = 32) -> list[dict]:
        """Label and probabilities for raw texts (normalised here).

        Raises:
            ValueError: If a text is empty after normalisation (its index named).
        """
        clean = self.prep.many(list(texts))
        empty = [i for i, t in enumerate(clean) if not t.strip()]
        if empty:
            raise ValueError(f"text(s) {empty} are empty after normalisation")
        return self.rows(clean, batch_size)

    def rows(self, clean_texts: Sequence[str], batch_size: int = 32) -> list[dict]:
        """One answer per text already normalised, every head from one model call:
        :meth:`row` of the primary head, plus for a multi-task model ``tasks``:
        ``{task: {"label", "probabilities"}}`` (single_label) or ``{task:
        {"labels", "probabilities"}}`` (multi_label: the classes over 0.5)."""
        probs = self.head_probabilities(clean_texts, batch_size)
        out = []
        for i in range(len(clean_texts)):
            row = self.row(probs[self._primary][i])
            if self.task_heads:
                row["tasks"] = {
                    h.name: head_answer(h, probs[h.name][i]) for h in self.task_heads
                }
            out.append(row)
        return out

    def row(self, probs: np.ndarray) -> dict[str, Any]:
        """``{"label", "probabilities": {label: p}}`` of one probability row."""
        return {
            "label": self.labels[int(np.argmax(probs))],
            "probabilities": {
                label: round(float(p), 6) for label, p in zip(self.labels, probs)
            },
        }
