"""evaluate reads one consistent set of variants (issue 26): every variant made from
the FP32 version evaluated, or the mix named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.runner import SequentialRunner

from quant_sentiment.datasets import HFModelFolderDataset
from quant_sentiment.pipelines.evaluate import create_pipeline
from quant_sentiment.pipelines.evaluate.sources import (
    MixedSourcesError,
    check_source,
    fp32_version,
    reference_source,
)
from quant_sentiment.variants import VariantHandle, base_manifest, get_variant

V1, V2 = "2026-01-01T00.00.00.000Z", "2026-02-01T00.00.00.000Z"


def _handle(version: str | None, **extra) -> VariantHandle:
    manifest = {"variant": "int8_ort", "producer": "quantize_ptq", **extra}
    if version is not None:
        manifest.update(source_model="scratch", source_version=version)
    return VariantHandle(
        path=Path(f"/x/{version}/ptq_int8_ort_model"), manifest=manifest
    )


REFERENCE = {"source_version": V1, "path": f"/m/{V1}/finetuned_model"}
STRICT, LENIENT = {"allow_mixed": False}, {"allow_mixed": True}


def test_variant_of_the_evaluated_fp32_passes():
    handle = _handle(V1)
    out, record = check_source(handle, REFERENCE, STRICT, "int8_ort")
    assert out is handle and record["mixed"] is False
    assert record["source_version"] == record["reference_version"] == V1


def test_mix_is_refused_naming_both_versions():
    with pytest.raises(MixedSourcesError) as err:
        check_source(_handle(V2), REFERENCE, STRICT, "int8_ort")
    message = str(err.value)
    assert V1 in message and V2 in message and "int8_ort" in message
    assert "evaluate.sources.allow_mixed" in message


def test_allowed_mix_is_named(caplog):
    with caplog.at_level(logging.WARNING):
        _, record = check_source(_handle(V2), REFERENCE, LENIENT, "int8_ort")
    assert record["mixed"] is True and record["source_version"] == V2
    assert V2 in caplog.text and V1 in caplog.text
    assert fp32_version(_handle(V2), "int8_ort") == V2


def test_models_not_made_from_fp32_and_old_folders_pass(caplog):
    tfidf = VariantHandle(Path("/t"), {"variant": "tfidf_logreg", "format": "sklearn"})
    assert check_source(tfidf, REFERENCE, STRICT, "tfidf_logreg")[1]["mixed"] is False
    assert fp32_version(tfidf, "tfidf_logreg") == "-"
    old = VariantHandle(Path("/o"), {"variant": "int4", "source_model": "scratch"})
    with caplog.at_level(logging.WARNING):
        check_source(old, REFERENCE, STRICT, "int4")
    assert "does not record the FP32 version" in caplog.text


@pytest.fixture
def saved_fp32(tiny_bundle, tmp_path):
    dataset = HFModelFolderDataset(
        str(tmp_path / "finetuned_model"), version=Version(None, None)
    )
    dataset.save(tiny_bundle)
    return dataset.load()


def test_variant_manifest_records_the_fp32_version(saved_fp32):
    version = saved_fp32.path.parent.name
    base = base_manifest(saved_fp32, "int8_ort", "quantize_ptq", {"max_length": 64}, {})
    assert base["source_version"] == version
    _, reference = reference_source(saved_fp32, "fp32")
    assert reference["source_version"] == version
    assert fp32_version(saved_fp32, "fp32") == version


def test_pipeline_stops_before_scoring_a_mixed_variant(saved_fp32):
    """The template's first node refuses; nothing of the variant is scored."""
    pipe = create_pipeline([get_variant("fp32"), get_variant("int8_ort")])
    checks = pipe.only_nodes(
        "evaluate.fp32.check_source", "evaluate.int8_ort.check_source"
    )
    readers = {n.name for n in pipe.nodes if "ptq_int8_ort_model" in n.inputs}
    assert readers == {"evaluate.int8_ort.check_source"}  # nothing else reads it
    catalog = DataCatalog(
        {
            "finetuned_model": MemoryDataset(saved_fp32, copy_mode="assign"),
            "ptq_int8_ort_model": MemoryDataset(_handle(V2), copy_mode="assign"),
            "params:evaluate.sources": MemoryDataset(STRICT),
        }
    )
    with pytest.raises(MixedSourcesError, match=V2):
        SequentialRunner().run(checks, catalog)
