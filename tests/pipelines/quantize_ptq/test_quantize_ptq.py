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

from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
from quant_sentiment.formats import torchao as torchao_format
from quant_sentiment.manifest import MANIFEST_FILE, folder_size, write_manifest
from quant_sentiment.pipelines.quantize_ptq.nodes import (
    quantize_variant,
    summarize_variants,
)
from quant_sentiment.variants import load_classifier, produced_by

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SHIPPED = yaml.safe_load(
    (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
)["quantize_ptq"]
# Build every CPU-capable route here, also those shipped as CUDA-only (on_cpu: false):
# the tiny model makes them cheap, and their writers and loaders must work.
PARAMS = {
    **SHIPPED,
    "variants": {
        name: {**options, "on_cpu": not name.startswith("bnb_")}
        for name, options in SHIPPED["variants"].items()
    },
}
# torch.compile has its own test below (it costs seconds per process that loads it).
PARAMS["variants"]["bf16"] = {**PARAMS["variants"]["bf16"], "torch_compile": False}
MODEL = {
    "label_map": {"positive": 0, "neutral": 1, "negative": 2},
    "max_length": 64,
    "threads": None,
}
CPU_VARIANTS = ("fp16", "bf16", "int8_torchao", "fp32_ort", "int8_ort", "int4")
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
    "max_length",
    "id2label",
}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def test_split(sample_splits) -> pd.DataFrame:
    return sample_splits["test"]


@pytest.fixture(scope="module")
def fp32(tiny_bundle, tmp_path_factory):
    """The tiny model saved and reloaded like ``finetuned_model`` (with its manifest)."""
    dataset = HFModelFolderDataset(str(tmp_path_factory.mktemp("fp32") / "m"))
    dataset.save(tiny_bundle)
    return dataset.load()


def _save(artifact, folder: Path):
    dataset = VariantFolderDataset(str(folder))
    dataset.save(artifact)
    return dataset.load()


@pytest.fixture(scope="module")
def built(fp32, test_split, tmp_path_factory):
    """Every CPU variant built, saved through VariantFolderDataset and reloaded."""
    root = tmp_path_factory.mktemp("ptq")
    texts = test_split["text"].tolist()
    out = {}
    for variant in CPU_VARIANTS:
        handle = _save(
            quantize_variant(fp32, PARAMS, MODEL, variant),
            root / f"ptq_{variant}_model",
        )
        logits = handle.load().predict_logits(texts)
        out[variant] = {"handle": handle, "manifest": handle.manifest, "logits": logits}
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


def test_write_manifest_records_whole_folder_size(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tok.json").write_bytes(b"y" * 10)
    manifest = write_manifest(tmp_path, {"variant": "v"})
    on_disk = (tmp_path / MANIFEST_FILE).stat().st_size
    assert manifest["size_bytes"] == 1010 + on_disk == folder_size(tmp_path)
    assert (
        json.loads((tmp_path / MANIFEST_FILE).read_text())["size_bytes"]
        == 1010 + on_disk
    )


@pytest.mark.parametrize("variant", CPU_VARIANTS)
def test_variant_manifest(built, fp32, test_split, variant):
    item = built[variant]
    manifest = item["manifest"]
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["status"] == "ok" and manifest["variant"] == variant
    assert bool(manifest["quantized_modules"]) == (variant != "fp32_ort")
    assert manifest["size_bytes"] == folder_size(item["handle"].path)
    assert manifest["fp32_size_bytes"] == fp32.metadata["size_bytes"] > 0
    assert manifest["max_length"] == MODEL["max_length"]
    assert item["logits"].shape == (len(test_split), 3)
    assert np.isfinite(item["logits"]).all()


@pytest.mark.parametrize("variant", ("fp16", "bf16"))
def test_cast_variant_truncates_long_text_in_plain_transformers(built, variant):
    """The 16-bit folders open with ``transformers.pipeline``; their tokenizer
    truncates a 2,000-token text to ``params:model.max_length``."""
    from transformers import pipeline

    folder = built[variant]["handle"].path
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == MODEL["max_length"]
    clf = pipeline("text-classification", model=str(folder))
    long_text = " ".join(["paketnya rusak, kecewa sekali"] * 500)
    assert len(clf.tokenizer(long_text)["input_ids"]) > 2000
    (result,) = clf(long_text, truncation=True)
    assert result["label"] in MODEL["label_map"]


@pytest.mark.parametrize("variant", CPU_VARIANTS)
def test_variant_reloads_in_fresh_process_to_same_labels(
    built, fresh_process_preds, variant
):
    saved_preds = built[variant]["logits"].argmax(axis=1).tolist()
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
        filter_fn=torchao_format._linear_filter(["classifier"]),
    )
    params = PARAMS["variants"]["int8_torchao"]
    if params["quantize_embeddings"]:
        from torchao.quantization import IntxWeightOnlyConfig, PerAxis

        quantize_(
            model,
            IntxWeightOnlyConfig(weight_dtype=torch.int8, granularity=PerAxis(0)),
            filter_fn=lambda m, fqn: isinstance(m, torch.nn.Embedding),
        )
    before = predict_logits(
        model,
        tiny_bundle.tokenizer,
        test_split["text"].tolist(),
        max_length=MODEL["max_length"],
        show_progress=False,
    )
    after = load_classifier(built["int8_torchao"]["handle"].path).predict_logits(
        test_split["text"].tolist()
    )
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_variant_files_are_smaller_than_fp32(built, fp32):
    """Weights shrink: 16-bit ~½, INT8 ORT < ⅓ (embeddings too), INT4 < INT8 ORT.

    For the ONNX variants the weights (initializers) are compared: on the tiny model
    the graph's node definitions (~100 kB) outweigh its 40 k parameters.
    """
    files = {
        v: (b["handle"].path / b["manifest"]["weights_file"]).stat().st_size
        for v, b in built.items()
    }
    fp32_size = fp32.metadata["size_bytes"]
    fp32 = (fp32.path / "model.safetensors").stat().st_size
    assert files["fp16"] < 0.55 * fp32
    assert files["bf16"] < 0.55 * fp32
    assert files["int8_torchao"] < fp32
    ort_fp32 = built["fp32_ort"]["manifest"]["initializer_bytes"]
    int8 = built["int8_ort"]["manifest"]["initializer_bytes"]
    int4 = built["int4"]["manifest"]["initializer_bytes"]
    # the same FP32 weights (safetensors also holds its header and the buffers)
    assert 0.9 * fp32 < ort_fp32 <= fp32
    assert int8 < 0.3 * fp32
    assert int4 < 0.75 * int8
    for variant in ("fp16", "bf16", "int4"):
        assert built[variant]["manifest"]["size_bytes"] < fp32_size


def test_fp32_ort_matches_pytorch(built, fp32, test_split):
    from quant_sentiment.inference import predict_logits

    want = predict_logits(
        fp32.model,
        fp32.tokenizer,
        test_split["text"].tolist(),
        max_length=MODEL["max_length"],
        show_progress=False,
    )
    np.testing.assert_allclose(built["fp32_ort"]["logits"], want, atol=1e-4)
    assert built["fp32_ort"]["manifest"]["op_types"].get("MatMulInteger") is None


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
    assert "<embedding Gather>" in manifest["quantized_modules"]
    assert manifest["op_types"].get("MatMulInteger", 0) > 0


def test_disabled_variant_is_skipped_with_reason(fp32, tmp_path):
    params = {**PARAMS, "variants": {**PARAMS["variants"], "fp16": {"enabled": False}}}
    handle = _save(quantize_variant(fp32, params, MODEL, "fp16"), tmp_path / "m")
    manifest = handle.manifest
    assert manifest["status"] == "skipped" and "enabled" in manifest["reason"]
    assert manifest["format"] == "skipped"
    assert [p.name for p in handle.path.iterdir()] == [MANIFEST_FILE]
    with pytest.raises(ValueError, match="not built"):
        handle.load()


def test_variant_of_another_producer_is_an_error(fp32):
    with pytest.raises(ValueError, match="produced by 'finetune'"):
        quantize_variant(fp32, PARAMS, MODEL, "fp32")
    with pytest.raises(KeyError, match="Unknown variant 'int3'"):
        quantize_variant(fp32, PARAMS, MODEL, "int3")


@pytest.mark.skipif(_cuda(), reason="checks the CPU-only skip path")
@pytest.mark.parametrize("variant", ["bnb_int8", "bnb_nf4"])
def test_bnb_is_skipped_without_cuda(fp32, variant, caplog, tmp_path):
    handle = _save(quantize_variant(fp32, PARAMS, MODEL, variant), tmp_path / "m")
    assert handle.manifest["status"] == "skipped"
    assert "CUDA" in handle.manifest["reason"]
    assert f"Skipping variant {variant}" in caplog.text


@pytest.mark.skipif(not _cuda(), reason="bitsandbytes is the CUDA path")
@pytest.mark.parametrize("variant", ["bnb_int8", "bnb_nf4"])
def test_bnb_builds_and_reloads_on_cuda(fp32, test_split, variant, tmp_path):
    handle = _save(quantize_variant(fp32, PARAMS, MODEL, variant), tmp_path / "m")
    manifest = handle.manifest
    assert manifest["status"] == "ok" and manifest["quantized_modules"]
    assert not any(n.startswith("classifier") for n in manifest["quantized_modules"])
    classifier = handle.load()
    logits = classifier.predict_logits(test_split["text"].tolist())
    assert logits.shape == (len(test_split), 3)
    # The non-quantized rest is stored and reloaded in 16 bit, as configured.
    rest = PARAMS["variants"][variant]["rest_dtype"]
    assert manifest["rest_dtype"] == rest in ("float16", "bfloat16")
    embeddings = classifier.model.get_input_embeddings().weight
    assert str(embeddings.dtype) == f"torch.{rest}"


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [("mode", "int2", "mode must be one of"), ("rest_dtype", "int8", "rest_dtype")],
)
def test_bnb_rejects_bad_options_before_touching_cuda(option, value, match, tmp_path):
    from quant_sentiment.formats import bnb

    options = {**PARAMS["variants"]["bnb_int8"], option: value}
    with pytest.raises(ValueError, match=match):
        bnb.write(None, None, tmp_path, options)


def test_summary_table(built):
    from quant_sentiment.variants import VariantHandle

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
    table = summarize_variants(*(VariantHandle(Path("."), m) for m in manifests))
    assert table["variant"].tolist() == [*CPU_VARIANTS, "bnb_nf4"]
    ok = table[table["status"] == "ok"]
    assert (ok["pct_of_fp32"] > 0).all()
    assert table.iloc[-1]["method"] == "no CUDA" and pd.isna(table.iloc[-1]["size_mb"])


@pytest.mark.skipif(_cuda(), reason="checks the CPU-only skip path")
def test_routes_slow_on_cpu_are_skipped_there_as_shipped(fp32, tmp_path):
    for variant in ("fp16", "int8_torchao"):
        handle = _save(
            quantize_variant(fp32, SHIPPED, MODEL, variant), tmp_path / variant
        )
        assert handle.manifest["status"] == "skipped"
        assert (
            f"quantize_ptq.variants.{variant}.on_cpu: false"
            in (handle.manifest["reason"])
        )


@pytest.mark.skipif(_cuda(), reason="checks the CPU-only path")
@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_cpu_native_follows_the_cpu(native, monkeypatch):
    from quant_sentiment.pipelines.quantize_ptq import nodes

    monkeypatch.setattr(nodes, "native_bf16", lambda: native)
    options = {**SHIPPED["variants"]["bf16"], "on_cpu": "native"}
    reason = nodes._not_here("bf16", options)
    if native:
        assert reason is None
    else:
        assert "no native bfloat16" in reason
        assert "quantize_ptq.variants.bf16.on_cpu: native" in reason
    with pytest.raises(ValueError, match=r"bf16\.on_cpu must be true, false or native"):
        nodes._not_here("bf16", {**options, "on_cpu": "sometimes"})


def test_every_ptq_variant_has_an_options_block():
    assert set(SHIPPED["variants"]) == {v.name for v in produced_by("quantize_ptq")}


@pytest.mark.parametrize("variant", ["int8_ort", "int8_torchao"])
def test_non_transformers_folder_says_how_to_open_it(built, variant):
    from transformers import pipeline

    with pytest.raises(ValueError, match=r"quant_sentiment\.variants\.load_classifier"):
        pipeline("text-classification", model=str(built[variant]["handle"].path))


def test_bf16_torch_compile_predicts_as_eager(fp32, test_split, tmp_path):
    options = {**SHIPPED["variants"]["bf16"], "torch_compile": True}
    params = {**PARAMS, "variants": {**PARAMS["variants"], "bf16": options}}
    handle = _save(quantize_variant(fp32, params, MODEL, "bf16"), tmp_path / "m")
    assert handle.manifest["torch_compile"] is True
    assert "torch.compile" in handle.manifest["method"]
    compiled = handle.load()
    assert compiled.compiled and not hasattr(compiled.model, "_orig_mod")
    texts = test_split["text"].tolist()[:12]
    eager = load_classifier(handle.path)  # the same folder, compile switched off
    eager._forward = eager.model
    np.testing.assert_allclose(
        compiled.predict_logits(texts, batch_size=4),
        eager.predict_logits(texts, batch_size=4),
        atol=0.05,  # bf16 kernels may fuse differently
    )
