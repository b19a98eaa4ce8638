"""This run's per-group macro-F1 set beside published results (``params:references``).

For a dataset a reference set lists (``references.<set>.datasets``, e.g. NusaX-senti's
paper rows for ``nusax_all``), the per-language macro-F1 × 100 of FP32 and of every
evaluated variant (from ``evaluate_breakdown_table``: its ``group`` rows) is put in one
table with the paper's rows (NB, SVM, LR, IndoBERT, XLM-R), each with its average over
the groups, and the Markdown says where FP32 stands against each published average.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from quant_sentiment.variants import REFERENCE

#: Leading columns of ``evaluate_published_table`` (then one column per group).
HEAD = ["reference_set", "model", "source"]
AVERAGE = "average"


def _matching_sets(references: dict[str, Any], dataset: str) -> dict[str, Any]:
    return {
        name: ref
        for name, ref in (references or {}).items()
        if dataset in (ref.get("datasets") or [])
    }


def _run_rows(breakdown: pd.DataFrame, groups: list[str]) -> list[dict[str, Any]]:
    """FP32 (each variant's ``ref``) and each ok variant's per-group macro-F1 × 100."""
    rows = breakdown[
        (breakdown["status"] == "ok")
        & (breakdown["breakdown"] == "group")
        & (breakdown["metric"] == "macro_f1")
    ]
    out = []
    if rows.empty:
        return out
    first = rows[rows["variant"] == rows["variant"].iloc[0]]
    ref = first.set_index("key")["ref"]
    out.append({"model": REFERENCE, **(100 * ref.reindex(groups)).to_dict()})
    for variant, frame in rows.groupby("variant", sort=False):
        if variant == REFERENCE:
            continue
        values = 100 * frame.set_index("key")["value"].reindex(groups)
        out.append({"model": variant, **values.to_dict()})
    return out


def published_table(
    breakdown: pd.DataFrame | None,
    references: dict[str, Any],
    dataset_spec: dict[str, Any],
) -> pd.DataFrame:
    """One row per model (this run's variants, then the published ones), one column
    per group (macro-F1 × 100) and ``average`` (the mean over the groups).

    Empty (columns :data:`HEAD` only) when no reference set lists the dataset.

    Raises:
        ValueError: A reference set names a group column other than the dataset's,
            or the run's groups and the published ones differ (both named).
    """
    dataset = dataset_spec["name"]
    rows: list[dict[str, Any]] = []
    for set_name, ref in _matching_sets(references, dataset).items():
        column = ref.get("group_column")
        if column != dataset_spec.get("group"):
            raise ValueError(
                f"references.{set_name}.group_column is {column!r}, dataset "
                f"{dataset!r} groups by {dataset_spec.get('group')!r}"
            )
        published = {m: dict(v) for m, v in ref["rows"].items()}
        groups = sorted(k for k in next(iter(published.values())) if k != AVERAGE)
        ours, seen = [], set()
        if breakdown is not None:
            ours = _run_rows(breakdown, groups)
            seen = set(
                breakdown.loc[breakdown["breakdown"] == "group", "key"].astype(str)
            )
        if seen and seen != set(groups):
            raise ValueError(
                f"references.{set_name}: published groups {groups} differ from this "
                f"run's {sorted(seen)}"
            )
        for row in ours:
            row.update(reference_set=set_name, source="this run")
            row[AVERAGE] = float(pd.Series([row[g] for g in groups]).mean())
        for model, values in published.items():
            rows.append(
                {"reference_set": set_name, "model": model, "source": ref["source"]}
                | {g: values.get(g) for g in [*groups, AVERAGE]}
            )
        rows = ours + rows
    if not rows:
        return pd.DataFrame(columns=HEAD)
    table = pd.DataFrame(rows)
    groups = [c for c in table.columns if c not in HEAD and c != AVERAGE]
    return table[[*HEAD, *groups, AVERAGE]]


def published_markdown(table: pd.DataFrame, dataset_spec: dict[str, Any]) -> str:
    """The table as Markdown, with FP32's average against each published average."""
    dataset = dataset_spec["name"]
    title = f"# {dataset}: this run beside published results (macro-F1 × 100)"
    if table.empty:
        return (
            f"{title}\n\nNo published reference set lists `{dataset}` "
            "(conf/base/parameters_references.yml, `references.<set>.datasets`).\n"
        )
    values = [c for c in table.columns if c not in HEAD]
    lines = [title, ""]
    for set_name, frame in table.groupby("reference_set", sort=False):
        published = frame[frame["source"] != "this run"]
        lines += [
            f"## {set_name}",
            "",
            f"Published rows: {published['source'].iloc[0]}.",
            "",
            "| model | " + " | ".join(values) + " |",
            "|---|" + "---:|" * len(values),
        ]
        for r in frame.itertuples(index=False):
            name = f"**{r.model}** (this run)" if r.source == "this run" else r.model
            cells = [getattr(r, v) for v in values]
            lines.append(
                f"| {name} | "
                + " | ".join("" if pd.isna(c) else f"{c:.1f}" for c in cells)
                + " |"
            )
        ours = frame[(frame["source"] == "this run") & (frame["model"] == REFERENCE)]
        if not ours.empty:
            mean = float(ours[AVERAGE].iloc[0])
            lines.append("")
            for r in published.itertuples(index=False):
                verdict = "at or above" if mean >= getattr(r, AVERAGE) else "below"
                lines.append(
                    f"- FP32 average {mean:.1f} is {verdict} {r.model} "
                    f"({getattr(r, AVERAGE):.1f})."
                )
        lines.append("")
    return "\n".join(lines)
