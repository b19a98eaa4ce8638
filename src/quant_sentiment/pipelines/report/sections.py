"""The report's sections, each built from one catalog table into cells (traceable to
their row and column) or into a short note when the table is absent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.htmlreport import (
    Cell,
    Point,
    cell,
    format_number,
    frame_table,
    is_missing,
    pareto_svg,
    text,
)
from quant_sentiment.significance import pareto_front

COMPARISON = "evaluate_comparison_table"
#: Source name of a per-class Δ: f1_<class>(variant) − f1_<class>(reference).
DELTA = "delta_vs_reference"


def ok_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The evaluated (``status == ok``) rows of the comparison table."""
    return table[table["status"] == "ok"].reset_index(drop=True)


def _with_ci(table: str, row: pd.Series, col: str, low: str, high: str, fmt: str):
    """``value [low, high]`` as three traceable cells in one table cell."""
    rid = str(row["variant"])
    if is_missing(row.get(col)):
        return text("")
    parts: list[Any] = [cell(table, rid, col, row[col], fmt)]
    if low in row and not is_missing(row[low]):
        parts += [
            " [",
            cell(table, rid, low, row[low], fmt),
            ", ",
            cell(table, rid, high, row[high], fmt),
            "]",
        ]
    return parts


def _idle(row: pd.Series) -> Cell:
    value = row.get("idle")
    src = f"{COMPARISON}|{row['variant']}|idle"
    if is_missing(value):
        return Cell("?", src, "")
    busy = str(value).lower() in {"false", "0"}
    return Cell(
        "no (busy)" if busy else "yes", src, str(not busy), "warn" if busy else ""
    )


def variant_table(table: pd.DataFrame) -> dict[str, Any]:
    """The main table: quality with CIs, Δ vs the reference, McNemar p, size, speed."""
    header = [
        "variant",
        "method",
        "bits",
        "macro-F1 [95% CI]",
        "Δ macro-F1 vs ref [CI]",
        "McNemar p",
        "accuracy",
        "size MB",
        "size vs ref",
        "batch-1 p50 ms",
        "speed-up [CI]",
        "batch-32 texts/s",
        "idle",
    ]
    rows = []
    for _, r in ok_rows(table).iterrows():
        v = str(r["variant"])
        rows.append(
            [
                text(v),
                Cell(text(r.get("method")).text, css="long"),
                cell(COMPARISON, v, "bits", r.get("bits"), ".0f"),
                _with_ci(
                    COMPARISON,
                    r,
                    "macro_f1",
                    "macro_f1_ci_low",
                    "macro_f1_ci_high",
                    ".4f",
                ),
                _with_ci(
                    COMPARISON,
                    r,
                    "delta_macro_f1_vs_ref",
                    "delta_ci_low",
                    "delta_ci_high",
                    "+.4f",
                ),
                cell(COMPARISON, v, "mcnemar_p", r["mcnemar_p"], ".3g"),
                cell(COMPARISON, v, "accuracy", r["accuracy"], ".4f"),
                cell(COMPARISON, v, "size_mb", r["size_mb"], ".1f"),
                cell(COMPARISON, v, "size_vs_ref", r["size_vs_ref"], ".1%"),
                cell(COMPARISON, v, "latency_p50_ms", r["latency_p50_ms"], ".2f"),
                _with_ci(
                    COMPARISON,
                    r,
                    "speedup_p50_vs_ref",
                    "speedup_ci_low",
                    "speedup_ci_high",
                    ".2f",
                ),
                cell(
                    COMPARISON,
                    v,
                    "throughput_b32_texts_s",
                    r["throughput_b32_texts_s"],
                    ".1f",
                ),
                _idle(r),
            ]
        )
    return {"header": header, "rows": rows}


def skipped(table: pd.DataFrame) -> list[tuple[str, str]]:
    """``(variant, why)`` of every variant that was not evaluated."""
    rows = table[table["status"] != "ok"]
    return [(str(r.variant), str(r.status)) for r in rows.itertuples()]


def busy(table: pd.DataFrame) -> list[tuple[str, str]]:
    """``(variant, what was busy)`` of variants timed on a busy machine."""
    ok = ok_rows(table)
    if "idle" not in ok:
        return []
    flags = ok["idle"].astype(str).str.lower()
    rows = ok[flags.isin(["false", "0"])]
    return [
        (str(r["variant"]), str(r.get("idle_detail", ""))) for _, r in rows.iterrows()
    ]


def _hover(r: pd.Series) -> str:
    return (
        f"{r['variant']} ({r.get('method')}): macro-F1 {r['macro_f1']:.4f} "
        f"[{r['macro_f1_ci_low']:.4f}, {r['macro_f1_ci_high']:.4f}], "
        f"Δ {r['delta_macro_f1_vs_ref']:+.4f}, size {r['size_mb']:.1f} MB, "
        f"p50 {r['latency_p50_ms']:.2f} ms, speed-up {r['speedup_p50_vs_ref']:.2f}×"
    )


def pareto_charts(table: pd.DataFrame) -> list[str]:
    """Quality vs size and quality vs latency as inline SVG (hover: the numbers)."""
    ok = ok_rows(table)
    charts = []
    for cost, xlabel, title in (
        ("size_mb", "size on disk (MB, log scale)", "macro-F1 vs size"),
        (
            "latency_p50_ms",
            "batch-1 latency p50 (ms, log scale)",
            "macro-F1 vs latency",
        ),
    ):
        front = pareto_front(ok[cost], ok["macro_f1"])
        points = [
            Point(
                label=str(r["variant"]),
                x=float(r[cost]),
                y=float(r["macro_f1"]),
                y_low=float(r["macro_f1_ci_low"]),
                y_high=float(r["macro_f1_ci_high"]),
                hover=_hover(r),
                front=bool(on),
            )
            for (_, r), on in zip(ok.iterrows(), front, strict=True)
        ]
        charts.append(pareto_svg(points, xlabel, "macro-F1 (test, 95% CI)", title))
    return [c for c in charts if c]


def per_class(table: pd.DataFrame, reference: str) -> dict[str, Any] | None:
    """F1 per class of every variant and its Δ from the reference's."""
    ok = ok_rows(table)
    classes = sorted(c for c in ok.columns if c.startswith("f1_"))
    if not classes or reference not in set(ok["variant"]):
        return None
    ref = ok[ok["variant"] == reference].iloc[0]
    header = ["variant"]
    for c in classes:
        header += [f"F1 {c[3:]}", f"Δ {c[3:]}"]
    rows = []
    for _, r in ok.iterrows():
        v = str(r["variant"])
        row: list[Any] = [text(v)]
        for c in classes:
            delta = float(r[c]) - float(ref[c])
            row.append(cell(COMPARISON, v, c, r[c], ".4f"))
            shown = Cell(
                format_number(delta, "+.4f"),
                f"{DELTA}|{v}|{c}",
                repr(delta),
                "warn" if delta < 0 else "good" if delta > 0 else "",
            )
            row.append(shown)
        rows.append(row)
    return {"header": header, "rows": rows}


def optional_table(
    frame: pd.DataFrame | None,
    name: str,
    key: str | list[str],
    columns: list[str] | None = None,
    formats: dict[str, str] | None = None,
    limit: int | None = None,
) -> dict[str, Any] | None:
    """``frame`` as a table of traceable cells (rows keyed by ``key``; several key
    columns are joined with ``/``), or ``None`` when the frame is absent or empty."""
    if frame is None or frame.empty:
        return None
    frame = frame.copy()
    if isinstance(key, list):
        frame["_key"] = frame[key].astype(str).agg("/".join, axis=1)
        key = "_key"
    if limit is not None:
        frame = frame.head(limit)
    columns = [c for c in (columns or list(frame.columns)) if c != "_key"]
    return frame_table(frame, name, key, formats, columns)


def summary_row(
    table: pd.DataFrame, reference: str, run_info: dict[str, Any] | None, run: str
) -> dict[str, Any]:
    """The run's one-row summary for the index: reference quality, the smallest and
    the fastest variant whose Δ CI reaches 0 (not shown to be worse)."""
    ok = ok_rows(table)
    ref = ok[ok["variant"] == reference]
    holds = ok[ok["delta_ci_high"].fillna(0) >= 0] if "delta_ci_high" in ok else ok

    def pick(col: str, largest: bool) -> dict[str, Any] | None:
        if holds.empty or col not in holds or holds[col].isna().all():
            return None
        idx = holds[col].idxmax() if largest else holds[col].idxmin()
        r = holds.loc[idx]
        return {"variant": str(r["variant"]), col: float(r[col])}

    info = run_info or {}
    idle = (
        ok["idle"].astype(str).str.lower() if "idle" in ok else pd.Series([], dtype=str)
    )
    return {
        "run": run,
        "dataset": (info.get("dataset") or {}).get("raw_train"),
        "encoder": info.get("encoder"),
        "env": info.get("env"),
        "git_commit": (info.get("git") or {}).get("commit"),
        "started_at": info.get("started_at"),
        "variants_evaluated": len(ok),
        "variants_skipped": int((table["status"] != "ok").sum()),
        "reference": reference,
        "reference_macro_f1": float(ref["macro_f1"].iloc[0]) if len(ref) else None,
        "smallest_not_worse": pick("size_mb", largest=False),
        "fastest_not_worse": pick("speedup_p50_vs_ref", largest=True),
        "timed_busy": bool(np.any(idle.isin(["false", "0"]))),
    }
