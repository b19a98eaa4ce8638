"""The base parameters as the project ships them (``conf/base/parameters_*.yml``).

Nodes read every setting from their parameters, with no defaults in code, so tests
start from the shipped values and override single keys.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import yaml

from tests.conftest import PROJECT_ROOT


@cache
def _load(pipeline: str) -> dict[str, Any]:
    path = PROJECT_ROOT / "conf" / "base" / f"parameters_{pipeline}.yml"
    return yaml.safe_load(path.read_text())[pipeline]


#: The sample corpus's layout (its registry entry): headerless ``text<TAB>label``.
SAMPLE_LAYOUT = {
    "encoding": "utf-8",
    "separator": "\t",
    "quoted": False,
    "header": False,
    "text_column": 0,
    "label_column": 1,
}


def base_parameters(pipeline: str, *keys: str, **overrides: Any) -> dict[str, Any]:
    """A copy of ``params:<pipeline>[.<key>...]`` with top-level ``overrides``.

    ``("preprocessing", "validation")`` is the settings of ``validate_rows`` for one
    file: the shipped policy plus the sample corpus's layout (which the dataset
    registry holds), so that tests override single layout keys as before.
    """
    value = _load(pipeline)
    for key in keys:
        value = value[key]
    if (pipeline, keys) == ("preprocessing", ("validation",)):
        value = {**SAMPLE_LAYOUT, **value}
    return {**copy.deepcopy(value), **overrides}


def own_files_spec(raw_dir, suffix: str = ".tsv", **data: Any) -> dict[str, Any]:
    """The resolved ``files`` registry entry for ``raw_dir`` (sample layout and
    labels unless ``data`` says otherwise)."""
    from quant_sentiment.corpora import resolve

    params = {
        "raw_dir": str(raw_dir),
        "raw_suffix": suffix,
        "labels": "positive neutral negative",
        **data,
    }
    return resolve("files", {}, {"data": params})


def preprocessing_inputs(catalog, spec: dict[str, Any], **validation: Any) -> None:
    """Put the raw split datasets of ``spec`` and every parameter the preprocessing
    pipeline reads into ``catalog`` (shipped values, ``validation`` overrides)."""
    from quant_sentiment.datasets import SourceLinesDataset
    from quant_sentiment.datasets.guard_references import GuardReferencesDataset

    for split in ("train", "valid", "test"):
        catalog[f"raw_{split}"] = SourceLinesDataset(spec["parts"], split)
    guard = spec.get("leakage_guard") or {}
    catalog["guard_reference_lines"] = GuardReferencesDataset(guard.get("references"))
    catalog["params:model.label_map"] = {
        label: i for i, label in enumerate(spec["labels"])
    }
    catalog["params:dataset_spec"] = spec
    policy = {k: v for k, v in _load("preprocessing")["validation"].items()}
    catalog["params:preprocessing.validation"] = {**policy, **validation}
    for key in ("normalisation", "deduplicate", "subsample"):
        catalog[f"params:preprocessing.{key}"] = base_parameters("preprocessing", key)
