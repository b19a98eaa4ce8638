"""``predict --model`` trusts a folder only as far as it proves itself (issue 26.3).

A crafted pickle never runs, a changed weight file is refused by name, a manifest
path cannot leave its folder and a catalog name cannot leave ``data/``.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from quant_sentiment.integrity import ModelIntegrityError
from quant_sentiment.manifest import MANIFEST_FILE, write_manifest
from quant_sentiment.scoring.cli import cli
from quant_sentiment.scoring.model import ModelNotFound, resolve_model
from tests.conftest import PROJECT_ROOT, base_normalisation

MODEL = {"label_map": {"positive": 0, "neutral": 1, "negative": 2}}
TFIDF_PARAMS = {
    "word_ngram_range": [1, 1],
    "char_ngram_range": [2, 3],
    "min_df": 1,
    "sublinear_tf": True,
    "max_features": 2000,
    "C": 1.0,
    "class_weight": "balanced",
    "max_iter": 200,
    "seed": 0,
}


class _RunsOnUnpickle:
    """Unpickling this writes ``marker``: the crafted ``model.joblib``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


class _RunsOnSetState:
    """Rebuilding this from a skops file writes its marker (``__setstate__``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state):
        Path(state["marker"]).write_text("code ran")


@pytest.fixture(scope="module")
def tfidf_folder(sample_splits, tmp_path_factory) -> Path:
    """A small TF-IDF baseline folder as the ``baseline`` pipeline writes it."""
    from kedro.io import Version

    from quant_sentiment.datasets import VariantFolderDataset
    from quant_sentiment.pipelines.baseline.nodes import train_tfidf_logreg

    staged = train_tfidf_logreg(
        sample_splits["train"], MODEL, TFIDF_PARAMS, base_normalisation()
    )
    root = tmp_path_factory.mktemp("trust") / "tfidf_logreg_model"
    dataset = VariantFolderDataset(str(root), version=Version(None, None))
    dataset.save(staged)
    return dataset.load().path


@pytest.fixture()
def tfidf_copy(tfidf_folder, tmp_path) -> Path:
    """A copy of the TF-IDF folder that a test may tamper with."""
    return Path(shutil.copytree(tfidf_folder, tmp_path / "tfidf"))


def _manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST_FILE).read_text())


def _predict(folder: Path, text: str = "bagus sekali\n"):
    return CliRunner().invoke(cli, ["predict", "--model", str(folder), "-"], input=text)


def _refused(result, *phrases: str) -> None:
    """Exit 1 with a one-line error (no traceback) holding every phrase."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.output


def test_tfidf_folder_is_skops_only_and_scores(tfidf_folder, sample_splits):
    import skops.io

    from quant_sentiment.formats import load_classifier

    names = set(_manifest(tfidf_folder)["files"])
    assert names == {"model.skops", "config.json"}
    assert skops.io.get_untrusted_types(file=tfidf_folder / "model.skops") == []
    texts = sample_splits["test"]["text"].tolist()[:20]
    logits = load_classifier(tfidf_folder).predict_logits(texts)
    fitted = skops.io.load(tfidf_folder / "model.skops", trusted=[])
    np.testing.assert_allclose(np.exp(logits), fitted.predict_proba(texts), atol=1e-5)
    result = _predict(tfidf_folder)
    assert result.exit_code == 0, result.output


def test_crafted_pickle_in_an_old_folder_does_not_run(tfidf_copy, tmp_path):
    """The layout of folders written before this change: ``model.joblib``, a
    manifest without file hashes."""
    marker = tmp_path / "marker"
    (tfidf_copy / "model.skops").unlink()
    (tfidf_copy / "model.joblib").write_bytes(pickle.dumps(_RunsOnUnpickle(marker)))
    manifest = {**_manifest(tfidf_copy), "weights_file": "model.joblib"}
    del manifest["files"]
    (tfidf_copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    result = _predict(tfidf_copy)
    assert not marker.exists()
    _refused(result, "records no file hashes", "kedro run --pipelines=baseline")


def test_crafted_pickle_with_matching_hashes_does_not_run(tfidf_copy, tmp_path):
    """Hashes prove a folder unchanged, not harmless: a foreign folder whose record
    matches its pickle is still not unpickled."""
    marker = tmp_path / "marker"
    (tfidf_copy / "model.skops").unlink()
    (tfidf_copy / "model.joblib").write_bytes(pickle.dumps(_RunsOnUnpickle(marker)))
    manifest = {**_manifest(tfidf_copy), "weights_file": "model.joblib"}
    write_manifest(tfidf_copy, manifest)
    result = _predict(tfidf_copy)
    assert not marker.exists()
    _refused(result, "pickled models are no longer loaded")


def test_unlisted_pickle_beside_the_model_is_refused(tfidf_copy, tmp_path):
    marker = tmp_path / "marker"
    (tfidf_copy / "model.joblib").write_bytes(pickle.dumps(_RunsOnUnpickle(marker)))
    result = _predict(tfidf_copy)
    assert not marker.exists()
    _refused(result, "model.joblib not listed in its manifest")


def test_skops_file_with_an_untrusted_type_is_refused(tfidf_copy, tmp_path):
    import skops.io

    marker = tmp_path / "marker"
    skops.io.dump(_RunsOnSetState(marker), tfidf_copy / "model.skops")
    write_manifest(tfidf_copy, _manifest(tfidf_copy))
    result = _predict(tfidf_copy)
    assert not marker.exists()
    _refused(result, "not trusted and were not loaded", "_RunsOnSetState")


def test_tampered_weight_file_is_refused_by_name(model_folder, tmp_path):
    folder = Path(shutil.copytree(model_folder, tmp_path / "fp32"))
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-8] ^= 0x01  # a weight's low bits: the file still parses
    weights.write_bytes(bytes(data))
    _refused(_predict(folder), "model.safetensors has changed")


def test_weights_file_outside_the_folder_is_refused(tiny_bundle, tmp_path):
    from quant_sentiment.formats import onnx
    from quant_sentiment.formats._base import save_config_and_tokenizer

    folder = tmp_path / "onnx"
    folder.mkdir()
    save_config_and_tokenizer(tiny_bundle.model, tiny_bundle.tokenizer, folder, "onnx")
    manifest = write_manifest(
        folder,
        {
            "format": "onnx",
            "status": "ok",
            "variant": "int8_ort",
            "weights_file": "../../../../etc/passwd",
            "max_length": 64,
            "normalisation": base_normalisation(),
        },
    )
    _refused(_predict(folder), "'../../../../etc/passwd'", "outside the model folder")
    with pytest.raises(ModelIntegrityError, match="outside the model folder"):
        onnx.load(folder, manifest)  # the loader's own check, for direct callers


@pytest.mark.parametrize("name", ["../x", "ptq_../../../../tmp/evil_model", "a\\b"])
def test_catalog_name_with_a_path_is_refused(name):
    with pytest.raises(ModelNotFound, match="those hold no"):
        resolve_model(name, project=PROJECT_ROOT)


def test_catalog_folder_outside_data_is_refused(kedro_project, tfidf_folder, tmp_path):
    outside = tmp_path / "outside" / "evil_model"
    shutil.copytree(tfidf_folder, outside / "2026-01-01T00.00.00.000Z" / "evil_model")
    (kedro_project / "conf" / "local" / "catalog.yml").write_text(
        "evil_model:\n"
        "  type: quant_sentiment.datasets.VariantFolderDataset\n"
        f"  filepath: {outside}\n"
        "  versioned: true\n"
    )
    with pytest.raises(ModelNotFound, match="outside"):
        resolve_model("evil_model", project=kedro_project)


def test_hf_folder_with_pickled_weights_is_not_unpickled(model_folder, tmp_path):
    """A foreign folder whose record matches a pickled ``pytorch_model.bin``: the
    ``hf`` loader reads safetensors only."""
    from quant_sentiment.formats import load_classifier

    marker = tmp_path / "marker"
    folder = Path(shutil.copytree(model_folder, tmp_path / "fp32"))
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_RunsOnUnpickle(marker)))
    write_manifest(folder, {**_manifest(folder), "weights_file": "pytorch_model.bin"})
    with pytest.raises(OSError, match="model.safetensors"):
        load_classifier(folder)
    assert not marker.exists()
