"""Several seeds: the aggregation and the ``quant-sentiment seeds`` driver."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from quant_sentiment.experiments import (
    check_settings,
    chosen_variants,
    cli,
    node_selection,
    seed_params,
)
from quant_sentiment.pipelines.multiseed.nodes import (
    aggregate_seeds,
    seeds_markdown,
    t_interval,
)
from tests.conftest import PROJECT_ROOT, tiny_finetune_params

PIPELINES = {"preprocessing", "finetune", "quantize_ptq", "evaluate", "multiseed"}
PTQ = {"int8_ort", "int4", "bf16"}
PRODUCERS = {
    "fp32": "finetune",
    "bf16": "quantize_ptq",
    "int8_ort": "quantize_ptq",
    "int4": "quantize_ptq",
    "qat_int8": "quantize_qat",
    "tfidf_logreg": "baseline",
}
SETTINGS = {
    "seeds": [1, 2, 3],
    "prepare": ["preprocessing"],
    "pipelines": ["finetune", "quantize_ptq", "evaluate"],
    "seed_keys": ["finetune.training_args.seed"],
    "variants": ["int8_ort"],
    "reference": "fp32",
    "confidence": 0.95,
}


def runs_frame() -> pd.DataFrame:
    rows = []
    for seed, fp32, int8 in ((1, 0.50, 0.49), (2, 0.60, 0.58), (3, 0.70, 0.67)):
        rows.append(
            {
                "seed": seed,
                "variant": "fp32",
                "status": "ok",
                "macro_f1": fp32,
                "accuracy": fp32 + 0.1,
                "size_mb": 90.0,
            }
        )
        rows.append(
            {
                "seed": seed,
                "variant": "int8_ort",
                "status": "ok",
                "macro_f1": int8,
                "accuracy": int8 + 0.1,
                "size_mb": 23.0,
            }
        )
        rows.append(
            {
                "seed": seed,
                "variant": "int4",
                "status": "skipped",
                "macro_f1": None,
                "accuracy": None,
                "size_mb": None,
            }
        )
    return pd.DataFrame(rows)


def test_t_interval_matches_the_formula():
    mean, std, low, high = t_interval([0.5, 0.6, 0.7], 0.95)
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)
    half = 4.302652729911275 * 0.1 / 3**0.5  # t(0.975, df=2)
    assert (low, high) == pytest.approx((0.6 - half, 0.6 + half))


def test_aggregate_pairs_deltas_by_seed():
    table = aggregate_seeds(runs_frame(), {"reference": "fp32", "confidence": 0.95})
    assert table["variant"].tolist() == ["fp32", "int8_ort"]  # skipped rows left out
    int8 = table.set_index("variant").loc["int8_ort"]
    assert int8["n_seeds"] == 3
    assert int8["macro_f1_mean"] == pytest.approx((0.49 + 0.58 + 0.67) / 3)
    # paired deltas -0.01, -0.02, -0.03: mean -0.02, std 0.01
    assert int8["delta_macro_f1_mean"] == pytest.approx(-0.02)
    assert int8["delta_macro_f1_std"] == pytest.approx(0.01)
    assert int8["reference_seed_std"] == pytest.approx(0.1)
    assert int8["delta_over_seed_std"] == pytest.approx(0.2)
    half = 4.302652729911275 * 0.01 / 3**0.5
    assert int8["delta_ci_high"] == pytest.approx(-0.02 + half)
    assert int8["delta_ci_contains_0"]  # three seeds: a 2-point delta is not settled
    assert "| int8_ort | 3 | 58.00 ± 9.00" in seeds_markdown(table, runs_frame())


def test_aggregate_needs_the_reference():
    runs = runs_frame()
    with pytest.raises(ValueError, match=r"multiseed\.reference: variant 'fp16'"):
        aggregate_seeds(runs, {"reference": "fp16", "confidence": 0.95})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": []}, r"multiseed\.seeds must be a non-empty list"),
        ({"seeds": [1, 1]}, r"multiseed\.seeds has duplicates"),
        ({"pipelines": ["finetune"]}, r"multiseed\.pipelines must include evaluate"),
        (
            {"prepare": ["prep"]},
            r"multiseed\.prepare: unknown pipeline\(s\) \['prep'\]",
        ),
        (
            {"variants": ["int3"]},
            r"multiseed\.variants: unknown variant\(s\) \['int3'\]",
        ),
        ({"seed_keys": []}, r"multiseed\.seed_keys must be a non-empty list"),
    ],
)
def test_bad_settings_name_the_setting(change, message):
    with pytest.raises(ValueError, match=message):
        check_settings({**SETTINGS, **change}, PIPELINES, PRODUCERS)


def test_seed_params_set_every_key_and_the_variants():
    params = seed_params(7, {**SETTINGS, "seed_keys": ["a.b", "c"]}, PTQ)
    assert params["a"] == {"b": 7} and params["c"] == 7
    assert params["tracking"] == {"tags": {"seed": "7"}}
    enabled = {k: v["enabled"] for k, v in params["quantize_ptq"]["variants"].items()}
    assert enabled == {"bf16": False, "int4": False, "int8_ort": True}


def test_only_the_chosen_variants_are_evaluated():
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    producers = {v: p for v, p in PRODUCERS.items() if v != "qat_int8"}
    settings = {**SETTINGS, "variants": ["int8_ort", "tfidf_logreg"]}
    variants = chosen_variants(settings, producers)
    assert variants == ["fp32", "int8_ort", "tfidf_logreg"]
    nodes = node_selection(pipelines, settings["pipelines"], variants, producers)
    evaluate = [n for n in nodes if n.startswith("evaluate.")]
    assert {n.split(".")[1] for n in evaluate} == {"fp32", "int8_ort", "tfidf_logreg"}
    assert any(
        n.startswith("baseline.") or "tfidf" in n
        for n in nodes
        if not n.startswith("evaluate.")
    )
    assert "finetune.train_classifier" in nodes or "train_classifier" in nodes
    assert not any("comparison" in n for n in evaluate)


def test_empty_seed_list_on_the_command_line_stops(kedro_project):
    result = CliRunner().invoke(cli, ["seeds", "--env", "offline", "--seeds", ""])
    assert result.exit_code != 0
    assert "multiseed.seeds must be a non-empty list" in str(result.exception)


@pytest.mark.slow  # two seeds of a tiny finetune + int8_ort + evaluate: ~2 min
def test_seeds_command_aggregates_two_seeds(kedro_project):
    tiny = tiny_finetune_params()
    params = ",".join(
        [
            "finetune.model.source=scratch",
            *(
                f"finetune.model.scratch.{k}={v}"
                for k, v in tiny["finetune"]["model"]["scratch"].items()
            ),
            *(
                f"finetune.training_args.{k}={v}"
                for k, v in tiny["finetune"]["training_args"].items()
            ),
            "model.max_length=64",
            "evaluate.benchmark.n_texts=8",
            "evaluate.benchmark.warmup=1",
            "evaluate.benchmark.rounds=2",
            "evaluate.benchmark.calls_per_round=2",
            "evaluate.benchmark.idle_sample_s=0.05",
            "evaluate.benchmark.throughput_batches=1",
            "evaluate.bootstrap.n_resamples=100",
            "tracking.enabled=false",
            "multiseed.variants=[int8_ort]",
        ]
    )
    result = CliRunner().invoke(
        cli, ["seeds", "--env", "offline", "--seeds", "1,2", "--params", params]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    out = kedro_project / "data/08_reporting/sample_minilm/multiseed"
    runs = pd.read_csv(sorted(out.glob("runs.csv/*/*.csv"))[-1])
    assert sorted(runs["seed"].unique()) == [1, 2]
    assert runs["run_version"].nunique() == 2
    summary = pd.read_csv(sorted(out.glob("summary.csv/*/*.csv"))[-1]).set_index(
        "variant"
    )
    assert (
        summary.loc["fp32", "n_seeds"] == 2 and summary.loc["int8_ort", "n_seeds"] == 2
    )
    assert "int4" not in summary.index  # disabled for these runs
    # each seed's FP32 row comes from its own fine-tuning run
    fp32 = runs[runs["variant"] == "fp32"]
    assert fp32["path"].nunique() == 2
    assert sorted(out.glob("macro_f1_by_seed.png/*/*.png"))
