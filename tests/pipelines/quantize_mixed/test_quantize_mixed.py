"""Tests of ``quantize_mixed``: group mapping, sensitivity ranking, mixed graphs,
invalid k / budget."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.formats import onnx
from quant_sentiment.manifest import write_manifest
from quant_sentiment.pipelines.quantize_mixed.nodes import (
    build_mixed_variant,
    check_budget,
    check_k,
    choose_by_budget,
)
from quant_sentiment.pipelines.quantize_mixed.sensitivity import (
    group_sensitivity,
    predict_fp32_valid,
    ranking,
)
from quant_sentiment.variants import load_classifier

from .conftest import FRAGILE, MODEL

TINY_GROUPS = [
    "embeddings.word",
    "embeddings.token_type",
    "embeddings.position",
    *(
        f"layer.{i}.{part}"
        for i in range(2)
        for part in (
            "query",
            "key",
            "value",
            "attention_output",
            "ffn_in",
            "ffn_out",
        )
    ),
    "pooler",
    "classifier",
]


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("/bert/embeddings/word_embeddings/Gather", "embeddings.word"),
        ("/inner/bert/embeddings/position_embeddings/Gather", "embeddings.position"),
        ("/bert/embeddings/token_type_embeddings/Gather_Q4", "embeddings.token_type"),
        ("/bert/encoder/layer.0/attention/self/query/MatMul", "layer.0.query"),
        ("/bert/encoder/layer.11/attention/self/key/MatMul_Q4", "layer.11.key"),
        ("/bert/encoder/layer.2/attention/self/value/MatMul", "layer.2.value"),
        (
            "/bert/encoder/layer.5/attention/output/dense/MatMul_quant",
            "layer.5.attention_output",
        ),
        ("/bert/encoder/layer.3/intermediate/dense/MatMul", "layer.3.ffn_in"),
        ("/bert/encoder/layer.3/output/dense/MatMul", "layer.3.ffn_out"),
        ("/bert/pooler/dense/MatMul", "pooler"),
        ("/inner/classifier/MatMul_Q4", "classifier"),
        # no weights of their own: attention scores, LayerNorm, CLS selection
        ("/bert/encoder/layer.0/attention/self/MatMul_1", None),
        ("/bert/encoder/layer.0/attention/output/LayerNorm/LayerNormalization", None),
        ("/bert/encoder/layer.0/output/LayerNorm/LayerNormalization", None),
        ("/bert/pooler/Gather", None),
        ("/bert/embeddings/Gather", None),
    ],
)
def test_node_group_maps_exporter_names(name, group):
    assert onnx.node_group(name) == group


def test_export_finds_every_group_and_keeps_the_logits(tiny_graph, responsive_bundle):
    import onnx as onnx_lib
    import torch

    assert list(tiny_graph.groups) == TINY_GROUPS
    assert tiny_graph.group_params["classifier"] == 3 * 32
    assert tiny_graph.group_params["layer.1.ffn_in"] == 32 * 64
    proto = onnx_lib.load_from_string(tiny_graph.model)
    assert "Gemm" not in {n.op_type for n in proto.graph.node}
    texts = ["film ini bagus sekali", "pelayanan buruk dan lambat , kecewa"]
    got = onnx.OnnxClassifier(
        tiny_graph.model, responsive_bundle.tokenizer, {0: "a", 1: "b", 2: "c"}, 64
    ).predict_logits(texts)
    enc = responsive_bundle.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        want = responsive_bundle.model(**enc).logits.numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def _sensitivity(bundle, params, valid):
    from quant_sentiment.pipelines.quantize_mixed.sensitivity import export_graph

    graph = export_graph(bundle, params)
    reference = predict_fp32_valid(graph, bundle, valid, params, MODEL)
    return group_sensitivity(graph, bundle, valid, reference, params, MODEL)


def test_sensitivity_ranks_the_fragile_group_first(
    fragile_bundle, responsive_bundle, mixed_params, sample_splits
):
    valid = sample_splits["valid"]
    table = _sensitivity(fragile_bundle, mixed_params, valid)
    assert table["rank"].tolist() == list(range(1, len(TINY_GROUPS) + 1))
    assert sorted(table["group"]) == sorted(TINY_GROUPS)
    assert ranking(table)[0] == FRAGILE
    by_group = table.set_index("group")
    kl = by_group["mean_kl"]
    assert kl[FRAGILE] > 100 * kl.drop(FRAGILE).max()
    flips = by_group.loc[FRAGILE, "flips"]
    assert flips > 0
    assert by_group.loc[FRAGILE, "flip_rate"] == flips / len(valid)
    # the head is exact in 4 bits: quantizing it alone changes nothing
    assert kl["classifier"] == pytest.approx(0, abs=1e-9)
    assert (table["n_valid"] == len(valid)).all()
    # Control: without the outliers the same group is harmless.
    control = _sensitivity(responsive_bundle, mixed_params, valid)
    assert ranking(control)[0] != FRAGILE
    assert control.set_index("group").loc[FRAGILE, "mean_kl"] < 1e-3 * kl[FRAGILE]


def test_mixed_graph_holds_int4_and_int8_on_the_intended_groups(
    tiny_graph, responsive_bundle, mixed_params, tmp_path, sample_splits
):
    import onnx as onnx_lib

    int8 = ["embeddings.word", "layer.0.query", "layer.1.ffn_out", "classifier"]
    int4 = [g for g in TINY_GROUPS if g not in int8]
    fields = onnx.write_mixed(
        responsive_bundle.model,
        responsive_bundle.tokenizer,
        tmp_path,
        tiny_graph,
        int8,
        mixed_params,
    )
    assert fields["groups"] == {"int8": int8, "int4": int4, "fp32": []}
    assert fields["bits"] == "4/8"
    proto = onnx_lib.load(str(tmp_path / onnx.WEIGHTS_FILE))
    by_op: dict[str, set] = {}
    for node in proto.graph.node:
        by_op.setdefault(node.op_type, set()).add(onnx.node_group(node.name))
    embeddings = {g for g in TINY_GROUPS if g.startswith("embeddings.")}
    assert by_op["MatMulNBits"] == set(int4) - embeddings
    assert by_op["GatherBlockQuantized"] == set(int4) & embeddings
    assert by_op["MatMulInteger"] == set(int8) - embeddings
    # the only float MatMuls left are the attention scores (no weights)
    assert by_op["MatMul"] == {None}
    write_manifest(tmp_path, {**fields, "status": "ok", "max_length": 64})
    logits = load_classifier(tmp_path).predict_logits(sample_splits["valid"]["text"])
    assert logits.shape == (len(sample_splits["valid"]), 3)


@pytest.mark.parametrize("k", [-1, 18, 2.5, True, "4", None])
def test_invalid_k_is_refused_by_name(k):
    with pytest.raises(ValueError, match=r"variants\.mixed_k8\.k must be an integer"):
        check_k(k, 17, "quantize_mixed.variants.mixed_k8.k")


def test_k_bounds_are_accepted():
    assert check_k(0, 17, "k") == 0
    assert check_k(17, 17, "k") == 17


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ({"max_f1_drop": None, "max_size_mb": None}, "set exactly one"),
        ({"max_f1_drop": 0.01, "max_size_mb": 10}, "set exactly one"),
        ({"max_f1_drop": -0.01, "max_size_mb": None}, r"budget\.max_f1_drop must"),
        ({"max_f1_drop": None, "max_size_mb": 0}, r"budget\.max_size_mb must"),
        ({"max_f1_drop": "1%", "max_size_mb": None}, r"budget\.max_f1_drop must"),
        ({"max_drop": 0.01}, "must be a mapping with keys"),
        (0.01, "must be a mapping with keys"),
    ],
)
def test_invalid_budget_is_refused_by_name(budget, message):
    with pytest.raises(ValueError, match=message) as info:
        check_budget(budget, "quantize_mixed.variants.mixed_budget.budget")
    assert "quantize_mixed.variants.mixed_budget.budget" in str(info.value)


CANDIDATES = pd.DataFrame(
    {
        "k": [0, 1, 2, 3],
        "size_bytes": [10e6, 11e6, 12e6, 13e6],
        "size_mb": [10.0, 11.0, 12.0, 13.0],
        "macro_f1": [0.70, 0.78, 0.80, 0.79],
        "delta_macro_f1": [-0.10, -0.02, 0.0, -0.01],
        "mean_kl": [0.5, 0.1, 0.05, 0.01],
    }
)


@pytest.mark.parametrize(
    ("kind", "limit", "k"),
    [
        ("max_f1_drop", 0.02, 1),  # smallest within 2 points
        ("max_f1_drop", 0.0, 2),
        ("max_f1_drop", 0.5, 0),
        ("max_size_mb", 11.5, 1),  # best F1 up to 11.5 MB
        ("max_size_mb", 100, 2),
        ("max_size_mb", 10, 0),
    ],
)
def test_budget_picks_the_candidate(kind, limit, k):
    assert choose_by_budget(CANDIDATES, kind, limit) == (k, "")


def test_budget_breaks_f1_ties_by_kl_then_size():
    tied = CANDIDATES.assign(macro_f1=0.8, delta_macro_f1=0.0)
    assert choose_by_budget(tied, "max_size_mb", 12.5) == (2, "")
    assert choose_by_budget(tied, "max_f1_drop", 0.0) == (0, "")


def test_budget_no_candidate_meets_says_why():
    k, reason = choose_by_budget(CANDIDATES, "max_size_mb", 9.0)
    assert k is None
    assert "max_size_mb = 9" in reason
    assert "10.00 MB" in reason


def test_variant_node_names_the_bad_setting(
    tiny_graph, responsive_bundle, mixed_params
):
    sensitivity = pd.DataFrame({"rank": range(1, 18), "group": TINY_GROUPS})
    params = {**mixed_params, "variants": {"mixed_k8": {"k": 40}}}
    with pytest.raises(ValueError, match=r"quantize_mixed\.variants\.mixed_k8\.k"):
        build_mixed_variant(
            tiny_graph,
            responsive_bundle,
            sensitivity,
            CANDIDATES,
            params,
            MODEL,
            "mixed_k8",
        )
    params = {**mixed_params, "variants": {"mixed_k8": {"k": 2, "budget": {}}}}
    with pytest.raises(ValueError, match="exactly one of 'k' or 'budget'"):
        build_mixed_variant(
            tiny_graph,
            responsive_bundle,
            sensitivity,
            CANDIDATES,
            params,
            MODEL,
            "mixed_k8",
        )


def test_unmet_budget_writes_a_skipped_manifest(
    tiny_graph, responsive_bundle, mixed_params
):
    from quant_sentiment.manifest import read_manifest

    sensitivity = pd.DataFrame({"rank": range(1, 18), "group": TINY_GROUPS})
    budget = {"max_f1_drop": None, "max_size_mb": 5}
    params = {**mixed_params, "variants": {"mixed_budget": {"budget": budget}}}
    staged = build_mixed_variant(
        tiny_graph,
        responsive_bundle,
        sensitivity,
        CANDIDATES,
        params,
        MODEL,
        "mixed_budget",
    )
    manifest = read_manifest(staged.folder)
    assert manifest["status"] == "skipped"
    assert manifest["reason"] == (
        "no candidate meets max_size_mb = 5 (smallest candidate 10.00 MB)"
    )
    assert manifest["selection"]["budget"] == {"max_size_mb": 5.0}
    assert sorted(p.name for p in staged.folder.iterdir()) == ["manifest.json"]


def test_validation_subset_is_stratified_seeded_and_ordered(
    mixed_params, sample_splits
):
    from quant_sentiment.pipelines.quantize_mixed.sensitivity import select_validation

    valid = sample_splits["valid"]
    every = {**mixed_params, "validation": {"max_texts": None, "seed": 42}}
    assert select_validation(valid, every) is valid
    params = {**mixed_params, "validation": {"max_texts": 30, "seed": 42}}
    subset = select_validation(valid, params)
    assert len(subset) == 30 and subset.index.is_monotonic_increasing
    assert set(subset["label_id"]) == set(valid["label_id"])
    assert subset.equals(select_validation(valid, params))
    bad = {**mixed_params, "validation": {"max_texts": 1, "seed": 42}}
    with pytest.raises(ValueError, match=r"quantize_mixed\.validation\.max_texts"):
        select_validation(valid, bad)
