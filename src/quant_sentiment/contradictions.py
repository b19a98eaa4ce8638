"""Contradiction rules of a multi-task registry entry (issue 22, diagnostics).

A registry entry with ``tasks`` may declare ``contradictions:``, a list of rules,
each a combination of heads' predictions that cannot both be true:

.. code-block:: yaml

    contradictions:
      - name: none_but_category            # letters, digits and _; unique
        description: severity none but a category set
        when: {severity: none, category: any}
      - name: none_but_target
        when: {severity: none, target: {not: none}}

``when`` maps two or more task names to a condition on that head's prediction; a row
contradicts the rule when **every** condition holds. A condition is

- for a ``single_label`` task: a class name or a list of class names (the predicted
  class is one of them), or ``{not: <class or list>}`` (it is none of them);
- for a ``multi_label`` task: ``any`` (at least one class predicted), ``none`` (no
  class predicted), a class name or a list (at least one of them predicted), or
  ``{not: ...}`` of any of these.

:func:`resolve_rules` validates the rules against the entry's tasks (an unknown task
or class stops with the setting named) and returns them in a plain, resolved form
(``[{name, description, when: [{task, kind, classes, negate}]}]``, ``classes`` as
class ids); :func:`rule_mask` evaluates one rule on predicted ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from quant_sentiment.corpora import DatasetConfigError

SINGLE = "single_label"  # as quant_sentiment.tasks (which imports corpora, as here)
_RULE_KEYS = {"name", "description", "when"}
_ANY, _NONE = "any", "none"


def resolve_rules(
    entry_name: str, rules: Any, tasks: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The entry's ``contradictions``, checked against its ``tasks`` (module
    docstring); ``[]`` when it declares none.

    Raises:
        DatasetConfigError: For a bad rule, named as
            ``datasets.<entry>.contradictions[<i>]...`` or
            ``datasets.<entry>.contradictions.<rule>.when.<task>``.
    """
    if rules is None:
        return []
    where = f"datasets.{entry_name}.contradictions"
    if not isinstance(rules, list):
        raise DatasetConfigError(
            f"{where} must be a list of rules (name, description, when), got {rules!r}"
        )
    if rules and len(tasks) < 2:  # noqa: PLR2004
        raise DatasetConfigError(
            f"{where}: contradictions compare the heads of a multi-task entry, but "
            f"datasets.{entry_name} has {len(tasks)} task(s)"
        )
    by_name = {t["name"]: t for t in tasks}
    out: list[dict[str, Any]] = []
    for index, rule in enumerate(rules):
        resolved = _rule(f"{where}[{index}]", where, rule, by_name)
        if any(r["name"] == resolved["name"] for r in out):
            raise DatasetConfigError(
                f"{where}[{index}].name: duplicate rule name {resolved['name']!r}"
            )
        out.append(resolved)
    return out


def _rule(
    at: str, where: str, rule: Any, tasks: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    if not isinstance(rule, Mapping):
        raise DatasetConfigError(f"{at} must be a mapping, got {rule!r}")
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        raise DatasetConfigError(
            f"{at}: unknown setting(s) {unknown}; allowed: {sorted(_RULE_KEYS)}"
        )
    name = rule.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise DatasetConfigError(
            f"{at}.name must be a name of letters, digits and _, got {name!r}"
        )
    when = rule.get("when")
    at = f"{where}.{name}.when"
    if not isinstance(when, Mapping) or len(when) < 2:  # noqa: PLR2004
        raise DatasetConfigError(
            f"{at} must map two or more task names to conditions, got {when!r}"
        )
    conditions = []
    for task_name, condition in when.items():
        task = tasks.get(str(task_name))
        if task is None:
            raise DatasetConfigError(
                f"{at}: unknown task {task_name!r} (the entry's tasks: {sorted(tasks)})"
            )
        conditions.append(_condition(f"{at}.{task_name}", task, condition))
    description = str(rule.get("description") or _describe(conditions))
    return {"name": name, "description": description, "when": conditions}


def _condition(at: str, task: Mapping[str, Any], value: Any) -> dict[str, Any]:
    negate = False
    if isinstance(value, Mapping):
        if set(value) != {"not"}:
            raise DatasetConfigError(
                f"{at} must be a class, a list of classes or {{not: ...}}, got {value!r}"
            )
        negate, value = True, value["not"]
    labels = list(task["labels"])
    single = task["kind"] == SINGLE
    if not single and value in (_ANY, _NONE):
        classes = list(range(len(labels)))
        negate = negate != (value == _NONE)  # none = not any
    else:
        names = value if isinstance(value, list) else [value]
        bad = [n for n in names if str(n) not in labels]
        if not names or bad:
            keywords = "" if single else f", or {_ANY!r} / {_NONE!r}"
            raise DatasetConfigError(
                f"{at}: unknown class(es) {bad or names!r} for task {task['name']!r} "
                f"(its classes: {labels}{keywords})"
            )
        classes = sorted({labels.index(str(n)) for n in names})
    return {
        "task": task["name"],
        "kind": task["kind"],
        "classes": classes,
        "class_names": [labels[i] for i in classes],
        "negate": negate,
    }


def _describe(conditions: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for c in conditions:
        verb = "not in" if c["negate"] else "in"
        parts.append(f"{c['task']} {verb} {{{', '.join(c['class_names'])}}}")
    return " and ".join(parts)


def condition_mask(condition: Mapping[str, Any], predicted: np.ndarray) -> np.ndarray:
    """Rows meeting one condition. ``predicted``: class ids ``[n]`` (single_label)
    or a 0/1 matrix ``[n, classes]`` (multi_label)."""
    classes = list(condition["classes"])
    if condition["kind"] == SINGLE:
        hit = np.isin(np.asarray(predicted), classes)
    else:
        hit = (np.asarray(predicted)[:, classes] == 1).any(axis=1)
    return ~hit if condition["negate"] else hit


def rule_mask(
    rule: Mapping[str, Any], heads: Mapping[str, np.ndarray], n_rows: int
) -> np.ndarray:
    """Rows contradicting ``rule`` given each head's predictions (``{task: ids or
    0/1 matrix}``); all ``False`` when a head the rule needs is absent."""
    mask = np.ones(n_rows, dtype=bool)
    for condition in rule["when"]:
        predicted = heads.get(condition["task"])
        if predicted is None:
            return np.zeros(n_rows, dtype=bool)
        mask &= condition_mask(condition, predicted)
    return mask
