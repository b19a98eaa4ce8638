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


def base_parameters(pipeline: str, *keys: str, **overrides: Any) -> dict[str, Any]:
    """A copy of ``params:<pipeline>[.<key>...]`` with top-level ``overrides``."""
    value = _load(pipeline)
    for key in keys:
        value = value[key]
    return {**copy.deepcopy(value), **overrides}
