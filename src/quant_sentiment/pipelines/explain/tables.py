"""The summary tables across variants: drift from the reference, faithfulness and
the cost (seconds per text, a measurement: its own table)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .drift import mean_with_ci, text_drift

logger = logging.getLogger(__name__)


def _status(info: dict[str, Any]) -> str:
    if info["status"] == "ok":
        return "ok"
    return f"skipped: {info.get('reason', 'no reason recorded')}"


def _split(parts: Sequence[Any], n_groups: int) -> list[list[Any]]:
    """``parts`` (inputs of a shared node: one group per kind) as ``n_groups`` lists."""
    size = len(parts) // n_groups
    if size * n_groups != len(parts):
        raise ValueError(f"{len(parts)} inputs are not {n_groups} equal groups")
    return [list(parts[i * size : (i + 1) * size]) for i in range(n_groups)]


def _vectors(frame: pd.DataFrame) -> dict[Any, np.ndarray]:
    """``{text_id: scores in word order}`` of one variant and method."""
    ordered = frame.sort_values(["text_id", "word_index"])
    return {t: g["score"].to_numpy(float) for t, g in ordered.groupby("text_id")}


def _drift_row(ref: pd.DataFrame, other: pd.DataFrame, params) -> dict[str, Any]:
    ref_v, other_v = _vectors(ref), _vectors(other)
    missing = sorted(set(ref_v) ^ set(other_v))
    if missing:
        raise ValueError(f"Texts {missing[:5]} are explained by only one variant")
    ks = [int(k) for k in params["top_k"]]
    per_text = pd.DataFrame([text_drift(ref_v[t], other_v[t], ks) for t in ref_v])
    row: dict[str, Any] = {"n_texts": len(per_text)}
    for metric in per_text.columns:
        summary = mean_with_ci(per_text[metric], params["bootstrap"])
        row[metric] = summary["mean"]
        row[f"{metric}_ci_low"] = summary["ci_low"]
        row[f"{metric}_ci_high"] = summary["ci_high"]
        if summary["n"] != len(per_text):  # undefined for some texts: say over how many
            row[f"{metric}_n"] = summary["n"]
    return row


def _heads_and_methods(info: dict[str, Any], frame: pd.DataFrame) -> list[tuple]:
    """``(task, method)`` of every head a variant explained and every method it ran
    (attributions without a ``task`` column: one head, task ``None``)."""
    tasks = info.get("tasks") if "task" in frame else None
    return [(t, m) for t in (tasks or [None]) for m in info["methods"]]


def _rows(frame: pd.DataFrame, task: str | None, method: str) -> pd.DataFrame:
    """The attributions of one head (``None``: every row) and one method."""
    chosen = frame["method"] == method
    if task is not None:
        chosen &= frame["task"].astype(str) == task
    return frame[chosen]


def drift_table(params: dict[str, Any], *parts: Any, reference: str) -> pd.DataFrame:
    """One row per variant, head (``task``) and method: drift of its attributions from the
    reference's (Spearman, Jaccard@k, sign-flip rate; means over texts with
    bootstrap CIs). Skipped variants get one row with their status.

    Args:
        params: ``explain.drift``: ``top_k``, ``bootstrap``.
        parts: Every variant's ``info``, then every variant's attributions.
    """
    infos, frames = _split(parts, 2)
    by_variant = dict(zip([i["variant"] for i in infos], frames, strict=True))
    ref = by_variant[reference]
    rows = []
    for info, frame in zip(infos, frames, strict=True):
        if info["variant"] == reference:
            continue
        if info["status"] != "ok":
            rows.append({"variant": info["variant"], "status": _status(info)})
            continue
        for task, method in _heads_and_methods(info, frame):
            ref_m = _rows(ref, task, method)
            if ref_m.empty:
                logger.warning(
                    "explain: %s has %s attributions of head %s but %s has none: "
                    "no drift row",
                    info["variant"],
                    method,
                    task,
                    reference,
                )
                continue
            drift = _drift_row(ref_m, _rows(frame, task, method), params)
            head = {"variant": info["variant"], "status": "ok", "task": task}
            rows.append({**head, "method": method, **drift})
    table = pd.DataFrame(rows)
    n_cols = [c for c in table.columns if c.endswith("_n")]
    return table[[c for c in table.columns if c not in n_cols] + n_cols]


def faithfulness_table(*parts: Any) -> pd.DataFrame:
    """One row per variant, head (``task``) and method (plus the ``random`` control):
    comprehensiveness and sufficiency at every fraction and their AOPC, means over
    texts. Skipped variants get one row with their status.

    Args:
        parts: Every variant's ``info``, then every variant's per-text faithfulness.
    """
    infos, frames = _split(parts, 2)
    rows = []
    for info, frame in zip(infos, frames, strict=True):
        if info["status"] != "ok":
            rows.append({"variant": info["variant"], "status": _status(info)})
            continue
        keys = ["task", "method"] if "task" in frame else ["method"]
        for key, g in frame.groupby(keys, sort=False):
            head = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
            row = {"variant": info["variant"], "status": "ok", **head}
            row["n_texts"] = g["text_id"].nunique()
            means = g.groupby("fraction")[["comprehensiveness", "sufficiency"]].mean()
            for fraction, m in means.iterrows():
                row[f"comprehensiveness@{fraction:g}"] = m["comprehensiveness"]
                row[f"sufficiency@{fraction:g}"] = m["sufficiency"]
            row["aopc_comprehensiveness"] = means["comprehensiveness"].mean()
            row["aopc_sufficiency"] = means["sufficiency"].mean()
            rows.append(row)
    return pd.DataFrame(rows)


def cost_table(*costs: dict[str, Any]) -> pd.DataFrame:
    """Seconds per text by variant and method (a measurement on this machine)."""
    rows = [
        {"variant": c["variant"], "method": m, "seconds_per_text": round(s, 4)}
        for c in costs
        for m, s in c["seconds_per_text"].items()
    ]
    return pd.DataFrame(rows, columns=["variant", "method", "seconds_per_text"])


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """A table as Markdown under a heading (numbers to 4 significant digits)."""
    return f"# {title}\n\n{table.to_markdown(index=False, floatfmt='.4g')}\n"
