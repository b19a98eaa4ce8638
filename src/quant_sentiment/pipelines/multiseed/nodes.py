"""Nodes of the ``multiseed`` pipeline: is a quantization delta larger than seed noise?

Input: one row per (seed, variant) from each seed's ``evaluate_comparison_table``.
Output, per variant: mean ± std and a Student-t interval of macro-F1 and accuracy over
the seeds; the paired delta to the reference (FP32) with its own t-interval (each
seed's variant is compared with the same seed's FP32); and the seed-to-seed spread of
the reference next to it, so a reader sees whether a delta exceeds seed noise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

SETTING = "multiseed"
METRICS = ("macro_f1", "accuracy")


def t_interval(
    values: np.ndarray, confidence: float
) -> tuple[float, float, float, float]:
    """``(mean, std, low, high)``: sample std (ddof 1) and the two-sided Student-t
    interval of the mean; NaN bounds for fewer than two values."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:  # noqa: PLR2004 - an interval needs two values
        return mean, math.nan, math.nan, math.nan
    std = float(values.std(ddof=1))
    if std == 0:  # identical values (the reference's own delta): a point interval
        return mean, 0.0, mean, mean
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=std / math.sqrt(n))
    return mean, std, float(low), float(high)


def _check_runs(runs: pd.DataFrame, reference: str) -> pd.DataFrame:
    missing = {"seed", "variant", "status", *METRICS} - set(runs.columns)
    if missing:
        raise ValueError(f"multiseed_runs lacks column(s) {sorted(missing)}")
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        raise ValueError("multiseed_runs has no evaluated ('ok') variant")
    if reference not in set(ok["variant"]):
        raise ValueError(
            f"{SETTING}.reference: variant {reference!r} is not in multiseed_runs "
            f"(variants: {sorted(set(ok['variant']))})"
        )
    return ok


def aggregate_seeds(runs: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """One row per variant: mean, std and t-interval of each metric over the seeds,
    the paired delta to ``multiseed.reference`` and the reference's seed spread."""
    confidence = float(params["confidence"])
    if not 0 < confidence < 1:
        raise ValueError(f"{SETTING}.confidence must be in (0, 1), got {confidence!r}")
    reference = str(params["reference"])
    ok = _check_runs(runs, reference)
    ref = ok[ok["variant"] == reference].set_index("seed")
    ref_std = t_interval(ref["macro_f1"].to_numpy(), confidence)[1]
    rows = []
    for variant, rows_of_variant in ok.groupby("variant", sort=False):
        group = rows_of_variant.set_index("seed")
        row: dict[str, Any] = {"variant": variant, "n_seeds": len(group)}
        row["seeds"] = " ".join(str(s) for s in group.index)
        for metric in METRICS:
            mean, std, low, high = t_interval(group[metric].to_numpy(), confidence)
            row |= {
                f"{metric}_mean": mean,
                f"{metric}_std": std,
                f"{metric}_ci_low": low,
                f"{metric}_ci_high": high,
                f"{metric}_min": float(group[metric].min()),
                f"{metric}_max": float(group[metric].max()),
            }
        paired = group.index.intersection(ref.index)
        delta = group.loc[paired, "macro_f1"] - ref.loc[paired, "macro_f1"]
        mean, std, low, high = t_interval(delta.to_numpy(), confidence)
        row |= {
            "delta_macro_f1_mean": mean,
            "delta_macro_f1_std": std,
            "delta_ci_low": low,
            "delta_ci_high": high,
            "reference_seed_std": ref_std,
            # |mean delta| against the reference's own seed-to-seed std
            "delta_over_seed_std": abs(mean) / ref_std if ref_std else math.nan,
            "delta_ci_contains_0": bool(low <= 0 <= high)
            if not math.isnan(low)
            else None,
        }
        if "size_mb" in group:
            row["size_mb"] = float(group["size_mb"].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(2, "confidence", confidence)
    return table


def seeds_markdown(summary: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The summary as Markdown: mean ± std [CI] per metric, delta [CI] vs seed noise."""

    def cell(mean, std, low, high, scale=100.0):
        if math.isnan(std):
            return f"{mean * scale:.2f}"
        return f"{mean * scale:.2f} ± {std * scale:.2f} [{low * scale:.2f}, {high * scale:.2f}]"

    conf = int(round(float(summary["confidence"].iloc[0]) * 100))
    lines = [
        f"Seeds: {' '.join(str(s) for s in sorted(runs['seed'].unique()))}; "
        f"mean ± std [{conf} % t-interval], in points (× 100).",
        "",
        "| variant | n | macro-F1 | accuracy | Δ macro-F1 vs ref (paired) | "
        "ref seed std | abs(Δ) / seed std | size MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples(index=False):
        lines.append(
            f"| {r.variant} | {r.n_seeds} "
            f"| {cell(r.macro_f1_mean, r.macro_f1_std, r.macro_f1_ci_low, r.macro_f1_ci_high)} "
            f"| {cell(r.accuracy_mean, r.accuracy_std, r.accuracy_ci_low, r.accuracy_ci_high)} "
            f"| {cell(r.delta_macro_f1_mean, r.delta_macro_f1_std, r.delta_ci_low, r.delta_ci_high)} "
            f"| {r.reference_seed_std * 100:.2f} | {r.delta_over_seed_std:.2f} "
            f"| {getattr(r, 'size_mb', math.nan):.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot_seeds(runs: pd.DataFrame, summary: pd.DataFrame):
    """Macro-F1 per seed (dots) and the mean with its t-interval (bar) per variant."""
    import matplotlib.pyplot as plt

    ok = runs[runs["status"] == "ok"]
    order = list(summary["variant"])
    figure, ax = plt.subplots(figsize=(max(6, 0.6 * len(order) + 2), 4))
    for i, variant in enumerate(order):
        values = ok.loc[ok["variant"] == variant, "macro_f1"] * 100
        ax.scatter(np.full(len(values), i), values, s=14, alpha=0.7, color="tab:blue")
        row = summary[summary["variant"] == variant].iloc[0]
        if not math.isnan(row["macro_f1_ci_low"]):
            ax.errorbar(
                i,
                row["macro_f1_mean"] * 100,
                yerr=[
                    [(row["macro_f1_mean"] - row["macro_f1_ci_low"]) * 100],
                    [(row["macro_f1_ci_high"] - row["macro_f1_mean"]) * 100],
                ],
                fmt="_",
                color="black",
                capsize=4,
            )
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
    ax.set_ylabel("test macro-F1 (× 100)")
    ax.set_title("Macro-F1 per seed and mean with t-interval")
    figure.tight_layout()
    return figure
