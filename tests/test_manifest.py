"""The manifest's file record: written by every producer, checked before loading."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pytest

from quant_sentiment.integrity import ModelIntegrityError, inside
from quant_sentiment.manifest import MANIFEST_FILE, verified_manifest, write_manifest


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _expected_record(folder: Path) -> dict:
    """Every file but the manifest, hashed here independently of the project."""
    return {
        p.relative_to(folder).as_posix(): {"sha256": _sha(p), "size": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }


@pytest.fixture()
def folder(tmp_path) -> Path:
    """A small folder with a weights file, a nested file and a written manifest."""
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "model.onnx").write_bytes(os.urandom(4096))
    (root / "sub" / "config.json").write_text('{"a": 1}')
    write_manifest(
        root, {"format": "onnx", "status": "ok", "weights_file": "model.onnx"}
    )
    return root


def test_write_manifest_records_every_file_but_itself(folder):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["files"] == _expected_record(folder)
    assert set(manifest["files"]) == {"model.onnx", "sub/config.json"}
    assert verified_manifest(folder)["files"] == manifest["files"]


def test_a_changed_file_is_refused_by_name(folder):
    data = bytearray((folder / "model.onnx").read_bytes())
    data[100] ^= 0xFF  # same size, one byte flipped
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model\.onnx has changed"):
        verified_manifest(folder)


def test_a_resized_or_missing_file_is_refused_by_name(folder):
    (folder / "sub" / "config.json").write_text('{"a": 12}')
    with pytest.raises(ModelIntegrityError, match="sub/config.json has changed"):
        verified_manifest(folder)
    (folder / "sub" / "config.json").unlink()
    with pytest.raises(
        ModelIntegrityError, match="sub/config.json is listed .* missing"
    ):
        verified_manifest(folder)


@pytest.mark.parametrize("name", ["evil.pkl", "pytorch_model.bin", "sub/x.joblib"])
def test_an_unlisted_pickle_is_refused(folder, name):
    (folder / name).write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelIntegrityError, match=name.replace(".", r"\.")):
        verified_manifest(folder)


def test_an_unlisted_executable_is_refused_other_files_are_named(folder, caplog):
    (folder / "README.txt").write_text("notes")
    with caplog.at_level(logging.WARNING):
        verified_manifest(folder)
    assert "README.txt" in caplog.text
    script = folder / "run"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    with pytest.raises(ModelIntegrityError, match="run not listed"):
        verified_manifest(folder)


def test_a_folder_without_hashes_is_refused_with_the_rebuild_command(folder):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    del manifest["files"]
    manifest["producer"] = "quantize_ptq"
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError) as error:
        verified_manifest(folder)
    assert "records no file hashes" in str(error.value)
    assert "kedro run --pipelines=quantize_ptq" in str(error.value)
    (folder / MANIFEST_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match="has no manifest.json"):
        verified_manifest(folder)


@pytest.mark.parametrize(
    "weights",
    ["../../../../etc/passwd", "/etc/passwd", "sub/../../x", "..\\..\\x"],
)
def test_a_named_path_outside_the_folder_is_refused(folder, weights):
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["weights_file"] = weights
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="outside the model folder"):
        verified_manifest(folder)
    with pytest.raises(ModelIntegrityError, match="outside the model folder"):
        inside(folder, weights)


def test_a_named_path_must_be_in_the_record(folder):
    (folder / "other.onnx").write_bytes(b"onnx")
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["weights_file"] = "other.onnx"
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="does not list"):
        verified_manifest(folder)


def test_a_link_out_of_the_folder_is_refused(folder, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (folder / "tokenizer.json").symlink_to(outside)
    write_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text()))
    with pytest.raises(ModelIntegrityError, match="link that leads outside"):
        verified_manifest(folder)


def test_a_skipped_folder_has_an_empty_record(tmp_path):
    manifest = write_manifest(tmp_path, {"status": "skipped", "format": "skipped"})
    assert manifest["files"] == {}


# Every format writer the tiny model can exercise on CPU (bitsandbytes needs CUDA;
# the TF-IDF writer: tests/scoring/test_trust.py).
PTQ_WRITERS = (
    "fp16",
    "int8_torchao",
    "fp32_ort",
    "int8_ort",
    "int4",
    "quanto_int8",
    "ov_int4",
)


@pytest.fixture(scope="module")
def fp32_bundle(tiny_bundle, tmp_path_factory):
    """The tiny model saved and reloaded as ``finetuned_model`` (format ``hf``)."""
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset

    dataset = HFModelFolderDataset(
        str(tmp_path_factory.mktemp("fp32") / "m"), version=Version(None, None)
    )
    dataset.save(tiny_bundle)
    return dataset.load()


def _check_written_and_verified(folder: Path) -> None:
    """The record matches the folder, the folder loads, a flipped weight byte does not."""
    from quant_sentiment.formats import load_classifier

    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["files"] == _expected_record(folder)
    assert manifest["weights_file"] in manifest["files"]
    load_classifier(folder).predict_logits(["bagus sekali"])
    weights = folder / manifest["weights_file"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=manifest["weights_file"]):
        load_classifier(folder)


def test_finetuned_folder_records_and_verifies_its_files(fp32_bundle):
    _check_written_and_verified(fp32_bundle.path)


@pytest.mark.parametrize("variant", PTQ_WRITERS)
def test_each_ptq_writer_records_and_verifies_its_files(fp32_bundle, variant):
    import yaml

    from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant
    from tests.conftest import PROJECT_ROOT

    shipped = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_quantize_ptq.yml").read_text()
    )["quantize_ptq"]
    options = {**shipped["variants"][variant], "on_cpu": True, "enabled": True}
    params = {**shipped, "variants": {variant: options}}
    model = {"label_map": {"a": 0, "b": 1, "c": 2}, "max_length": 32, "threads": 1}
    staged = quantize_variant(fp32_bundle, params, model, variant)
    _check_written_and_verified(staged.folder)


def test_integrity_benchmark_times_a_synthetic_folder(tmp_path):
    from quant_sentiment.bench.integrity import synthetic_folder, time_verification

    folder = synthetic_folder(tmp_path, megabytes=2)
    assert 1.9e6 < sum(r["size"] for r in _expected_record(folder).values()) < 2.1e6
    times = time_verification(folder, repeats=2)
    assert len(times) == 2 and all(t > 0 for t in times)
