"""A text's label and probabilities do not depend on its batchmates or their padding.

Every CPU variant buildable from the tiny fixtures is written by its own producer's
writer, opened with ``load_classifier`` (as ``evaluate``, ``predict`` and ``serve``
open it), and scores the same texts alone (batch 1, no padding) and in mixed batches:
all texts in one batch padded to the longest, length-sorted batches of 5, and a
shuffled order. Labels must be identical and probabilities within :data:`TOLERANCE`.

The model is the tiny BERT with a responsive head (its untrained head answers near
uniformly) and an *outlier feature on the padding token*: after the embedding
LayerNorm, ``[PAD]`` positions carry a value ~30x larger than any real token's.
Float, weight-only and static-scale routes mask padding and are unaffected; ONNX
Runtime's dynamic INT8 takes one activation scale per tensor, over the whole padded
batch, so run batched it rounds every real token of a padded batch on a coarse grid
and labels change (they did on main before per-text execution).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from quant_sentiment.formats import load_classifier, onnx
from quant_sentiment.manifest import read_manifest, write_manifest
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant
from tests.conftest import LABEL_MAP, PROJECT_ROOT, base_normalisation

PTQ = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
)["quantize_ptq"]
MIXED = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_quantize_mixed.yml").read_text()
)["quantize_mixed"]
MODEL = {"label_map": LABEL_MAP, "max_length": 64, "threads": 1}
#: Largest |difference| of a class probability between a text scored alone and in a
#: batch. Float routes differ by ~1e-6 (summation order); BF16 by its 8-bit mantissa.
TOLERANCE = {"bf16": 2e-2}
DEFAULT_TOLERANCE = 1e-4
#: The CPU variants of quantize_ptq built here (bf16 without torch.compile, whose
#: first call per shape compiles for seconds; int8_torchao forced onto the CPU).
PTQ_VARIANTS = (
    "bf16",
    "fp32_ort",
    "int8_ort",
    "int4",
    "int8_torchao",
    "quanto_int8",
    "quanto_int4",
    "ov_int8",
    "ov_int4",
)
N_TEXTS = 48


#: The FFN unit of layer 0 that fires only on padding positions.
PAD_UNIT = 5


@pytest.fixture(scope="module")
def outlier_bundle(tiny_bundle, sample_splits):
    """The tiny model, responsive, with a padding-only outlier in layer 0's FFN.

    Feature 0 of the embeddings is 0 for every token but ``[PAD]`` (0.5): after the
    embedding LayerNorm, padding positions carry feature 0 at ~5, real tokens below
    1. FFN unit :data:`PAD_UNIT` of layer 0 reads it (``GELU(1000 x0 - 2000)``:
    ~3,000 on padding, 0 on real tokens) and the output projection ignores the unit, so in
    float the outlier changes nothing a real token sees. The head is scaled up and
    its bias centred on the training texts' mean logits, so labels vary by text.
    """
    import torch

    from quant_sentiment.inference import predict_logits

    model = copy.deepcopy(tiny_bundle.model).eval()
    emb, layer = model.bert.embeddings, model.bert.encoder.layer[0]
    pad = int(tiny_bundle.tokenizer.pad_token_id)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for table in (emb.word_embeddings, emb.position_embeddings):
            table.weight[:, 0] = 0.0
        emb.token_type_embeddings.weight[:, 0] = 0.0
        emb.word_embeddings.weight[pad, 0] = 0.5
        layer.intermediate.dense.weight[PAD_UNIT] = 0.0
        layer.intermediate.dense.weight[PAD_UNIT, 0] = 1000.0
        layer.intermediate.dense.bias[PAD_UNIT] = -2000.0
        layer.output.dense.weight[:, PAD_UNIT] = 0.0
        model.bert.pooler.dense.weight.copy_(torch.randn(32, 32, generator=gen) * 0.3)
        model.classifier.weight.copy_(torch.randn(3, 32, generator=gen) * 2.0)
        train = sample_splits["train"]["text"].astype(str).tolist()
        logits = predict_logits(
            model, tiny_bundle.tokenizer, train, max_length=64, show_progress=False
        )
        model.classifier.bias -= torch.from_numpy(logits.mean(0))
    metadata = {
        **tiny_bundle.metadata,
        "max_length": MODEL["max_length"],
        "normalisation": base_normalisation(),
    }
    return ModelBundle(model, tiny_bundle.tokenizer, metadata)


@pytest.fixture(scope="module")
def texts(sample_splits) -> list[str]:
    frame = sample_splits["test"].sample(N_TEXTS, random_state=0)
    return frame["text"].astype(str).tolist()


def _build(bundle, variant: str, train, folder):
    options = {**PTQ["variants"][variant], "on_cpu": True}
    if variant == "bf16":
        options["torch_compile"] = False
    if "calibration" in options:  # ov_int8: a smaller sample, same seed
        options["calibration"] = {**options["calibration"], "n_texts": 60}
    params = {**PTQ, "variants": {**PTQ["variants"], variant: options}}
    staged = quantize_variant(bundle, params, MODEL, variant, calibration=train)
    staged.save(folder)
    return folder


def _build_mixed(bundle, folder):
    """A mixed INT4/INT8 graph as ``quantize_mixed`` writes it (two encoder groups
    INT8, the rest INT4)."""
    tokenizer = copy.deepcopy(bundle.tokenizer)
    tokenizer.model_max_length = MODEL["max_length"]
    options = MIXED["export"] | {"int4": MIXED["int4"], "int8": MIXED["int8"]}
    graph = onnx.export_fp32_graph(bundle.model, tokenizer, options)
    int8 = ["layer.0.ffn_out", "layer.1.query"]  # the first reads the padding unit
    fields = onnx.write_mixed(bundle.model, tokenizer, folder, graph, int8, options)
    write_manifest(
        folder, {**fields, "max_length": MODEL["max_length"], "status": "ok"}
    )
    return folder


@pytest.fixture(scope="module")
def variant_folders(outlier_bundle, sample_splits, tmp_path_factory) -> dict:
    """Every CPU variant of the outlier model, as saved folders."""
    from quant_sentiment.datasets import HFModelFolderDataset

    root = tmp_path_factory.mktemp("invariance")
    fp32 = HFModelFolderDataset(str(root / "fp32"))
    fp32.save(outlier_bundle)
    folders = {"fp32": root / "fp32"}
    train = sample_splits["train"]
    for variant in PTQ_VARIANTS:
        folder = root / variant
        folder.mkdir()
        folders[variant] = _build(outlier_bundle, variant, train, folder)
    (root / "mixed").mkdir()
    folders["mixed"] = _build_mixed(outlier_bundle, root / "mixed")
    return folders


def _probs(logits: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    return softmax(logits.astype(np.float64), axis=1)


def _alone_and_batched(clf, texts: list[str]) -> tuple[np.ndarray, dict]:
    alone = np.concatenate([clf.predict_logits([t], batch_size=1) for t in texts])
    order = np.random.default_rng(0).permutation(len(texts))
    shuffled = clf.predict_logits([texts[i] for i in order], batch_size=7)
    batched = {
        "one padded batch": clf.predict_logits(texts, batch_size=len(texts)),
        "batches of 5": clf.predict_logits(texts, batch_size=5),
        "shuffled, batches of 7": shuffled[np.argsort(order)],
    }
    return alone, batched


VARIANTS = ("fp32", *PTQ_VARIANTS, "mixed")


@pytest.mark.parametrize("variant", VARIANTS)
def test_scores_do_not_depend_on_batchmates(variant, variant_folders, texts):
    folder = variant_folders[variant]
    manifest = read_manifest(folder)
    if manifest["status"] != "ok":
        pytest.skip(f"{variant} not built here: {manifest.get('reason')}")
    clf = load_classifier(folder, threads=1)
    alone, batched = _alone_and_batched(clf, texts)
    tolerance = TOLERANCE.get(variant, DEFAULT_TOLERANCE)
    for how, logits in batched.items():
        changed = np.flatnonzero(logits.argmax(1) != alone.argmax(1))
        assert changed.size == 0, (
            f"{variant}, {how}: labels of texts {changed.tolist()} change with the batch"
        )
        diff = float(np.abs(_probs(logits) - _probs(alone)).max())
        assert diff <= tolerance, (
            f"{variant}, {how}: probabilities differ by {diff:.2e}"
        )


def test_dynamic_int8_graph_runs_per_text_and_others_batched(variant_folders):
    modes = {
        name: load_classifier(folder, threads=1).mode
        for name, folder in variant_folders.items()
        if name in {"fp32_ort", "int8_ort", "int4", "mixed"}
    }
    assert modes == {
        "fp32_ort": onnx.BATCHED,
        "int8_ort": onnx.PER_TEXT,
        "int4": onnx.BATCHED,
        "mixed": onnx.PER_TEXT,
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_manifest_says_how_the_variant_is_batch_invariant(variant, variant_folders):
    manifest = read_manifest(variant_folders[variant])
    expected = "per_text" if variant in {"int8_ort", "mixed"} else "batched"
    assert manifest["batch_invariance"].startswith(expected + ":")


def test_the_outlier_model_exposes_batched_dynamic_int8(variant_folders, texts):
    """The fixture is strong enough: the same INT8 graph run *batched* (what every
    caller got before) moves probabilities far beyond the tolerance, so the
    invariance test above can fail. (Labels do not flip here: the tiny model's INT8
    answers sit far from a tie; on the real model they did, 3 of 180 texts.)"""
    clf = load_classifier(variant_folders["int8_ort"], threads=1)
    clf.mode = onnx.BATCHED
    alone, batched = _alone_and_batched(clf, texts)
    for logits in batched.values():
        diff = np.abs(_probs(logits) - _probs(alone)).max()
        assert diff > 100 * DEFAULT_TOLERANCE


def test_mode_is_checked():
    with pytest.raises(ValueError, match="mode must be"):
        onnx.OnnxClassifier(b"", None, {}, 8, mode="sometimes")


@pytest.mark.parametrize("variant", ["int8_ort", "ov_int8"])
def test_evaluate_scores_as_predict_and_serve_answer(variant, variant_folders, texts):
    """``evaluate`` predicts the test split in batches of 64; ``predict`` and
    ``serve`` answer one request (here: one text) at a time. Same probabilities."""
    import pandas as pd

    from quant_sentiment.pipelines.evaluate.quality import predict_test_split
    from quant_sentiment.scoring.model import Predictor
    from quant_sentiment.variants import VariantHandle

    folder = variant_folders[variant]
    handle = VariantHandle(folder, read_manifest(folder))
    test = pd.DataFrame({"text": texts, "label": "neutral", "label_id": 1})
    scored = predict_test_split(handle, test, MODEL, {"batch_size": 64})
    predictor = Predictor(folder)
    served = np.concatenate([predictor.probabilities([t]) for t in texts])
    columns = [f"prob_{label}" for label in predictor.labels]
    np.testing.assert_allclose(scored[columns].to_numpy(), served, atol=2e-6)
    assert (scored["pred_id"].to_numpy() == served.argmax(1)).all()
