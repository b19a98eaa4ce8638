"""The fixed sample of test texts every variant explains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.modeling import label_maps

SAMPLE_COLUMNS = [
    "text_id",
    "text",
    "label_id",
    "label",
    "reference_pred_id",
    "n_disagreeing",
    "disagreeing_variants",
    "selected_for",
]


def _disagreements(
    reference: pd.DataFrame,
    predictions: Sequence[pd.DataFrame],
    variants: Sequence[str],
    ignore: Sequence[str],
) -> list[list[str]]:
    """For every test text, the variants whose prediction differs from the reference."""
    out: list[list[str]] = [[] for _ in range(len(reference))]
    ref_pred = reference["pred_id"].astype(int).to_numpy()
    for name, frame in zip(variants, predictions, strict=True):
        if frame.empty or name in ignore:  # skipped variants predict nothing
            continue
        texts = frame["text"].astype(str).to_numpy()
        if len(frame) != len(reference) or (texts != reference["text"]).any():
            raise ValueError(
                f"Test predictions of variant {name!r} are not row for row the "
                "reference's test predictions (finetune_test_predictions)"
            )
        for i in np.flatnonzero(frame["pred_id"].astype(int).to_numpy() != ref_pred):
            out[i].append(name)
    return out


def _stratified(pool: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of ``pool`` with the label shares of ``pool`` (largest remainder)."""
    if n <= 0:
        return pool.iloc[0:0]
    shares = pool["label_id"].value_counts(normalize=True).sort_index() * n
    quota = np.floor(shares).astype(int)
    rest = n - int(quota.sum())
    quota[(shares - quota).sort_values(ascending=False).index[:rest]] += 1
    parts = [
        pool[pool["label_id"] == label].sample(n=int(q), random_state=seed)
        for label, q in quota.items()
    ]
    return pd.concat(parts)


def select_sample(
    params: dict[str, Any],
    model: dict[str, Any],
    reference_predictions: pd.DataFrame,
    *variant_predictions: pd.DataFrame,
    variants: Sequence[str],
) -> pd.DataFrame:
    """The texts to explain: first texts where some variant disagrees with the
    reference (most disagreeing variants first, at most ``max_disagreement_share``
    of ``n_texts``), then a label-stratified random draw of the rest (both by the
    primary head); a multi-task reference's heads are kept as ``reference_*``
    columns (:func:`_reference_heads`).

    Args:
        params: ``explain.sample``: ``n_texts``, ``seed``,
            ``max_disagreement_share``, ``disagreement_ignores``.
        model: ``params:model`` (label map).
        reference_predictions: The FP32 test predictions (``text``, ``label_id``,
            ``pred_id``); ``text_id`` is the row number in them.
        variant_predictions: Test predictions of ``variants`` (same rows; empty for
            a skipped variant).
        variants: The names of ``variant_predictions``, in order.
    """
    n, seed = int(params["n_texts"]), int(params["seed"])
    reference = reference_predictions.reset_index(drop=True)
    if not 0 < n <= len(reference):
        raise ValueError(
            f"explain.sample.n_texts must be in 1..{len(reference)} (test texts), "
            f"got {n}"
        )
    who = _disagreements(
        reference, variant_predictions, variants, params["disagreement_ignores"]
    )
    count = np.array([len(w) for w in who])
    tie = np.random.default_rng(seed).random(len(reference))
    candidates = [i for i in np.lexsort((tie, -count)) if count[i] > 0]
    chosen = candidates[: int(n * float(params["max_disagreement_share"]))]
    rest = _stratified(reference.drop(index=chosen), n - len(chosen), seed)
    id2label, _ = label_maps(model["label_map"])
    out = reference.loc[sorted([*chosen, *rest.index])].copy()
    out["text_id"] = out.index
    out["label"] = out["label_id"].astype(int).map(id2label)
    out["reference_pred_id"] = out["pred_id"].astype(int)
    out["n_disagreeing"] = count[out.index]
    out["disagreeing_variants"] = [",".join(who[i]) for i in out.index]
    out["selected_for"] = np.where(out.index.isin(chosen), "disagreement", "stratified")
    heads = _reference_heads(out)
    return pd.concat([out[SAMPLE_COLUMNS], heads], axis=1).reset_index(drop=True)


def _reference_heads(reference: pd.DataFrame) -> pd.DataFrame:
    """A multi-task reference's per-head predictions (``pred_id__<t>``,
    ``prob__<t>__<class>`` of ``finetune_test_predictions``) as
    ``reference_<column>``: the class each head of every variant explains under
    ``target: reference``. No columns for a single-task reference."""
    columns = [c for c in reference.columns if c.startswith(("pred_id__", "prob__"))]
    return reference[columns].add_prefix("reference_")
