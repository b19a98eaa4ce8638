"""The per-class / per-group Δ across variants: one long table, its Markdown (with an
automatic finding per variant: which class and group lose most, and whether more than
the average) and a heatmap of Δ by class / group × variant."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: A class / group is named as the minority one in the findings when its size is
#: below this share of the median size.
MINORITY = 0.8
#: Columns of ``evaluate_breakdown_table``, in order.
BREAKDOWN_COLUMNS = [
    "variant",
    "status",
    "breakdown",  # class | group | overall
    "group_column",
    "key",  # the class, the group value, or "all"
    "metric",  # f1 | macro_f1 | accuracy
    "n",  # class support / group size / test rows
    "ref",
    "value",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "ci_excludes_0",
    "average_delta",  # Δ macro-F1 (or Δ accuracy) over all test rows
    "excess",  # delta − average_delta, with its own paired bootstrap CI
    "excess_ci_low",
    "excess_ci_high",
    "excess_p_value",
]


def _row(base: dict[str, Any], stats: dict[str, Any], prefix: str, average: float):
    row = {
        **base,
        "delta": stats[f"{prefix}delta"],
        "ci_low": stats[f"{prefix}ci_low"],
        "ci_high": stats[f"{prefix}ci_high"],
        "p_value": stats[f"{prefix}p_value"],
        "average_delta": average,
    }
    if f"{prefix}excess" in stats:
        row.update(
            {
                "excess": stats[f"{prefix}excess"],
                "excess_ci_low": stats[f"{prefix}excess_ci_low"],
                "excess_ci_high": stats[f"{prefix}excess_ci_high"],
                "excess_p_value": stats[f"{prefix}excess_p_value"],
            }
        )
    return row


def _variant_rows(b: dict[str, Any]) -> list[dict[str, Any]]:
    """The table rows of one variant's ``evaluate.<V>.breakdown``."""
    head = {"variant": b["variant"], "status": "ok", "group_column": b["group_column"]}
    overall = b["overall"]
    macro, acc = overall["macro_f1_delta"], overall["accuracy_delta"]
    rows = []
    for metric, average in (("macro_f1", macro), ("accuracy", acc)):
        base = {**head, "breakdown": "overall", "key": "all", "metric": metric}
        base.update(n=b["n"], ref=overall[f"{metric}_ref"])
        base["value"] = overall[f"{metric}_variant"]
        rows.append(_row(base, overall, f"{metric}_", average))
    for c in b["classes"]:
        base = {**head, "breakdown": "class", "key": c["class"], "metric": "f1"}
        base.update(n=c["support"], ref=c["f1_ref"], value=c["f1_variant"])
        rows.append(_row(base, c, "", macro))
    for g in b["groups"]:
        for metric, average in (("macro_f1", macro), ("accuracy", acc)):
            base = {**head, "breakdown": "group", "key": g["group"], "metric": metric}
            base.update(n=g["n"], ref=g[f"{metric}_ref"])
            base["value"] = g[f"{metric}_variant"]
            rows.append(_row(base, g, f"{metric}_", average))
    return rows


def build_breakdown_table(*breakdowns: dict[str, Any]) -> pd.DataFrame:
    """One row per variant × (overall | class | group) × metric (skipped variants:
    one row with the reason in ``status``)."""
    rows = []
    for b in breakdowns:
        if b["status"] != "ok":
            rows.append({"variant": b["variant"], "status": f"skipped: {b['reason']}"})
            continue
        rows += _variant_rows(b)
    table = pd.DataFrame(rows).reindex(columns=BREAKDOWN_COLUMNS)
    excludes = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    table["ci_excludes_0"] = excludes.astype(object).where(table["status"] == "ok")
    return table


def _ci(delta: float, low: float, high: float) -> str:
    return f"{delta:+.4f} [{low:+.4f}, {high:+.4f}]"


def _verdict(r) -> str:
    """How a class's / group's Δ compares with the average (the excess CI)."""
    if r.excess_ci_high < 0:
        return "loses **more** than the average"
    if r.excess_ci_low > 0:
        return "loses less than the average"
    return "not distinguishable from the average"


def _excludes_0(r) -> bool:
    """The Δ's CI excludes 0 (from the bounds: robust to the CSV round trip)."""
    return bool(r.ci_low > 0 or r.ci_high < 0)


def _describe(r, what: str) -> str:
    sig = "CI excludes 0" if _excludes_0(r) else "CI includes 0"
    return (
        f"{what} `{r.key}` (n = {int(r.n)}): Δ {_ci(r.delta, r.ci_low, r.ci_high)} "
        f"({sig}); vs the average {r.average_delta:+.4f}: excess "
        f"{_ci(r.excess, r.excess_ci_low, r.excess_ci_high)}, {_verdict(r)}"
    )


def _extreme(rows: pd.DataFrame, what: str) -> list[str]:
    """The largest loss and the smallest class / group (when another one)."""
    worst = rows.loc[rows["delta"].idxmin()]
    label = "largest loss" if worst.delta < 0 else "no loss; lowest Δ"
    out = [_describe(worst, f"{label}: {what}")]
    smallest = rows.loc[rows["n"].idxmin()]
    # the rarest class / smallest group, when clearly smaller than the typical one
    if smallest.key != worst.key and smallest.n < MINORITY * rows["n"].median():
        out.append(_describe(smallest, f"smallest {what}"))
    return out


def _losing_more(table: pd.DataFrame, variant: str) -> str:
    """The classes and groups whose excess CI lies below 0 (or ``none``)."""
    rows = table[(table["variant"] == variant) & (table["excess_ci_high"] < 0)]
    rows = rows[rows["metric"].isin(["f1", "macro_f1"])]
    names = [
        f"{'class' if r.breakdown == 'class' else r.group_column} `{r.key}` "
        f"({r.excess:+.4f})"
        for r in rows.itertuples()
    ]
    return ", ".join(names) or "none"


def variant_finding(table: pd.DataFrame, variant: str) -> str:
    """One paragraph: the average Δ, the class and the group that lose most (and
    the rarest class / smallest group), each against the average."""
    rows = table[table["variant"] == variant]
    overall = rows[(rows["breakdown"] == "overall") & (rows["metric"] == "macro_f1")]
    o = overall.iloc[0]
    parts = [f"average Δ macro-F1 {_ci(o.delta, o.ci_low, o.ci_high)}"]
    parts += _extreme(rows[rows["breakdown"] == "class"], "class")
    groups = rows[(rows["breakdown"] == "group") & (rows["metric"] == "macro_f1")]
    if len(groups) > 1:
        parts += _extreme(groups, f"{o.group_column} (Δ macro-F1)")
    else:
        parts.append("no group column in this dataset (one group `all`)")
    return f"**{variant}**: " + "; ".join(parts) + "."


def _pivot(rows: pd.DataFrame, variants: list[str], title: str) -> pd.DataFrame:
    """Keys × variants of ``Δ [CI]`` (``*``: the CI excludes 0)."""
    cells = rows.assign(
        cell=[
            _ci(r.delta, r.ci_low, r.ci_high) + (" *" if _excludes_0(r) else "")
            for r in rows.itertuples()
        ],
        label=[f"{r.key} (n={int(r.n)})" for r in rows.itertuples()],
    )
    wide = cells.pivot(index="label", columns="variant", values="cell")
    order = list(dict.fromkeys(cells["label"]))
    wide = wide.reindex(index=order, columns=variants).rename_axis(None, axis=1)
    return wide.rename_axis(title)


def breakdown_markdown(table: pd.DataFrame, reference: str) -> str:
    """Findings per variant, then Δ F1 per class and Δ macro-F1 / accuracy per group
    (keys × variants), then the skipped variants."""
    ok = table[(table["status"] == "ok") & (table["variant"] != reference)]
    variants = list(dict.fromkeys(ok["variant"]))
    lines = [
        f"# Where quantization hurts: Δ vs `{reference}` per class and per group",
        "",
        "Δ = variant − reference on the same test texts; [95% CI] and `*` (the CI "
        "excludes 0): paired bootstrap over test rows (`evaluate.bootstrap`). The "
        "average is Δ macro-F1 (Δ accuracy for the accuracy rows) over all test rows; "
        "the excess (Δ − average) has its own CI from the same resamples: a class or "
        "group *loses more than the average* only when that CI is below 0.",
        "",
        "## Which classes and groups lose more than the average",
        "",
        "Excess CI below 0 (Δ F1 per class, Δ macro-F1 per group; excess in brackets):",
        "",
    ]
    lines += [f"- `{v}`: {_losing_more(table, v)}" for v in variants] or ["- (none)"]
    lines += ["", "## Findings", ""]
    lines += [f"- {variant_finding(table, v)}" for v in variants] or ["- (none)"]
    lines.append("")
    column = ok["group_column"].dropna().unique()
    column = str(column[0]) if len(column) else "group"
    sections = [
        ("Δ F1 per class", "class", ok[ok["breakdown"] == "class"]),
        (f"Δ macro-F1 per {column}", column, _group(ok, "macro_f1")),
        (f"Δ accuracy per {column}", column, _group(ok, "accuracy")),
    ]
    for title, key, rows in sections:
        if not rows.empty:
            table_md = _pivot(rows, variants, key).to_markdown()
            lines += [f"## {title}", "", table_md, ""]
    skipped = table[table["status"] != "ok"]
    if not skipped.empty:
        lines += ["## Skipped variants", ""]
        lines += [f"- `{r.variant}`: {r.status}" for r in skipped.itertuples()]
        lines.append("")
    return "\n".join(lines) + "\n"


def _group(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    return rows[(rows["breakdown"] == "group") & (rows["metric"] == metric)]


def plot_breakdown(table: pd.DataFrame, reference: str):
    """Heatmap of Δ (F1 per class, macro-F1 per group) by variant; ``*`` where the
    paired bootstrap CI excludes 0, red = the variant loses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[(table["status"] == "ok") & (table["variant"] != reference)]
    rows = pd.concat([ok[ok["breakdown"] == "class"], _group(ok, "macro_f1")])
    if rows.empty:
        fig, ax = plt.subplots(figsize=(4.8, 2.0), dpi=120)
        ax.axis("off")
        ax.text(0.5, 0.5, f"no evaluated variant besides {reference}", ha="center")
        plt.close(fig)
        return fig
    rows = rows.assign(
        label=[
            f"{'class' if r.breakdown == 'class' else r.group_column}: {r.key} "
            f"(n={int(r.n)})"
            for r in rows.itertuples()
        ],
        excludes=[_excludes_0(r) for r in rows.itertuples()],
    )
    variants = list(dict.fromkeys(rows["variant"]))
    order = list(dict.fromkeys(rows["label"]))
    delta = rows.pivot(index="label", columns="variant", values="delta")
    mark = rows.pivot(index="label", columns="variant", values="excludes")
    delta = delta.reindex(index=order, columns=variants)
    mark = mark.reindex(index=order, columns=variants)
    limit = max(float(np.nanmax(np.abs(delta.to_numpy()))), 0.01)
    fig, ax = plt.subplots(
        figsize=(max(7.5, 4.5 + 0.9 * len(variants)), 1.6 + 0.34 * len(order)),
        dpi=120,
    )
    image = ax.imshow(
        delta.to_numpy(), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto"
    )
    for i, label in enumerate(order):
        for j, variant in enumerate(variants):
            value = delta.loc[label, variant]
            if pd.notna(value):
                star = "*" if mark.loc[label, variant] else ""
                color = "white" if abs(value) > 0.6 * limit else "black"
                ax.text(
                    j, i, f"{value:+.3f}{star}", ha="center", va="center", size=7,
                    color=color,
                )  # fmt: skip
    n_classes = int((rows.drop_duplicates("label")["breakdown"] == "class").sum())
    if 0 < n_classes < len(order):
        ax.axhline(n_classes - 0.5, color="k", lw=1)
    ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
    ax.set_yticks(range(len(order)), order)
    ax.set_title(
        f"Δ vs {reference}: F1 per class, macro-F1 per group\n"
        "(* = paired bootstrap CI excludes 0; red = the variant loses)",
        fontsize=9,
    )
    fig.colorbar(image, ax=ax, shrink=0.8, label="Δ (variant − reference)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def per_class_lines(ok: pd.DataFrame, reference: str) -> list[str]:
    """The comparison Markdown's per-class section: F1 of each class per variant
    (rows of ``evaluate_comparison_table``) and its Δ from the reference's (the
    paired CIs of those Δ: ``breakdown.md``)."""
    classes = [c for c in ok.columns if c.startswith("f1_")]
    if not classes or reference not in set(ok["variant"]):
        return []
    ref = ok[ok["variant"] == reference].iloc[0]
    shown = pd.DataFrame({"variant": ok["variant"]})
    for c in classes:
        shown[f"F1 {c[3:]}"] = [
            f"{r[c]:.4f}"
            + ("" if r["variant"] == reference else f" ({r[c] - ref[c]:+.4f})")
            for _, r in ok.iterrows()
        ]
    return [
        "## Per-class F1 (Δ vs reference)",
        "",
        shown.to_markdown(index=False),
        "",
        "Paired bootstrap CIs of each class's and each group's Δ, and which lose more "
        "than the average: `breakdown.md`.",
        "",
    ]
