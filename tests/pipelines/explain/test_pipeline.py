"""The ``explain`` pipeline: its shape, the sample, and a run over tiny variants with
the project's catalog (base + offline) from a temporary working directory."""

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.pipelines.explain import create_pipeline
from quant_sentiment.pipelines.explain.sample import select_sample
from quant_sentiment.variants import VariantHandle, get_variant
from tests.conftest import CopyWithManifest, project_config

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE = {
    "n_texts": 12,
    "seed": 3,
    "max_disagreement_share": 0.5,
    "disagreement_ignores": ["tfidf_logreg"],
}


def test_one_namespace_per_variant_inside_explain():
    variants = [get_variant(v) for v in ("fp32", "int8_ort", "tfidf_logreg")]
    pipe = create_pipeline(variants)
    assert {n.namespace for n in pipe.nodes} == {
        "explain",
        "explain.fp32",
        "explain.int8_ort",
        "explain.tfidf_logreg",
    }
    assert pipe.inputs() >= {
        "finetuned_model",
        "ptq_int8_ort_model",
        "tfidf_logreg_model",
        "finetune_test_predictions",
        "eval_int8_ort_test_predictions",
        "eval_tfidf_logreg_test_predictions",
    }
    assert "eval_fp32_test_predictions" not in pipe.inputs()
    assert {"explain_report", "explain_drift_table", "explain_sample"} <= set(
        pipe.all_outputs()
    )


def test_registered_explain_covers_every_variant_outside_the_default_run():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.variants import VARIANTS

    bootstrap_project(PROJECT_ROOT)
    explain = pipelines["explain"]
    explained = {
        n.namespace for n in explain.nodes if n.name.endswith(".explain_variant")
    }
    assert explained == {f"explain.{v.name}" for v in VARIANTS}
    assert "explain_report" not in pipelines["__default__"].all_outputs()


def _predictions(n: int, label_map, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "text": [f"teks nomor {i}" for i in range(n)],
            "label_id": rng.permutation(np.arange(n) % len(label_map)),
            "pred_id": rng.integers(0, len(label_map), n),
        }
    )


def test_sample_takes_disagreements_first_then_stratifies(label_map):
    ref = _predictions(60, label_map)
    quant = ref.copy()
    quant.loc[[5, 17, 40], "pred_id"] = (quant.loc[[5, 17, 40], "pred_id"] + 1) % 3
    tfidf = ref.assign(pred_id=(ref["pred_id"] + 1) % 3)  # disagrees everywhere
    skipped = ref.iloc[0:0]
    sample = select_sample(
        SAMPLE,
        {"label_map": label_map},
        ref,
        quant,
        tfidf,
        skipped,
        variants=["int8_ort", "tfidf_logreg", "bnb_nf4"],
    )
    assert len(sample) == 12 and sample["text_id"].is_unique
    chosen = sample[sample["selected_for"] == "disagreement"]
    assert chosen["text_id"].tolist() == [5, 17, 40]
    assert set(chosen["disagreeing_variants"]) == {"int8_ort"}
    # the 9 other texts keep the test split's label shares (20 of each label)
    rest = sample[sample["selected_for"] == "stratified"]
    assert rest["label_id"].value_counts().tolist() == [3, 3, 3]
    again = select_sample(
        SAMPLE,
        {"label_map": label_map},
        ref,
        quant,
        tfidf,
        skipped,
        variants=["int8_ort", "tfidf_logreg", "bnb_nf4"],
    )
    pd.testing.assert_frame_equal(sample, again)
    with pytest.raises(ValueError, match="explain.sample.n_texts"):
        select_sample(
            {**SAMPLE, "n_texts": 61}, {"label_map": label_map}, ref, variants=[]
        )


@pytest.fixture
def project_catalog(tmp_path, monkeypatch):
    from kedro.io import DataCatalog

    loader = project_config()
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(loader["catalog"])
    params = loader["parameters"]
    explain = params["explain"]
    explain["sample"]["n_texts"] = 8
    explain["attribution"]["lime"]["num_samples"] = 60
    explain["attribution"]["integrated_gradients"]["n_steps"] = 16
    explain["drift"]["bootstrap"]["n_resamples"] = 200
    params["baseline"]["tfidf_logreg"]["max_iter"] = 300
    catalog["params:model"] = {**params["model"], "threads": 1}
    catalog["params:dataset_spec"] = params["dataset_spec"]
    catalog["params:baseline.tfidf_logreg"] = params["baseline"]["tfidf_logreg"]
    normalisation = params["preprocessing"]["normalisation"]
    catalog["params:preprocessing.normalisation"] = normalisation
    for key in ("sample", "attribution", "faithfulness", "drift"):
        catalog[f"params:explain.{key}"] = explain[key]
    catalog["params:explain.drift.bootstrap.confidence"] = explain["drift"][
        "bootstrap"
    ]["confidence"]
    return catalog


def _save_variants(catalog, tiny_bundle, tiny_model_dir, test) -> None:
    """fp32 (tiny BERT), bf16 (its copy cast on load), a skipped variant, TF-IDF;
    the test predictions each would have from finetune / evaluate."""
    from kedro.runner import SequentialRunner

    from quant_sentiment.pipelines.baseline import create_pipeline as baseline
    from quant_sentiment.pipelines.evaluate.quality import predict_test_split

    model, predict = catalog.load("params:model"), {"batch_size": 16}
    catalog.save("finetuned_model", tiny_bundle)
    fp32 = catalog.load("finetuned_model")
    bf16 = {
        **{k: fp32.manifest[k] for k in ("size_bytes",)},
        "variant": "bf16",
        "status": "ok",
        "format": "hf",
        "torch_dtype": "bfloat16",
        "max_length": 64,
    }
    catalog.save("ptq_bf16_model", CopyWithManifest(tiny_model_dir, bf16))
    skipped = {"variant": "bnb_nf4", "status": "skipped", "format": "skipped"}
    skipped["reason"] = "bitsandbytes 4-bit needs CUDA"
    catalog.save("ptq_bnb_nf4_model", CopyWithManifest(None, skipped))
    SequentialRunner().run(baseline(), catalog)
    handles = {
        "finetune_test_predictions": VariantHandle(fp32.path, fp32.manifest),
        "eval_bf16_test_predictions": catalog.load("ptq_bf16_model"),
        "eval_bnb_nf4_test_predictions": catalog.load("ptq_bnb_nf4_model"),
        "eval_tfidf_logreg_test_predictions": catalog.load("tfidf_logreg_model"),
    }
    for name, handle in handles.items():
        catalog.save(name, predict_test_split(handle, test, model, predict))


class _Tags(HTMLParser):
    """Counts open / closed tags (the report must be well nested)."""

    VOID = {"meta", "br", "img"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


@pytest.mark.slow  # IG, occlusion and LIME for three tiny variants: ~1 min of CPU
def test_pipeline_writes_every_output_and_a_valid_report(
    project_catalog, tiny_bundle, tiny_model_dir, sample_splits, tmp_path
):
    from kedro.runner import SequentialRunner

    catalog = project_catalog
    test = sample_splits["test"].assign(source="test.tsv", line=lambda f: f.index + 1)
    catalog.save(
        "clean_train", sample_splits["train"].assign(source="train.tsv", line=1)
    )
    _save_variants(catalog, tiny_bundle, tiny_model_dir, test)
    variants = ["fp32", "bf16", "bnb_nf4", "tfidf_logreg"]
    pipe = create_pipeline([get_variant(v) for v in variants])
    SequentialRunner().run(pipe, catalog)

    for output in sorted(pipe.all_outputs()):  # every output is on disk, versioned
        path = tmp_path / str(catalog.get(output)._filepath)
        assert path.is_relative_to(tmp_path / "data" / "08_reporting"), output
        assert len(list(path.glob("*/*"))) == 1, output
    drift = catalog.load("explain_drift_table")
    ran = drift[drift["status"] == "ok"]
    assert set(zip(ran["variant"], ran["method"])) == {
        ("bf16", "integrated_gradients"),
        ("bf16", "occlusion"),
        ("bf16", "lime"),
        ("tfidf_logreg", "occlusion"),
        ("tfidf_logreg", "lime"),
    }
    assert (ran["n_texts"] == 8).all()
    assert ran[["spearman", "jaccard@1", "sign_flip"]].notna().all().all()
    assert ((ran["spearman"] >= -1) & (ran["spearman"] <= 1)).all()
    assert drift.set_index("variant").loc["bnb_nf4", "status"].startswith("skipped")
    info = catalog.load("explain.tfidf_logreg.info")
    assert info["not_applicable"] == ["integrated_gradients"]
    deltas = catalog.load("explain.fp32.texts")["ig_delta"]
    assert deltas.notna().all() and deltas.abs().max() < 0.05
    faith = catalog.load("explain_faithfulness_table")
    methods = faith[faith["variant"] == "fp32"]["method"].tolist()
    assert methods == ["integrated_gradients", "occlusion", "lime", "random"]
    cost = catalog.load("explain_cost_table")
    assert set(cost["variant"]) == {"fp32", "bf16", "tfidf_logreg"}
    page = catalog.load("explain_report")
    parser = _Tags()
    parser.feed(page)
    assert parser.errors == [] and parser.stack == []
    assert page.startswith("<!DOCTYPE html>") and "bnb_nf4" in page
    assert page.count("<h3>text ") == 8


def test_variants_left_out_of_the_selection_are_not_explained():
    from types import SimpleNamespace

    from quant_sentiment.pipelines.explain.nodes import _check, not_explained

    built = SimpleNamespace(manifest={"status": "ok"})
    skipped = SimpleNamespace(manifest={"status": "skipped", "reason": "no CUDA"})
    every, some = {"variants": None}, {"variants": ["int8_ort"]}
    assert not_explained(built, every, "int4") is None
    assert not_explained(built, some, "int8_ort") is None
    assert not_explained(built, some, "fp32") is None  # the reference always runs
    assert "explain.attribution.variants" in not_explained(built, some, "int4")
    assert not_explained(skipped, some, "int8_ort") == "no CUDA"
    params = {"methods": ["occlusion"], "target": "reference", "variants": ["int9"]}
    with pytest.raises(ValueError, match=r"attribution\.variants: unknown \['int9'\]"):
        _check(params)
