"""Task sampling for pooled multi-task training rows (``multitask.sampling``).

In a pool whose members carry different tasks (e.g. SmSA sentiment + hate-speech
tasks), each train row belongs to a *task group*: the set of tasks it is labelled
for (the others are masked, :data:`~quant_sentiment.tasks.MASKED`). The rule sets
each group's share of the train rows:

- ``proportional`` (default): as the data is (``n_k / N``); nothing changes;
- ``temperature``: ``n_k^(1/T) / sum_j n_j^(1/T)`` (``temperature: T``; T = 1 is
  proportional, large T tends to uniform; multilingual-BERT style smoothing);
- ``uniform``: every group ``1 / K``.

The train split is redrawn once, seeded, to those shares with its total row count
kept: a group below its share is drawn with replacement (every row kept at least
once), a group above it without. Validation rows are never resampled. A split with
one group is returned as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant_sentiment.tasks import MASKED, SINGLE

RULES = ("proportional", "temperature", "uniform")


def task_groups(frame: pd.DataFrame, tasks: list[dict[str, Any]]) -> pd.Series:
    """Each row's task group: the ``+``-joined names of the tasks it has a label for."""
    present = []
    for task in tasks:
        name = task["name"]
        if task["kind"] == SINGLE:
            column = f"label_id__{name}"
            has = frame[column] != MASKED if column in frame else None
        else:
            columns = [f"label__{name}__{c}" for c in task["labels"]]
            has = (
                (frame[columns] != MASKED).all(axis=1) if columns[0] in frame else None
            )
        if has is None:  # a one-task split: every row has the task
            has = pd.Series(True, index=frame.index)
        present.append(has.map({True: name, False: ""}))
    joined = pd.concat(present, axis=1).apply(
        lambda row: "+".join(x for x in row if x), axis=1
    )
    return joined.rename("task_group")


def group_shares(
    counts: dict[str, int], rule: str, temperature: float = 1.0
) -> dict[str, float]:
    """Each group's share of the rows under ``rule`` (module docstring)."""
    sizes = np.array(list(counts.values()), dtype=float)
    if rule == "uniform":
        weights = np.ones_like(sizes)
    elif rule == "temperature":
        weights = sizes ** (1.0 / temperature)
    else:
        weights = sizes
    return dict(zip(counts, weights / weights.sum(), strict=True))


def _check(cfg: dict[str, Any], setting: str) -> tuple[str, float, int]:
    unknown = sorted(set(cfg) - {"rule", "temperature", "seed"})
    if unknown:
        raise ValueError(
            f"{setting}: unknown setting(s) {unknown}; allowed: rule, temperature, seed"
        )
    rule = cfg.get("rule", "proportional")
    if rule not in RULES:
        raise ValueError(f"{setting}.rule must be one of {list(RULES)}, got {rule!r}")
    temperature = float(cfg.get("temperature", 1.0))
    if temperature <= 0:
        raise ValueError(f"{setting}.temperature must be > 0, got {temperature}")
    return rule, temperature, int(cfg.get("seed", 42))


def sample_tasks(
    frame: pd.DataFrame,
    tasks: list[dict[str, Any]],
    cfg: dict[str, Any] | None,
    setting: str = "finetune.multitask.sampling",
) -> pd.DataFrame:
    """The train rows redrawn to the rule's group shares (module docstring).

    Raises:
        ValueError: For an unknown rule or setting, or a temperature <= 0 (named).
    """
    rule, temperature, seed = _check(dict(cfg or {}), setting)
    groups = task_groups(frame, tasks)
    counts = groups.value_counts().sort_index().to_dict()
    if rule == "proportional" or len(counts) < 2:  # noqa: PLR2004
        return frame
    shares = group_shares(counts, rule, temperature)
    rng = np.random.default_rng(seed)
    total, parts = len(frame), []
    for group, share in shares.items():
        rows = np.flatnonzero(groups.to_numpy() == group)
        want = max(1, round(share * total))
        if want <= len(rows):
            chosen = rng.choice(rows, want, replace=False)
        else:  # every row once, the rest drawn with replacement
            extra = rng.choice(rows, want - len(rows), replace=True)
            chosen = np.concatenate([rows, extra])
        parts.append(np.sort(chosen))
    order = rng.permutation(np.concatenate(parts))
    return frame.iloc[order].reset_index(drop=True)
