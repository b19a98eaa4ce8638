"""Seeded, stratified subsamples of the splits (the quick look at a dataset).

``preprocessing.subsample.max_train_rows`` cuts train after the duplicate and leakage
checks; ``max_valid_rows`` / ``max_test_rows`` cut the held-out splits after those
checks too (which therefore saw every held-out row). ``null`` keeps every row.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

SETTING = "preprocessing.subsample"


def _strata(frame: pd.DataFrame, group: str | None) -> pd.Series:
    """Label × group when every such stratum has 2 rows or more, else the label."""
    if group and group in frame:
        joint = frame["label"].astype(str) + "|" + frame[group].astype(str)
        if joint.value_counts().min() >= 2:  # noqa: PLR2004
            return joint
    return frame["label"].astype(str)


def _subsample(
    frame: pd.DataFrame,
    split: str,
    subsample: dict[str, Any],
    dataset_spec: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """At most ``subsample.max_<split>_rows`` rows of ``frame``, stratified, seeded.

    Returns ``(kept rows in their original order, report, rows left out)``.
    """
    key = f"max_{split}_rows"
    limit = subsample.get(key)
    report: dict[str, Any] = {key: limit, "rows_in": len(frame)}
    columns = ["source", "line", "text", "label"]
    if limit is None or len(frame) <= int(limit):
        report.update(rows_out=len(frame), subsampled=False)
        return frame, report, frame.iloc[0:0][columns]
    if isinstance(limit, bool) or int(limit) < 1:
        raise ValueError(
            f"{SETTING}.{key} must be a positive integer or null, got {limit!r}"
        )
    from sklearn.model_selection import train_test_split

    strata = _strata(frame, dataset_spec.get("group"))
    kept, _ = train_test_split(
        frame.index,
        train_size=int(limit),
        random_state=int(subsample["seed"]),
        stratify=strata,
    )
    mask = frame.index.isin(kept)
    left_out = frame.loc[~mask, columns].assign(
        check="subsample",
        reason=(
            f"left out of the seeded stratified {split} subsample "
            f"({SETTING}.{key} = {limit})"
        ),
        action="not_sampled",
    )
    sample = frame.loc[mask].reset_index(drop=True)
    report.update(
        rows_out=len(sample),
        subsampled=True,
        seed=int(subsample["seed"]),
        stratified_by="label × " + str(dataset_spec["group"])
        if strata.name != "label"
        else "label",
        label_counts_before=frame["label"].value_counts().sort_index().to_dict(),
        label_counts_after=sample["label"].value_counts().sort_index().to_dict(),
    )
    logger.warning(
        "%s subsampled to %d of %d rows (%s.%s, seed %d): a quick look, not the "
        "full dataset",
        split.capitalize(),
        len(sample),
        len(frame),
        SETTING,
        key,
        int(subsample["seed"]),
    )
    return sample, report, left_out


def subsample_train(
    train: pd.DataFrame, subsample: dict[str, Any], dataset_spec: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Keep at most ``subsample.max_train_rows`` train rows, stratified and seeded.

    Stratified by label (and by the dataset's ``group``, e.g. language, when every
    label × group stratum has two rows or more) with scikit-learn's
    ``train_test_split``; the kept rows stay in their original order. The rows left
    out are returned for ``preprocessing_dropped_rows`` (``action: not_sampled``) and
    counted in the report.

    Args:
        train: The train split after deduplication and the leakage guard.
        subsample: ``params:preprocessing.subsample`` (``max_train_rows``: null keeps
            every row; ``seed``).
        dataset_spec: ``params:dataset_spec`` (its ``group``).

    Returns:
        ``(train, report, left_out)``.

    Raises:
        ValueError: If ``max_train_rows`` is not a positive integer or null.
    """
    return _subsample(train, "train", subsample, dataset_spec)


def subsample_held_out(
    valid: pd.DataFrame,
    test: pd.DataFrame,
    subsample: dict[str, Any],
    dataset_spec: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Keep at most ``max_valid_rows`` / ``max_test_rows`` rows of valid / test, as
    :func:`subsample_train` does for train (same seed and strata rule).

    Returns:
        ``(clean_valid, clean_test, report, left_out)``: the report has one entry per
        split; the rows left out carry their ``split``.

    Raises:
        ValueError: If a limit is not a positive integer or null.
    """
    valid, valid_report, valid_out = _subsample(valid, "valid", subsample, dataset_spec)
    test, test_report, test_out = _subsample(test, "test", subsample, dataset_spec)
    left_out = pd.concat(
        [valid_out.assign(split="valid"), test_out.assign(split="test")],
        ignore_index=True,
    )
    return valid, test, {"valid": valid_report, "test": test_report}, left_out
