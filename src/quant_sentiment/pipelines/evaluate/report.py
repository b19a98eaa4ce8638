"""The comparison across variants: one summary row per variant, the table, its
Markdown rendering and the Pareto figures (macro-F1 vs latency and vs size)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.benchmark import CPU_FLAGS, describe_idle
from quant_sentiment.significance import pareto_front

from .breakdown_report import per_class_lines
from .quality import skip_reason
from .sources import fp32_version

logger = logging.getLogger(__name__)

#: Columns of the comparison table, in order (``status`` says ``ok`` or why skipped).
TABLE_COLUMNS = [
    "variant",
    "status",
    "format",
    "method",
    "library",
    "bits",
    "n_test",
    "accuracy",
    "macro_f1",
    "macro_f1_ci_low",
    "macro_f1_ci_high",
    "weighted_f1",
    "agreement_vs_ref",
    "delta_macro_f1_vs_ref",
    "delta_ci_low",
    "delta_ci_high",
    "mcnemar_p",
    "ref_only_correct",
    "variant_only_correct",
    "latency_p50_ms",
    "latency_p95_ms",
    "speedup_p50_vs_ref",
    "speedup_ci_low",
    "speedup_ci_high",
    "rounds",
    "throughput_b32_texts_s",
    "size_mb",
    "size_vs_ref",
    "peak_rss_mb",
    "load_s",
    "threads",
    "idle",
    "idle_detail",
    "cpu_model",
    "cpu_flags",
    "library_versions",
]
#: Columns that older summaries (before the interleaved rounds) lack.
SPEED_CI = ["speedup_ci_low", "speedup_ci_high", "rounds"]


def _speed_fields(bench: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's columns of a summary row (speed, memory, machine, idle)."""
    machine = bench["machine"]
    return {
        "latency_p50_ms": bench["latency_p50_ms"],
        "latency_p95_ms": bench["latency_p95_ms"],
        # Measured against the reference in interleaved rounds (benchmark.py).
        "speedup_p50_vs_ref": bench["speedup_p50_vs_ref"],
        "speedup_ci_low": bench["speedup_ci_low"],
        "speedup_ci_high": bench["speedup_ci_high"],
        "rounds": bench["rounds"],
        "throughput_b32_texts_s": bench["throughput_texts_per_s"],
        "peak_rss_mb": bench["peak_rss_mb"],
        "load_s": bench["load_s"],
        "threads": machine["threads"],
        "idle": bench["idle"],
        "idle_detail": "idle" if bench["idle"] else describe_idle(bench["idle_check"]),
        "cpu_model": machine["cpu_model"],
        "cpu_flags": " ".join(machine["cpu_flags"]) or "none of " + "/".join(CPU_FLAGS),
        "library_versions": ", ".join(
            f"{k} {v}" for k, v in sorted(machine["versions"].items())
        ),
    }


def summarise_variant(
    handle: Any,
    metrics: dict[str, Any],
    comparison: dict[str, Any],
    bench: dict[str, Any],
    variant: str,
) -> dict[str, Any]:
    """One flat row of the comparison table for this variant."""
    manifest = handle.manifest
    row: dict[str, Any] = {
        "variant": variant,
        "format": manifest["format"],
        "method": manifest.get("method"),
        "library": manifest.get("library"),
        "bits": manifest.get("bits"),
        "path": str(handle.path),
        "fp32_version": fp32_version(handle, variant),  # differs only in a mix
    }
    reason = skip_reason(handle)
    if reason:
        return {**row, "status": f"skipped: {reason}"}
    row.update(
        {
            "status": "ok",
            "n_test": metrics["n"],
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "macro_f1_ci_low": comparison["macro_f1_ci"][0],
            "macro_f1_ci_high": comparison["macro_f1_ci"][1],
            "weighted_f1": metrics["weighted_f1"],
            **{f"f1_{name}": vals["f1"] for name, vals in metrics["per_class"].items()},
            "agreement_vs_ref": comparison["agreement"],
            "delta_macro_f1_vs_ref": comparison["delta_macro_f1"],
            "delta_ci_low": comparison["delta_macro_f1_ci"][0],
            "delta_ci_high": comparison["delta_macro_f1_ci"][1],
            "mcnemar_p": comparison["mcnemar"]["p_value"],
            "ref_only_correct": comparison["mcnemar"]["ref_only_correct"],
            "variant_only_correct": comparison["mcnemar"]["other_only_correct"],
            **_speed_fields(bench),
            # Measured once, when the folder was written (manifest.json).
            "size_mb": manifest["size_bytes"] / 1e6,
        }
    )
    return row


def build_comparison_table(*summaries: dict[str, Any], reference: str) -> pd.DataFrame:
    """One row per variant; speed-up and size relative to the reference variant.

    Raises:
        ValueError: If the reference variant is missing or was skipped.
    """
    table = pd.DataFrame(list(summaries))
    if reference not in set(table["variant"]):
        raise ValueError(
            f"Reference variant {reference!r} is not among the evaluated "
            f"variants {table['variant'].tolist()}"
        )
    ref = table.loc[table["variant"] == reference].iloc[0]
    if ref["status"] != "ok":
        raise ValueError(
            f"Reference variant {reference!r} did not run: {ref['status']}"
        )
    # Each variant's speed-up was measured against the reference, interleaved;
    # summaries from before that (older versions) only have independent p50s.
    independent = ref["latency_p50_ms"] / table["latency_p50_ms"]
    if "speedup_p50_vs_ref" not in table:
        table["speedup_p50_vs_ref"] = independent
    table["speedup_p50_vs_ref"] = table["speedup_p50_vs_ref"].fillna(independent)
    for column in SPEED_CI:
        if column not in table:
            table[column] = np.nan
    table["size_vs_ref"] = table["size_mb"] / ref["size_mb"]
    f1_cols = sorted(c for c in table.columns if c.startswith("f1_"))
    ordered = [c for c in TABLE_COLUMNS if c in table.columns]
    ordered[ordered.index("weighted_f1") + 1 : ordered.index("weighted_f1") + 1] = (
        f1_cols
    )
    extra = [c for c in table.columns if c not in ordered]
    skipped = table.loc[table["status"] != "ok", "variant"].tolist()
    if skipped:
        logger.info("Skipped variants (reported, not evaluated): %s", skipped)
    return table[ordered + extra].reset_index(drop=True)


NOT_IDLE = "**no** ⚠"


def _speedup(row) -> str:
    """``1.57× [1.50, 1.63]`` (without the interval for older summaries)."""
    text = f"{row.speedup_p50_vs_ref:.2f}×"
    if pd.notna(row.speedup_ci_low):
        text += f" [{row.speedup_ci_low:.2f}, {row.speedup_ci_high:.2f}]"
    return text


def _idle_mark(row) -> str:
    """``yes``, the visible not-idle mark, or ``?`` (older summaries)."""
    idle = getattr(row, "idle", None)
    if idle is None or pd.isna(idle):
        return "?"
    return "yes" if bool(idle) else NOT_IDLE


def comparison_markdown(table: pd.DataFrame, reference: str) -> str:
    """The comparison as Markdown: the main table (non-idle rows marked), the
    variants timed on a busy machine, skipped variants, the machine."""
    ok = table[table["status"] == "ok"]
    shown = pd.DataFrame(
        {
            "variant": ok["variant"],
            "method": ok["method"],
            "macro-F1 [95% CI]": [
                f"{r.macro_f1:.4f} [{r.macro_f1_ci_low:.4f}, {r.macro_f1_ci_high:.4f}]"
                for r in ok.itertuples()
            ],
            "Δ vs ref [95% CI]": [
                f"{r.delta_macro_f1_vs_ref:+.4f} [{r.delta_ci_low:+.4f}, "
                f"{r.delta_ci_high:+.4f}]"
                for r in ok.itertuples()
            ],
            "accuracy": ok["accuracy"].map("{:.4f}".format),
            "agreement": ok["agreement_vs_ref"].map("{:.3f}".format),
            "McNemar p": ok["mcnemar_p"].map("{:.3g}".format),
            "p50 ms": ok["latency_p50_ms"].map("{:.2f}".format),
            "p95 ms": ok["latency_p95_ms"].map("{:.2f}".format),
            "speed-up [CI]": [_speedup(r) for r in ok.itertuples()],
            "b32 texts/s": ok["throughput_b32_texts_s"].map("{:.1f}".format),
            "size MB": ok["size_mb"].map("{:.1f}".format),
            "size vs ref": ok["size_vs_ref"].map("{:.1%}".format),
            "peak RSS MB": ok["peak_rss_mb"].map("{:.0f}".format),
            "idle": [_idle_mark(r) for r in ok.itertuples()],
        }
    )
    lines = [
        "# Model variants compared on the test split",
        "",
        f"Reference: `{reference}`.",
        "",
        shown.to_markdown(index=False),
        "",
        "Δ and its CI: paired bootstrap of macro-F1(variant) − macro-F1(reference); "
        "McNemar: exact test on the texts only one of the two gets right; latency: "
        "batch 1 at the texts' real lengths; each variant timed in its own process. "
        "Speed-up: the reference's latency over the variant's, both timed in "
        "interleaved rounds (variant, reference, variant, …; each in its own "
        "process), geometric mean of the per-round ratios of medians with a "
        "t-interval on their logs (level `evaluate.benchmark.confidence`); idle: "
        f"{NOT_IDLE} = the machine was busy when the variant was timed.",
        "",
    ]
    return (
        "\n".join(lines + per_class_lines(ok, reference) + _sections(table, ok)) + "\n"
    )


def _sections(table: pd.DataFrame, ok: pd.DataFrame) -> list[str]:
    """Markdown sections under the table: variants timed on a busy machine (with
    what was busy), skipped variants, the machine."""
    lines = []
    if "idle" in ok:
        busy = ok[ok["idle"].astype("object") == False]  # noqa: E712 (NaN: unknown)
        if not busy.empty:
            lines += ["## Timed on a busy machine (speed numbers unreliable)", ""]
            lines += [f"- `{r.variant}`: {r.idle_detail}" for r in busy.itertuples()]
            lines.append("")
    skipped = table[table["status"] != "ok"]
    if not skipped.empty:
        lines += ["## Skipped variants", ""]
        lines += [f"- `{r.variant}`: {r.status}" for r in skipped.itertuples()]
        lines.append("")
    lines += ["## Machine", ""]
    for col in ("cpu_model", "cpu_flags", "threads", "library_versions"):
        for value in ok[col].astype(str).unique() if col in ok else []:
            lines.append(f"- {col}: {value}")
    return lines


def _draw_points(ax, ok: pd.DataFrame, cost: str) -> None:
    """CI bars, dominated points in grey, the Pareto front as red diamonds + steps."""
    front = pareto_front(ok[cost], ok["macro_f1"])
    low = ok["macro_f1"] - ok["macro_f1_ci_low"]
    high = ok["macro_f1_ci_high"] - ok["macro_f1"]
    ax.errorbar(
        ok[cost],
        ok["macro_f1"],
        yerr=np.vstack([low, high]).clip(min=0),
        fmt="none",
        ecolor="0.7",
        elinewidth=1,
        capsize=2,
        zorder=1,
    )
    ax.scatter(
        ok.loc[~front, cost],
        ok.loc[~front, "macro_f1"],
        c="0.5",
        s=36,
        label="dominated",
        zorder=2,
    )
    ax.scatter(
        ok.loc[front, cost],
        ok.loc[front, "macro_f1"],
        c="tab:red",
        s=52,
        marker="D",
        label="Pareto front",
        zorder=3,
    )
    pts = ok.loc[front].sort_values(cost)
    ax.step(pts[cost], pts["macro_f1"], where="post", c="tab:red", lw=1, alpha=0.6)
    for r in ok.itertuples():
        ax.annotate(
            r.variant,
            (getattr(r, cost), r.macro_f1),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )


def _log_x(ax) -> None:
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _pareto_figure(table: pd.DataFrame, cost: str, xlabel: str, title: str):
    """macro-F1 (with CIs) against ``cost`` on a log axis, the Pareto front marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    _draw_points(ax, table[table["status"] == "ok"].reset_index(drop=True), cost)
    _log_x(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("macro-F1 (test, 95 % bootstrap CI)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_f1_vs_latency(table: pd.DataFrame):
    """macro-F1 vs batch-1 p50 latency, Pareto front (faster and better) marked."""
    return _pareto_figure(
        table,
        "latency_p50_ms",
        "batch-1 latency p50 (ms, log scale)",
        "macro-F1 vs latency",
    )


def plot_f1_vs_size(table: pd.DataFrame):
    """macro-F1 vs size on disk, Pareto front (smaller and better) marked."""
    return _pareto_figure(
        table, "size_mb", "size on disk (MB, log scale)", "macro-F1 vs size"
    )


def build_recovery_table(*recoveries: dict[str, Any]) -> pd.DataFrame:
    """One row per paired comparison (``Variant.compare_with``): Δ macro-F1 of the
    variant vs its pair, the CI, McNemar's p and the discordant counts."""
    rows = []
    for r in recoveries:
        row = {"variant": r["variant"], "paired_with": r["paired_with"]}
        if r["status"] != "ok":
            rows.append({**row, "status": f"skipped: {r['reason']}"})
            continue
        mcnemar = r["mcnemar"]
        rows.append(
            {
                **row,
                "status": "ok",
                "n_test": r["n"],
                "agreement": r["agreement"],
                "delta_macro_f1": r["delta_macro_f1"],
                "delta_ci_low": r["delta_macro_f1_ci"][0],
                "delta_ci_high": r["delta_macro_f1_ci"][1],
                "mcnemar_p": mcnemar["p_value"],
                "paired_only_correct": mcnemar["ref_only_correct"],
                "variant_only_correct": mcnemar["other_only_correct"],
            }
        )
    return pd.DataFrame(rows)


def recovery_markdown(table: pd.DataFrame) -> str:
    """The paired comparisons as Markdown (Δ = variant − paired variant)."""
    lines = ["# Paired comparisons (QAT vs PTQ at the same bits)", ""]
    ok = table[table["status"] == "ok"] if "status" in table else table.iloc[0:0]
    if not ok.empty:
        shown = pd.DataFrame(
            {
                "variant": ok["variant"],
                "vs": ok["paired_with"],
                "Δ macro-F1 [95% CI]": [
                    f"{r.delta_macro_f1:+.4f} [{r.delta_ci_low:+.4f}, "
                    f"{r.delta_ci_high:+.4f}]"
                    for r in ok.itertuples()
                ],
                "agreement": ok["agreement"].map("{:.3f}".format),
                "McNemar p": ok["mcnemar_p"].map("{:.3g}".format),
                "only pair right": ok["paired_only_correct"],
                "only variant right": ok["variant_only_correct"],
            }
        )
        lines += [shown.to_markdown(index=False), ""]
    for r in table[table["status"] != "ok"].itertuples() if "status" in table else []:
        lines.append(f"- `{r.variant}` vs `{r.paired_with}`: {r.status}")
    return "\n".join(lines) + "\n"
