"""Tasks of a registry entry: several judgements of one text (issue 22, the core).

An entry of ``conf/base/datasets.yml`` may declare ``tasks:``, a list of

- ``name``: unique within the entry (``severity``, ``target``, ...);
- ``kind``: ``single_label`` (one class per row, softmax; the default) or
  ``multi_label`` (any subset of the classes, one sigmoid per class);
- ``labels``: the class names in id order;
- ``label``: the label definition. ``single_label`` takes the entry-level forms
  (``{column: ..., map: {...}}`` or ``{one_hot: {class: column}, otherwise: class,
  gate: column}``, :func:`quant_sentiment.corpora.label_of`); ``multi_label`` takes
  ``{columns: {class: 0/1 column}}``, one column per class;
- ``metric``: ``macro_f1`` (default) or ``micro_f1``.

An entry without ``tasks`` is the one-task case: its ``labels`` / ``label`` are one
``single_label`` task named after its ``task`` setting. An entry with ``tasks`` needs
no ``labels`` / ``label`` of its own: the first ``single_label`` task is its
*primary* task, which the single-task pipelines (and the stratified split) use.

The resolved entry (``corpora.resolve``) carries ``tasks`` (the definitions: name,
kind, labels, metric), ``task_columns`` (the per-task row columns, empty for an entry
without ``tasks``) and, in each part, ``tasks`` (``{task: resolved rule}``; a pooled
member without a task has no rule for it, so its rows are masked for that task).

Row columns (:func:`row_labels`): ``label__<task>`` (class name, ``""`` when absent)
and ``label_id__<task>`` (class id, :data:`MASKED` when absent) for a
``single_label`` task; ``label__<task>__<class>`` (0 / 1, :data:`MASKED` when
absent) for each class of a ``multi_label`` task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from quant_sentiment.corpora import (
    DatasetConfigError,
    _label_rule,
    label_columns,
    label_of,
)

SINGLE = "single_label"
MULTI = "multi_label"
KINDS = (SINGLE, MULTI)
METRICS = ("macro_f1", "micro_f1")
#: The value of an absent label (PyTorch's ``ignore_index`` of cross-entropy).
MASKED = -100
_TASK_KEYS = {"name", "kind", "labels", "label", "metric"}


class TaskLabelError(ValueError):
    """A row's label for a task cannot be derived (file, line, task and problem)."""


# ------------------------------------------------------------------ the registry
def declared(entry: Mapping[str, Any]) -> bool:
    """Whether a registry entry declares ``tasks``."""
    return entry.get("tasks") is not None


def primary_entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with its ``labels`` / ``label`` taken from its primary task (the
    first ``single_label`` one) where the entry does not set them itself."""
    if not declared(entry) or ("labels" in entry and "label" in entry):
        return dict(entry)
    defs, rules = resolve_tasks(name, entry)
    single = [d for d in defs if d["kind"] == SINGLE]
    if not single:
        raise DatasetConfigError(
            f"datasets.{name}.tasks: no single_label task, so the entry needs its "
            f"own labels and label (the primary task the split is stratified by)"
        )
    first = single[0]
    raw = next(t for t in entry["tasks"] if t.get("name") == first["name"])
    out = dict(entry)
    out.setdefault("labels", list(first["labels"]))
    out.setdefault("label", raw["label"])
    return out


def resolve_tasks(
    name: str, entry: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The task definitions and label rules of one (non-pooled) entry.

    Returns:
        ``(definitions, rules)``: ``[{name, kind, labels, metric}]`` in declared order
        and ``{task: resolved label rule}``.

    Raises:
        DatasetConfigError: For a bad setting, named as
            ``datasets.<entry>.tasks[<i>].<key>`` or ``datasets.<entry>.tasks.<task>``.
    """
    if not declared(entry):
        labels = [str(x) for x in entry["labels"]]
        task = {"name": str(entry.get("task", "classification")), "kind": SINGLE}
        rule = _label_rule(name, entry["label"], labels)
        return [{**task, "labels": labels, "metric": "macro_f1"}], {task["name"]: rule}
    tasks = entry["tasks"]
    if not isinstance(tasks, list) or not tasks:
        raise DatasetConfigError(
            f"datasets.{name}.tasks must be a non-empty list of tasks (name, kind, "
            f"labels, label, metric), got {tasks!r}"
        )
    defs, rules = [], {}
    for index, task in enumerate(tasks):
        definition, rule = _task(name, index, task)
        if definition["name"] in rules:
            raise DatasetConfigError(
                f"datasets.{name}.tasks[{index}].name: duplicate task name "
                f"{definition['name']!r} (task names are unique within an entry)"
            )
        defs.append(definition)
        rules[definition["name"]] = rule
    return defs, rules


def _task(entry: str, index: int, task: Any) -> tuple[dict[str, Any], dict]:
    where = f"datasets.{entry}.tasks[{index}]"
    if not isinstance(task, Mapping):
        raise DatasetConfigError(f"{where} must be a mapping, got {task!r}")
    unknown = sorted(set(task) - _TASK_KEYS)
    if unknown:
        raise DatasetConfigError(
            f"{where}: unknown setting(s) {unknown}; allowed: {sorted(_TASK_KEYS)}"
        )
    name = task.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise DatasetConfigError(
            f"{where}.name must be a name of letters, digits and _, got {name!r}"
        )
    where = f"datasets.{entry}.tasks.{name}"
    kind = task.get("kind", SINGLE)
    if kind not in KINDS:
        raise DatasetConfigError(
            f"{where}.kind must be one of {list(KINDS)}, got {kind!r}"
        )
    metric = task.get("metric", "macro_f1")
    if metric not in METRICS:
        raise DatasetConfigError(
            f"{where}.metric must be one of {list(METRICS)}, got {metric!r}"
        )
    labels = task.get("labels")
    minimum = 1 if kind == MULTI else 2
    if (
        not isinstance(labels, list)
        or len(labels) < minimum
        or len(set(map(str, labels))) != len(labels)
    ):
        raise DatasetConfigError(
            f"{where}.labels must list at least {minimum} distinct class name(s) in "
            f"id order, got {labels!r}"
        )
    labels = [str(x) for x in labels]
    if kind == SINGLE:
        rule = _label_rule(f"{entry}.tasks.{name}", task.get("label"), labels)
    else:
        rule = _multi_rule(where, task.get("label"), labels)
    return {"name": name, "kind": kind, "labels": labels, "metric": metric}, rule


def _multi_rule(where: str, rule: Any, labels: list[str]) -> dict[str, Any]:
    columns = rule.get("columns") if isinstance(rule, Mapping) else None
    if not isinstance(columns, Mapping) or set(rule) != {"columns"}:
        raise DatasetConfigError(
            f"{where}.label of a multi_label task must be {{columns: {{class: 0/1 "
            f"column}}}}, got {rule!r}"
        )
    columns = {str(k): v if _is_index(v) else str(v) for k, v in columns.items()}
    if sorted(columns) != sorted(labels):
        raise DatasetConfigError(
            f"{where}.label.columns names classes {sorted(columns)}, which must be "
            f"exactly {where}.labels {labels}"
        )
    return {"columns": {label: columns[label] for label in labels}}


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def pooled_tasks(
    pool_name: str, members: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The union of the pooled members' task definitions, in first-seen order.

    Raises:
        DatasetConfigError: If two members define a task of the same name differently.
    """
    out: dict[str, dict[str, Any]] = {}
    for member in members:
        for task in member["tasks"]:
            seen = out.setdefault(task["name"], task)
            if seen != task:
                raise DatasetConfigError(
                    f"datasets.{pool_name}.pool: task {task['name']!r} of "
                    f"{member['name']} is {task}, but another member defines it as "
                    f"{seen} (a task shared by pooled entries has one definition)"
                )
    return list(out.values())


def mixed_pool(pool_name: str, members: Sequence[Mapping[str, Any]]) -> list[str]:
    """``[]`` when the pooled members share one primary task; otherwise (e.g. SmSA
    ``sentiment`` + hate-speech ``severity``) the pool is a multi-task entry whose
    rows carry their own member's tasks only, and its ``labels`` (the single-task
    pipelines' label space, each row's own primary label) are the members' primary
    classes, in member order.

    Raises:
        DatasetConfigError: If two primary tasks share a class name (a row's
            ``label`` would not say its task).
    """
    primaries: dict[str, list[str]] = {}
    for member in members:
        first = next(t for t in member["tasks"] if t["kind"] == SINGLE)
        primaries.setdefault(first["name"], list(first["labels"]))
    if len(primaries) < 2:  # noqa: PLR2004
        return []
    labels: list[str] = []
    for task, classes in primaries.items():
        clash = sorted(set(classes) & set(labels))
        if clash:
            raise DatasetConfigError(
                f"datasets.{pool_name}.pool: the primary tasks {list(primaries)} of "
                f"its members share class name(s) {clash}; a pool of different "
                f"tasks needs distinct class names (task {task!r})"
            )
        labels += classes
    return labels


def task_columns(tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-task row columns of these tasks (module docstring)."""
    out: list[str] = []
    for task in tasks:
        if task["kind"] == SINGLE:
            out += [f"label__{task['name']}", f"label_id__{task['name']}"]
        else:
            out += [f"label__{task['name']}__{c}" for c in task["labels"]]
    return out


def rule_columns(rules: Mapping[str, Mapping[str, Any]]) -> list[str | int]:
    """The file columns (header names or 0-based indices) the task rules of a part
    read, each once, in order."""
    out: list[str | int] = []
    for rule in rules.values():
        cols = (
            rule["columns"].values()
            if "columns" in rule and isinstance(rule["columns"], Mapping)
            else label_columns(rule)
        )
        out += [c for c in cols if str(c) not in map(str, out)]
    return out


def column_settings(part: Mapping[str, Any]) -> dict[str, str]:
    """``{file column: the setting that names it}`` of a part's task rules
    (``datasets.<entry>.tasks.<task>.label``), for messages about a column."""
    out: dict[str, str] = {}
    for task, rule in part.get("tasks", {}).items():
        for column in rule_columns({task: rule}):
            out.setdefault(str(column), f"datasets.{part['entry']}.tasks.{task}.label")
    return out


# ------------------------------------------------------------------ rows
def row_labels(
    values: Mapping[str, str],
    rules: Mapping[str, Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Any], str]:
    """One row's per-task columns: ``(columns, "")`` or ``({}, problem)``.

    Args:
        values: The row's fields by column key (stripped), at least the columns of
            ``rules`` (:func:`rule_columns`).
        rules: The part's ``{task: rule}``; a task without a rule is masked.
        tasks: The entry's task definitions (all tasks of a pool).
    """
    out: dict[str, Any] = {}
    for task in tasks:
        name, rule = task["name"], rules.get(task["name"])
        if task["kind"] == MULTI:
            for label in task["labels"]:
                flag = (
                    MASKED
                    if rule is None
                    else _flag(values[str(rule["columns"][label])])
                )
                if flag is None:
                    column = rule["columns"][label]
                    return {}, f"task {name}: column {column} is not 0 or 1"
                out[f"label__{name}__{label}"] = flag
            continue
        if rule is None:
            out[f"label__{name}"], out[f"label_id__{name}"] = "", MASKED
            continue
        label, problem = label_of(values, rule)
        if problem or label not in task["labels"]:
            problem = problem or f"unknown label {label!r} (expected {task['labels']})"
            return {}, f"task {name}: {problem}"
        out[f"label__{name}"] = label
        out[f"label_id__{name}"] = task["labels"].index(label)
    return out, ""


def _flag(value: str) -> int | None:
    return {"0": 0, "1": 1}.get(value.strip())


def add_task_columns(
    rows: pd.DataFrame, part: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """``rows`` (with the part's raw rule columns) plus the per-task columns.

    Raises:
        TaskLabelError: For a row whose task label cannot be derived (file, line,
            task, problem); rows are never dropped silently here.
    """
    rules = part.get("tasks", {})
    needed = [str(c) for c in rule_columns(rules)]  # kept as str(column)
    records = []
    for values in rows[["source", "line", *needed]].astype(str).to_dict("records"):
        found, problem = row_labels(values, rules, tasks)
        if problem:
            raise TaskLabelError(
                f"{values['source']}, line {values['line']}: {problem} "
                f"(datasets.{part['entry']}.tasks)"
            )
        records.append(found)
    frame = pd.DataFrame(records, columns=task_columns(tasks), index=rows.index)
    return pd.concat([rows, frame], axis=1)
