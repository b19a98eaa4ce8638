"""The dataset's leakage guard in preprocessing (``datasets.<name>.leakage_guard``).

After exact duplicates are handled, train rows that near-duplicate a held-out text
(word n-gram Jaccard, :mod:`quant_sentiment.leakage`) are removed: with
``across_parts``, a valid/test row of another part origin of a pooled entry (SmSA vs
NusaX in ``sentiment_pool``); with ``against``, any valid/test row of the listed
registry entries. The removed rows join ``preprocessing_dropped_rows`` (check
``near_duplicate``) and the counts ``preprocessing_report`` (``duplicates_and_leakage.
leakage_guard``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from quant_sentiment.leakage import ORIGIN, apply_guard

from .nodes import DataValidationError, normalise_texts
from .sources import read_split_rows

_DROPPED = ["source", "line", "text", "label", "check", "reason", "action"]


def read_guard_references(
    lines: dict[str, dict[str, pd.DataFrame]],
    validation: dict[str, Any],
    normalisation: dict[str, Any],
    dataset_spec: dict[str, Any],
) -> dict[str, pd.DataFrame]:
    """The valid and test rows of every ``leakage_guard.against`` entry.

    Args:
        lines: ``guard_reference_lines`` (entry → split → raw lines).
        validation: ``params:preprocessing.validation`` (the run's row policy).
        normalisation: ``params:preprocessing.normalisation`` (the run's, so both
            sides of a comparison are normalised alike).
        dataset_spec: ``params:dataset_spec``; its guard's ``references`` hold the
            resolved entries.

    Returns:
        Entry name → its valid and test rows (``source``, ``line``, ``text``, ...).
    """
    guard = dataset_spec.get("leakage_guard") or {}
    references = guard.get("references") or {}
    out = {}
    for name, splits in lines.items():
        spec = references[name]
        label_map = {label: i for i, label in enumerate(spec["labels"])}
        frames = []
        for raw in splits.values():
            rows, _ = read_split_rows(raw, label_map, validation, spec)
            frames.append(normalise_texts(rows, label_map, normalisation)[0])
        out[name] = pd.concat(frames, ignore_index=True)
    return out


def _with_origin(frame: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """``frame`` with the part ``origin`` of each row, found by its source file."""
    origins = {
        str(Path(file["path"])): part["origin"]
        for part in spec["parts"]
        for file in part["files"].values()
    }
    origin = frame["source"].astype(str).map(origins)
    if origin.isna().any():
        unknown = sorted(frame.loc[origin.isna(), "source"].astype(str).unique())
        raise ValueError(
            f"leakage guard: rows from {unknown} belong to no part of dataset "
            f"{spec['name']!r} ({sorted(origins)})"
        )
    return frame.assign(**{ORIGIN: origin})


def guard_near_duplicates(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    duplicates: dict[str, Any],
    deduplicated: pd.DataFrame,
    dataset_spec: dict[str, Any],
    references: dict[str, pd.DataFrame],
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Apply ``dataset_spec["leakage_guard"]`` to train (see the module docstring).

    Args:
        train: Deduplicated train rows.
        valid: Clean valid rows.
        test: Clean test rows.
        duplicates: The duplicate/leakage report so far.
        deduplicated: Train rows dropped so far.
        dataset_spec: ``params:dataset_spec``.
        references: :func:`read_guard_references`' output.

    Returns:
        ``(train, duplicates, dropped)``: the guarded train rows, the report with
        ``leakage_guard`` added, and the dropped rows with the removed ones appended.

    Raises:
        DataValidationError: If the guard would remove every train row.
    """
    guard = dataset_spec.get("leakage_guard")
    across = bool(guard and guard.get("across_parts"))
    frames = [
        _with_origin(f, dataset_spec) if across else f for f in (train, valid, test)
    ]
    kept, removed, report = apply_guard(*frames, guard, references)
    if len(train) and kept.empty:
        raise DataValidationError(
            f"datasets.{dataset_spec['name']}.leakage_guard would remove all "
            f"{len(train)} train rows (threshold {report['threshold']}); raise the "
            f"threshold or drop the guard"
        )
    kept = kept.drop(columns=[ORIGIN], errors="ignore")
    duplicates = {**duplicates, "leakage_guard": report}
    removed = removed.assign(action="dropped").reindex(columns=_DROPPED)
    dropped = pd.concat(
        [d for d in (deduplicated, removed) if len(d)] or [deduplicated]
    )
    return kept, duplicates, dropped.reset_index(drop=True)
