"""Tests of the ``quantize_ptq`` pipeline on the tiny BERT classifier."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from quant_sentiment.datasets import VariantFolderDataset
from quant_sentiment.pipelines.quantize_ptq import methods
from quant_sentiment.pipelines.quantize_ptq.nodes import (
    VARIANTS,
    measure_fp32_reference,
    quantize_variant,
    summarize_variants,
)
from quant_sentiment.variants import MANIFEST_FILE, load_classifier

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PARAMS = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
)["quantize_ptq"]
PRED_COLUMNS = [
    "text",
    "label",
    "label_id",
    "pred_id",
    "pred_label",
    "prob_positive",
    "prob_neutral",
    "prob_negative",
]
CPU_VARIANTS = ("fp16", "bf16", "int8_torchao", "int8_ort", "int4")
MANIFEST_KEYS = {
    "variant",
    "status",
    "format",
    "method",
    "library",
    "library_version",
    "quantized_modules",
    "bits",
    "group_size",
    "size_bytes",
    "fp32_size_bytes",
    "created_at",
}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def test_split(sample_splits) -> pd.DataFrame:
    return sample_splits["test"]


@pytest.fixture(scope="module")
def reference(tiny_bundle, test_split):
    return measure_fp32_reference(tiny_bundle, test_split, PARAMS)


@pytest.fixture(scope="module")
def built(tiny_bundle, test_split, reference, tmp_path_factory):
    """Every CPU variant built, saved through VariantFolderDataset and reloaded."""
    root = tmp_path_factory.mktemp("ptq")
    out = {}
    for variant in CPU_VARIANTS:
        artifact, manifest, preds = quantize_variant(
            tiny_bundle, test_split, reference, PARAMS, variant
        )
        dataset = VariantFolderDataset(str(root / f"ptq_{variant}_model"))
        dataset.save(artifact)
        artifact.cleanup()
        out[variant] = {"handle": dataset.load(), "manifest": manifest, "preds": preds}
    return out


@pytest.fixture(scope="module")
def fresh_process_preds(built, test_split, tmp_path_factory) -> dict[str, list[int]]:
    """Predicted ids of every saved variant, reloaded in a new Python process."""
    texts = tmp_path_factory.mktemp("texts") / "texts.json"
    texts.write_text(json.dumps(test_split["text"].tolist()))
    folders = {v: str(b["handle"].path) for v, b in built.items()}
    script = textwrap.dedent(f"""
        import json, torch
        torch.set_num_threads(1)
        from quant_sentiment.variants import load_classifier
        texts = json.load(open({str(texts)!r}))
        out = {{}}
        for variant, folder in {folders!r}.items():
            logits = load_classifier(folder).predict_logits(texts, batch_size=64)
            out[variant] = logits.argmax(axis=1).tolist()
        print("RESULT" + json.dumps(out))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**__import__("os").environ, "PYTHONPATH": str(PROJECT_ROOT / "src")},
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_finalize_manifest_records_whole_folder_size(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tok.json").write_bytes(b"y" * 10)
    manifest = methods.finalize_manifest(tmp_path, {"variant": "v"})
    on_disk = (tmp_path / MANIFEST_FILE).stat().st_size
    assert manifest["size_bytes"] == 1010 + on_disk == methods.folder_size(tmp_path)
    assert (
        json.loads((tmp_path / MANIFEST_FILE).read_text())["size_bytes"]
        == 1010 + on_disk
    )


@pytest.mark.parametrize("variant", CPU_VARIANTS)
def test_variant_manifest_and_predictions(built, reference, test_split, variant):
    item = built[variant]
    manifest, saved = item["manifest"], item["handle"].manifest
    assert manifest == saved
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["status"] == "ok" and manifest["variant"] == variant
    assert manifest["quantized_modules"]
    assert manifest["size_bytes"] == methods.folder_size(item["handle"].path)
    assert manifest["fp32_size_bytes"] == reference["size_bytes"]
    preds = item["preds"]
    assert list(preds.columns) == PRED_COLUMNS
    assert len(preds) == len(test_split)
    assert np.allclose(preds.filter(like="prob_").sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("variant", CPU_VARIANTS)
def test_variant_reloads_in_fresh_process_to_same_labels(
    built, fresh_process_preds, variant
):
    saved_preds = built[variant]["preds"]["pred_id"].tolist()
    assert fresh_process_preds[variant] == saved_preds


def test_torchao_predicts_like_the_unsaved_quantized_model(
    tiny_bundle, built, test_split
):
    """The saved torchao file reloads to the model as it was before saving."""
    import torch
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    from quant_sentiment.inference import predict_logits

    model = __import__("copy").deepcopy(tiny_bundle.model)
    quantize_(
        model,
        Int8DynamicActivationInt8WeightConfig(),
        filter_fn=methods._module_filter(["classifier"]),
    )
    params = PARAMS["variants"]["int8_torchao"]
    if params.get("quantize_embeddings", True):
        from torchao.quantization import IntxWeightOnlyConfig, PerAxis

        quantize_(
            model,
            IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0)),
            filter_fn=lambda m, fqn: isinstance(m, torch.nn.Embedding),
        )
    before = predict_logits(
        model, tiny_bundle.tokenizer, test_split["text"].tolist(), show_progress=False
    )
    after = load_classifier(built["int8_torchao"]["handle"].path).predict_logits(
        test_split["text"].tolist()
    )
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_variant_files_are_smaller_than_fp32(built, reference):
    """Weights shrink: 16-bit ~½, INT8 ORT < ⅓ (embeddings too), INT4 < INT8 ORT.

    For the ONNX variants the weights (initializers) are compared: on the tiny model
    the graph's node definitions (~100 kB) outweigh its 40 k parameters.
    """
    files = {
        v: (b["handle"].path / b["manifest"]["weights_file"]).stat().st_size
        for v, b in built.items()
    }
    fp32 = reference["weights_bytes"]
    assert files["fp16"] < 0.55 * fp32
    assert files["bf16"] < 0.55 * fp32
    assert files["int8_torchao"] < fp32
    int8 = built["int8_ort"]["manifest"]["initializer_bytes"]
    int4 = built["int4"]["manifest"]["initializer_bytes"]
    assert int8 < 0.3 * fp32
    assert int4 < 0.75 * int8
    for variant in ("fp16", "bf16", "int4"):
        assert built[variant]["manifest"]["size_bytes"] < reference["size_bytes"]


def test_int4_is_real_4bit(built):
    manifest = built["int4"]["manifest"]
    assert (
        manifest["bits"] == 4
        and manifest["group_size"] == PARAMS["variants"]["int4"]["block_size"]
    )
    assert manifest["op_types"].get("MatMulNBits", 0) > 0
    assert manifest["op_types"].get("GatherBlockQuantized", 0) > 0
    assert (
        "MatMul" not in manifest["op_types"]
        or manifest["op_types"]["MatMul"] < manifest["op_types"]["MatMulNBits"]
    )


def test_int8_ort_quantizes_embeddings_per_channel(built):
    manifest = built["int8_ort"]["manifest"]
    assert manifest["granularity"] == "per channel"
    assert any("embeddings" in name for name in manifest["quantized_modules"])
    assert manifest["op_types"].get("MatMulInteger", 0) > 0


def test_disabled_variant_is_skipped_with_reason(
    tiny_bundle, test_split, reference, tmp_path
):
    params = {**PARAMS, "variants": {**PARAMS["variants"], "fp16": {"enabled": False}}}
    artifact, manifest, preds = quantize_variant(
        tiny_bundle, test_split, reference, params, "fp16"
    )
    dataset = VariantFolderDataset(str(tmp_path / "ptq_fp16_model"))
    dataset.save(artifact)
    handle = dataset.load()
    assert manifest["status"] == "skipped" and "enabled: false" in manifest["reason"]
    assert handle.manifest["format"] == "skipped"
    assert [p.name for p in handle.path.iterdir()] == [MANIFEST_FILE]
    assert preds.empty and list(preds.columns) == PRED_COLUMNS
    with pytest.raises(ValueError, match="skipped"):
        handle.load()


def test_unknown_variant_is_an_error(tiny_bundle, test_split, reference):
    with pytest.raises(ValueError, match="Unknown PTQ variant"):
        quantize_variant(tiny_bundle, test_split, reference, PARAMS, "int3")


@pytest.mark.skipif(_cuda(), reason="checks the CPU-only skip path")
@pytest.mark.parametrize("variant", ["bnb_int8", "bnb_nf4"])
def test_bnb_is_skipped_without_cuda(
    tiny_bundle, test_split, reference, variant, caplog
):
    _, manifest, preds = quantize_variant(
        tiny_bundle, test_split, reference, PARAMS, variant
    )
    assert manifest["status"] == "skipped" and "CUDA" in manifest["reason"]
    assert preds.empty
    assert f"Skipping PTQ variant {variant}" in caplog.text


@pytest.mark.skipif(not _cuda(), reason="bitsandbytes is the CUDA path")
@pytest.mark.parametrize("variant", ["bnb_int8", "bnb_nf4"])
def test_bnb_builds_and_reloads_on_cuda(
    tiny_bundle, test_split, reference, variant, tmp_path
):
    artifact, manifest, preds = quantize_variant(
        tiny_bundle, test_split, reference, PARAMS, variant
    )
    dataset = VariantFolderDataset(str(tmp_path / f"ptq_{variant}_model"))
    dataset.save(artifact)
    assert manifest["status"] == "ok" and manifest["quantized_modules"]
    assert not any(n.startswith("classifier") for n in manifest["quantized_modules"])
    logits = dataset.load().load().predict_logits(test_split["text"].tolist())
    assert logits.argmax(axis=1).tolist() == preds["pred_id"].tolist()


def test_summary_table(built):
    manifests = [b["manifest"] for b in built.values()]
    manifests.append(
        {
            "variant": "bnb_nf4",
            "status": "skipped",
            "format": "skipped",
            "reason": "no CUDA",
            "size_bytes": 10,
            "fp32_size_bytes": 100,
        }
    )
    table = summarize_variants(*manifests)
    assert table["variant"].tolist() == [*CPU_VARIANTS, "bnb_nf4"]
    ok = table[table["status"] == "ok"]
    assert (ok["pct_of_fp32"] > 0).all()
    assert table.iloc[-1]["method"] == "no CUDA" and pd.isna(table.iloc[-1]["size_mb"])


def test_variant_names_match_the_shared_interface():
    assert VARIANTS == (
        "fp16",
        "bf16",
        "int8_torchao",
        "int8_ort",
        "int4",
        "bnb_int8",
        "bnb_nf4",
    )
    assert set(PARAMS["variants"]) == set(VARIANTS)
