"""Parameters of the finetune tests: the base YAML with the tiny-model overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import LABEL_MAP, PROJECT_ROOT, tiny_finetune_params


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` merged into a copy of ``base``, nested dicts key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def base_finetune_params() -> dict:
    """``finetune`` exactly as in conf/base/parameters_finetune.yml."""
    path = PROJECT_ROOT / "conf" / "base" / "parameters_finetune.yml"
    return yaml.safe_load(path.read_text())["finetune"]


def finetune_params(checkpoint_dir: Path, training_args=None, **overrides) -> dict:
    """The full ``finetune`` block (every key from the YAML) for the tiny model."""
    tiny = tiny_finetune_params(training_args, **overrides)["finetune"]
    return deep_merge(
        base_finetune_params(), {**tiny, "checkpoint_dir": str(checkpoint_dir)}
    )


@pytest.fixture(scope="session")
def model_params() -> dict:
    """``params:model`` of the tests: the label map, 64 tokens, one thread."""
    return {"label_map": dict(LABEL_MAP), **tiny_finetune_params()["model"]}


@pytest.fixture(scope="module")
def small_splits(sample_splits):
    return sample_splits["train"].head(96), sample_splits["valid"].head(30)
