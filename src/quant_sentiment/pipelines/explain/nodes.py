"""Per-variant nodes: explain the sample with every method, then measure how
faithful those explanations are to the variant itself.

Both go head by head (:mod:`.heads`): a multi-task variant explains every head, any
other variant its one head; every output row names its ``task``.

The nodes take the variant's folder (a :class:`~quant_sentiment.variants.VariantHandle`
or the FP32 :class:`~quant_sentiment.modeling.ModelBundle`); a variant whose manifest
status is not ``ok`` yields empty frames and an ``info`` saying why it was skipped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.formats import load_classifier
from quant_sentiment.heads import HeadView
from quant_sentiment.pipelines.evaluate.quality import skip_reason
from quant_sentiment.variants import REFERENCE

from .attribution import (
    INTEGRATED_GRADIENTS,
    LIME,
    METHODS,
    OCCLUSION,
    integrated_gradients,
    lime_scores,
    occlusion,
    supports_gradients,
)
from .faithfulness import text_faithfulness
from .heads import entry_primary, explained_heads, head_targets, of_task
from .words import split_words

logger = logging.getLogger(__name__)

ATTRIBUTION_COLUMNS = [
    "variant",
    "task",
    "method",
    "text_id",
    "word_index",
    "word",
    "score",
]
TEXT_COLUMNS = [
    "variant",
    "task",
    "text_id",
    "pred_id",
    "pred_label",
    "pred_prob",
    "target_id",
    "target_label",
    "target_prob",
    "ig_delta",
]
FAITHFULNESS_COLUMNS = [
    "variant",
    "task",
    "method",
    "text_id",
    "fraction",
    "k",
    "comprehensiveness",
    "sufficiency",
]
TARGETS = ("reference", "prediction")
#: The control of the faithfulness table: words ranked at random.
RANDOM = "random"


def _check(params: dict[str, Any]) -> None:
    unknown = [m for m in params["methods"] if m not in METHODS]
    if unknown:
        raise ValueError(
            f"explain.attribution.methods: unknown {unknown}; known: {list(METHODS)}"
        )
    if params["target"] not in TARGETS:
        raise ValueError(
            f"explain.attribution.target must be one of {TARGETS}, "
            f"got {params['target']!r}"
        )
    chosen = params.get("variants")
    if chosen is not None:
        from quant_sentiment.variants import VARIANTS

        unknown = sorted(set(chosen) - {v.name for v in VARIANTS})
        if unknown:
            raise ValueError(
                f"explain.attribution.variants: unknown {unknown}; known: "
                f"{[v.name for v in VARIANTS]}"
            )


def _scores(
    clf: Any, method: str, words: list[str], target: int, params: dict[str, Any]
) -> tuple[np.ndarray, float]:
    """One method's word scores on one text (and IG's convergence delta, else nan)."""
    batch_size = int(params["batch_size"])
    if method == INTEGRATED_GRADIENTS:
        return integrated_gradients(clf, words, target, params[INTEGRATED_GRADIENTS])
    if method == OCCLUSION:
        return occlusion(clf, words, target, batch_size), np.nan
    return lime_scores(clf, words, target, params[LIME], batch_size), np.nan


def _attribute(
    clf: HeadView,
    method: str,
    sample: pd.DataFrame,
    targets: np.ndarray,
    params: dict[str, Any],
    variant: str,
) -> tuple[list[tuple], dict[int, float], float]:
    """Rows of ``method``'s attributions of one head, IG deltas by text, seconds
    per text."""
    from tqdm.auto import tqdm

    rows, deltas = [], {}
    start = time.perf_counter()
    items = zip(sample["text_id"], sample["text"], targets, strict=True)
    for text_id, text, target in tqdm(
        list(items), desc=f"{variant} {method}", leave=False
    ):
        words = split_words(text)
        scores, deltas[text_id] = _scores(clf, method, words, int(target), params)
        rows += [
            (variant, clf.head.name, method, text_id, i, w, float(s))
            for i, (w, s) in enumerate(zip(words, scores, strict=True))
        ]
    return rows, deltas, (time.perf_counter() - start) / max(len(sample), 1)


def _text_frame(
    clf: HeadView,
    sample: pd.DataFrame,
    probs: np.ndarray,
    targets: np.ndarray,
    deltas: dict[int, float],
    variant: str,
) -> pd.DataFrame:
    """Per text, for one head: the variant's prediction (a multi_label head: its
    most probable class), the explained class, IG's delta."""
    pred = probs.argmax(axis=1)
    rows = np.arange(len(sample))
    return pd.DataFrame(
        {
            "variant": variant,
            "task": clf.head.name,
            "text_id": sample["text_id"].to_numpy(),
            "pred_id": pred,
            "pred_label": [clf.id2label[int(i)] for i in pred],
            "pred_prob": probs[rows, pred].round(6),
            "target_id": targets,
            "target_label": [clf.id2label[int(i)] for i in targets],
            "target_prob": probs[rows, targets].round(6),
            "ig_delta": [deltas.get(t, np.nan) for t in sample["text_id"]],
        },
        columns=TEXT_COLUMNS,
    )


def not_explained(handle: Any, attribution: dict[str, Any], variant: str) -> str | None:
    """Why a variant is not explained (``None``: it is): a skipped folder, or a
    variant left out of ``explain.attribution.variants`` (``null``: every variant;
    the FP32 reference is always explained)."""
    reason = skip_reason(handle)
    chosen = attribution.get("variants")
    if reason or chosen is None or variant == REFERENCE or variant in chosen:
        return reason
    return "not selected (explain.attribution.variants)"


def _applicable(clf: Any, handle: Any, params: dict[str, Any]) -> dict[str, list]:
    """``methods`` that apply to the variant (Integrated Gradients: its format) and
    the ``not_applicable`` rest."""
    gradients = supports_gradients(
        clf, handle.manifest["format"], params[INTEGRATED_GRADIENTS]["formats"]
    )
    methods = [m for m in params["methods"] if m != INTEGRATED_GRADIENTS or gradients]
    rest = [m for m in params["methods"] if m not in methods]
    return {"methods": methods, "not_applicable": rest}


def _explain_head(
    view: HeadView,
    sample: pd.DataFrame,
    params: dict[str, Any],
    methods: list[str],
    primary: str,
    variant: str,
) -> tuple[list[tuple], pd.DataFrame, dict[str, float]]:
    """One head: attribution rows of every method, the per-text frame, the cost."""
    probs = view.probabilities(sample["text"].tolist(), int(params["batch_size"]))
    targets = head_targets(view, sample, probs, params["target"], primary)
    rows, deltas, cost = [], {}, {}
    for method in methods:
        method_rows, method_deltas, cost[method] = _attribute(
            view, method, sample, targets, params, variant
        )
        rows += method_rows
        if method == INTEGRATED_GRADIENTS:
            deltas = method_deltas
    return rows, _text_frame(view, sample, probs, targets, deltas, variant), cost


def explain_variant(  # noqa: PLR0913 - the node's inputs
    handle: Any,
    sample: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    dataset_spec: dict[str, Any] | None = None,
    *,
    variant: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Word attributions of the sample by every applicable method, head by head.

    Args:
        handle: The variant folder.
        sample: ``explain_sample`` (``text_id``, ``text``, ``reference_pred_id``;
            a multi-task reference's heads as ``reference_*`` columns).
        model: ``params:model`` (``threads``).
        params: ``explain.attribution``: ``methods``, ``target`` (``reference``: the
            FP32 prediction, the same class for every variant; ``prediction``: the
            variant's own), ``batch_size`` and one block per method.
        dataset_spec: ``params:dataset_spec`` (its tasks: the name of a one-head
            variant's head, the primary head; ``None``: ``classification``).
        variant: The variant's name.

    Returns:
        Attributions (one row per head, word and method), per-text predictions and
        IG deltas per head, ``info`` (status, heads, methods run / not applicable)
        and the cost (seconds per text by method, every head: a measurement, kept
        apart).
    """
    _check(params)
    reason = not_explained(handle, params, variant)
    info = {"variant": variant, "status": "ok", "target": params["target"]}
    if reason:
        logger.info("explain: variant %s skipped: %s", variant, reason)
        return (
            pd.DataFrame(columns=ATTRIBUTION_COLUMNS),
            pd.DataFrame(columns=TEXT_COLUMNS),
            {**info, "status": "skipped", "reason": reason, "methods": []},
            {"variant": variant, "seconds_per_text": {}},
        )
    clf = load_classifier(handle.path, threads=model["threads"])
    info.update(_applicable(clf, handle, params))
    views = explained_heads(clf, dataset_spec)
    info["tasks"] = [view.head.name for view in views]
    rows, frames, cost = [], [], {}
    for view in views:
        head_rows, frame, head_cost = _explain_head(
            view, sample, params, info["methods"], entry_primary(dataset_spec), variant
        )
        rows += head_rows
        frames.append(frame)
        for method, seconds in head_cost.items():
            cost[method] = cost.get(method, 0.0) + seconds
    texts = pd.concat(frames, ignore_index=True)
    deltas = texts["ig_delta"].dropna()
    if len(deltas):
        info["ig_abs_delta_max"] = float(deltas.abs().max())
    attributions = pd.DataFrame(rows, columns=ATTRIBUTION_COLUMNS)
    return attributions, texts, info, {"variant": variant, "seconds_per_text": cost}


def _head_faithfulness(  # noqa: PLR0913 - one head's inputs
    view: HeadView,
    sample: pd.DataFrame,
    attributions: pd.DataFrame,
    targets: pd.Series,
    params: dict[str, Any],
    batch_size: int,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Rows of :func:`variant_faithfulness` for one head (``attributions`` and
    ``targets``: that head's)."""
    from tqdm.auto import tqdm

    fractions = [float(f) for f in params["fractions"]]
    by_method = {m: g for m, g in attributions.groupby("method", sort=False)}
    rows = []
    items = list(zip(sample["text_id"], sample["text"], strict=True))
    for text_id, text in tqdm(
        items, desc=f"{view.head.name} faithfulness", leave=False
    ):
        words = split_words(text)
        ranked = {m: g[g["text_id"] == text_id] for m, g in by_method.items()}
        scores = {m: r.sort_values("word_index")["score"] for m, r in ranked.items()}
        scores[RANDOM] = rng.permutation(len(words)).astype(float)
        for method, s in scores.items():
            for row in text_faithfulness(
                view,
                words,
                np.asarray(s, dtype=float),
                int(targets[text_id]),
                fractions,
                batch_size,
            ):
                rows.append(
                    {
                        "task": view.head.name,
                        "method": method,
                        "text_id": text_id,
                        **row,
                    }
                )
    return rows


def variant_faithfulness(  # noqa: PLR0913 - the node's inputs
    handle: Any,
    sample: pd.DataFrame,
    attributions: pd.DataFrame,
    texts: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    attribution: dict[str, Any],
    dataset_spec: dict[str, Any] | None = None,
    *,
    variant: str,
) -> pd.DataFrame:
    """Comprehensiveness and sufficiency of every method's explanations (and of a
    random ranking, the control) at every fraction, text by text, head by head.

    Args:
        params: ``explain.faithfulness``: ``fractions``, ``seed`` (random ranking).
        attribution: ``explain.attribution`` (its ``batch_size``).
        dataset_spec: ``params:dataset_spec`` (as :func:`explain_variant`).
    """
    if not_explained(handle, attribution, variant):
        return pd.DataFrame(columns=FAITHFULNESS_COLUMNS)
    clf = load_classifier(handle.path, threads=model["threads"])
    rng = np.random.default_rng(int(params["seed"]))
    rows = []
    for view in explained_heads(clf, dataset_spec):
        task = view.head.name
        targets = of_task(texts, task).set_index("text_id")["target_id"].astype(int)
        rows += _head_faithfulness(
            view,
            sample,
            of_task(attributions, task),
            targets,
            params,
            int(attribution["batch_size"]),
            rng,
        )
    return pd.DataFrame(
        [{"variant": variant, **row} for row in rows], columns=FAITHFULNESS_COLUMNS
    )
