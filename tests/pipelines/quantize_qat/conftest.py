"""Fixtures of the ``quantize_qat`` tests: the offline configuration, one tiny QAT
epoch's parameters and the model settings."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from quant_sentiment.config import ProjectConfigLoader
from quant_sentiment.settings import CONFIG_LOADER_ARGS
from quant_sentiment.variants import produced_by

PROJECT_ROOT = Path(__file__).resolve().parents[3]
VARIANTS = [v.name for v in produced_by("quantize_qat")]


@pytest.fixture(scope="module")
def config() -> ProjectConfigLoader:
    return ProjectConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": "offline"},
    )


@pytest.fixture()
def qat_params(config, tmp_path) -> dict:
    """One tiny epoch, distillation on, checkpoints in tmp_path."""
    params = copy.deepcopy(config["parameters"]["quantize_qat"])
    params["training_args"].update(
        num_train_epochs=1,
        learning_rate=1e-3,
        per_device_train_batch_size=32,
        disable_tqdm=True,
        # random batches, as the tests were written for (conf/offline groups by
        # length for the quick look; on the tiny model that leaves near-tied logits)
        train_sampling_strategy="random",
    )
    params["checkpoint_dir"] = str(tmp_path / "ckpt")
    for variant in VARIANTS:
        params["variants"][variant]["block_size"] = 16  # tiny hidden size 32
    return params


@pytest.fixture(scope="module")
def model_settings() -> dict:
    return {"max_length": 64, "threads": 1}
