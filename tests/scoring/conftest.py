"""A tiny model folder with the normalisation in its manifest, and small input files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import base_normalisation
from tests.scoring.multitask_folder import (  # noqa: F401 - fixtures
    multitask_folder,
    multitask_predictor,
)


@pytest.fixture(scope="session")
def model_folder(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny BERT saved as ``finetune`` saves it (versioned folder + manifest)."""
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset
    from quant_sentiment.modeling import ModelBundle

    root = tmp_path_factory.mktemp("scoring") / "finetuned_model"
    metadata = {
        **tiny_bundle.metadata,
        "variant": "fp32",
        "max_length": 64,
        "normalisation": base_normalisation(),
    }
    bundle = ModelBundle(tiny_bundle.model, tiny_bundle.tokenizer, metadata)
    HFModelFolderDataset(str(root), version=Version(None, None)).save(bundle)
    return next(root.glob("*/finetuned_model"))


@pytest.fixture(scope="session")
def predictor(model_folder):
    from quant_sentiment.scoring.model import Predictor

    return Predictor(model_folder)
