"""What a run was: command, environment, dataset, encoder, machine, libraries, git
commit and MLflow run, saved through the catalog for the ``report`` pipeline's setup
section (:class:`RunInfoHook`)."""

from __future__ import annotations

import logging
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: Catalog entry the hook saves to, and the parameters block it reads.
DATASET = "report_run_info"
SETTING = "report"
RAW_SPLITS = ("raw_train", "raw_valid", "raw_test")


def git_state(path: Path) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the git work tree at ``path`` (``None`` outside
    one or without git)."""

    def _git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=path,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if commit else None}


def _filepath(catalog, name: str) -> str | None:
    """The ``filepath`` a catalog entry reads (``None`` when it has none)."""
    try:
        dataset = catalog.get(name)
        return None if dataset is None else dataset._describe().get("filepath")
    except Exception:  # noqa: BLE001 - a description only; never fails a run
        return None


def _param(catalog, name: str) -> Any:
    return catalog.load(f"params:{name}") if f"params:{name}" in catalog else None


def mlflow_run() -> dict[str, Any] | None:
    """The active MLflow run (started by the tracking hook), if any."""
    if "mlflow" not in sys.modules:  # tracking off: MLflow was never imported
        return None
    import mlflow

    active = mlflow.active_run()
    if active is None:
        return None
    return {
        "run_id": active.info.run_id,
        "experiment_id": active.info.experiment_id,
        "run_name": active.info.run_name,
        "tracking_uri": mlflow.get_tracking_uri(),
    }


def gather(run_params: dict[str, Any], catalog) -> dict[str, Any]:
    """The run's description (see the module docstring)."""
    from quant_sentiment.benchmark import machine_info

    model = _param(catalog, "model") or {}
    finetune = _param(catalog, "finetune") or {}
    report = _param(catalog, SETTING) or {}
    project = Path(run_params.get("project_path") or ".")
    return {
        "run": report.get("run"),
        "session_id": run_params.get("session_id"),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "env": run_params.get("env"),
        "pipelines": run_params.get("pipeline_names") or ["__default__"],
        "runtime_params": run_params.get("runtime_params") or {},
        "dataset": {split: _filepath(catalog, split) for split in RAW_SPLITS},
        "labels": list((model.get("label_map") or {}).keys()),
        "max_length": model.get("max_length"),
        "encoder": (finetune.get("model") or {}).get("source"),
        "machine": machine_info(model.get("threads")),
        "python": platform.python_version(),
        "git": git_state(project),
        "mlflow": mlflow_run(),
    }


class RunInfoHook:
    """Save :func:`gather`'s description to ``report_run_info`` before a run whose
    pipeline writes one of ``report.run_info_for`` (the evaluation outputs), so the
    report of those results describes the run that made them (a ``report``-only
    run keeps the description it reads). Registered before the tracking hook in
    ``settings.py``: pluggy calls later registrations first, so the MLflow run exists.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog):
        """Gather and save the description (only on the main process)."""
        from quant_sentiment.hooks import is_main_process

        if DATASET not in catalog or not is_main_process():
            return
        report = _param(catalog, SETTING) or {}
        triggers = set(report.get("run_info_for") or [])
        if not triggers & set(pipeline.all_outputs()):
            return
        catalog.save(DATASET, gather(run_params, catalog))
        logger.info("Run description saved to %s", DATASET)
