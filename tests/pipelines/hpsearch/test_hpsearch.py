"""The ``hpsearch`` pipeline: Optuna over the finetune recipe."""

from __future__ import annotations

import json
from types import SimpleNamespace

import optuna
import pytest
import yaml

from quant_sentiment.pipelines.hpsearch import create_pipeline
from quant_sentiment.pipelines.hpsearch.nodes import (
    PruningCallback,
    _check,
    apply_values,
    dotlist,
    overrides,
)
from tests.conftest import run_session, tiny_finetune_params

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
    "loss": {"type": "categorical", "choices": ["cross_entropy", "class_weighted"]},
}


def settings(**extra):
    base = {
        "study_name": "s",
        "n_trials": 2,
        "timeout_s": None,
        "space": dict(SPACE),
        "pruner": {"kind": "median", "n_startup_trials": 1, "n_warmup_steps": 1},
    }
    return {**base, **extra}


def test_test_split_is_not_an_input():
    assert "clean_test" not in create_pipeline().inputs()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"space": {"dropout": {"type": "float", "low": 0, "high": 1}}},
            r"hpsearch\.space\.dropout: unknown search-space key",
        ),
        (
            {"space": {"loss": {"type": "categorical", "choices": ["hinge"]}}},
            r"hpsearch\.space\.loss\.choices: unknown loss \['hinge'\]",
        ),
        (
            {"space": {"learning_rate": {"type": "float", "low": 1, "high": 0}}},
            r"hpsearch\.space\.learning_rate: needs low <= high",
        ),
        ({"space": {}}, r"hpsearch\.space must be a non-empty mapping"),
        ({"n_trials": 0}, r"hpsearch\.n_trials must be an integer >= 1"),
        ({"timeout_s": -5}, r"hpsearch\.timeout_s must be > 0"),
        ({"pruner": {"kind": "asha"}}, r"hpsearch\.pruner\.kind must be one of"),
    ],
)
def test_bad_settings_name_the_setting(extra, message):
    with pytest.raises(ValueError, match=message):
        _check(settings(**extra))


def test_values_map_to_finetune_and_model():
    finetune = {
        "training_args": {"learning_rate": 1e-5},
        "loss": {"kind": "cross_entropy", "class_weights": "none", "focal_gamma": 2.0},
    }
    values = {"learning_rate": 3e-4, "loss": "class_weighted", "max_length": 96}
    params, max_length = apply_values(values, finetune, 128)
    assert params["training_args"]["learning_rate"] == 3e-4
    assert params["loss"]["class_weights"] == "balanced" and max_length == 96
    assert finetune["training_args"]["learning_rate"] == 1e-5  # not mutated
    assert dotlist(overrides(values)) == [
        "finetune.training_args.learning_rate=0.0003",
        "finetune.loss.kind=cross_entropy",
        "finetune.loss.class_weights=balanced",
        "model.max_length=96",
    ]


def test_pruning_callback_stops_a_pruned_trial():
    reported = []
    trial = SimpleNamespace(
        report=lambda value, step: reported.append((value, step)),
        should_prune=lambda: True,
    )
    state = SimpleNamespace(epoch=1.0, global_step=4)
    with pytest.raises(optuna.TrialPruned):
        PruningCallback(trial).on_evaluate(
            None, state, None, metrics={"eval_macro_f1": 0.3}
        )
    assert reported == [(0.3, 1)]


def test_study_runs_resumes_and_writes_outputs(kedro_project):
    run_session(kedro_project, pipeline="preprocessing")
    params = tiny_finetune_params(training_args={"num_train_epochs": 2})
    search = {
        "n_trials": 3,
        "max_train_samples": 80,
        "space": {"learning_rate": SPACE["learning_rate"], "loss": SPACE["loss"]},
        "pruner": {"kind": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
    }
    run_session(
        kedro_project,
        pipeline="hpsearch",
        runtime_params={**params, "hpsearch": search, "tracking": {"enabled": False}},
    )
    out = kedro_project / "data/08_reporting/sample_minilm/hpsearch"
    summary = json.loads(sorted(out.glob("summary.json/*/*.json"))[-1].read_text())
    assert sum(summary["trials"].values()) == 3
    assert summary["default_valid_macro_f1"] is not None  # trial 0 = the defaults
    assert summary["improvement"] == pytest.approx(
        summary["best_valid_macro_f1"] - summary["default_valid_macro_f1"]
    )
    config = yaml.safe_load(sorted(out.glob("best_params.yml/*/*.yml"))[-1].read_text())
    assert set(config["run"]["params"]["finetune"]) <= {"training_args", "loss"}
    for name in ("optimization_history.png", "param_importances.png"):
        png = sorted(out.glob(f"{name}/*/*.png"))[-1]
        assert png.read_bytes()[:4] == b"\x89PNG"

    # Resume: the study in the SQLite store already has 3 trials; asking for 4 runs one.
    run_session(
        kedro_project,
        pipeline="hpsearch",
        runtime_params={
            **params,
            "hpsearch": {**search, "n_trials": 4},
            "tracking": {"enabled": False},
        },
    )
    study = optuna.load_study(
        study_name="sample_minilm_finetune",
        storage=f"sqlite:///{kedro_project}/data/09_tracking/optuna.db",
    )
    assert len(study.trials) == 4
    trials = sorted(out.glob("trials.csv/*/*.csv"))
    assert len(trials) == 2
