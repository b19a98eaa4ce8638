"""Nodes of the ``report`` pipeline: one HTML page per run and an index across runs."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from quant_sentiment.htmlreport import format_number, render

from . import sections

#: Columns shown from the optional tables (every other column stays in the CSV).
RECOVERY_COLUMNS = [
    "variant",
    "paired_with",
    "status",
    "delta_macro_f1",
    "delta_ci_low",
    "delta_ci_high",
    "mcnemar_p",
    "agreement",
    "paired_only_correct",
    "variant_only_correct",
]
SIGNED = {"delta_macro_f1": "+.4f", "delta_ci_low": "+.4f", "delta_ci_high": "+.4f"}
#: Columns shown from ``evaluate_breakdown_table`` (Δ per class / per group).
BREAKDOWN_KEY = ["variant", "breakdown", "key", "metric"]
BREAKDOWN_COLUMNS = [
    *BREAKDOWN_KEY,
    "n",
    "ref",
    "value",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "excess",
    "excess_ci_low",
    "excess_ci_high",
]
BREAKDOWN_SIGNED = {
    c: "+.4f"
    for c in ("delta", "ci_low", "ci_high", "excess", "excess_ci_low", "excess_ci_high")
}


def _breakdown(table: pd.DataFrame | None, reference: str) -> dict[str, Any] | None:
    """The Δ per class (F1) and per group (macro-F1) of every variant but the
    reference (accuracy rows stay in the CSV)."""
    if table is None or table.empty:
        return None
    shown = table[
        (table["status"] == "ok")
        & (table["variant"] != reference)
        & table["metric"].isin(["f1", "macro_f1"])
    ]
    return sections.optional_table(
        shown,
        "evaluate_breakdown_table",
        BREAKDOWN_KEY,
        BREAKDOWN_COLUMNS,
        {**BREAKDOWN_SIGNED, "n": ".0f"},
    )


def _setup(run_info: dict[str, Any] | None, mlflow_ui: str) -> dict[str, Any] | None:
    """The setup section's rows (label, value) and the MLflow link."""
    if not run_info:
        return None
    machine = run_info.get("machine") or {}
    git = run_info.get("git") or {}
    commit = git.get("commit") or "unknown (not a git work tree)"
    if git.get("dirty"):
        commit += " (with uncommitted changes)"
    versions = machine.get("versions") or {}
    rows = [
        ("command", run_info.get("command")),
        ("environment", run_info.get("env")),
        ("pipelines", " + ".join(run_info.get("pipelines") or [])),
        ("runtime parameters", run_info.get("runtime_params") or "none"),
        ("started (UTC)", run_info.get("started_at")),
        (
            "dataset",
            ", ".join(str(v) for v in (run_info.get("dataset") or {}).values()),
        ),
        ("labels", ", ".join(run_info.get("labels") or [])),
        ("encoder", run_info.get("encoder")),
        ("max_length", run_info.get("max_length")),
        ("CPU", machine.get("cpu_model")),
        (
            "CPU flags",
            " ".join(machine.get("cpu_flags") or []) or "none of AVX2/AVX-512/AMX",
        ),
        (
            "logical CPUs / threads",
            f"{machine.get('logical_cpus')} / {machine.get('threads')}",
        ),
        ("platform", machine.get("platform")),
        ("Python", run_info.get("python")),
        ("libraries", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))),
        ("git commit", commit),
        ("Kedro session", run_info.get("session_id")),
    ]
    link = None
    mlflow = run_info.get("mlflow")
    if mlflow:
        link = {
            "href": f"{mlflow_ui.rstrip('/')}/#/experiments/{mlflow['experiment_id']}"
            f"/runs/{mlflow['run_id']}",
            "run_id": mlflow["run_id"],
            "run_name": mlflow.get("run_name"),
            "store": mlflow.get("tracking_uri"),
        }
    return {"rows": [(k, "" if v is None else str(v)) for k, v in rows], "mlflow": link}


def build_report(  # noqa: PLR0913 - one argument per catalog input
    comparison: pd.DataFrame,
    recovery: pd.DataFrame | None,
    breakdown: pd.DataFrame | None,
    sensitivity: pd.DataFrame | None,
    drift: pd.DataFrame | None,
    faithfulness: pd.DataFrame | None,
    seeds: pd.DataFrame | None,
    run_info: dict[str, Any] | None,
    params: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The run's page (self-contained HTML) and its one-row summary for the index.

    Args:
        comparison: ``evaluate_comparison_table``.
        recovery: ``evaluate_recovery_table`` (``None``: no paired variant evaluated).
        breakdown: ``evaluate_breakdown_table`` (``None``: written before evaluate
            computed Δ per class / per group).
        sensitivity: ``mixed_sensitivity`` (``None``: quantize_mixed did not run).
        drift: ``explain_drift_table``; faithfulness: ``explain_faithfulness_table``
            (``None``: explain did not run).
        seeds: ``multiseed_summary`` (``None``: no multi-seed sweep).
        run_info: ``report_run_info`` (``None``: no run description saved).
        params: ``params:report``.

    Raises:
        ValueError: If the reference variant is not an evaluated row of the table.
    """
    reference = str(params["reference"])
    ok = sections.ok_rows(comparison)
    if reference not in set(ok["variant"]):
        raise ValueError(
            f"report.reference: variant {reference!r} is not an evaluated row of "
            f"evaluate_comparison_table (evaluated: {sorted(ok['variant'])})"
        )
    n_groups = None if sensitivity is None else len(sensitivity)
    context = {
        "run": params["run"],
        "reference": reference,
        "setup": _setup(run_info, str(params["mlflow_ui"])),
        "variants": sections.variant_table(comparison),
        "skipped": sections.skipped(comparison),
        "busy": sections.busy(comparison),
        "charts": [Markup(svg) for svg in sections.pareto_charts(comparison)],  # noqa: S704 - drawn by htmlreport, text escaped there
        "recovery": sections.optional_table(
            recovery, "evaluate_recovery_table", "variant", RECOVERY_COLUMNS, SIGNED
        ),
        "sensitivity": sections.optional_table(
            sensitivity,
            "mixed_sensitivity",
            "group",
            limit=int(params["sensitivity_rows"]),
        ),
        "n_groups": n_groups,
        "per_class": sections.per_class(comparison, reference),
        "breakdown": _breakdown(breakdown, reference),
        "group_column": _group_column(breakdown),
        "drift": sections.optional_table(
            drift, "explain_drift_table", _explain_key(drift)
        ),
        "faithfulness": sections.optional_table(
            faithfulness, "explain_faithfulness_table", _explain_key(faithfulness)
        ),
        "seeds": sections.optional_table(seeds, "multiseed_summary", "variant"),
    }
    page = render("report.html", **context)
    return page, sections.summary_row(comparison, reference, run_info, params["run"])


def _explain_key(table: pd.DataFrame | None) -> list[str]:
    """An explain table's row key: variant, head (``task``, when present), method."""
    has_task = table is not None and "task" in table
    return ["variant", *(["task"] if has_task else []), "method"]


def _group_column(table: pd.DataFrame | None) -> str | None:
    """The dataset's group column named in the breakdown (None: no group)."""
    if table is None or "group_column" not in table:
        return None
    names = table["group_column"].dropna().astype(str).unique()
    return names[0] if len(names) else None


def build_index(runs: list[dict[str, Any]], current: dict[str, Any]) -> str:
    """The index across runs: one row per run (its newest report), linked.

    Args:
        runs: ``report_runs`` (every run's newest summary under data/08_reporting).
        current: ``report_summary`` of this run (an input so the index is built after
            this run's page and summary are saved).
    """
    names = {r["run"] for r in runs}
    if current.get("run") not in names:  # e.g. a reporting folder elsewhere
        runs = [*runs, {"run": current["run"], "summary": current, "page": None}]
    rows = []
    for entry in runs:
        s = entry["summary"]
        smallest = s.get("smallest_not_worse") or {}
        fastest = s.get("fastest_not_worse") or {}
        rows.append(
            {
                "run": entry["run"],
                "page": entry.get("page"),
                "version": entry.get("version", ""),
                "dataset": s.get("dataset") or "",
                "encoder": s.get("encoder") or "",
                "evaluated": s.get("variants_evaluated"),
                "skipped": s.get("variants_skipped"),
                "reference_f1": format_number(s.get("reference_macro_f1"), ".4f"),
                "smallest": (
                    f"{smallest['variant']} ({smallest['size_mb']:.1f} MB)"
                    if smallest
                    else ""
                ),
                "fastest": (
                    f"{fastest['variant']} ({fastest['speedup_p50_vs_ref']:.2f}×)"
                    if fastest
                    else ""
                ),
                "busy": s.get("timed_busy"),
                "commit": (s.get("git_commit") or "")[:10],
                "started": s.get("started_at") or "",
            }
        )
    return render("index.html", rows=rows)
