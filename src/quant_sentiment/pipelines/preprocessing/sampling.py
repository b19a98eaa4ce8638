"""A seeded, stratified subsample of the train split (the quick look at a dataset)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


def _strata(train: pd.DataFrame, group: str | None) -> pd.Series:
    """Label × group when every such stratum has 2 rows or more, else the label."""
    if group and group in train:
        joint = train["label"].astype(str) + "|" + train[group].astype(str)
        if joint.value_counts().min() >= 2:  # noqa: PLR2004
            return joint
    return train["label"].astype(str)


def subsample_train(
    train: pd.DataFrame, subsample: dict[str, Any], dataset_spec: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Keep at most ``subsample.max_train_rows`` train rows, stratified and seeded.

    Stratified by label (and by the dataset's ``group``, e.g. language, when every
    label × group stratum has two rows or more) with scikit-learn's
    ``train_test_split``; the kept rows stay in their original order. Valid and test
    are never subsampled. The rows left out are returned for
    ``preprocessing_dropped_rows`` (``action: not_sampled``) and counted in the
    report.

    Args:
        train: The train split after deduplication.
        subsample: ``params:preprocessing.subsample`` (``max_train_rows``: null keeps
            every row; ``seed``).
        dataset_spec: ``params:dataset_spec`` (its ``group``).

    Returns:
        ``(train, report, left_out)``.

    Raises:
        ValueError: If ``max_train_rows`` is not a positive integer or null.
    """
    limit = subsample["max_train_rows"]
    report: dict[str, Any] = {"max_train_rows": limit, "rows_in": len(train)}
    if limit is None or len(train) <= int(limit):
        report.update(rows_out=len(train), subsampled=False)
        return train, report, train.iloc[0:0][["source", "line", "text", "label"]]
    if isinstance(limit, bool) or int(limit) < 1:
        raise ValueError(
            f"preprocessing.subsample.max_train_rows must be a positive integer or "
            f"null, got {limit!r}"
        )
    from sklearn.model_selection import train_test_split

    strata = _strata(train, dataset_spec.get("group"))
    kept, _ = train_test_split(
        train.index,
        train_size=int(limit),
        random_state=int(subsample["seed"]),
        stratify=strata,
    )
    mask = train.index.isin(kept)
    left_out = train.loc[~mask, ["source", "line", "text", "label"]].assign(
        check="subsample",
        reason=(
            f"left out of the seeded stratified train subsample "
            f"(preprocessing.subsample.max_train_rows = {limit})"
        ),
        action="not_sampled",
    )
    sample = train.loc[mask].reset_index(drop=True)
    report.update(
        rows_out=len(sample),
        subsampled=True,
        seed=int(subsample["seed"]),
        stratified_by="label × " + str(dataset_spec["group"])
        if strata.name != "label"
        else "label",
        label_counts_before=train["label"].value_counts().sort_index().to_dict(),
        label_counts_after=sample["label"].value_counts().sort_index().to_dict(),
    )
    logger.warning(
        "Train subsampled to %d of %d rows (preprocessing.subsample.max_train_rows, "
        "seed %d): a quick look, not the full dataset",
        len(sample),
        len(train),
        int(subsample["seed"]),
    )
    return sample, report, left_out
