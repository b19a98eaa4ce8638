"""Nodes of ``transfer``: read the target test rows, score them per variant, tabulate.

The table logic (:func:`quant_sentiment.transfer.transfer_table` and its Markdown and
heatmap) lives below the pipelines; these nodes feed it the run's models and the
target entry's rows, read by the same record reader as ``preprocessing``.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from quant_sentiment import transfer
from quant_sentiment.formats import load_classifier
from quant_sentiment.pipelines.preprocessing.sources import read_split_rows

logger = logging.getLogger(__name__)

#: Columns of ``transfer_target_rows``.
ROW_COLUMNS = ["language", "id", "text", "label", "label_id", "source", "line"]


def _group_column(spec: dict[str, Any]) -> str | None:
    """The target's language column: its ``group``, else its ``language`` meta."""
    if spec.get("group"):
        return str(spec["group"])
    return "language" if "language" in spec["meta_columns"] else None


def read_transfer_targets(
    raw: pd.DataFrame,
    model: dict[str, Any],
    validation: dict[str, Any],
    target_spec: dict[str, Any] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The target entry's test rows, labelled with the run's label ids.

    Args:
        raw: ``raw_transfer_test``: the target's test lines (``SourceLinesDataset``).
        model: ``params:model`` (the run's ``label_map``).
        validation: ``params:preprocessing.validation``.
        target_spec: ``params:transfer_spec`` (the resolved target entry).

    Returns:
        ``(rows, invalid)``: rows with :data:`ROW_COLUMNS` (``language`` is the
        target's group column, or its name when it has none; ``id`` its ``id``
        column, else the file line) and the lines the reader rejected.

    Raises:
        ValueError: No target is configured, or the target's labels are not the
            run's (named both ways).
    """
    if not target_spec:
        raise ValueError(
            "transfer: no target entry; set globals.transfer_target or "
            "--params transfer_target=<registry entry>"
        )
    name = target_spec["name"]
    label_map = dict(model["label_map"])
    if set(target_spec["labels"]) != set(label_map):
        raise ValueError(
            f"transfer: the target {name!r} has labels {target_spec['labels']}, the "
            f"run's model {list(label_map)}; choose a target of the same task "
            "(--params transfer_target=<name>)"
        )
    target_map = {label: i for i, label in enumerate(target_spec["labels"])}
    rows, invalid = read_split_rows(raw, target_map, validation, target_spec)
    column = _group_column(target_spec)
    language = rows[column].astype(str) if column else pd.Series(name, rows.index)
    ids = rows["id"] if "id" in rows.columns else rows["line"]
    out = pd.DataFrame(
        {
            "language": language.to_numpy(),
            "id": ids.astype(str).to_numpy(),
            "text": rows["text"].to_numpy(),
            "label": rows["label"].to_numpy(),
            "label_id": rows["label"].map(label_map).astype(int).to_numpy(),
            "source": rows["source"].to_numpy(),
            "line": rows["line"].to_numpy(),
        }
    )
    logger.info(
        "transfer: %d test rows of %s in %d language(s); %d invalid line(s)",
        len(out),
        name,
        out["language"].nunique(),
        len(invalid),
    )
    return out, invalid


class _FolderHandle:
    """A saved FP32 model (``ModelBundle``) seen as a variant handle: its manifest,
    and ``load()`` opening the folder with the project's classifier loader."""

    def __init__(self, bundle: Any) -> None:
        self.manifest = bundle.manifest
        self.path = bundle.path

    def load(self) -> Any:
        return load_classifier(self.path)


def score_variant(
    model: Any, rows: pd.DataFrame, params: dict[str, Any], variant: str
) -> pd.DataFrame:
    """The variant's predictions on every target language (empty when the variant
    is not in ``transfer.variants``, logged, or its manifest says it was skipped).

    Args:
        model: The variant folder (``VariantHandle``) or the FP32 ``ModelBundle``.
        rows: ``transfer_target_rows``.
        params: ``params:transfer`` (``variants``, ``batch_size``).
        variant: The variant's name.
    """
    columns = list(transfer.REQUIRED_COLUMNS)
    if variant not in params["variants"]:
        logger.info("transfer: %s not scored (not in transfer.variants)", variant)
        return pd.DataFrame(columns=columns)
    handle = model if hasattr(model, "load") else _FolderHandle(model)
    reason = transfer.skip_reason(handle.manifest)
    if reason:
        logger.info("transfer: %s not scored (%s)", variant, reason)
        return pd.DataFrame(columns=columns)
    targets = {
        str(language): group[["id", "text", "label_id"]]
        for language, group in rows.groupby("language", sort=True)
    }
    return transfer.predict_targets(
        targets, {variant: handle}, batch_size=int(params["batch_size"])
    )


def gather_predictions(*frames: pd.DataFrame) -> pd.DataFrame:
    """All scored variants' predictions in one long frame (``transfer_predictions``).

    Raises:
        ValueError: No variant was scored.
    """
    scored = [f for f in frames if len(f)]
    if not scored:
        raise ValueError(
            "transfer: no variant was scored; check transfer.variants and that "
            "quantize_ptq built them"
        )
    return pd.concat(scored, ignore_index=True)


def build_transfer_table(
    predictions: pd.DataFrame, model: dict[str, Any], params: dict[str, Any]
) -> pd.DataFrame:
    """:func:`quant_sentiment.transfer.transfer_table` with ``transfer.bootstrap``."""
    return transfer.transfer_table(
        predictions, len(model["label_map"]), {"reference": "fp32", **params}
    )
