"""Duplicate texts whose labels disagree: found, reported and resolved by a stated rule.

The rule is ``preprocessing.deduplicate.conflicting``:

- ``drop_all`` (base): every row of a text whose labels disagree is dropped;
- ``majority``: the first row carrying the text's most frequent label is kept and every
  other row of the text dropped; a tie for the most frequent label drops them all;
- ``keep``: nothing is dropped; the conflicts are still reported.

The function is pure (frames in, frames and a dict out). The preprocessing pipeline
calls it on the normalised texts of train, valid and test together (a ``split``
column), so a text labelled one way in train and another in test is a conflict too.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: The values of ``preprocessing.deduplicate.conflicting``.
RULES = ("drop_all", "majority", "keep")
CHECK = "conflicting_label"
_SETTING = "preprocessing.deduplicate.conflicting"
_MAX_LISTED = 50


def _decisions(rows: pd.DataFrame, rule: str, label: str) -> dict[Any, str]:
    """Row index → reason it is dropped, for one text's rows (in frame order)."""
    counts = rows[label].value_counts()
    described = ", ".join(f"{k!s}: {v}" for k, v in counts.items())
    if rule == "drop_all":
        return dict.fromkeys(
            rows.index, f"labels disagree ({described}); rule drop_all"
        )
    top = counts[counts == counts.iloc[0]]
    if len(top) > 1:
        reason = f"labels disagree ({described}), tie for the majority; rule majority"
        return dict.fromkeys(rows.index, reason)
    winner = top.index[0]
    keep = rows.index[rows[label] == winner][0]
    return {
        i: (
            f"labels disagree ({described}); rule majority keeps the first "
            f"{winner!s} row"
        )
        for i in rows.index
        if i != keep
    }


def resolve_conflicting_labels(
    frame: pd.DataFrame,
    rule: str = "drop_all",
    text: str = "text",
    label: str = "label",
    split: str | None = "split",
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Find duplicate texts, report those with conflicting labels and apply ``rule``.

    Args:
        frame: Rows with a text and a label column (other columns are carried).
        rule: ``drop_all``, ``majority`` or ``keep`` (see the module docstring).
        text: The text column (compare normalised texts).
        label: The label column.
        split: A column naming each row's split, reported per conflict when present.

    Returns:
        ``(kept, dropped, report)``: the kept rows (original index and order); the
        dropped rows with ``check`` (``conflicting_label``), ``reason`` and ``action``
        (``dropped``); and a JSON-ready report: the rule, duplicate and conflicting
        text counts, rows dropped, and every conflicting text (first 50) with its label
        counts (and per split) and the decision.

    Raises:
        ValueError: For an unknown rule, naming the setting.
    """
    if rule not in RULES:
        raise ValueError(f"{_SETTING}: {rule!r} is not one of {list(RULES)}")
    has_split = split is not None and split in frame.columns
    n_labels = frame.groupby(text, sort=False)[label].nunique()
    conflicting = n_labels.index[n_labels > 1]
    reasons: dict[Any, str] = {}
    listed = []
    in_conflict = frame[frame[text].isin(conflicting)]
    for value, rows in in_conflict.groupby(text, sort=False):
        decided = {} if rule == "keep" else _decisions(rows, rule, label)
        reasons.update(decided)
        entry: dict[str, Any] = {
            "text": value,
            "labels": {str(k): int(v) for k, v in rows[label].value_counts().items()},
            "rows": len(rows),
            "rows_dropped": len(decided),
        }
        if has_split:
            entry["splits"] = {
                str(s): {str(k): int(v) for k, v in g[label].value_counts().items()}
                for s, g in rows.groupby(split, sort=False)
            }
        listed.append(entry)
    dropped_index = [i for i in frame.index if i in reasons]
    dropped = frame.loc[dropped_index].assign(
        check=CHECK,
        reason=[reasons[i] for i in dropped_index],
        action="dropped",
    )
    report: dict[str, Any] = {
        "rule": rule,
        "duplicate_rows": int(frame.duplicated(text).sum()),
        "distinct_duplicated_texts": int(
            frame.loc[frame.duplicated(text, keep=False), text].nunique()
        ),
        "conflicting_texts": len(conflicting),
        "rows_in_conflict": len(in_conflict),
        "rows_dropped": len(dropped),
        "conflicts": listed[:_MAX_LISTED],
    }
    if has_split:
        report["conflicting_across_splits"] = sum(
            len(entry["splits"]) > 1 for entry in listed
        )
        report["rows_dropped_by_split"] = {
            str(k): int(v) for k, v in dropped[split].value_counts().items()
        }
    return frame.drop(index=dropped_index), dropped, report
