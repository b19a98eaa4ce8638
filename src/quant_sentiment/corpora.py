"""The dataset registry: every dataset the study uses, declared once.

``conf/base/datasets.yml`` holds one entry per dataset; ``--params dataset=<name>``
chooses one for a run (``config.ProjectConfigLoader`` resolves it with
:func:`resolve`). An entry names

- its **source**: three split files (``files: {train, valid, test}``), or one file
  (``files: {all: ...}``) plus a seeded stratified ``split`` rule (``train``,
  ``valid``, ``test`` ratios summing to 1, ``seed``), or a ``pool`` of other entries
  (their rows together; e.g. the 12 NusaX languages);
- where a missing file is fetched from (``fetch``: ``mirror_dirs`` searched by file
  name, ``source_url`` with ``{file}`` for the file name);
- its **reader** settings (``encoding``, ``separator``, ``quoted``, ``header``), the
  ``text`` column and the **label**: a column (``{column: ..., map: {raw: name}}``)
  or derived from several 0/1 columns (``{one_hot: {name: column}, otherwise: name,
  gate: column}``: the one column set to 1; ``otherwise`` when none is, and, with a
  ``gate`` column, exactly when the gate is 0);
- ``labels`` in id order (the run's ``model.label_map``), ``meta`` (constant columns,
  e.g. ``language``), ``columns`` (file columns kept, e.g. NusaX's ``id``), ``group``
  (the column of the per-group breakdowns), ``origin`` (where its texts come from,
  for the leakage guard), ``leakage_guard`` and ``normalisation`` (switches of
  ``preprocessing.normalisation`` this dataset needs, e.g. the hate-speech quirks).

An entry whose name holds ``{var}`` and that has ``expand: {var: [values]}`` stands
for one entry per value (``nusax_{language}``). The built-in ``files`` entry is the
user's own three files, described by runtime parameters (``data.raw_dir``,
``data.labels``, ...: :func:`own_files`).

Every resolved entry is plain data (JSON-ready): the catalog's raw datasets read its
``parts``, ``preprocessing`` validates and splits them, every pipeline receives it as
``params:dataset_spec``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

#: The configuration key (``conf/<env>/datasets.yml``) of the registry.
REGISTRY_KEY = "datasets"
#: The runtime parameter that chooses the dataset.
SWITCH = "dataset"
#: The entry whose files and layout come from ``data.*`` runtime parameters.
OWN_FILES = "files"
SPLITS = ("train", "valid", "test")
_READER_DEFAULTS = {
    "encoding": "utf-8",
    "separator": "\t",
    "quoted": False,
    "header": False,
}
_SEPARATOR_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_ENTRY_KEYS = {
    "task",
    "labels",
    "files",
    "split",
    "pool",
    "fetch",
    "reader",
    "text",
    "label",
    "meta",
    "columns",
    "group",
    "origin",
    "leakage_guard",
    "normalisation",
    "licence",
    "description",
    "expand",
    "tasks",
    "contradictions",
}
_GUARD_DEFAULTS = {"threshold": 0.5, "ngram": 3, "across_parts": False, "against": []}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_RATIO_TOLERANCE = 1e-6


class DatasetConfigError(ValueError):
    """A dataset registry entry (or the ``dataset`` switch) is wrong; the message
    names the setting."""


def names(registry: Mapping[str, Any]) -> list[str]:
    """Every entry name of the registry, templates expanded, plus ``files``."""
    return sorted({*expand(registry), OWN_FILES})


def expand(registry: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The registry with ``{var}`` templates expanded (keys starting with ``_`` are
    YAML anchors, not entries)."""
    out: dict[str, dict[str, Any]] = {}
    for name, entry in registry.items():
        if name.startswith("_"):
            continue
        if not isinstance(entry, Mapping):
            raise DatasetConfigError(
                f"datasets.{name} must be a mapping (an entry), got {entry!r}"
            )
        variables = _PLACEHOLDER.findall(name)
        if not variables:
            out[name] = dict(entry)
            continue
        values = entry.get("expand") or {}
        if set(variables) != set(values):
            raise DatasetConfigError(
                f"datasets.{name}: the name's placeholders {variables} need "
                f"'expand' with a list of values for each (got {sorted(values)})"
            )
        (var,) = variables  # one placeholder per template is supported
        for value in values[var]:
            body = {k: v for k, v in entry.items() if k != "expand"}
            out[name.replace(f"{{{var}}}", str(value))] = _fill(body, var, str(value))
    return out


def _fill(value: Any, var: str, text: str) -> Any:
    if isinstance(value, str):
        return value.replace(f"{{{var}}}", text)
    if isinstance(value, Mapping):
        return {k: _fill(v, var, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, var, text) for v in value]
    return value


def resolve(
    name: str,
    registry: Mapping[str, Any],
    runtime_params: Mapping[str, Any] | None = None,
    switch: str = SWITCH,
) -> dict[str, Any]:
    """The resolved, validated entry ``name`` (see the module docstring); ``switch``
    is the ``--params`` key that named it (for the message of an unknown name).

    Raises:
        DatasetConfigError: For an unknown name (the known ones listed) or a bad
            setting (named as ``datasets.<entry>.<key>``).
    """
    entries = expand(registry)
    if name == OWN_FILES:
        entries[OWN_FILES] = own_files((runtime_params or {}).get("data") or {})
    if not isinstance(name, str) or name not in entries:
        raise DatasetConfigError(
            f"--params {switch}={name}: no such dataset in the registry "
            f"(conf/base/datasets.yml); known: {', '.join(names(registry))}"
        )
    entry = entries[name]
    _check_keys(name, entry)
    spec = _pooled(name, entry, entries) if "pool" in entry else _single(name, entry)
    _guard_references(spec, entries, registry, runtime_params)
    return spec


def _guard_references(
    spec: dict[str, Any],
    entries: Mapping[str, Any],
    registry: Mapping[str, Any],
    runtime_params: Mapping[str, Any] | None,
) -> None:
    """Resolve the entries of ``leakage_guard.against`` into ``references`` (their
    valid/test files are read for the guard, :mod:`quant_sentiment.leakage`)."""
    guard = spec["leakage_guard"]
    if not guard:
        return
    for other in guard["against"]:
        if other not in entries or other == spec["name"]:
            raise DatasetConfigError(
                f"datasets.{spec['name']}.leakage_guard.against: {other!r} is not "
                f"another registry entry"
            )
    guard["references"] = {
        other: resolve(other, registry, runtime_params) for other in guard["against"]
    }


def _check_keys(name: str, entry: Mapping[str, Any]) -> None:
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise DatasetConfigError(
            f"datasets.{name}: unknown setting(s) {unknown}; allowed: "
            f"{sorted(_ENTRY_KEYS)}"
        )


def _labels(name: str, entry: Mapping[str, Any]) -> list[str]:
    labels = entry.get("labels")
    if (
        not isinstance(labels, list)
        or len(labels) < 2  # noqa: PLR2004
        or len(set(map(str, labels))) != len(labels)
    ):
        raise DatasetConfigError(
            f"datasets.{name}.labels must list at least two distinct label names "
            f"in id order, got {labels!r}"
        )
    return [str(label) for label in labels]


_RESERVED = {"source", "line", "text", "label", "label_id", "split", "part"}


def _single(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    from quant_sentiment import tasks  # tasks builds on this module

    entry = tasks.primary_entry(name, entry)
    labels = _labels(name, entry)
    part = _part(name, entry, labels)
    task_defs, part["tasks"] = tasks.resolve_tasks(name, entry)
    meta = sorted({*part["meta"], *part["columns"]})
    clash = sorted(set(meta) & _RESERVED)
    if clash:
        raise DatasetConfigError(
            f"datasets.{name}: meta / columns {clash} clash with the columns every "
            f"split has ({sorted(_RESERVED)}); rename them"
        )
    group = entry.get("group")
    if group is not None and group not in meta:
        raise DatasetConfigError(
            f"datasets.{name}.group is {group!r}, which is not one of its meta or "
            f"columns {meta}"
        )
    return {
        "name": name,
        "task": str(entry.get("task", "classification")),
        "labels": labels,
        "group": group,
        "meta_columns": meta,
        "parts": [part],
        "leakage_guard": _guard(name, entry.get("leakage_guard")),
        "normalisation": dict(entry.get("normalisation") or {}),
        "tasks": task_defs,
        "task_columns": tasks.task_columns(task_defs) if tasks.declared(entry) else [],
        "contradictions": _contradictions(name, entry, task_defs),
    }


def _pooled(name: str, entry: Mapping[str, Any], entries: Mapping) -> dict[str, Any]:
    from quant_sentiment import tasks

    pool = entry["pool"]
    if not isinstance(pool, list) or not pool:
        raise DatasetConfigError(
            f"datasets.{name}.pool must list registry entries, got {pool!r}"
        )
    members = []
    for member in pool:
        if member not in entries or "pool" in entries[member]:
            raise DatasetConfigError(
                f"datasets.{name}.pool: {member!r} is not a single (non-pooled) "
                f"registry entry"
            )
        members.append(_single(member, entries[member]))
    pooled = tasks.pooled_tasks(name, members)  # a task defined twice: refused
    labels = entry.get("labels") or members[0]["labels"]
    mixed = tasks.mixed_pool(name, members)  # different primary tasks: multi-task
    if mixed and entry.get("labels"):
        raise DatasetConfigError(
            f"datasets.{name}.labels: a pool of different primary tasks takes its "
            f"labels from its members ({mixed}); remove the setting"
        )
    if mixed:
        labels = mixed
    for member in members:
        if not mixed and member["labels"] != labels:
            raise DatasetConfigError(
                f"datasets.{name}.pool: {member['name']} has labels "
                f"{member['labels']}, not {labels} (pooled entries share one label "
                f"list, in the same order)"
            )
    meta = sorted(set.intersection(*(set(m["meta_columns"]) for m in members)))
    group = entry.get("group")
    if group is not None and group not in meta:
        raise DatasetConfigError(
            f"datasets.{name}.group is {group!r}, but not every pooled entry has "
            f"that column (shared: {meta})"
        )
    normalisation: dict[str, Any] = {}
    for member in members:
        normalisation.update(member["normalisation"])
    normalisation.update(entry.get("normalisation") or {})
    return {
        "name": name,
        "task": str(entry.get("task", members[0]["task"])),
        "labels": list(labels),
        "group": group,
        "meta_columns": meta,
        "parts": [m["parts"][0] for m in members],
        "leakage_guard": _guard(name, entry.get("leakage_guard")),
        "normalisation": normalisation,
        "tasks": pooled,
        "task_columns": (
            tasks.task_columns(pooled)
            if mixed or any(m["task_columns"] for m in members)
            else []
        ),
        "contradictions": _contradictions(name, entry, pooled),
    }


def _contradictions(
    name: str, entry: Mapping[str, Any], task_defs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The entry's own ``contradictions`` rules, resolved (``contradictions.py``)."""
    from quant_sentiment.contradictions import resolve_rules

    return resolve_rules(name, entry.get("contradictions"), task_defs)


def _part(name: str, entry: Mapping[str, Any], labels: list[str]) -> dict[str, Any]:
    files = entry.get("files")
    if not isinstance(files, Mapping) or not (
        set(files) == set(SPLITS) or set(files) == {"all"}
    ):
        raise DatasetConfigError(
            f"datasets.{name}.files must name the three split files (train, valid, "
            f"test) or one file (all) with a split rule, got {files!r}"
        )
    split = None
    if "all" in files:
        split = _split_rule(name, entry.get("split"))
    elif entry.get("split") is not None:
        raise DatasetConfigError(
            f"datasets.{name}.split applies to one file (files: {{all: ...}}); this "
            f"entry has three split files"
        )
    fetch = dict(entry.get("fetch") or {})
    return {
        "entry": name,
        "origin": str(entry.get("origin", name)),
        "files": {k: _file(str(v), fetch) for k, v in files.items()},
        "split": split,
        "reader": _reader(name, entry.get("reader") or {}),
        "text": _column(name, "text", entry.get("text")),
        "label": _label_rule(name, entry.get("label"), labels),
        "meta": {str(k): str(v) for k, v in (entry.get("meta") or {}).items()},
        "columns": [str(c) for c in entry.get("columns") or []],
    }


def _file(path: str, fetch: Mapping[str, Any]) -> dict[str, Any]:
    file_name = path.replace("\\", "/").rsplit("/", 1)[-1]
    url = fetch.get("source_url")
    return {
        "path": path,
        "mirror_dirs": [str(d) for d in fetch.get("mirror_dirs") or []],
        "source_url": url.replace("{file}", file_name) if url else None,
    }


def _split_rule(name: str, rule: Any) -> dict[str, Any]:
    where = f"datasets.{name}.split"
    if not isinstance(rule, Mapping):
        raise DatasetConfigError(
            f"{where} is needed for a one-file source: train, valid and test ratios "
            f"(summing to 1) and a seed, e.g. {{train: 0.8, valid: 0.1, test: 0.1, "
            f"seed: 42}}"
        )
    try:
        ratios = {s: float(rule[s]) for s in SPLITS}
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetConfigError(
            f"{where} needs numeric train, valid and test ratios, got {dict(rule)}"
        ) from exc
    if (
        any(r <= 0 for r in ratios.values())
        or abs(sum(ratios.values()) - 1) > _RATIO_TOLERANCE
    ):
        raise DatasetConfigError(
            f"{where}: the ratios train={ratios['train']}, valid={ratios['valid']}, "
            f"test={ratios['test']} must be positive and sum to 1 (they sum to "
            f"{sum(ratios.values()):g})"
        )
    return {**ratios, "seed": int(rule.get("seed", 42)), "stratify": True}


def _reader(name: str, reader: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(reader) - set(_READER_DEFAULTS))
    if unknown:
        raise DatasetConfigError(
            f"datasets.{name}.reader: unknown setting(s) {unknown}; allowed: "
            f"{sorted(_READER_DEFAULTS)}"
        )
    out = {**_READER_DEFAULTS, **reader}
    out["separator"] = _SEPARATOR_NAMES.get(out["separator"], out["separator"])
    for key in ("quoted", "header"):
        if not isinstance(out[key], bool):
            raise DatasetConfigError(
                f"datasets.{name}.reader.{key} must be true or false, got {out[key]!r}"
            )
    return out


def _column(name: str, key: str, value: Any) -> str | int:
    if isinstance(value, bool) or value is None or value == "":
        raise DatasetConfigError(
            f"datasets.{name}.{key} must be a header name or a 0-based column "
            f"index, got {value!r}"
        )
    if isinstance(value, int):
        if value < 0:
            raise DatasetConfigError(f"datasets.{name}.{key} must be >= 0, got {value}")
        return value
    return str(value)


def _label_rule(name: str, rule: Any, labels: list[str]) -> dict[str, Any]:
    where = f"datasets.{name}.label"
    if not isinstance(rule, Mapping) or ("column" in rule) == ("one_hot" in rule):
        raise DatasetConfigError(
            f"{where} must be {{column: <name or index>}} (optionally with map: "
            f"{{raw value: label}}) or {{one_hot: {{label: column}}, otherwise: "
            f"label}} (optionally gate: column), got {rule!r}"
        )
    if "column" in rule:
        mapping = {str(k): str(v) for k, v in (rule.get("map") or {}).items()}
        bad = sorted(set(mapping.values()) - set(labels))
        if bad:
            raise DatasetConfigError(
                f"{where}.map maps to {bad}, which are not in datasets.{name}.labels "
                f"{labels}"
            )
        return {"column": _column(name, "label.column", rule["column"]), "map": mapping}
    one_hot = {str(k): str(v) for k, v in (rule["one_hot"] or {}).items()}
    otherwise = rule.get("otherwise")
    named = [*one_hot, *([str(otherwise)] if otherwise is not None else [])]
    if sorted(named) != sorted(labels):
        raise DatasetConfigError(
            f"{where}: one_hot labels {sorted(one_hot)} plus otherwise "
            f"{otherwise!r} must be exactly datasets.{name}.labels {labels}"
        )
    gate = rule.get("gate")
    return {
        "one_hot": one_hot,
        "otherwise": None if otherwise is None else str(otherwise),
        "gate": None if gate is None else str(gate),
    }


def _guard(name: str, guard: Any) -> dict[str, Any] | None:
    if not guard:
        return None
    if not isinstance(guard, Mapping):
        raise DatasetConfigError(
            f"datasets.{name}.leakage_guard must be a mapping, got {guard!r}"
        )
    unknown = sorted(set(guard) - set(_GUARD_DEFAULTS))
    if unknown:
        raise DatasetConfigError(
            f"datasets.{name}.leakage_guard: unknown setting(s) {unknown}; allowed: "
            f"{sorted(_GUARD_DEFAULTS)}"
        )
    out = {**copy.deepcopy(_GUARD_DEFAULTS), **guard}
    if not 0 < float(out["threshold"]) <= 1:
        raise DatasetConfigError(
            f"datasets.{name}.leakage_guard.threshold must be in (0, 1], got "
            f"{out['threshold']!r}"
        )
    out["against"] = [str(a) for a in out["against"] or []]
    return out


# ------------------------------------------------------------------ own files
_OWN_READER = {
    "encoding": "encoding",
    "separator": "separator",
    "quoted": "quoted",
    "header": "header",
}


def own_files(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``files`` entry from the ``data.*`` runtime parameters.

    ``data.raw_dir`` (folder), ``data.raw_suffix`` (default ``.tsv``; the files are
    ``train<suffix>``, ``valid<suffix>``, ``test<suffix>``), ``data.train_file`` /
    ``valid_file`` / ``test_file`` (a split's file name inside the folder),
    ``data.labels`` (label names in id order, separated by spaces), the reader
    (``data.encoding``, ``separator``, ``quoted``, ``header``) and the columns
    (``data.text_column``, ``data.label_column``; default 0 and 1).

    Raises:
        DatasetConfigError: If ``data.raw_dir`` or ``data.labels`` is missing.
    """
    if not data.get("raw_dir"):
        raise DatasetConfigError(
            "--params dataset=files needs data.raw_dir (the folder of train, valid "
            "and test files) and data.labels (label names in id order, e.g. "
            "'data.labels=negative neutral positive'); see docs/preprocessing.md, "
            '"Your own files"'
        )
    labels = str(data.get("labels") or "").split()
    if len(labels) < 2 or len(set(labels)) != len(labels):  # noqa: PLR2004
        raise DatasetConfigError(
            "data.labels must name at least two distinct labels in id order, "
            f"separated by spaces (e.g. 'negative neutral positive'), got "
            f"{data.get('labels')!r}"
        )
    folder = str(data["raw_dir"]).rstrip("/")
    suffix = str(data.get("raw_suffix", ".tsv"))
    files = {s: f"{folder}/{data.get(f'{s}_file') or s + suffix}" for s in SPLITS}
    return {
        "task": "classification",
        "labels": labels,
        "files": files,
        "reader": {k: data[v] for k, v in _OWN_READER.items() if v in data},
        "text": data.get("text_column", 0),
        "label": {"column": data.get("label_column", 1)},
    }


# ------------------------------------------------------------------ rows
def label_of(values: Mapping[str, str], rule: Mapping[str, Any]) -> tuple[str, str]:
    """A row's label under a ``label`` rule: ``(label, "")`` or ``("", problem)``.

    Args:
        values: The row's fields by column key (the rule's column names or indices
            as strings), stripped.
        rule: The resolved ``label`` rule.
    """
    if "column" in rule:
        raw = values[str(rule["column"])]
        return rule["map"].get(raw, raw) if rule["map"] else raw, ""
    return _one_hot_label(values, rule)


def _one_hot_label(
    values: Mapping[str, str], rule: Mapping[str, Any]
) -> tuple[str, str]:
    flags = {label: _flag(values[column]) for label, column in rule["one_hot"].items()}
    gate = rule["gate"]
    gate_on = None if gate is None else _flag(values[gate])
    bad = [c for label, c in rule["one_hot"].items() if flags[label] is None]
    if gate is not None and gate_on is None:
        bad.append(gate)
    if bad:
        return "", f"column(s) {', '.join(bad)} not 0 or 1"
    chosen = [label for label, on in flags.items() if on]
    if gate is not None and not gate_on:
        problem = f"{gate} is 0 but {', '.join(_cols(rule, chosen))} set"
        return ("", problem) if chosen else (rule["otherwise"], "")
    if len(chosen) == 1:
        return chosen[0], ""
    if chosen:
        return "", f"several label columns set ({', '.join(_cols(rule, chosen))})"
    if gate is None and rule["otherwise"] is not None:
        return rule["otherwise"], ""
    where = f"{gate} is 1 but " if gate is not None else ""
    return "", f"{where}none of {', '.join(rule['one_hot'].values())} is set"


def _flag(value: str) -> bool | None:
    return {"0": False, "1": True}.get(value.strip())


def _cols(rule: Mapping[str, Any], labels: Sequence[str]) -> list[str]:
    return [rule["one_hot"][label] for label in labels]


def label_columns(rule: Mapping[str, Any]) -> list[str | int]:
    """The file columns a ``label`` rule reads."""
    if "column" in rule:
        return [rule["column"]]
    return [*rule["one_hot"].values(), *([rule["gate"]] if rule["gate"] else [])]


def assign_splits(
    labels: Sequence[str], rule: Mapping[str, Any], where: str
) -> list[str]:
    """Split rows of one file into train / valid / test, stratified by label.

    Seeded and deterministic (the same rows in the same order give the same split):
    scikit-learn's ``train_test_split`` takes the test rows, then the valid rows
    from the rest, each stratified by label.

    Args:
        labels: Each row's label, in file order.
        rule: The resolved ``split`` rule (``train``, ``valid``, ``test``, ``seed``).
        where: The setting's name for messages (``datasets.<entry>.split``).

    Returns:
        Each row's split name.

    Raises:
        DatasetConfigError: If a class has too few rows to be in every split.
    """
    from collections import Counter

    from sklearn.model_selection import train_test_split

    counts = Counter(labels)
    rare = {label: n for label, n in counts.items() if n < 3}  # noqa: PLR2004
    if rare:
        raise DatasetConfigError(
            f"{where}: class(es) {rare} have fewer than 3 rows, too few to stratify "
            f"into train, valid and test; add rows, or drop the class from the labels"
        )
    index = list(range(len(labels)))
    seed = int(rule["seed"])
    try:
        rest, test = train_test_split(
            index, test_size=rule["test"], random_state=seed, stratify=list(labels)
        )
        rest_labels = [labels[i] for i in rest]
        train, valid = train_test_split(
            rest,
            test_size=rule["valid"] / (rule["train"] + rule["valid"]),
            random_state=seed,
            stratify=rest_labels,
        )
    except ValueError as exc:
        raise DatasetConfigError(
            f"{where}: the split cannot be stratified ({exc}); class sizes "
            f"{dict(counts)}, ratios train={rule['train']}, valid={rule['valid']}, "
            f"test={rule['test']}"
        ) from exc
    out = [""] * len(labels)
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        for i in rows:
            out[i] = name
    return out
