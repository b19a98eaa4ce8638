"""A tiny multi-task model folder (two single_label heads + one multi_label head),
saved as ``finetune`` saves one, for the predict / serve / explain tests.

``tests/scoring/conftest.py`` and ``tests/pipelines/explain/conftest.py`` import
the fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import base_normalisation
from tests.test_multitask import TASKS

#: The multi_label head's bias: "tidak" far over 0.5, the others far under, so the
#: head's predicted set is known whatever the (untrained) encoder says.
WORDS_BIAS = (6.0, -6.0, -6.0)


def multitask_model(tiny_bundle):
    """The tiny BERT's encoder with one (untrained) head per task of ``TASKS``."""
    import torch

    from quant_sentiment.multitask import MultiTaskModel

    torch.manual_seed(0)
    model = MultiTaskModel.from_encoder(tiny_bundle.model.bert, TASKS).eval()
    with torch.no_grad():
        model.heads["words"].weight.mul_(0.01)
        model.heads["words"].bias.copy_(torch.tensor(WORDS_BIAS))
    model.config.id2label = dict(enumerate(TASKS[0]["labels"]))
    return model


@pytest.fixture(scope="session")
def multitask_folder(tiny_bundle, tmp_path_factory) -> Path:
    """``<models_dir>/finetuned_model/<version>/finetuned_model`` (``hf_multitask``)."""
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset
    from quant_sentiment.modeling import ModelBundle

    root = tmp_path_factory.mktemp("multitask") / "finetuned_model"
    metadata = {
        "model_source": "scratch",
        "variant": "fp32",
        "max_length": 64,
        "normalisation": base_normalisation(),
    }
    bundle = ModelBundle(multitask_model(tiny_bundle), tiny_bundle.tokenizer, metadata)
    HFModelFolderDataset(str(root), version=Version(None, None)).save(bundle)
    return next(root.glob("*/finetuned_model"))


@pytest.fixture(scope="session")
def multitask_predictor(multitask_folder):
    from quant_sentiment.scoring.model import Predictor

    return Predictor(multitask_folder)
