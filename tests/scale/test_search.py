"""Parallel search: worker processes sharing one Optuna study (journal storage)."""

from __future__ import annotations

import json
import os

import optuna
import pytest
import yaml

from quant_sentiment.scale.search import (
    journal_storage,
    requeue_stale,
    worker_command,
    worker_config,
)
from tests.conftest import run_session, tiny_finetune_params

SPACE = {
    "learning_rate": {"type": "float", "low": 1.0e-4, "high": 3.0e-3, "log": True},
    "loss": {"type": "categorical", "choices": ["cross_entropy", "focal"]},
}


def test_stale_running_trials_are_requeued_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = journal_storage("journal:studies/s.log")
    assert (tmp_path / "studies").is_dir()
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}
    killed = study.ask(space)
    assert requeue_stale(study) == [killed.number]
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    # the retry dies as well: failed, not queued a third time
    retry = study.ask(space)
    assert retry.number == 1 and retry.params == killed.params
    assert requeue_stale(study) == []


def test_worker_runs_only_the_study_node(tmp_path):
    params = {"hpsearch": {"storage": "journal:x.log", "space": {"loss": ["a", "b"]}}}
    config = worker_config(tmp_path, params)
    assert yaml.safe_load(config.read_text()) == {"run": {"params": params}}
    command = worker_command("offline", config)
    assert command[1:] == [
        "-m",
        "kedro",
        "run",
        "--pipelines=hpsearch",
        "--nodes=hpsearch.run_study",
        f"--config={config}",
        "--env=offline",
    ]


@pytest.mark.long
@pytest.mark.slow  # 2 worker processes, 4 + 2 tiny trials: 6 min at load ~10
def test_two_processes_share_one_study_and_resume(kedro_project):
    from quant_sentiment.scale.search import run_search

    run_session(
        kedro_project, "preprocessing", runtime_params={"tracking": {"enabled": False}}
    )
    params = tiny_finetune_params(training_args={"num_train_epochs": 2})
    search = {
        "n_trials": 4,
        "max_train_samples": 120,
        "space": SPACE,
        "pruner": {"kind": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
    }
    extra = {**params, "hpsearch": search, "tracking": {"enabled": False}}
    out = run_search(kedro_project, "offline", workers=2, threads=1, extra=extra)
    storage = journal_storage(
        f"journal:{kedro_project}/data/09_tracking/optuna_journal.log"
    )
    study = optuna.load_study(study_name="sample_minilm_finetune", storage=storage)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers))) and 4 <= len(numbers) <= 5  # noqa: PLR2004
    assert out["trials"] == len(numbers)
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 2 and str(os.getpid()) not in " ".join(workers)  # noqa: PLR2004
    assert sum(bool(t.user_attrs.get("defaults")) for t in study.trials) == 1
    report = kedro_project / "data/08_reporting/sample_minilm/hpsearch"
    summaries = sorted(report.glob("summary.json/*/*.json"))
    assert len(summaries) == 1  # the outputs are written once, by the final run
    assert sum(json.loads(summaries[0].read_text())["trials"].values()) == len(numbers)

    # Resume: asking for 2 more finished trials continues the same study.
    first = {t.number: t.params for t in study.trials}
    extra["hpsearch"] = {**search, "n_trials": len(numbers) + 2}
    run_search(kedro_project, "offline", workers=2, threads=1, extra=extra)
    study = optuna.load_study(study_name="sample_minilm_finetune", storage=storage)
    assert len(study.trials) >= len(numbers) + 2
    assert {t.number: t.params for t in study.trials[: len(first)]} == first
