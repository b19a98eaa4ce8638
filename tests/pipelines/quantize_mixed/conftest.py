"""Fixtures of the ``quantize_mixed`` tests: its parameters, the tiny model's FP32
ONNX graph, and a tiny model with one deliberately fragile group."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
MODEL = {
    "label_map": {"positive": 0, "neutral": 1, "negative": 2},
    "max_length": 64,
    "threads": 1,
}
#: The group the fragile fixture breaks for 4 bits.
FRAGILE = "layer.1.ffn_out"


@pytest.fixture(scope="session")
def mixed_params() -> dict:
    path = PROJECT_ROOT / "conf/base/parameters_quantize_mixed.yml"
    return yaml.safe_load(path.read_text())["quantize_mixed"]


def _int4_exact(shape: tuple[int, int], step: float, gen):
    """Weights that symmetric 4-bit blocks of 32 hold exactly: integers in [-7, 7]
    times ``step``, each block's largest magnitude 8 ``step`` (ORT's scale is the
    block's largest-magnitude value / -8)."""
    import torch

    weight = torch.randint(-7, 8, shape, generator=gen).float()
    signs = torch.sign(torch.randn(shape[0], shape[1] // 32, generator=gen))
    weight[:, ::32] = 8 * signs
    return weight * step


@pytest.fixture(scope="session")
def responsive_bundle(tiny_bundle):
    """The tiny model with a larger pooler and head, so that its class probabilities
    react to what happens in the encoder (the untrained head is near uniform); the
    head's weights are exact in 4 bits, so they do not blur the ranking."""
    import torch

    from quant_sentiment.modeling import ModelBundle

    model = copy.deepcopy(tiny_bundle.model).eval()
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        model.bert.pooler.dense.weight.copy_(_int4_exact((32, 32), 0.06, gen))
        model.classifier.weight.copy_(_int4_exact((3, 32), 0.3, gen))
    return ModelBundle(model, tiny_bundle.tokenizer, dict(tiny_bundle.metadata))


@pytest.fixture(scope="session")
def fragile_bundle(responsive_bundle):
    """:func:`responsive_bundle` whose ``layer.1.ffn_out`` 4-bit rounding destroys.

    Units 0 and 32 of the layer's FFN never fire (bias -100: GELU gives 0), so their
    FFN-out weights can be 40 without changing the FP32 model. The other units fire
    (bias +1) and their weights are scaled up 30x (std 0.6), so the FFN output
    dominates the residual stream. In every 4-bit block of 32 input weights the
    outlier sets the scale to 40/8 = 5, which rounds all the other weights to zero;
    8-bit per-channel (scale 40/127) keeps them.
    """
    import torch

    from quant_sentiment.modeling import ModelBundle

    model = copy.deepcopy(responsive_bundle.model).eval()
    layer = model.bert.encoder.layer[1]
    dead = list(range(0, layer.intermediate.dense.out_features, 32))
    with torch.no_grad():
        layer.intermediate.dense.bias.add_(1.0)
        layer.intermediate.dense.bias[dead] = -100.0
        layer.output.dense.weight.mul_(30.0)
        layer.output.dense.weight[:, dead] = 40.0
    return ModelBundle(model, responsive_bundle.tokenizer, {})


@pytest.fixture(scope="session")
def tiny_graph(responsive_bundle, mixed_params):
    from quant_sentiment.pipelines.quantize_mixed.sensitivity import export_graph

    return export_graph(responsive_bundle, mixed_params)
