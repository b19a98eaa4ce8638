"""Parallel hyperparameter search: several processes (and machines) share one study.

``quant-sentiment hpsearch --workers N`` runs the ``hpsearch`` pipeline's study node
(``hpsearch.run_study``) in N ordinary ``kedro run`` processes that open the **same**
Optuna study through its storage, then one final ``kedro run --pipelines=hpsearch``
that finds the study complete and writes the tables and figures once.

- Storage: ``journal:<file>`` (Optuna's ``JournalStorage`` on an append-only file with
  an ``open(O_EXCL)`` lock: the store for several processes on one machine, where
  SQLite's writer lock is not meant for concurrent writers), or an RDB URL
  (``postgresql://...``, ``mysql://...``) that workers on several machines reach.
- Trial numbers come from the storage, so they are unique across processes; the
  pruner reads every process's intermediate values, so pruning is shared; each
  process stops when the study as a whole has ``n_trials`` finished trials
  (``optuna.study.MaxTrialsCallback``; trials still running then finish, so a study
  may end with up to N - 1 more).
- Resume: the driver first re-queues the trials of a journal study that were left
  ``RUNNING`` by killed processes (no worker is running at that point); RDB studies
  use Optuna's heartbeat as before. The defaults' trial is queued once, by the driver.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

JOURNAL_PREFIX = "journal:"
STUDY_NODE = "hpsearch.run_study"


def journal_storage(uri: str, setting: str = "hpsearch.storage"):
    """``JournalStorage`` on the file of ``journal:<path>`` (relative to the working
    directory, i.e. the project root), with a file lock; its folder is created."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = Path(uri[len(JOURNAL_PREFIX) :])
    if not str(path):
        raise ValueError(f"{setting}: journal:<file> needs a file path, got {uri!r}")
    path = path if path.is_absolute() else Path.cwd() / path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{setting}: cannot create {path.parent}: {err}") from err
    return JournalStorage(
        JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
    )


def requeue_stale(study) -> list[int]:
    """Fail the trials a killed process left ``RUNNING`` and queue each again once
    (journal storage has no heartbeat). Only call it while no worker runs."""
    import optuna

    running = study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
    )
    requeued = []
    for trial in running:
        study._storage.set_trial_state_values(  # noqa: SLF001 - Optuna's own API
            trial._trial_id,  # noqa: SLF001
            optuna.trial.TrialState.FAIL,
        )
        if "retry_of" not in trial.user_attrs:  # retried once, as the heartbeat does
            study.enqueue_trial(
                trial.params, user_attrs={**trial.user_attrs, "retry_of": trial.number}
            )
            requeued.append(trial.number)
    return requeued


def prepare_study(hpsearch: dict, finetune: dict, model: dict) -> Any:
    """Open (or create) the study, re-queue stale trials and queue the defaults'
    trial once, before the workers start."""
    from quant_sentiment.pipelines.hpsearch.nodes import (
        _check,
        default_values,
        open_study,
    )

    _check(hpsearch)
    study = open_study(hpsearch)
    if str(hpsearch["storage"]).startswith(JOURNAL_PREFIX):
        stale = requeue_stale(study)
        if stale:
            logger.info("Re-queued trial(s) left running: %s", stale)
    if hpsearch["enqueue_defaults"] and not study.trials:
        study.enqueue_trial(
            default_values(finetune, model, hpsearch["space"]),
            user_attrs={"defaults": True},
        )
    return study


def worker_config(folder: Path, params: dict[str, Any]) -> Path:
    """A ``kedro run --config`` file holding the workers' runtime parameters (lists
    such as a categorical search space cannot pass through ``--params``)."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hpsearch_worker.yml"
    path.write_text(yaml.safe_dump({"run": {"params": params}}), encoding="utf-8")
    return path


def worker_command(env: str | None, config: Path) -> list[str]:
    """One worker: ``kedro run`` of the study node (``python -m kedro``: the
    ``--config`` file's ``run`` section is read under the sub-command's name)."""
    command = [sys.executable, "-m", "kedro", "run", "--pipelines=hpsearch"]
    command += [f"--nodes={STUDY_NODE}", f"--config={config}"]
    if env:
        command.append(f"--env={env}")
    return command


def run_search(  # noqa: PLR0913 - the command's options
    project_path: Path,
    env: str | None,
    workers: int,
    storage: str | None = None,
    threads: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the study in ``workers`` processes, then write the outputs once.

    Returns ``{"version", "trials", "workers", "seconds"}``. ``storage`` replaces
    ``hpsearch.storage`` (default: ``hpsearch.parallel_storage``).
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.experiments import merge

    start = time.perf_counter()
    project_path = Path(project_path).resolve()
    bootstrap_project(project_path)
    extra = dict(extra or {})
    with KedroSession.create(project_path, env=env, runtime_params=extra) as session:
        params = session.load_context().params
    storage = storage or params["hpsearch"]["parallel_storage"]
    threads = threads or max(1, (os.cpu_count() or 1) // max(workers, 1))
    shared = merge(extra, {"hpsearch": {"storage": storage}})
    hpsearch = {**params["hpsearch"], "storage": storage}
    cwd = Path.cwd()
    os.chdir(project_path)  # relative journal / SQLite paths are the project's
    try:
        prepare_study(hpsearch, params["finetune"], params["model"])
        procs = start_workers(project_path, env, workers, threads, shared)
        codes = [p.wait() for p in procs]
        if any(codes):
            raise RuntimeError(
                f"hpsearch: worker exit codes {codes}; their logs are above. "
                "Rerun the command to resume the study."
            )
        with KedroSession.create(
            project_path, env=env, runtime_params=shared
        ) as session:
            session.run(pipeline_names=["hpsearch"])
            version = session.session_id
        from quant_sentiment.pipelines.hpsearch.nodes import open_study

        trials = len(open_study(hpsearch).trials)
    finally:
        os.chdir(cwd)
    return {
        "version": version,
        "trials": trials,
        "workers": workers,
        "seconds": time.perf_counter() - start,
    }


def start_workers(
    project_path: Path,
    env: str | None,
    workers: int,
    threads: int,
    shared: dict[str, Any],
) -> list[subprocess.Popen]:
    """Start ``workers`` ``kedro run`` processes of the study node, ``threads`` torch /
    OpenMP threads each, tracking off (the final run is the tracked one)."""
    from quant_sentiment.experiments import merge

    params = merge(
        shared, {"model": {"threads": threads}, "tracking": {"enabled": False}}
    )
    env_vars = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env_vars["MKL_NUM_THREADS"] = str(threads)
    env_vars["PYTHONPATH"] = os.pathsep.join(
        p for p in (*sys.path, env_vars.get("PYTHONPATH", "")) if p
    )
    logger.info(
        "hpsearch: %d worker process(es) on %s, %d thread(s) each",
        workers,
        shared["hpsearch"]["storage"],
        threads,
    )
    config = worker_config(project_path / "data" / "09_tracking", params)
    return [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            worker_command(env, config), cwd=project_path, env=env_vars
        )
        for _ in range(workers)
    ]
