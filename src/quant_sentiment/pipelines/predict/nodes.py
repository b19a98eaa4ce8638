"""Nodes of the ``predict`` pipeline: new text files → predictions of one variant.

The files are the partitions of ``predict_inputs`` (a ``PartitionedDataset`` over a
raw folder, each file read as raw lines); each is parsed by
:mod:`quant_sentiment.records` (the record reader the CLI and preprocessing use)
as its suffix says (``.txt``, ``.tsv``,
``.csv``, ``.jsonl``), normalised as the model's manifest records, and scored by
the variant named in ``predict.variant``, exactly as ``quant-sentiment predict``
does.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from quant_sentiment.heads import Head

logger = logging.getLogger(__name__)
SKIPPED_COLUMNS = ["partition", "line", "row_id", "reason"]


def _variant_folder(params: dict[str, Any]) -> Path:
    """The newest saved folder of ``predict.variant`` under ``predict.models_dir``."""
    from quant_sentiment.scoring.model import resolve_model
    from quant_sentiment.variants import get_variant

    variant = get_variant(params["variant"])
    path = Path(params["models_dir"]) / variant.dataset
    if not path.is_dir():
        raise FileNotFoundError(
            f"predict.variant {variant.name!r}: no folder '{path}'; run its producer "
            f"pipeline ({variant.producer}) first, or set predict.models_dir"
        )
    return resolve_model(str(path))


def _partition_stream(frame: pd.DataFrame) -> io.BytesIO:
    """A partition's raw lines (``RawLinesDataset``) as a binary stream again."""
    return io.BytesIO(b"".join(bytes(raw) + b"\n" for raw in frame["raw"]))


def score_partitions(
    partitions: dict[str, Callable[[], pd.DataFrame]],
    params: dict[str, Any],
    model: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Score every partition with the variant named in ``predict.variant``.

    Args:
        partitions: ``predict_inputs`` (partition id → load function of its lines).
        params: ``params:predict`` (``variant``, ``models_dir``, ``input``,
            ``on_invalid``, ``chunk_size``, ``batch_size``).
        model: ``params:model`` (``threads`` for ONNX Runtime).

    Returns:
        ``(predictions, skipped, summary)``: one row per scored line (partition,
        line, row id, label, ``prob_<label>``; a multi-task model adds every head's
        ``pred_label__<t>`` / ``pred__<t>__<class>`` and ``prob__<t>__<class>``),
        every skipped line with its reason,
        and the variant, folder and per-partition counts.

    Raises:
        ValueError: If there are no partitions (nothing to score).
    """
    from quant_sentiment.records import InputSpec, read_records
    from quant_sentiment.scoring.batch import score_records
    from quant_sentiment.scoring.model import Predictor

    if not partitions:
        raise ValueError("predict_inputs has no files: put files to score in its path")
    predictor = Predictor(_variant_folder(params), threads=model["threads"])
    spec = InputSpec(**params["input"])
    rows, skipped, counts = [], [], {}
    for pid in sorted(partitions):
        stream = _partition_stream(partitions[pid]())
        summary = score_records(
            predictor,
            read_records(pid, spec, stream=stream),
            rows.extend,
            params["on_invalid"],
            int(params["chunk_size"]),
            int(params["batch_size"]),
            max_listed=None,
        )
        skipped += [(pid, r.line, r.row_id, why) for r, why in summary.listed]
        counts[pid] = {"scored": summary.scored, "skipped": summary.skipped}
        logger.info("predict %s: %s", pid, summary.describe().splitlines()[0])
    predictions = _predictions_frame(rows, predictor.labels, predictor.task_heads)
    info = {
        "variant": params["variant"],
        "format": predictor.manifest["format"],
        "model_folder": str(predictor.folder),
        "model_created_at": predictor.manifest.get("created_at"),
        "partitions": counts,
    }
    return predictions, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS), info


def _predictions_frame(
    rows: list[dict[str, Any]], labels: list[str], heads: Sequence[Head] = ()
) -> pd.DataFrame:
    """Flat rows: ``partition``, ``line``, ``row_id``, ``label``, ``prob_<label>``
    (the primary head), then a multi-task model's heads (``heads``) as
    :func:`quant_sentiment.heads.flat_columns` names them."""
    from quant_sentiment.heads import flat_columns, flat_row

    flat = [
        {
            "partition": r["source"],
            "line": r["line"],
            "row_id": r["row_id"],
            "label": r["label"],
            **{f"prob_{lab}": r["probabilities"][lab] for lab in labels},
            **(flat_row(heads, r["tasks"]) if heads else {}),
        }
        for r in rows
    ]
    columns = ["partition", "line", "row_id", "label", *(f"prob_{x}" for x in labels)]
    return pd.DataFrame(flat, columns=[*columns, *flat_columns(heads)])
