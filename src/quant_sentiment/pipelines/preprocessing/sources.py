"""Reading one split of the chosen registry dataset (``--params dataset=<name>``).

Every part of the dataset (one entry, or each entry of a pool) is validated with its
own reader and label rule by the shared row checks (:func:`.nodes.validate_rows`),
gets its constant metadata columns (e.g. ``language``), and, for a one-file source, is
split by the entry's seeded stratified rule (:func:`quant_sentiment.corpora.
assign_splits`); the rows that fail validation in a one-file source are reported
once, with the train split.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from quant_sentiment.corpora import OWN_FILES, assign_splits, label_columns
from quant_sentiment.tasks import add_task_columns, column_settings, rule_columns

from .nodes import FINDING_COLUMNS, validate_rows

_OWN_NAMES = {
    "encoding": "data.encoding",
    "separator": "data.separator",
    "quoted": "data.quoted",
    "header": "data.header",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "labels": "data.labels",
}


def _setting_names(entry: str) -> dict[str, str]:
    """Where each reader setting of ``entry`` lives, for messages."""
    if entry == OWN_FILES:
        return _OWN_NAMES
    base = f"datasets.{entry}"
    return {
        **{k: f"{base}.reader.{k}" for k in ("encoding", "separator", "quoted")},
        "header": f"{base}.reader.header",
        "text_column": f"{base}.text",
        "label_column": f"{base}.label",
        "columns": f"{base}.columns",
        "labels": f"{base}.labels",
    }


def part_settings(part: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    """``validate_rows`` settings of one part: the run's policy
    (``preprocessing.validation``) plus the part's reader, columns and label rule."""
    rule = part["label"]
    return {
        **validation,
        **part["reader"],
        "text_column": part["text"],
        "label_column": rule.get("column", "(derived)"),
        "label_rule": rule,
        "keep_columns": part["columns"],
        "names": _setting_names(part["entry"]),
    }


def _split_of(raw: pd.DataFrame) -> str:
    split = raw.attrs.get("split") or (raw["split"].iloc[0] if len(raw) else None)
    if split is None:
        raise ValueError("raw split frame names no split (SourceLinesDataset output)")
    return str(split)


def read_split_rows(
    raw: pd.DataFrame,
    label_map: dict[str, int],
    validation: dict[str, Any],
    dataset_spec: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate one split of the chosen dataset, part by part.

    Args:
        raw: ``raw_<split>`` (:class:`~quant_sentiment.datasets.SourceLinesDataset`):
            ``part``, ``split``, ``source``, ``line``, ``raw``.
        label_map: ``params:model.label_map`` (the dataset's labels).
        validation: ``params:preprocessing.validation`` (the policy: ``on_invalid``,
            ``max_drop_share``, ``max_chars``, ``on_too_long``).
        dataset_spec: ``params:dataset_spec`` (the resolved registry entry).

    Returns:
        ``(rows, invalid)`` as :func:`.nodes.validate_rows`, the rows with the
        dataset's ``meta_columns`` after ``source, line, text, label``.
    """
    split = _split_of(raw)
    meta = list(dataset_spec["meta_columns"])
    rows_out, invalid_out = [], []
    for index, part in enumerate(dataset_spec["parts"]):
        lines = raw[raw["part"] == index].reset_index(drop=True)
        lines.attrs["source"] = (raw.attrs.get("sources") or ["?"] * (index + 1))[index]
        settings = part_settings(part, validation)
        if dataset_spec.get("task_columns"):  # kept for the per-task labels
            owners = column_settings(part)
            settings["keep_names"] = owners
            primary = [c for c in label_columns(part["label"]) if str(c) in owners]
            if primary:  # the entry's label is its primary task's
                names = {**settings["names"], "label_column": owners[str(primary[0])]}
                settings["names"] = names
            kept = settings["keep_columns"]
            kept += [c for c in rule_columns(part["tasks"]) if c not in kept]
        rows, invalid = validate_rows(lines, label_map, settings)
        rows = rows.assign(**part["meta"])
        if dataset_spec.get("task_columns"):
            rows = add_task_columns(rows, part, dataset_spec["tasks"])
        if part["split"] is not None:
            where = f"datasets.{part['entry']}.split"
            chosen = pd.Series(
                assign_splits(rows["label"].tolist(), part["split"], where)
            )
            rows = rows[chosen.to_numpy() == split]
            if split != "train":
                invalid = invalid.iloc[0:0]
        rows_out.append(
            rows.reindex(
                columns=[
                    "source",
                    "line",
                    "text",
                    "label",
                    *meta,
                    *dataset_spec.get("task_columns", []),
                ]
            )
        )
        invalid_out.append(invalid)
    rows = pd.concat(rows_out, ignore_index=True)
    invalid = pd.concat(invalid_out, ignore_index=True).reindex(columns=FINDING_COLUMNS)
    return rows, invalid
